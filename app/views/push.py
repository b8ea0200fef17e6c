"""Push: what will be sent, a dry run, confirmation, live progress, history and reconciliation."""

import streamlit as st

from common import choose_cpo, counted, current_actor, db_session, plain, show_error
from components.steps import show_steps
from oioi_onboard.errors import OnboardError
from oioi_onboard.store import connection, queries
from oioi_onboard.sync import KINDS, mass_replacement, plan_push, progress, queue_control
from oioi_onboard.workflows import start_push

KIND_LABELS = {"new": "New", "changed": "Changed", "connectors_changed": "Connectors changed",
               "deleted": "Deleted", "unchanged": "Unchanged (not sent)"}

actor = current_actor()
state = st.session_state

st.title("Push stations")
st.caption("Each station goes to the platform as one station-post. A worker sends them in the background: "
           "you can leave this page and come back, the progress follows the worker.")

with db_session() as session:
    cpos = queries.list_cpos(session, actor=actor)
if not cpos:
    st.info("There is no CPO for you yet. Register one on the CPOs page and import its stations first.")
    st.stop()
cpo_id = choose_cpo(cpos, key="push_cpo")
show_steps(actor, cpo_id, here=("push",), key="push")
can_edit = actor.can_edit(cpo_id)

# --- a paused queue -----------------------------------------------------------------------
with db_session() as session:
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    paused_reason = cpo.paused_reason
if paused_reason:
    st.error(plain(f"The queue of {cpo.name} is paused: {paused_reason}."))
    if can_edit and st.button("Resume the queue", key="push_resume"):
        with db_session() as session:
            queue_control.resume_cpo(session, actor=actor, cpo_id=cpo_id)
        st.rerun()

# --- the last connection test failed or never ran: say so, and ask before pushing ----------
with db_session() as session:
    readiness = connection.push_readiness(session, actor=actor, cpo_id=cpo_id)
if readiness:
    st.warning(plain(readiness))


# --- confirm and push (callbacks: they run before the page is drawn, so it shows the queued run) -------
def enqueue(cpo_id: int, dry_run: bool, stations: int = 0) -> None:
    doing = "Planning a dry run of" if dry_run else "Queuing"
    try:
        with st.spinner(f"{doing} {counted(stations, 'station')}…", show_time=True), db_session() as session:
            _, run = start_push(session, actor=actor, cpo_id=cpo_id, dry_run=dry_run,
                                confirm_deletions=state.get("push_confirm_deletions", False),
                                confirm_connector_changes=state.get("push_confirm_connectors", False),
                                replace_all=state.get("push_replace_all", False))
            run_id, total = run.id, run.total
    except OnboardError as error:  # problems a user can fix; anything else is a bug and shows as one
        state["push_outcome"] = ("error", plain(str(error)))
        return
    if dry_run:
        state["push_outcome"] = ("info",
                                 f"Dry run {run_id}: {counted(total, 'request')} would be sent; nothing was queued.")
    else:
        state["push_outcome"] = ("success",
                                 f"Run {run_id}: {counted(total, 'request')} queued; the worker is sending them.")


# --- what will be sent ----------------------------------------------------------------------
st.subheader("What will be sent")
try:
    with db_session() as session:
        plan = plan_push(session, actor=actor, cpo_id=cpo_id)
except OnboardError as error:
    st.warning(plain(str(error)))
    st.stop()
counts, queued = plan.counts, plan.queued_counts
waiting = [item.station_id for item in plan.waiting]

# Queued requests are no longer "to send": they show apart until the endpoint acknowledges them.
metrics = [(KIND_LABELS[kind], counts[kind] - queued[kind]) for kind in KINDS]
metrics.append(("Queued (being sent)", sum(queued.values())))
for row in (metrics[:3], metrics[3:]):  # two rows of three: six in a row cut their labels short
    for column, (label, value) in zip(st.columns(3), row, strict=True):
        column.metric(label, value)

if waiting:
    shown = st.selectbox("The exact request of a station", options=waiting, key="push_json_station")
    with db_session() as session:
        item = plan.item(shown)
        if item.reason:
            st.caption(plain(item.reason))
        for body in plan.requests(session, shown):
            st.json(body, expanded=False)
elif plan.queued:
    st.caption(f"Every change is queued ({counted(len(plan.queued), 'station')}); the worker is sending them.")
else:
    st.success("Nothing to push: the endpoint holds every stored station as it is.")

needs = plan.needs_confirmation  # as enqueue_plan checks it
replacing = mass_replacement(plan)
if replacing:
    st.error(plain(f"{replacing} Check the mapping on the import page before you push."))
    st.checkbox("Replace them all: the stations the endpoint holds are deleted and the new ones pushed",
                key="push_replace_all")
