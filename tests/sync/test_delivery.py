"""Delivery that survives a real platform: outages, throttling, wrong set-up, 181 right after an ack (issue 12).

The endpoint is the real sandbox process behind ``faulty_front``, a real HTTP server
on loopback that starts and ends an outage, throttles or refuses at run time; the
worker is the real one (``running_worker``, in a thread).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from oioi_onboard.oioi import errors
from oioi_onboard.oioi.retry import RETRY_AFTER_MAX, backoff_delay
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Cpo, Outbox, OutboxState, Station, StatusEvent
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import enqueue_plan
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.sync.worker import WorkerOptions, classify
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID, running_sandbox
from oioi_onboard.testing.store import make_cpo, store_stations
from tests.helpers.faulty_front import faulty_front
from tests.helpers.statuses import wait_for

pytestmark = pytest.mark.slow  # real processes and waits measured in seconds


@contextmanager
def running_worker(**options):
    """The real worker (``run_worker``) in a thread of its own event loop; short backoff unless told otherwise."""
    from oioi_onboard.sync.worker import run_worker

    options = {"backoff_base": 0.2, "backoff_max": 1.0, "poll_interval": 0.05, **options}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            loop.run_until_complete(run_worker(stop=stop, **options))
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="test-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        if failure:
            raise failure[0]


def _cpo(endpoint: str, sandbox, *, stations: int, concurrency: int = 4) -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=endpoint, api_key=sandbox.api_key, partner_ids=sandbox.partner_id,
                       concurrency=concurrency)
        store_stations(session, cpo.id, stations)
        cpo_id = cpo.id
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
    return cpo_id


def _states() -> dict:
    with session_scope() as session:
        return dict(session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())


def _cpo_row(cpo_id: int) -> Cpo:
    with session_scope() as session:
        cpo = session.get(Cpo, cpo_id)
        session.expunge(cpo)
        return cpo


def _max_attempts() -> int:
    with session_scope() as session:
        return session.execute(select(func.max(Outbox.attempts))).scalar() or 0


# --- an outage ---------------------------------------------------------------------------------


def test_an_outage_longer_than_ten_attempts_fails_nothing_then_everything_is_delivered_once(tmp_path):
    with running_sandbox(tmp_path / "sb") as sandbox, faulty_front(sandbox.url) as front:
        front.mode = "down"
        cpo_id = _cpo(front.url, sandbox, stations=30)
        with running_worker(backoff_base=0.05, backoff_max=0.3, unreachable_after=10):
            wait_for(lambda: _cpo_row(cpo_id).unreachable_since is not None, what="the endpoint marked unreachable")
            marked = _cpo_row(cpo_id)
            assert "503" in marked.unreachable_reason
            # Longer than ten attempts of one row: the old worker would have failed it by now.
            wait_for(lambda: _max_attempts() >= 14, timeout=30, what="more than ten attempts")
            assert OutboxState.FAILED not in _states()
            # Unreachable: one probe at a time, at most every backoff_max (0.3 s), not 4 rows every 0.3 s.
            before = len(front.requests)
            time.sleep(1.5)
            probes = len(front.requests) - before
            assert 2 <= probes <= 8, probes

            front.mode = "up"  # the outage ends: the worker notices by itself and sends everything
            wait_for(lambda: _states() == {OutboxState.ACKED: 30}, timeout=30, what="everything acknowledged")
        assert _cpo_row(cpo_id).unreachable_since is None
        accepts = sandbox.stats()["station_accepts"]
        assert len(accepts) == 30 and set(accepts.values()) == {1}  # each once: nothing acknowledged sent again
        assert set(front.statuses()) == {503, 200}


def test_a_worker_started_during_an_outage_probes_first(tmp_path):
    """The mark is in the database: a restarted worker sends one probe, not its whole lane, into the outage."""
    with running_sandbox(tmp_path / "sb") as sandbox, faulty_front(sandbox.url) as front:
        front.mode = "down"
        cpo_id = _cpo(front.url, sandbox, stations=20, concurrency=8)
        with session_scope() as session:
            session.get(Cpo, cpo_id).unreachable_since = datetime.now(UTC) - timedelta(minutes=5)
        with running_worker(backoff_base=0.05, backoff_max=0.5):
            wait_for(lambda: len(front.requests) >= 2, what="two probes")
        assert len(front.requests) <= 4  # 8 in flight at once without the mark
        assert _states() == {OutboxState.PENDING: 20}


# --- throttling and Retry-After ----------------------------------------------------------------


@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "http-date"])
def test_429_with_retry_after_is_waited_out_by_the_whole_lane(tmp_path, as_date):
    with running_sandbox(tmp_path / "sb") as sandbox, faulty_front(sandbox.url) as front:
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)  # an HTTP date has whole seconds
        retry_after = format_datetime(until, usegmt=True) if as_date else "2"
        front.throttle(1, retry_after)
        cpo_id = _cpo(front.url, sandbox, stations=12, concurrency=1)
        # backoff_max is far below the Retry-After: the endpoint's word counts, not our cap.
        with running_worker(backoff_base=0.05, backoff_max=0.2):
            wait_for(lambda: _states() == {OutboxState.ACKED: 12}, timeout=30, what="everything acknowledged")
        times = [at for at, _, _ in front.requests]
        statuses = front.statuses()
        assert statuses[0] == 429 and set(statuses[1:]) == {200}
        waited = times[1] - times[0]
        if as_date:  # not one request before the date it named
            second_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - times[1])
            assert second_at >= until - timedelta(seconds=0.1), (second_at, until)
            assert waited >= 1.0, waited
        else:
            assert waited >= 1.95, waited
        assert waited < 8.0, waited
        assert set(sandbox.stats()["station_accepts"].values()) == {1}
        assert _cpo_row(cpo_id).unreachable_since is None  # a 429 is an answer, not an outage


def test_503_with_retry_after_holds_the_lane_and_a_throttle_without_one_backs_off(tmp_path):
    with running_sandbox(tmp_path / "sb") as sandbox, faulty_front(sandbox.url) as front:
        front.throttle(2, None)  # 429 without Retry-After: the lane backs off by itself
        cpo_id = _cpo(front.url, sandbox, stations=6, concurrency=1)
        with running_worker(backoff_base=0.2, backoff_max=0.4):
            wait_for(lambda: _states() == {OutboxState.ACKED: 6}, timeout=30, what="everything acknowledged")
        times = [at for at, _, _ in front.requests]
        assert front.statuses()[:3] == [429, 429, 200]
        # The lane's own backoff, full jitter: up to 0.2 s, then up to 0.4 s (room left for a busy machine).
        assert times[1] - times[0] < 1.2 and times[2] - times[1] < 1.4
        assert _cpo_row(cpo_id).paused_reason is None


# --- set-up problems ---------------------------------------------------------------------------


def test_403_pauses_after_the_first_answers_with_one_message(tmp_path):
    with running_sandbox(tmp_path / "sb") as sandbox, faulty_front(sandbox.url) as front:
        front.mode = "forbidden"
        cpo_id = _cpo(front.url, sandbox, stations=40, concurrency=2)
        with running_worker(backoff_base=0.05, backoff_max=0.2):
            wait_for(lambda: _cpo_row(cpo_id).paused_reason is not None, what="the pause")
            asked = len(front.requests)
        reason = _cpo_row(cpo_id).paused_reason
        assert "not allow" in reason and "HTTP 403" in reason
        assert asked <= 10  # three refusals in a row (plus what was in flight and their retries), not forty
        assert _states() == {OutboxState.PENDING: 40}

        from oioi_onboard.sync.queue_control import resume_cpo

        front.mode = "up"  # the platform granted it: one resume
        with session_scope() as session:
            resume_cpo(session, actor=SYSTEM, cpo_id=cpo_id)
        with running_worker(backoff_base=0.05, backoff_max=0.2):
            wait_for(lambda: _states() == {OutboxState.ACKED: 40}, what="everything acknowledged")


def test_a_station_id_another_partner_holds_fails_that_station_only(tmp_path):
    """220 among acknowledgements is the request's own refusal: that row fails, the queue goes on."""
    from oioi_onboard.oioi import messages
    from oioi_onboard.oioi.client import OioiClient
    from oioi_onboard.testing.stations import station_payload

    other = "OtherPartner0000000001"
    with running_sandbox(tmp_path / "sb", partner_ids=(DEFAULT_PARTNER_ID, other)) as sandbox:
        async def push_as_other() -> None:
            async with OioiClient(sandbox.url, sandbox.api_key) as client:
                await client.post_station(messages.Station.model_validate(station_payload(3)), other)

        asyncio.run(push_as_other())
        cpo_id = _cpo(sandbox.url, sandbox, stations=12)
        with running_worker(backoff_base=0.05, backoff_max=0.2):
            wait_for(lambda: OutboxState.PENDING not in _states() and OutboxState.SENDING not in _states(),
                     what="every row answered")
        assert _states() == {OutboxState.ACKED: 11, OutboxState.FAILED: 1}
        assert _cpo_row(cpo_id).paused_reason is None
        with session_scope() as session:
            failed = session.execute(select(Outbox).where(Outbox.state == OutboxState.FAILED)).scalar_one()
            assert failed.key == "DE*8PS*S000003" and failed.result_code == 220


