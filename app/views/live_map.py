"""Live map: every station coloured by its connectors' statuses, refreshing itself; recent changes beside it."""

from datetime import UTC, datetime

import streamlit as st

from common import counted, current_actor, db_session, plain, show_error
from components.live_map_layers import (
    LIST_CONNECTORS_UP_TO,
    MAP_HEIGHT_PX,
    SEVERITY,
    LiveMap,
    counts_chart,
    display_timezone,
    fit_view,
    legend_html,
    live_deck,
    live_map,
)
from components.steps import LIVE_FILTER, show_steps
from oioi_onboard.errors import NotFound, OnboardError, PermissionDenied
from oioi_onboard.oioi import STATUSES
from oioi_onboard.settings import get_settings
from oioi_onboard.store import Actor, Role, onboarding, queries
from oioi_onboard.sync import live, record_status_file, set_status

REFRESH_SECONDS = 5

actor = current_actor()  # every role, viewers included; what shows is scoped to the person's CPOs
state = st.session_state

st.title("Live map")
st.caption(
    "Every station coloured by its connectors' current statuses, refreshed every few seconds. "
    "Beside it, the latest changes and whether each reached the platform: pending, delivered (and how long "
    "it took), superseded by a newer one, held back until the station is acknowledged, or rejected and why. "
    "Click a station (or give its id) to see its connectors and the exact requests sent."
)
# Times in the browser's zone when it tells us (st.context.timezone), else UTC; every time label names it.
TIMEZONE = display_timezone(st.context.timezone)


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
editable_names = {cpo.id: cpo.name for cpo in cpos if actor.can_edit(cpo.id)}

# Filters live in Session State keys of their own as well as in the widgets: Streamlit forgets a widget's
# value once a run does not draw it (another page was open), and the fragment's refreshes must never
# reset them. Restored into the widget before it is drawn; written back on every change.
FILTERS = {"live_cpos": (LIVE_FILTER, list(names)), "live_statuses": ("live_filter_statuses", STATUSES),
           "live_types": ("live_filter_types", types)}
for widget, (remembered, options) in FILTERS.items():
    if widget not in state:
        state[widget] = [value for value in state.get(remembered, []) if value in options]


def _remember(widget: str) -> None:
    state[FILTERS[widget][0]] = list(state[widget])


left, middle, right = st.columns(3)
chosen_cpos = left.multiselect("CPO", options=list(names), format_func=names.get, key="live_cpos",
                               placeholder="All CPOs", on_change=_remember, args=("live_cpos",))
chosen_statuses = middle.multiselect("Status", options=STATUSES, key="live_statuses", placeholder="Every status",
                                     on_change=_remember, args=("live_statuses",))
chosen_types = right.multiselect("Connector type", options=types, key="live_types", placeholder="Every type",
                                 on_change=_remember, args=("live_types",))
for widget in FILTERS:
    _remember(widget)
scope = tuple(chosen_cpos) or tuple(names)
steps = show_steps(actor, scope[0], here=("statuses",), key="live") \
    if len(scope) == 1 and actor.role != Role.VIEWER else None


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


RECENT_COLUMNS = {
    "received_at": st.column_config.DatetimeColumn(f"Received ({TIMEZONE})", format="HH:mm:ss", timezone=TIMEZONE),
    "cpo": "CPO", "evse_id": "EVSE id", "status": "Status", "delivery": "Delivery",
    "source": st.column_config.TextColumn("Source", help="Where the status came from: ocpi (the CPO's OCPI back "
                                                         "end), api (POST /v1/statuses), file, ui, simulator"),
    "delivered_at": st.column_config.DatetimeColumn(f"Delivered ({TIMEZONE})", format="HH:mm:ss",
                                                    timezone=TIMEZONE),
    "took_s": st.column_config.NumberColumn("Took (s)", format="%.1f",
                                            help="From receiving the change to the endpoint's acknowledgement"),
    "reason": st.column_config.TextColumn("Reason", width="large"),
}


# What became of a change right after which change it was.
RECENT_ORDER = ["received_at", "evse_id", "status", "source", "delivery", "took_s", "delivered_at", "reason", "cpo"]


