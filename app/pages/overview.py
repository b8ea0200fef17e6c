"""Where each CPO stands: stage, stations, connectors, last activity, open problems."""

import pandas as pd
import streamlit as st
from common import db_session, require_role

from oioi_onboard.settings import get_settings
from oioi_onboard.store import queries
from oioi_onboard.store.auth import Actor
from oioi_onboard.store.models import Role

actor = require_role(Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF)


@st.cache_data(ttl=5, show_spinner=False)
def _overview(url: str, name: str, role: str, cpo_ids: tuple[int, ...], include_inactive: bool) -> pd.DataFrame:
    # Keyed by the actor's scope and the database, so one person's rows never serve another.
    scoped = Actor(name=name, role=Role(role), cpo_ids=frozenset(cpo_ids))
    with db_session() as session:
        return queries.overview(session, actor=scoped, include_inactive=include_inactive)


st.title("Overview")
st.caption("Every CPO you can see, and how far its onboarding has come: "
           "registered → stations validated → full load pushed → statuses live.")

include_inactive = actor.sees_all and st.toggle("Show deactivated CPOs", key="overview_inactive")
frame = _overview(get_settings().db_url, actor.name, actor.role.value, tuple(sorted(actor.cpo_ids)), include_inactive)

if frame.empty:
    if actor.sees_all:
        st.info("No CPOs registered yet. Start on the page 1 · CPOs.")
    else:
        st.info("You are not assigned to any CPO yet. Ask a partner manager to add you.")
    st.stop()

cpos, stations, connectors, problems = st.columns(4)
cpos.metric("CPOs", len(frame))
stations.metric("Stations", int(frame["stations"].sum()))
connectors.metric("Connectors", int(frame["connectors"].sum()))
problems.metric("Open problems", int(frame["open problems"].sum()))

stage_step = {label: index + 1 for index, label in enumerate(queries.STAGE_LABELS.values())}
shown = frame.assign(progress=frame["stage"].map(stage_step)).drop(columns=["cpo_id"])
if not include_inactive:
    shown = shown.drop(columns=["active"])
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    column_order=[c for c in ["CPO", "stage", "progress", "stations", "connectors", "last activity",
                              "open problems", "active"] if c in shown.columns],
    column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=len(stage_step),
                                                    format="%d of 4"),
        "last activity": st.column_config.DatetimeColumn("last activity (UTC)", format="YYYY-MM-DD HH:mm"),
        "open problems": st.column_config.NumberColumn(
            "open problems", help="Failed pushes waiting for a fix plus errors in the latest import"),
    },
)
if frame["open problems"].sum():
    st.caption("Open problems: failed pushes (see Push) and errors of the latest import (see Import stations).")
