"""Push: what will be sent, a dry run, confirmation, live progress, history and reconciliation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402
from common import current_actor, db_session, plain  # noqa: E402

from oioi_onboard.store import queries  # noqa: E402
from oioi_onboard.sync import outbox, progress  # noqa: E402
from oioi_onboard.sync.diff import KINDS, PlanError, plan_push  # noqa: E402

# Problems a user can fix; anything else is a bug and shows as one.
EXPECTED = (queries.PermissionDenied, PlanError, LookupError, ValueError)
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
names = {cpo.id: cpo.name for cpo in cpos}
cpo_id = st.selectbox("CPO", options=list(names), format_func=names.get, key="push_cpo")
can_edit = actor.can_edit(cpo_id)

# --- a paused queue -----------------------------------------------------------------------
with db_session() as session:
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    paused_reason = cpo.paused_reason
if paused_reason:
    st.error(plain(f"The queue of {cpo.name} is paused: {paused_reason}."))
    if can_edit and st.button("Resume the queue", key="push_resume"):
        with db_session() as session:
            outbox.resume_cpo(session, cpo_id=cpo_id)
            queries.audit(session, actor_name=actor.name, action="push queue resumed", cpo_id=cpo_id)
        st.rerun()

# --- what will be sent ----------------------------------------------------------------------
st.subheader("What will be sent")
try:
    with db_session() as session:
        plan = plan_push(session, cpo_id=cpo_id)
        counts = plan.counts
        to_send = [item.station_id for item in plan.to_send]
except EXPECTED as error:
    st.warning(plain(str(error)))
    st.stop()

for column, kind in zip(st.columns(len(KINDS)), KINDS):
    column.metric(KIND_LABELS[kind], counts[kind])

if to_send:
    shown = st.selectbox("The exact request of a station", options=to_send, key="push_json_station")
    with db_session() as session:
        item = plan.item(shown)
        if item.reason:
            st.caption(plain(item.reason))
        for body in plan.requests(session, shown):
            st.json(body, expanded=False)
else:
    st.success("Nothing to push: the endpoint holds every stored station as it is.")

# --- confirm and push -----------------------------------------------------------------------
needs = plan.needs_confirmation
confirm_deletions = confirm_connectors = False
if needs.get("deleted"):
    confirm_deletions = st.checkbox(
        f"Delete {needs['deleted']} station(s) at the endpoint (removed here or missing from the latest full "
        "upload; sent as \"deleted\": true)", key="push_confirm_deletions")
if needs.get("connectors_changed"):
    confirm_connectors = st.checkbox(
        f"Replace {needs['connectors_changed']} station(s) whose connectors changed: the protocol forbids "
        "changing connectors, so each is soft-deleted and pushed under a new station id", key="push_confirm_connectors")

left, right = st.columns(2)
dry = left.button("Dry run", key="push_dry_run", disabled=not (to_send and can_edit))
go = right.button("Push", type="primary", key="push_go", disabled=not (to_send and can_edit))
if dry or go:
    try:
        with db_session() as session:
            run = outbox.enqueue_plan(session, actor=actor, plan=plan_push(session, cpo_id=cpo_id),
                                      confirm_deletions=confirm_deletions,
                                      confirm_connector_changes=confirm_connectors, dry_run=dry)
            run_id, total = run.id, run.total
        if dry:
            st.info(f"Dry run {run_id}: {total} request(s) would be sent; nothing was queued.")
        else:
            st.success(f"Run {run_id}: {total} request(s) queued; the worker is sending them.")
    except EXPECTED as error:
        st.error(plain(str(error)))


# --- progress, followed from the database --------------------------------------------------
@st.fragment(run_every=1)
def run_view() -> None:
    with db_session() as session:
        run = progress.latest_run(session, cpo_id=cpo_id)
        if run is None:
            st.caption("No push yet.")
            return
        now = progress.run_progress(session, run_id=run.id)
        todo = progress.failures(session, cpo_id=cpo_id, run_id=run.id)
    eta = f", about {now.eta_s:.0f} s left" if now.eta_s is not None else ""
    st.progress(now.fraction, text=f"Run {run.id}: {now.done} of {now.total} done, {now.acked} acknowledged, "
                                   f"{now.failed} failed, {now.rate_per_s:.1f} stations/s{eta}")
    if now.finished and not now.failed:
        st.caption(f"Run {run.id} finished: every request acknowledged.")
    if len(todo):
        st.warning(f"{len(todo)} station(s) need your attention: the endpoint refused them for good.")
        st.dataframe(todo, hide_index=True, width="stretch")


st.subheader("Progress")
run_view()
if can_edit:
    with db_session() as session:
        failed = len(progress.failures(session, cpo_id=cpo_id))
    if failed and st.button(f"Send the {failed} failed station(s) again", key="push_retry"):
        with db_session() as session:
            outbox.retry_failed(session, actor=actor, cpo_id=cpo_id)
        st.rerun()

# --- history and reconciliation -------------------------------------------------------------
st.subheader("History")
runs_tab, station_tab, reconcile_tab = st.tabs(["Runs", "One station", "Reconcile with the sandbox"])
with runs_tab:
    with db_session() as session:
        st.dataframe(progress.history(session, cpo_id=cpo_id), hide_index=True, width="stretch")
with station_tab:
    station_id = st.text_input("Station id", key="push_history_station")
    if station_id:
        with db_session() as session:
            st.dataframe(progress.station_history(session, cpo_id=cpo_id, station_id=station_id.strip()),
                         hide_index=True, width="stretch")
with reconcile_tab:
    default = progress.sandbox_base_url(cpo.endpoint)
    base_url = st.text_input("Sandbox address", value=default, key="push_sandbox_url",
                             help="Where GET /_sandbox/stations answers, e.g. http://127.0.0.1:8765")
    if st.button("Compare", key="push_reconcile"):
        try:
            with db_session() as session:
                frame = progress.reconcile(session, cpo_id=cpo_id, sandbox_base_url=base_url)
        except progress.ReconcileError as error:
            st.error(plain(str(error)))
        else:
            verdicts = frame["verdict"].value_counts()
            st.write(", ".join(f"{n} {verdict}" for verdict, n in verdicts.items()) or "No stations.")
            st.dataframe(frame, hide_index=True, width="stretch")
