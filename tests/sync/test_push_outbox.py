"""Diff, outbox and worker against the real sandbox process and a real SQLite database."""

import asyncio

import pytest
from sqlalchemy import select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Connector, Cpo, Outbox, OutboxState, PushRun, Station
from oioi_onboard.store.queries import audit_log
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import ConfirmationRequired, Outcome, claim, enqueue_plan, record_results
from oioi_onboard.sync.queue_control import resume_cpo
from oioi_onboard.sync.worker import run_worker
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station, store_stations


@pytest.fixture
def sandbox(tmp_path):
    with running_sandbox(tmp_path / "sandbox") as sandbox:
        yield sandbox


def _cpo(sandbox, **kw) -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=sandbox.partner_id, **kw)
        return cpo.id


def _push(cpo_id, **kw) -> PushRun:
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        return enqueue_plan(session, actor=SYSTEM, plan=plan, **kw)


def _work(**kw) -> int:
    return asyncio.run(run_worker(once=True, poll_interval=0.05, **kw))


def _states(run_id=None) -> dict:
    with session_scope() as session:
        query = select(Outbox.state, Outbox.id)
        if run_id is not None:
            query = query.where(Outbox.run_id == run_id)
        states: dict = {}
        for state, _ in session.exec(query).all():
            states[state] = states.get(state, 0) + 1
        return states


def test_full_load_then_nothing_to_push(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 40)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["new"] == 40 and not plan.needs_confirmation
        [body] = plan.requests(session, plan.to_send[0].station_id)
        assert body["station-post"]["partner-identifier"] == sandbox.partner_id
        assert body["station-post"]["station"]["id"] == plan.to_send[0].station_id
    run = _push(cpo_id)
    assert run.total == 40
    assert _work() == 40
    assert _states(run.id) == {OutboxState.ACKED: 40}
    stats = sandbox.stats()
    assert len(stats["station_accepts"]) == 40 and set(stats["station_accepts"].values()) == {1}
    with session_scope() as session:
        assert session.get(PushRun, run.id).finished_at is not None
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["unchanged"] == 40 and not plan.to_send
    second = _push(cpo_id)
    assert second.total == 0
    assert _work() == 0
    assert sum(sandbox.stats()["station_accepts"].values()) == 40


def test_changed_station_is_sent_again_and_only_it(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 5)
    _push(cpo_id)
    _work()
    with session_scope() as session:
        record = new_import(session, cpo_id)
        for n in range(1, 6):
            store_station(session, cpo_id, station_payload(n, name="Renamed 3" if n == 3 else None),
                          import_id=record.id)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["changed"] == 1 and plan.counts["unchanged"] == 4
    _push(cpo_id)
    _work()
    accepts = sandbox.stats()["station_accepts"]
    assert accepts["DE*8PS*S000003"] == 2
    assert sum(accepts.values()) == 6
    held = {s["station_id"]: s["station"] | {"deleted": s["deleted"]} for s in sandbox.stations()}
    assert held["DE*8PS*S000003"]["name"] == "Renamed 3"


def test_same_payload_twice_is_queued_once_and_newer_supersedes(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 3)
    first = _push(cpo_id)
    again = _push(cpo_id)
    assert first.total == 3 and again.total == 0
    with session_scope() as session:
        store_station(session, cpo_id, station_payload(1, name="Newer"),
                      import_id=session.exec(select(Station.import_id)).first()[0])
    newer = _push(cpo_id)
    assert newer.total == 1
    assert _states(first.id) == {OutboxState.PENDING: 2, OutboxState.SUPERSEDED: 1}
    _work()
    accepts = sandbox.stats()["station_accepts"]
    assert accepts == {"DE*8PS*S000001": 1, "DE*8PS*S000002": 1, "DE*8PS*S000003": 1}
    assert {s["station_id"]: s["station"]["name"] for s in sandbox.stations()}["DE*8PS*S000001"] == "Newer"


