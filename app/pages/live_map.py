"""Live map: every station coloured by its connectors' statuses, refreshing itself; recent changes beside it."""

from datetime import UTC, datetime

import streamlit as st

from common import current_actor, db_session, plain, show_error
from components.live_map_layers import (
    LIST_CONNECTORS_UP_TO,
    MAP_HEIGHT_PX,
    SEVERITY,
    LiveMap,
    counts_chart,
    fit_view,
    legend_html,
    live_deck,
    live_map,
)
from oioi_onboard.errors import OnboardError
from oioi_onboard.settings import get_settings
from oioi_onboard.store import queries
from oioi_onboard.store.auth import Actor
from oioi_onboard.store.models import Role
from oioi_onboard.sync import live
from oioi_onboard.sync.status_files import record_status_file
from oioi_onboard.sync.status_ingest import STATUSES, set_status

REFRESH_SECONDS = 5

actor = current_actor()  # every role, viewers included; what shows is scoped to the person's CPOs
state = st.session_state

st.title("Live map")
st.caption(
    "Every station coloured by its connectors' current statuses, refreshed every few seconds. "
    "Beside it, the latest changes and whether each reached the platform."
)


def _viewer(name: str, role: str, cpo_ids: tuple[int, ...]) -> Actor:
    return Actor(name=name, role=Role(role), cpo_ids=frozenset(cpo_ids))


@st.cache_data(ttl=30, show_spinner=False)
def _connector_types(url: str, name: str, role: str, cpo_ids: tuple[int, ...]) -> list[str]:
    # For a filter's options: a type that is new for a few seconds may wait; reading 75,000 connectors may not.
    with db_session() as session:
        return live.connector_types(session, actor=_viewer(name, role, cpo_ids))


@st.cache_data(ttl=30, show_spinner=False)
def _evse_ids(url: str, name: str, role: str, cpo_ids: tuple[int, ...], cpo_id: int, connectors: int) -> list[str]:
    # Worked out again when the CPO's connectors change in number, or after 30 s; keyed by the person.
    with db_session() as session:
        return live.evse_ids(session, actor=_viewer(name, role, cpo_ids), cpo_id=cpo_id)


who = (get_settings().db_url, actor.name, actor.role.value, tuple(sorted(actor.cpo_ids)))
with db_session() as session:
    cpos = queries.list_cpos(session, actor=actor)
types = _connector_types(*who)
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
chosen_statuses = middle.multiselect("Status", options=STATUSES, key="live_statuses",
                                     placeholder="Every status")
chosen_types = right.multiselect("Connector type", options=types, key="live_types", placeholder="Every type")
scope = tuple(chosen_cpos) or tuple(names)


def _view_for(drawn: LiveMap):  # noqa: ANN202
    """The map's starting view, fixed per CPO selection, so a refresh never moves the user's map."""
    views = state.setdefault("live_map_views", {})
    if scope not in views:
        if drawn.bounds is None:
            return fit_view(47.3, 55.1, 5.9, 15.0)  # Germany until there is something to frame
        views[scope] = fit_view(*drawn.bounds)  # every station, whatever the filters
    return views[scope]


@st.cache_data(ttl=30, show_spinner=False)
def _counts(url: str, name: str, role: str, cpo_ids: tuple[int, ...], scope: tuple[int, ...]):  # noqa: ANN202
    # Minute resolution: worked out at most every 30 s, keyed by the person's scope so it never leaks.
    with db_session() as session:
        return live.status_counts_over_time(session, actor=_viewer(name, role, cpo_ids), cpo_ids=scope, minutes=60)


@st.cache_resource(show_spinner=False)
def _station_counts() -> dict:
    # The latest (version, live_stations frame) per person, scope and filters: the next refresh counts
    # again only the stations whose statuses changed since. Replaced whole, never changed in place.
    return {}


