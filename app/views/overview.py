"""Where each CPO stands, and the next step of each with a button that takes it."""

import pandas as pd
import streamlit as st

from common import db_session, plain, require_role
from components.steps import ACTIONS, follow_chosen_step, step_button, steps_markdown
from oioi_onboard.settings import get_settings
from oioi_onboard.store import Actor, Role, onboarding, queries
from oioi_onboard.sync import progress

actor = require_role(Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF)
follow_chosen_step()  # a next-step button below was clicked: open its page


@st.cache_data(ttl=5, show_spinner=False)
def _overview(url: str, name: str, role: str, cpo_ids: tuple[int, ...], include_inactive: bool) -> pd.DataFrame:
    # Keyed by the actor's scope and the database, so one person's rows never serve another.
    scoped = Actor(name=name, role=Role(role), cpo_ids=frozenset(cpo_ids))
    with db_session() as session:
        return queries.overview(session, actor=scoped, include_inactive=include_inactive)


st.title("Overview")
st.caption("Every CPO you can see, where its onboarding stands and what comes next: register → test the "
           "connection → import stations → fix errors → push → statuses live. Each button opens the page "
           "for that step with the CPO chosen.")

include_inactive = actor.sees_all and st.toggle("Show deactivated CPOs", key="overview_inactive")
frame = _overview(get_settings().db_url, actor.name, actor.role.value, tuple(sorted(actor.cpo_ids)), include_inactive)

if frame.empty:
    if actor.sees_all:
        st.info("No CPOs registered yet. Start by registering one: its operator ids, endpoint and API key.")
        if actor.can_manage and st.button("Register a CPO →", type="primary", key="overview_register"):
            st.switch_page("views/cpos.py")
    else:
        st.info("You are not assigned to any CPO yet. Ask a partner manager to add you.")
    st.stop()

# --- next steps -----------------------------------------------------------------------------------

with db_session() as session:
    steps = onboarding.onboarding(session, actor=actor, include_inactive=include_inactive)
    # Paused for its set-up, or its endpoint unreachable: said on the CPO's card and in the table.
    queue_trouble = progress.queue_problems(session, actor=actor, include_inactive=include_inactive)

st.subheader("Next steps")
for cpo_id, standing in steps.items():
    upcoming = standing.next
    with st.container(border=True, key=f"overview_cpo_{cpo_id}"):
        name, line, action = st.columns([2, 5, 3], vertical_alignment="center")
        name.markdown(f"**{plain(standing.cpo)}**  \n{standing.done} of {len(standing.steps)} steps")
        line.markdown(steps_markdown(standing))
        if upcoming is None:
            line.caption("Onboarding complete: statuses reach the platform.")
            step_button(action, f"Live map · {standing.cpo} →", cpo_id=cpo_id, step="statuses",
                        key=f"overview_next_{cpo_id}", help="Watch its statuses")
        else:
            line.caption(plain(f"Next: {upcoming.title.lower()}. {upcoming.detail[0].upper()}{upcoming.detail[1:]}."))
            # The CPO in the label: one button per CPO, each told apart (screen readers, tests, people).
            step_button(action, f"{ACTIONS[upcoming.key]} · {standing.cpo} →", cpo_id=cpo_id, step=upcoming.key,
                        key=f"overview_next_{cpo_id}", type="primary",
                        help=f"Opens the page for this step with {standing.cpo} chosen")
        if cpo_id in queue_trouble:
            line.warning(plain(queue_trouble[cpo_id].message))

# --- the figures ----------------------------------------------------------------------------------

st.subheader("All CPOs")
cpos, stations, connectors, problems = st.columns(4)
cpos.metric("CPOs", len(frame))
stations.metric("Stations", int(frame["stations"].sum()))
connectors.metric("Connectors", int(frame["connectors"].sum()))
problems.metric("Open problems", int(frame["open problems"].sum()))

# Progress in the same steps as above; the stored stage is not shown: it says nothing of a failed connection test
# or errors, and beside the steps it contradicted them.
shown = frame.assign(
    progress=frame["cpo_id"].map(lambda cpo_id: steps[cpo_id].done if cpo_id in steps else 0),
    **{"next step": frame["cpo_id"].map(
        lambda cpo_id: steps[cpo_id].next_title if cpo_id in steps else "")},
    queue=frame["cpo_id"].map(lambda cpo_id: queue_trouble[cpo_id].label if cpo_id in queue_trouble else ""),
).drop(columns=["cpo_id", "stage"])
if not include_inactive:
    shown = shown.drop(columns=["active"])
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    column_order=[c for c in ["CPO", "progress", "next step", "stations", "connectors", "last activity",
                              "open problems", "queue", "active"] if c in shown.columns],
    column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=len(onboarding.STEPS),
                                                    format=f"%d of {len(onboarding.STEPS)} steps"),
        "last activity": st.column_config.DatetimeColumn("last activity (UTC)", format="YYYY-MM-DD HH:mm"),
        "open problems": st.column_config.NumberColumn(
            "open problems", help="Failed pushes waiting for a fix plus errors in the latest import"),
        "queue": st.column_config.TextColumn(
            "queue", help="Why the push queue waits: its set-up was refused (paused) or its endpoint does not "
                          "answer (unreachable since …); empty while it sends"),
    },
)
if frame["open problems"].sum():
    st.caption("Open problems: failed pushes (see Push) and errors of the latest import (see Import stations).")