def test_a_new_api_key_resumes_a_queue_the_old_one_paused(tmp_path):
    from oioi_onboard.store.registry import set_api_key

    with running_sandbox(tmp_path / "sb") as sandbox:
        migrate()
        with session_scope() as session:
            cpo = make_cpo(session, endpoint=sandbox.url, api_key="wrong-key-0001", partner_ids=sandbox.partner_id)
            store_stations(session, cpo.id, 5)
            cpo_id = cpo.id
        with session_scope() as session:
            enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
        with running_worker():
            wait_for(lambda: _cpo_row(cpo_id).paused_reason is not None, what="the pause")
            assert "API key" in _cpo_row(cpo_id).paused_reason
            with session_scope() as session:
                set_api_key(session, actor=SYSTEM, cpo_id=cpo_id, api_key=sandbox.api_key)
            wait_for(lambda: _states() == {OutboxState.ACKED: 5}, what="everything acknowledged with the new key")


# --- 181 right after a station's acknowledgement -------------------------------------------------


def _status_setup(sandbox, *, acked_ago: timedelta) -> tuple[int, str]:
    """A CPO whose station 1 we hold as acknowledged ``acked_ago`` but the platform does not publish yet."""
    from oioi_onboard.testing.stations import evse
    from oioi_onboard.testing.store import make_cpo, store_status_station

    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=DEFAULT_PARTNER_ID)
        station = store_status_station(session, cpo.id, 1, acked=True)
        station.acked_at = datetime.now(UTC) - acked_ago
        session.add(station)
        cpo_id = cpo.id
    with session_scope() as session:
        [result] = record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, source="api",
                                   items=[{"evse_id": evse(1), "status": "Occupied"}])
        assert result.delivery == "pending"
    return cpo_id, evse(1)