def _picked(event, layer: str, field: str):  # noqa: ANN001, ANN202
    """The ``field`` of the object selected on ``layer`` of a chart's selection event, if any."""
    try:
        objects = event.selection.objects.get(layer) or []
    except AttributeError:
        return None
    return objects[0].get(field) if objects else None


def _follow(source: str, station_id: str | None) -> None:
    """A new pick on the map or in the table (``source``) opens that station; a pick that stays does not."""
    if station_id and station_id != state.get(f"live_picked_{source}"):
        state["live_station_pending"] = station_id  # station_section puts it into its field
    state[f"live_picked_{source}"] = station_id


def _close_station() -> None:
    state["live_station_id"] = ""


def _at(moment) -> str:  # noqa: ANN001
    import pandas as pd

    if moment is None or pd.isna(moment):
        return "—"
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return f"{stamp.tz_convert(TIMEZONE):%Y-%m-%d %H:%M:%S}"


def station_section() -> None:
    """One station: its connectors, their last changes, and the exact connector-post-status requests."""
    st.subheader("Station")
    pending = state.pop("live_station_pending", None)
    if pending:
        state["live_station_id"] = pending  # a pick on the map or in the table fills the field
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    wanted = (left.text_input("Station or EVSE id", key="live_station_id",
                              placeholder="Click a station on the map, or type its id, e.g. DE*8PS*S00001")
              or "").strip()
    right.button("Close", key="live_station_close", disabled=not wanted, on_click=_close_station)
    if not wanted:
        st.caption("No station chosen.")
        return
    try:
        with db_session() as session:
            view = live.station_view(session, actor=actor, station_id=wanted)
    except (NotFound, PermissionDenied) as error:
        st.warning(plain(f"{error}."))
        return
    if view.deleted_at_endpoint:
        acked = f"deleted at the endpoint (acknowledged at {_at(view.acknowledged_at)} {TIMEZONE})"
    elif not view.listed:
        acked = ("no longer on the CPO's station list (removed here or left out of its latest full upload): "
                 + ("its deletion waits for a push" if view.acknowledged_at else "it was never pushed"))
    elif view.acknowledged_at:
        acked = f"acknowledged by the endpoint at {_at(view.acknowledged_at)} ({TIMEZONE})"
    else:
        acked = "not acknowledged by the endpoint yet: its statuses are held back until it is"
    st.markdown(f"**{plain(view.name)}** ({plain(view.station_id)}) · {plain(view.cpo)} · {plain(view.address)}"
                + ("" if view.listed else " · off the list"))
    st.caption(acked)
    # The connectors and their changes one under the other, each the page's width: side by side, the EVSE ids
    # (DE*8PS*E0001*2) were cut off.
    st.markdown("**Connectors**")
    st.dataframe(view.connectors, hide_index=True, key="live_station_connectors", column_config={
        "evse_id": st.column_config.TextColumn("EVSE id", width="medium"), "connector_type": "Type",
        "speed": st.column_config.NumberColumn("kW"), "status": "Status",
        "status_at": st.column_config.DatetimeColumn(f"Since ({TIMEZONE})", format="YYYY-MM-DD HH:mm:ss",
                                                     timezone=TIMEZONE),
        "source": RECENT_COLUMNS["source"]},
        column_order=["evse_id", "status", "source", "status_at", "connector_type", "speed"])
    st.markdown("**Last changes**")
    if view.changes.empty:
        st.caption("No status change for these connectors yet.")
    else:
        st.dataframe(view.changes, hide_index=True, key="live_station_changes", column_config=RECENT_COLUMNS,
                     column_order=[column for column in RECENT_ORDER if column in view.changes.columns])
    st.markdown("**Requests sent** (`connector-post-status`, newest first)")
    if view.requests.empty:
        st.caption("No status has been queued for these connectors yet.")
    for index, request in enumerate(view.requests.head(5).itertuples(index=False)):
        label = plain(f"{request.evse_id} → {request.status} · {request.state} · {request.answer}")  # '*' stays
        with st.expander(label, expanded=index == 0):
            st.markdown("The exact request body:")
            st.json(view.payloads.get(request.outbox_id, {}))
            st.markdown(plain(
                f"Answer: {request.answer}. Queued {_at(request.created_at)}, sent {_at(request.sent_at)}, "
                f"acknowledged {_at(request.acked_at)} ({TIMEZONE}); {counted(request.attempts, 'attempt')}."))


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
        event = st.pydeck_chart(live_deck(drawn.layers_json, _view_for(drawn)), key="live_map",
                                height=MAP_HEIGHT_PX, on_select="rerun", selection_mode="single-object")
        _follow("map", _picked(event, "stations", "station_id"))
        what = "grid cell" if drawn.cells else "station"
        st.caption(
            f"{drawn.connectors:,} of {drawn.all_connectors:,} connectors at {drawn.stations:,} stations · one point "
            f"per {what}, coloured by its most serious status ({', '.join(SEVERITY)}) · "
            + ("" if drawn.listed else "narrow the filters to list each connector in the tooltips · ")
            + f"click a station to see it below · updated {_at(datetime.now(UTC))} {TIMEZONE}, "
            f"every {REFRESH_SECONDS} s"
        )
    with side_column:
        st.subheader("Connectors per status, last hour")
        data, spec = counts_chart(counts, TIMEZONE)
        st.vega_lite_chart(data, spec, height=240)
    # Full width: what became of each change must be readable without scrolling sideways.
    st.subheader("Recent changes")
    if recent.empty:
        st.caption("No status change has come in yet.")
    else:
        shown = recent.drop(columns=["observed_at", "station_id"])
        # A new key after each pick clears the selection: rows move down as changes come in, and a
        # selection by position would soon point at another change.
        generation = state.setdefault("live_recent_generation", 0)
        rows = st.dataframe(shown, hide_index=True, height=280, key=f"live_recent_{generation}",
                            on_select="rerun", selection_mode="single-row", column_config=RECENT_COLUMNS,
                            column_order=RECENT_ORDER)
        chosen = rows.selection.rows if rows is not None else []
        if chosen:
            _follow("table", recent["station_id"].iloc[chosen[0]] or None)
            state["live_picked_table"] = None
            state["live_recent_generation"] = generation + 1
        st.caption("Select a row to see its station below.")
    station_section()
    # The onboarding card above is drawn by the whole page: redraw it once the first status reaches the platform.
    if steps is not None and not steps.step("statuses").done:
        with db_session() as session:
            if onboarding.statuses_delivered(session, actor=actor, cpo_id=scope[0]):
                st.rerun()