if needs.get("deleted"):
    st.checkbox(
        f"Delete {counted(needs['deleted'], 'station')} at the endpoint (removed here or missing from the latest full "
        "upload; sent as \"deleted\": true)", key="push_confirm_deletions")
if needs.get("connectors_changed"):
    st.checkbox(
        f"Replace {counted(needs['connectors_changed'], 'station')} whose connectors changed: the protocol forbids "
        "changing connectors, so each is soft-deleted and pushed under a new station id", key="push_confirm_connectors")

untested_confirmed = not readiness or st.checkbox(
    "Push without a passed connection test", key=f"push_confirm_untested_{cpo_id}")

left, right = st.columns(2)
left.button("Dry run", key="push_dry_run", disabled=not (waiting and can_edit), on_click=enqueue,
            args=(cpo_id, True, len(waiting)))
right.button("Push", type="primary", key="push_go", disabled=not (waiting and can_edit and untested_confirmed),
             on_click=enqueue, args=(cpo_id, False, len(waiting)))
if "push_outcome" in state:
    kind, message = state.pop("push_outcome")
    getattr(st, kind)(message)


# --- progress, followed from the database --------------------------------------------------
@st.fragment(run_every=1)
def run_view() -> None:
    with db_session() as session:
        # Live, as the worker marks it: an endpoint that stopped answering (and, later, answers again).
        problem = progress.queue_problem(queries.get_cpo(session, actor=actor, cpo_id=cpo_id))
        run = progress.latest_run(session, actor=actor, cpo_id=cpo_id)
    if problem is not None and problem.kind == "unreachable":
        st.warning(plain(problem.message))
    with db_session() as session:
        if run is None:
            st.caption("No push yet.")
            return
        now = progress.run_progress(session, actor=actor, run_id=run.id)
        todo = progress.failures(session, actor=actor, cpo_id=cpo_id, run_id=run.id)
    eta = f", about {now.eta_s:.0f} s left" if now.eta_s is not None else ""
    st.progress(now.percent, text=f"Run {run.id}: {now.done} of {now.total} done, {now.acked} acknowledged, "
                                  f"{now.failed} failed, {now.rate_per_s:.1f} stations/s{eta}")
    if now.finished and not now.failed:
        st.caption(f"Run {run.id} finished: every request acknowledged.")
    if len(todo):
        st.warning(f"{counted(len(todo), 'station')} need{'s' if len(todo) == 1 else ''} your attention: the endpoint "
                   "refused them for good.")
        st.dataframe(todo, hide_index=True, width="stretch")
    # The counts above the fragment are drawn by the whole page: redraw it once when a run it watched ends.
    if not now.finished:
        state["push_watching_run"] = run.id
    elif state.pop("push_watching_run", None) == run.id:
        st.rerun()


st.subheader("Progress")
run_view()
if can_edit:
    with db_session() as session:
        failed = len(progress.failures(session, actor=actor, cpo_id=cpo_id))
    if failed and st.button(f"Send the {counted(failed, 'failed station')} again", key="push_retry"):
        with db_session() as session:
            queue_control.retry_failed(session, actor=actor, cpo_id=cpo_id)
        st.rerun()

# --- history and reconciliation -------------------------------------------------------------
st.subheader("History")
runs_tab, station_tab, reconcile_tab = st.tabs(["Runs", "One station", "Reconcile with the sandbox"])
with runs_tab:
    with db_session() as session:
        st.dataframe(progress.history(session, actor=actor, cpo_id=cpo_id), hide_index=True, width="stretch")
with station_tab:
    station_id = st.text_input("Station id", key="push_history_station")
    if station_id:
        with db_session() as session:
            st.dataframe(progress.station_history(session, actor=actor, cpo_id=cpo_id,
                                                   station_id=station_id.strip()),
                         hide_index=True, width="stretch")
with reconcile_tab:
    default = progress.sandbox_base_url(cpo.endpoint)
    base_url = st.text_input("Sandbox address", value=default, key="push_sandbox_url",
                             help="Where GET /_sandbox/stations answers, e.g. http://127.0.0.1:8765")
    if st.button("Compare", key="push_reconcile"):
        try:
            with db_session() as session:
                frame = progress.reconcile(session, actor=actor, cpo_id=cpo_id, sandbox_base_url=base_url)
        except OnboardError as error:
            show_error(error)
        else:
            verdicts = frame["verdict"].value_counts()
            st.write(", ".join(f"{n} {verdict}" for verdict, n in verdicts.items()) or "No stations.")
            st.dataframe(frame, hide_index=True, width="stretch")