def test_connector_change_needs_confirmation_then_soft_delete_and_new_id(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 2)
    _push(cpo_id)
    _work()
    with session_scope() as session:
        record = new_import(session, cpo_id)
        store_station(session, cpo_id, station_payload(1, connectors=2), import_id=record.id)
        store_station(session, cpo_id, station_payload(2), import_id=record.id)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["connectors_changed"] == 1
        assert plan.needs_confirmation == {"connectors_changed": 1}
        item = plan.item("DE*8PS*S000001")
        assert item.new_station_id == "DE*8PS*S000001-2"
        deletion, replacement = plan.requests(session, "DE*8PS*S000001")
        assert deletion["station-post"]["station"]["deleted"] is True
        assert len(deletion["station-post"]["station"]["connectors"]) == 1  # what the endpoint holds
        assert replacement["station-post"]["station"]["id"] == "DE*8PS*S000001-2"
        assert len(replacement["station-post"]["station"]["connectors"]) == 2
    before = sandbox.stats()["station_accepts"]
    with pytest.raises(ConfirmationRequired, match="changed connectors"):
        _push(cpo_id)
    with session_scope() as session:
        assert session.exec(select(Outbox).where(Outbox.state == OutboxState.PENDING)).first() is None
    _work()
    assert sandbox.stats()["station_accepts"] == before  # nothing was sent
    run = _push(cpo_id, confirm_connector_changes=True)
    assert run.total == 2 and run.replaced == 1
    _work()
    assert _states(run.id) == {OutboxState.ACKED: 2}
    held = {s["station_id"]: s["station"] | {"deleted": s["deleted"]} for s in sandbox.stations()}
    assert held["DE*8PS*S000001"]["deleted"] is True
    assert held["DE*8PS*S000001-2"]["deleted"] is False
    with session_scope() as session:
        old = session.exec(select(Station).where(Station.station_id == "DE*8PS*S000001")).scalar()
        new = session.exec(select(Station).where(Station.station_id == "DE*8PS*S000001-2")).scalar()
        assert old.deleted and old.acked_deleted
        assert new.acked_sha256 == new.payload_sha256
        assert len(session.exec(select(Connector).where(Connector.station_pk == new.id)).all()) == 2
        assert not plan_push(session, actor=SYSTEM, cpo_id=cpo_id).to_send
    with session_scope() as session:  # the same file again brings the old id back, as the import does
        record = new_import(session, cpo_id)
        store_station(session, cpo_id, station_payload(1, connectors=2), import_id=record.id)
        store_station(session, cpo_id, station_payload(2), import_id=record.id)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert not plan.to_send, plan.to_send
        assert plan.item("DE*8PS*S000001").reason == "already pushed as DE*8PS*S000001-2"


def test_deletion_of_missing_station_needs_confirmation(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 3)
    _push(cpo_id)
    _work()
    with session_scope() as session:
        record = new_import(session, cpo_id)  # a full upload without station 2
        for n in (1, 3):
            store_station(session, cpo_id, station_payload(n), import_id=record.id)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["deleted"] == 1 and plan.item("DE*8PS*S000002").reason.startswith("missing")
    with pytest.raises(ConfirmationRequired, match="deleted"):
        _push(cpo_id)
    _push(cpo_id, confirm_deletions=True)
    _work()
    held = {s["station_id"]: s["station"] | {"deleted": s["deleted"]} for s in sandbox.stations()}
    assert held["DE*8PS*S000002"]["deleted"] is True
    with session_scope() as session:
        # Its deletion acknowledged, station 2 is off the list: nothing of it is left to plan.
        assert plan_push(session, actor=SYSTEM, cpo_id=cpo_id).counts == {
            "new": 0, "changed": 0, "connectors_changed": 0, "deleted": 0, "unchanged": 2}


def test_dry_run_records_but_sends_nothing(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 4)
    run = _push(cpo_id, dry_run=True)
    assert run.dry_run and run.new == 4 and len(run.summary["new"]) == 4
    assert _states() == {}
    _work()
    assert sandbox.stats()["station_accepts"] == {}


def test_unknown_partner_identifier_pauses_after_the_first_answers_and_the_fix_resumes(tmp_path):
    """211 is the set-up, not the station: one pause with one message, not 40 failed rows; the fix is the resume."""
    from oioi_onboard.store.registry import update_cpo

    with running_sandbox(tmp_path / "sb", partner_ids=("AnotherPartnerId123456",)) as sandbox:
        migrate()
        with session_scope() as session:
            cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids="tP3x9Qw7LmZ2vK8sRb4N",
                           concurrency=4)
            cpo_id = cpo.id
            store_stations(session, cpo.id, 40)
        run = _push(cpo_id)
        _work()
        with session_scope() as session:
            rows = session.exec(select(Outbox).where(Outbox.run_id == run.id)).scalars().all()
            assert {r.state for r in rows} == {OutboxState.PENDING}  # nothing failed: the queue waits
            assert all(r.attempts == 0 for r in rows)  # a pause is not the row's attempt
            reason = session.get(Cpo, cpo_id).paused_reason
            assert "211" in reason and "tP3x9Qw7LmZ2vK8sRb4N" in reason and "partner identifier" in reason
            assert session.get(PushRun, run.id).finished_at is None
        asked = sandbox.stats()["station-post"]["received"]
        assert 1 <= asked <= 4  # the first answers (the requests in flight), not one per station
        _work()  # still paused: nothing is sent
        assert sandbox.stats()["station-post"]["received"] == asked

        with session_scope() as session:  # the fix: the partner identifier the platform knows
            update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, partner_identifiers=["AnotherPartnerId123456"])
        _work()
        assert _states(run.id) == {OutboxState.ACKED: 40}
        with session_scope() as session:
            assert session.get(Cpo, cpo_id).paused_reason is None
            [entry] = audit_log(session, actor=SYSTEM, cpo_id=cpo_id, limit=1)
            assert entry.action == "push queue resumed" and "set-up changed" in entry.detail
        assert len(sandbox.stats()["station_accepts"]) == 40