@st.cache_data(ttl=120, max_entries=32, show_spinner=False)
def _live_map(url: str, name: str, role: str, cpo_ids: tuple[int, ...], scope: tuple[int, ...],
              chosen: tuple[str, ...], kinds: tuple[str, ...], version: live.LiveMapVersion) -> LiveMap:
    # Worked out again only when ``version`` says a station or status changed (the TTL is a safety net);
    # keyed by the person's scope so it never leaks.
    viewer = _viewer(name, role, cpo_ids)
    held = _station_counts()
    key = (url, name, role, cpo_ids, scope, chosen, kinds)
    with db_session() as session:
        stations = live.live_stations_since(session, actor=viewer, version=version, previous=held.get(key),
                                            statuses=chosen, connector_types=kinds)
        if len(held) > 16:
            held.clear()  # people and filters come and go: keep the memory bounded
        held[key] = (version, stations)
        shown = int((stations[list(SEVERITY)].sum(axis=1) > 0).sum()) if not stations.empty else 0
        connectors = None
        if shown <= LIST_CONNECTORS_UP_TO:  # few stations: each connector in the tooltip
            connectors = live.live_connectors(session, actor=viewer, cpo_ids=scope, statuses=chosen,
                                              connector_types=kinds)
    return live_map(stations, connectors)


@st.fragment(run_every=REFRESH_SECONDS)
def live_view() -> None:
    with db_session() as session:
        version = live.live_map_version(session, actor=actor, cpo_ids=scope)
        recent = live.recent_changes(session, actor=actor, cpo_ids=scope, limit=100)
    drawn = _live_map(*who, scope, tuple(chosen_statuses), tuple(chosen_types), version)
    counts = _counts(*who, scope)

    map_column, side_column = st.columns([3, 2])
    with map_column:
        st.html(legend_html(drawn.counts))  # Okabe-Ito: safe for colour blindness; counts are connectors
        # Same key and same initial view on every refresh: deck.gl keeps the user's pan and zoom.
        st.pydeck_chart(live_deck(drawn.layers_json, _view_for(drawn)), key="live_map", height=MAP_HEIGHT_PX)
        what = "grid cell" if drawn.cells else "station"
        st.caption(
            f"{drawn.connectors:,} of {drawn.all_connectors:,} connectors at {drawn.stations:,} stations · one point "
            f"per {what}, coloured by its most serious status ({', '.join(SEVERITY)}) · "
            + ("" if drawn.listed else "narrow the filters to list each connector in the tooltips · ")
            + f"updated {datetime.now(UTC):%H:%M:%S} UTC, every {REFRESH_SECONDS} s"
        )
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
        data, spec = counts_chart(counts)
        st.vega_lite_chart(data, spec, height=200)


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
            choices = _evse_ids(*who, cpo_id, live.connector_count(session, actor=actor, cpo_id=cpo_id))
        with st.form("set_status", clear_on_submit=False):
            evse_id = st.selectbox("EVSE id", options=choices, key="set_evse", index=None,
                                   placeholder="Choose a connector")
            status = st.radio("Status", options=STATUSES, horizontal=True, key="set_status_value")
            submitted = st.form_submit_button("Set status", type="primary")
        if submitted:
            if not evse_id:
                st.error("Choose the connector (EVSE id) first.")
            else:
                try:
                    with db_session() as session:
                        result = set_status(session, actor=actor, cpo_id=cpo_id, evse_id=evse_id, status=status)
                except OnboardError as error:  # problems a user can fix; anything else is a bug
                    show_error(error)
                else:
                    if result.ok:
                        st.success(plain(f"{result.evse_id} is now {result.status} "
                                         f"({live.DELIVERY_LABELS.get(result.delivery, result.delivery)})."))
                    else:
                        st.error(plain(result.error))
    with many:
        st.caption("CSV with a header `evse_id,status[,timestamp]`, or JSON: a list of "
                   "`{\"evse_id\", \"status\", \"timestamp\"}`. Timestamps are ISO 8601; without one, now.")
        upload = st.file_uploader("Status file", type=["csv", "json", "txt"], key="status_file")
        if upload is not None and st.button("Record these statuses", key="record_file", type="primary"):
            try:
                with db_session() as session:
                    outcome = record_status_file(session, actor=actor, cpo_id=cpo_id,
                                                 data=upload.getvalue(), file_name=upload.name)
            except OnboardError as error:  # an unreadable file (StatusFileError), no permission ...
                show_error(error)
            else:
                summary = ", ".join(f"{count} {live.DELIVERY_LABELS.get(kind, kind)}"
                                    for kind, count in sorted(outcome.deliveries.items()))
                st.success(f"{outcome.accepted} status(es) recorded" + (f": {summary}." if summary else "."))
                if not outcome.refused.empty:
                    st.warning(f"{len(outcome.refused)} line(s) were not taken:")
                    st.dataframe(outcome.refused, hide_index=True)