def _delivery() -> tuple[str, str | None]:
    with session_scope() as session:
        event = session.execute(select(StatusEvent).order_by(StatusEvent.id.desc())).scalars().first()
        return event.delivery, event.reason


def test_181_within_the_grace_period_is_retried_until_the_platform_publishes_the_station(tmp_path):
    from oioi_onboard.oioi import messages
    from oioi_onboard.oioi.client import OioiClient

    with running_sandbox(tmp_path / "sb") as sandbox:
        cpo_id, evse_id = _status_setup(sandbox, acked_ago=timedelta(seconds=1))
        with running_worker(backoff_base=0.1, backoff_max=0.3, status_grace=60):
            wait_for(lambda: sandbox.stats()["connector-post-status"]["rejected"] >= 2, what="two 181 answers")
            delivery, reason = _delivery()
            assert delivery == "pending" and "181" in reason and "retrying" in reason

            # The platform publishes the station (here: it is pushed to the sandbox for real).
            with session_scope() as session:
                payload = session.execute(select(Station.payload)).scalar_one()

            async def publish() -> None:
                async with OioiClient(sandbox.url, sandbox.api_key) as client:
                    await client.post_station(messages.Station.model_validate(payload), DEFAULT_PARTNER_ID)

            asyncio.run(publish())
            wait_for(lambda: _delivery()[0] == "delivered", what="the status delivered")
        connectors = {c["id"]: c["status"] for s in sandbox.stations() for c in s["connectors"]}
        assert connectors[evse_id] == "Occupied"


def test_181_after_the_grace_period_is_rejected_with_the_reason(tmp_path):
    with running_sandbox(tmp_path / "sb") as sandbox:
        _status_setup(sandbox, acked_ago=timedelta(seconds=30))
        with running_worker(backoff_base=0.1, backoff_max=0.3, status_grace=20):
            wait_for(lambda: _delivery()[0] == "rejected", what="the status rejected")
        delivery, reason = _delivery()
        assert "181" in reason and "EVSE not found" in reason
        assert sandbox.stats()["connector-post-status"]["received"] == 1  # no retry past the grace period


