"""Live map: every connector coloured by its current status, refreshing itself; recent changes beside it."""

import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402
from common import current_actor, db_session  # noqa: E402
from components.live_map_layers import hex_colour, initial_view, legend_html, live_deck  # noqa: E402

from oioi_onboard.settings import get_settings  # noqa: E402
from oioi_onboard.store import queries  # noqa: E402
from oioi_onboard.store.auth import Actor  # noqa: E402
from oioi_onboard.store.models import Role  # noqa: E402
from oioi_onboard.sync import statuses  # noqa: E402

REFRESH_SECONDS = 5
# Problems a user can fix; anything else is a bug and shows as one.
EXPECTED = (queries.PermissionDenied, LookupError, ValueError)

actor = current_actor()  # every role, viewers included; what shows is scoped to the person's CPOs
state = st.session_state

st.title("Live map")
st.caption(
    "Every connector coloured by its current status, refreshed every few seconds. "
    "Beside it, the latest changes and whether each reached the platform."
)

with db_session() as session:
    cpos = queries.list_cpos(session, actor=actor)
    types = statuses.connector_types(session, actor=actor)
if not cpos:
    if actor.sees_all:
        st.info("There is no CPO to watch yet. Once a CPO is registered and its stations imported, they appear here.")
    else:
        st.info("No CPO is assigned to you yet: ask an admin or partner manager to give you access to one.")
    st.stop()

names = {cpo.id: cpo.name for cpo in cpos}
left, middle, right = st.columns(3)
chosen_cpos = left.multiselect("CPO", options=list(names), format_func=names.get, key="live_cpos",
                               placeholder="All CPOs")
chosen_statuses = middle.multiselect("Status", options=statuses.STATUSES, key="live_statuses",
                                     placeholder="Every status")
chosen_types = right.multiselect("Connector type", options=types, key="live_types", placeholder="Every type")
scope = tuple(chosen_cpos) or tuple(names)


def _view_for(frame):  # noqa: ANN001, ANN202
    """The map's starting view, fixed per CPO selection, so a refresh never moves the user's map."""
    views = state.setdefault("live_map_views", {})
    if scope not in views:
        if frame.empty:
            return initial_view(frame)  # nothing yet: decide once there is something to frame
        views[scope] = initial_view(frame)
    return views[scope]


@st.cache_data(ttl=30, show_spinner=False)
def _counts(url: str, name: str, role: str, cpo_ids: tuple[int, ...], scope: tuple[int, ...]):  # noqa: ANN202
    # Minute resolution: worked out at most every 30 s, keyed by the person's scope so it never leaks.
    viewer = Actor(name=name, role=Role(role), cpo_ids=frozenset(cpo_ids))
    with db_session() as session:
        return statuses.status_counts_over_time(session, actor=viewer, cpo_ids=scope, minutes=60)


@st.fragment(run_every=REFRESH_SECONDS)
def live_view() -> None:
    with db_session() as session:
        everything = statuses.live_connectors(session, actor=actor, cpo_ids=scope)
        recent = statuses.recent_changes(session, actor=actor, cpo_ids=scope, limit=100)
    counts = _counts(get_settings().db_url, actor.name, actor.role.value, tuple(sorted(actor.cpo_ids)), scope)
    shown = everything
    if chosen_statuses:
        shown = shown[shown["status"].isin(chosen_statuses)]
    if chosen_types:
        shown = shown[shown["connector_type"].isin(chosen_types)]

    map_column, side_column = st.columns([3, 2])
    with map_column:
        st.html(legend_html(shown["status"].value_counts().to_dict()))  # Okabe-Ito: safe for colour blindness
        # Same key and same initial view on every refresh: deck.gl keeps the user's pan and zoom.
        st.pydeck_chart(live_deck(shown, _view_for(everything)), key="live_map", height=520)
        st.caption(f"{len(shown):,} of {len(everything):,} connectors · "
                   f"updated {datetime.now(timezone.utc):%H:%M:%S} UTC, every {REFRESH_SECONDS} s")
    with side_column:
        st.subheader("Recent changes")
        if recent.empty:
            st.caption("No status change has come in yet.")
        else:
            st.dataframe(
                recent.drop(columns=["observed_at"]), hide_index=True, height=320,
                column_config={
                    "received_at": st.column_config.DatetimeColumn("Received", format="HH:mm:ss"),
                    "cpo": "CPO", "evse_id": "EVSE id", "status": "Status", "source": "Source",
                    "delivery": "Delivery", "reason": st.column_config.TextColumn("Reason", width="large"),
                },
            )
        st.subheader("Connectors per status, last hour")
        st.line_chart(counts, color=[hex_colour(status) for status in counts.columns], height=200)


live_view()

# --- setting statuses by hand (CPO staff, partner managers, admins) -------------------------------
editable = [cpo for cpo in cpos if actor.can_edit(cpo.id)]
if editable:
    st.divider()
    st.subheader("Set statuses")
    st.caption("Changes made here go the same way as those from a CPO's back end: newest wins, "
               "held back until the station is acknowledged, then sent.")
    editable_names = {cpo.id: cpo.name for cpo in editable}
    cpo_id = st.selectbox("CPO", options=list(editable_names), format_func=editable_names.get, key="set_cpo")
    one, many = st.tabs(["One connector", "Status file"])
    with one:
        with db_session() as session:
            choices = statuses.evse_ids(session, cpo_id=cpo_id)
        with st.form("set_status", clear_on_submit=False):
            evse_id = st.selectbox("EVSE id", options=choices, key="set_evse", index=None,
                                   placeholder="Choose a connector")
            status = st.radio("Status", options=statuses.STATUSES, horizontal=True, key="set_status_value")
            submitted = st.form_submit_button("Set status", type="primary")
        if submitted:
            if not evse_id:
                st.error("Choose the connector (EVSE id) first.")
            else:
                try:
                    with db_session() as session:
                        result = statuses.set_status(session, actor=actor, cpo_id=cpo_id, evse_id=evse_id,
                                                     status=status)
                except EXPECTED as error:
                    st.error(str(error))
                else:
                    if result.ok:
                        st.success(f"{result.evse_id} is now {result.status} "
                                   f"({statuses.DELIVERY_LABELS.get(result.delivery, result.delivery)}).")
                    else:
                        st.error(result.error)
    with many:
        st.caption("CSV with a header `evse_id,status[,timestamp]`, or JSON: a list of "
                   "`{\"evse_id\", \"status\", \"timestamp\"}`. Timestamps are ISO 8601; without one, now.")
        upload = st.file_uploader("Status file", type=["csv", "json", "txt"], key="status_file")
        if upload is not None and st.button("Record these statuses", key="record_file", type="primary"):
            try:
                with db_session() as session:
                    outcome = statuses.record_status_file(session, actor=actor, cpo_id=cpo_id,
                                                          data=upload.getvalue(), file_name=upload.name)
            except statuses.StatusFileError as error:
                st.error(str(error))
            except EXPECTED as error:
                st.error(str(error))
            else:
                summary = ", ".join(f"{count} {statuses.DELIVERY_LABELS.get(kind, kind)}"
                                    for kind, count in sorted(outcome.deliveries.items()))
                st.success(f"{outcome.accepted} status(es) recorded" + (f": {summary}." if summary else "."))
                if not outcome.refused.empty:
                    st.warning(f"{len(outcome.refused)} line(s) were not taken:")
                    st.dataframe(outcome.refused, hide_index=True)