def test_rejected_api_key_pauses_the_queue_until_resumed(sandbox):
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key="wrong-key-9999", partner_ids=sandbox.partner_id)
        cpo_id = cpo.id
        store_stations(session, cpo.id, 3)
    run = _push(cpo_id)
    _work()
    with session_scope() as session:
        assert "rejected the API key" in session.get(Cpo, cpo_id).paused_reason
    assert _states(run.id) == {OutboxState.PENDING: 3}
    _work()  # paused: nothing is claimed
    assert sandbox.stats()["station_accepts"] == {}
    with session_scope() as session:
        from oioi_onboard.store.secrets import encrypt_api_key

        cpo = session.get(Cpo, cpo_id)
        cpo.api_key_encrypted = encrypt_api_key(sandbox.api_key)
        session.add(cpo)
        resume_cpo(session, actor=SYSTEM, cpo_id=cpo_id)
    with session_scope() as session:
        [entry] = audit_log(session, actor=SYSTEM, cpo_id=cpo_id, limit=1)
        assert (entry.action, entry.user_name) == ("push queue resumed", "system")
        assert "rejected the API key" in entry.detail
    _work()
    assert _states(run.id) == {OutboxState.ACKED: 3}


def test_claims_keep_one_row_per_station_in_flight_and_leases_expire(sandbox):
    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 1)
    _push(cpo_id)
    with session_scope() as session:
        store_station(session, cpo_id, station_payload(1, name="v2"),
                      import_id=session.exec(select(Station.import_id)).first()[0])
    with session_scope() as session:
        [first] = claim(session, worker_id="a", limit=10, lease_seconds=0.01)
    _push(cpo_id)  # v2 queued while v1 is in flight: it waits behind it
    import time

    with session_scope() as session:
        time.sleep(0.05)
        [again] = claim(session, worker_id="b", limit=10)  # a's lease ran out: v1 again, not v2
        assert again.id == first.id
        assert claim(session, worker_id="c", limit=10) == []
        record_results(session, [Outcome(again.id, "acked")])
    with session_scope() as session:
        [second] = claim(session, worker_id="c", limit=10)
        assert second.id > first.id


def test_a_run_ends_while_the_worker_still_waits_for_another_cpos_answers(sandbox, tmp_path):
    """The worker asks whether a run ended now and then while it has requests out, not at every batch: a run
    whose last answer came is marked finished all the same, while a slow endpoint of another CPO holds answers."""
    with running_sandbox(tmp_path / "slow", latency_ms=8000, partner_ids=("sLw9Qm2Rt7Kx4Vb8Nz3P",)) as slow:
        fast_cpo = _cpo(sandbox)
        with session_scope() as session:
            slow_cpo = make_cpo(session, name="Slow CPO", operator_ids="DE*SLO", endpoint=slow.url,
                                api_key=slow.api_key, partner_ids=slow.partner_id).id
            store_stations(session, fast_cpo, 20)
            store_stations(session, slow_cpo, 2, operator_id="DE*SLO", prefix="L")
        slow_run = _push(slow_cpo)

        async def wait_for(condition, seconds: float) -> bool:  # noqa: ANN001
            for _ in range(int(seconds / 0.05)):
                if condition():
                    return True
                await asyncio.sleep(0.05)
            return False

        def finished(run_id: int) -> bool:
            with session_scope() as session:
                return session.get(PushRun, run_id).finished_at is not None

        async def run() -> None:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(stop=stop, poll_interval=0.05))
            try:
                # The slow CPO's requests are out first; the fast CPO's push is queued while they wait (8 s).
                assert await wait_for(lambda: _states(slow_run.id) == {OutboxState.SENDING: 2}, 5)
                fast_run = _push(fast_cpo)
                assert await wait_for(lambda: finished(fast_run.id), 5), \
                    "the fast CPO's run was not marked finished while the slow one's requests were out"
                assert _states(fast_run.id) == {OutboxState.ACKED: 20}
                assert _states(slow_run.id) == {OutboxState.SENDING: 2} and not finished(slow_run.id)
            finally:
                stop.set()
                await worker

        asyncio.run(run())