def test_181_for_a_station_whose_deletion_was_acknowledged_is_rejected_at_once(tmp_path):
    """No grace: the platform is not about to publish a station it was told to delete (review)."""
    with running_sandbox(tmp_path / "sb") as sandbox:
        _status_setup(sandbox, acked_ago=timedelta(seconds=1))
        with session_scope() as session:
            station = session.execute(select(Station)).scalars().one()
            station.acked_deleted = True  # its deletion acknowledged a second ago
            session.add(station)
        with running_worker(backoff_base=0.1, backoff_max=0.3, status_grace=60):
            wait_for(lambda: _delivery()[0] == "rejected", what="the status rejected")
        assert "181" in _delivery()[1]
        assert sandbox.stats()["connector-post-status"]["received"] == 1  # not retried


def test_181_grace_runs_out_while_retrying(tmp_path):
    with running_sandbox(tmp_path / "sb") as sandbox:
        _status_setup(sandbox, acked_ago=timedelta(seconds=0))
        # A grace of 3 s: a loaded machine (the whole suite on 2 cores) took over a second to the first attempt.
        with running_worker(backoff_base=0.1, backoff_max=0.2, status_grace=3):
            wait_for(lambda: _delivery()[0] == "rejected", timeout=30, what="the status rejected after the grace")
        assert sandbox.stats()["connector-post-status"]["received"] >= 3  # retried within the grace


# --- the rules, without a network --------------------------------------------------------------


class _Row:
    def __init__(self, attempts: int = 1, kind: str = "station-post"):
        self.id, self.attempts, self.kind = 1, attempts, kind
        self.payload = {kind: {"partner-identifier": "tP3x9Qw7LmZ2vK8sRb4N"}}


@pytest.mark.parametrize("error", [
    errors.Timeout("t"), errors.ConnectError("c"), errors.TransportError("x"),
    errors.ServerError("s", status_code=503), errors.ServerError("s", status_code=500),
    errors.Throttled("t", status_code=429), errors.RetryLater("r", status_code=408),
    errors.RetryLater("r", status_code=425), errors.ResultCodeError(100), errors.ResultCodeError(102),
    errors.ResultCodeError(302), OSError("boom"),
], ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status_code', None) or getattr(e, 'code', '')}")
def test_transient_failures_are_retried_however_many_attempts_there_were(error):
    options = WorkerOptions(backoff_base=1.0, backoff_max=300.0)
    for attempts in (1, 10, 11, 1000):
        result = classify(_Row(attempts), error, options)
        assert result.outcome == "retry", (attempts, result)
        assert result.retry_at <= datetime.now(UTC) + timedelta(seconds=300.5)


@pytest.mark.parametrize("error, outcome", [
    (errors.InvalidApiKey(210), "paused"), (errors.HTTPStatusError("x", status_code=401), "paused"),
    (errors.InvalidPartnerIdentifier(211), "paused"), (errors.InvalidRequestFormat(230), "failed"),
    (errors.EvseOtherCoordinates(322), "failed"), (errors.HTTPStatusError("x", status_code=418), "failed"),
])
def test_set_up_refusals_pause_and_request_refusals_fail(error, outcome):
    assert classify(_Row(), error, WorkerOptions()).outcome == outcome


def test_a_429_without_retry_after_holds_the_lane_for_its_own_backoff():
    from oioi_onboard.sync.worker import Lane, Worker

    worker = Worker(worker_id="test", db_url=None, options=WorkerOptions(backoff_base=0.2, backoff_max=0.4),
                    poll_interval=1.0)
    lane = Lane(7, 1, "token")
    try:
        for throttled, ceiling in ((1, 0.2), (2, 0.4)):
            before = time.monotonic()
            lane.hold_until = 0.0
            worker._settle(lane, _Row(), errors.Throttled("t", status_code=429))
            assert lane.throttled == throttled
            assert before < lane.hold_until <= time.monotonic() + ceiling
    finally:
        worker.db.shutdown()


def test_retry_after_is_honoured_beyond_backoff_max_up_to_an_hour():
    rng = random.Random(1)
    assert backoff_delay(1, base=1, cap=5, retry_after=120, rng=rng) == 120
    assert backoff_delay(1, base=1, cap=5, retry_after=86_400, rng=rng) == RETRY_AFTER_MAX == 3600
    assert 0 <= backoff_delay(3, base=1, cap=5, retry_after=None, rng=rng) <= 5
    assert backoff_delay(10_000, base=1, cap=5, rng=rng) <= 5  # no overflow however many attempts
    error = errors.Throttled("t", status_code=429, retry_after=900.0)
    result = classify(_Row(), error, WorkerOptions(backoff_max=5))
    assert timedelta(seconds=899) < result.retry_at - datetime.now(UTC) <= timedelta(seconds=900)
