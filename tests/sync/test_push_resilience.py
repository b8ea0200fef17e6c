"""A worker killed mid-load resumes without loss or resend; a failing, stalling endpoint is survived."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Outbox, OutboxState, Station
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import enqueue_plan
from oioi_onboard.sync.worker import run_worker
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.store import make_cpo, store_stations
from tests.helpers.processes import kill_9_when, wait_for

pytestmark = pytest.mark.slow  # real processes, faults and a kill -9


def _load(sandbox, count: int, concurrency: int = 16) -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=sandbox.partner_id,
                       concurrency=concurrency)
        store_stations(session, cpo.id, count)
        cpo_id = cpo.id
    with session_scope() as session:
        run = enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
        assert run.total == count
        return run.id


def _count(state: OutboxState) -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(Outbox).where(Outbox.state == state)).one()[0]


def _worker(tmp_path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "oioi_onboard.cli", "worker", "--id", name, "--lease-seconds", "2", "--timeout", "2",
         "--poll-interval", "0.1"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )


def test_kill_9_mid_load_resumes_without_loss_or_resend_of_recorded_acks(tmp_path):
    total = 300
    with running_sandbox(tmp_path / "sandbox", latency_ms=20) as sandbox:
        _load(sandbox, total)
        first = _worker(tmp_path, "first")
        kill_9_when(first, lambda: _count(OutboxState.ACKED) >= 80, "the first acks", 60)
        # The dead worker's state, exactly as it was at the kill.
        with session_scope() as session:
            acked_before = {r[0] for r in session.exec(
                select(Station.station_id).where(Station.acked_sha256.is_not(None))).all()}
            in_flight = {r[0] for r in session.exec(
                select(Outbox.key).where(Outbox.state == OutboxState.SENDING)).all()}
        assert 80 <= len(acked_before) < total, "the kill should land in the middle of the load"

        second = _worker(tmp_path, "second")
        try:
            wait_for(lambda: _count(OutboxState.ACKED) == total, 90, "every station acknowledged", second)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0, (tmp_path / "second.log").read_text()

        accepts = sandbox.stats()["station_accepts"]
        assert len(accepts) == total  # nothing lost
        twice = {station for station, n in accepts.items() if n > 1}
        assert twice <= in_flight  # only requests in flight at the kill could be sent again
        assert not twice & acked_before  # never one whose ack we had recorded
        assert _count(OutboxState.SENDING) == 0 and _count(OutboxState.PENDING) == 0


def test_failing_and_stalling_endpoint_delivers_everything(tmp_path):
    total = 60
    with running_sandbox(tmp_path / "sandbox", fail_rate=0.3, stall_rate=0.05, seed=7) as sandbox:
        run_id = _load(sandbox, total, concurrency=8)
        async def main() -> None:
            stop, check = _until_done(run_id)
            await run_worker(poll_interval=0.05, timeout=0.5, backoff_base=0.05, backoff_max=0.5,
                             stop=stop, on_cycle=check)

        asyncio.run(main())
        with session_scope() as session:
            states = dict(session.exec(
                select(Outbox.state, func.count()).where(Outbox.run_id == run_id).group_by(Outbox.state)).all())
            retried = session.exec(select(func.count()).select_from(Outbox).where(Outbox.attempts > 1)).one()[0]
        assert states == {OutboxState.ACKED: total}
        assert retried > 0  # the faults really happened
        stats = sandbox.stats()
        assert len(stats["station_accepts"]) == total
        assert stats["faults"]["failed"] > 0 and stats["faults"]["stalled"] > 0


def _until_done(run_id: int) -> tuple[asyncio.Event, callable]:
    """A stop event and a per-cycle check that sets it once the run has nothing open."""
    stop = asyncio.Event()

    def check() -> None:
        with session_scope() as session:
            open_rows = session.exec(
                select(func.count()).select_from(Outbox).where(
                    Outbox.run_id == run_id,
                    Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING, OutboxState.HELD)))
            ).one()[0]
        if open_rows == 0:
            stop.set()

    return stop, check