def test_a_push_the_endpoint_answers_proves_an_untested_set_up_and_a_refused_one_does_not(sandbox):
    """No connection test ran, but the endpoint took the pushes: the push page stops warning "not tested"."""
    from oioi_onboard.store.connection import PROVEN_BY_PUSH, last_connection_test, push_readiness

    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        refused_id = make_cpo(session, name="Wrong key", operator_ids="DE*WRK", endpoint=sandbox.url,
                              api_key="not-the-sandbox-key-0000", partner_ids="wR0ngK3yPartner00001").id
        store_stations(session, cpo_id, 3)
        store_stations(session, refused_id, 2, operator_id="DE*WRK", prefix="W")
        assert "has not been tested" in push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
    _push(cpo_id)
    _push(refused_id)
    assert _work() == 3
    with session_scope() as session:
        assert push_readiness(session, actor=SYSTEM, cpo_id=cpo_id) is None
        check = last_connection_test(session.get(Cpo, cpo_id))
        assert check.ok and check.message == PROVEN_BY_PUSH
        assert session.get(Cpo, refused_id).paused_reason is not None  # the key was refused: nothing proven
        assert "has not been tested" in push_readiness(session, actor=SYSTEM, cpo_id=refused_id)


def test_progress_history_and_failures_read_from_the_database(tmp_path):
    from oioi_onboard.sync.progress import failures, history, run_progress, station_history

    with running_sandbox(tmp_path / "sb") as sandbox:
        migrate()
        with session_scope() as session:
            cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=sandbox.partner_id)
            cpo_id = cpo.id
            record = new_import(session, cpo.id)
            for n in (1, 2, 3):  # a connector type the protocol does not have: refused, station by station
                payload = station_payload(n)
                payload["connectors"][0]["name"] = "Warp Drive"
                store_station(session, cpo.id, payload, import_id=record.id)
        run = _push(cpo_id)
        with session_scope() as session:
            queued = run_progress(session, actor=SYSTEM, run_id=run.id)
            assert (queued.total, queued.pending, queued.acked, queued.finished) == (3, 3, 0, False)
            assert queued.eta_s is None  # nothing sent yet: no rate to guess from
        _work()
        with session_scope() as session:
            done = run_progress(session, actor=SYSTEM, run_id=run.id)
            assert (done.total, done.failed, done.pending, done.finished) == (3, 3, 0, True)
            assert done.fraction == 1.0
            todo = failures(session, actor=SYSTEM, cpo_id=cpo_id)
            assert list(todo["code"]) == [230, 230, 230]
            assert set(todo["meaning"]) == {"Invalid request format"}
            runs = history(session, actor=SYSTEM, cpo_id=cpo_id)
            assert list(runs["failed"]) == [3] and list(runs["run"]) == [run.id]
            one = station_history(session, actor=SYSTEM, cpo_id=cpo_id, station_id="DE*8PS*S000002")
            assert list(one["state"]) == ["failed"] and one["meaning"].iloc[0] == "Invalid request format"


def test_removing_one_station_in_the_ui_soft_deletes_it_and_failed_rows_can_be_retried(sandbox):
    from oioi_onboard.sync.outbox import enqueue_deletion
    from oioi_onboard.sync.queue_control import retry_failed

    cpo_id = _cpo(sandbox)
    with session_scope() as session:
        store_stations(session, cpo_id, 2)
    _push(cpo_id)
    _work()
    with session_scope() as session:
        run = enqueue_deletion(session, actor=SYSTEM, cpo_id=cpo_id, station_id="DE*8PS*S000002")
        assert run.total == 1 and run.deleted == 1
    _work()
    held = {s["station_id"]: s["deleted"] for s in sandbox.stations()}
    assert held == {"DE*8PS*S000001": False, "DE*8PS*S000002": True}
    with session_scope() as session:
        # A permanent failure, fixed by the user, is queued again on request.
        row = session.exec(select(Outbox).where(Outbox.key == "DE*8PS*S000001")).scalar()
        row.state = OutboxState.FAILED
        session.add(row)
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S000001")).scalar()
        station.acked_sha256 = None
        session.add(station)
    with session_scope() as session:
        assert retry_failed(session, actor=SYSTEM, cpo_id=cpo_id) == 1
        [entry] = audit_log(session, actor=SYSTEM, cpo_id=cpo_id, limit=1)
        assert (entry.action, entry.detail) == ("failed requests queued again", "1 request")
    _work()
    assert sandbox.stats()["station_accepts"]["DE*8PS*S000001"] == 2