live_view()

# --- setting statuses by hand (CPO staff, partner managers, admins) -------------------------------
if editable_names:
    st.divider()
    st.subheader("Set statuses")
    st.caption("Changes made here go the same way as those from a CPO's back end: newest wins, "
               "held back until the station is acknowledged, then sent.")
    # Follows the map: the CPO the map is filtered to (the first one of several) unless one of them is chosen.
    followed = [cpo_id for cpo_id in chosen_cpos if cpo_id in editable_names]
    if followed and state.get("set_cpo") not in followed:
        state["set_cpo"] = followed[0]
    elif state.get("set_cpo") not in editable_names:
        remembered = state.get("selected_cpo")
        state["set_cpo"] = remembered if remembered in editable_names else next(iter(editable_names))
    cpo_id = st.selectbox("CPO to set statuses for", options=list(editable_names), format_func=editable_names.get,
                          key="set_cpo")
    one, many = st.tabs(["One connector", "Status file"])
    with one:
        with db_session() as session:
            choices = _evse_ids(*who, cpo_id, live.connector_count(session, actor=actor, cpo_id=cpo_id))
        with st.form("set_status", clear_on_submit=False):
            evse_id = st.selectbox("EVSE id", options=choices, key="set_evse", index=None,
                                   placeholder="Choose a connector")
            status = st.radio("New status", options=STATUSES, horizontal=True, key="set_status_value")
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
                st.success(f"{counted(outcome.accepted, 'status', 'statuses')} recorded"
                           + (f": {summary}." if summary else "."))
                if refused := len(outcome.refused):
                    st.warning(f"{counted(refused, 'line')} {'was' if refused == 1 else 'were'} not taken:")
                    st.dataframe(outcome.refused, hide_index=True)

