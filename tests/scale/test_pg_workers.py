"""PostgreSQL with several workers: a full load of 10,000 stations, each accepted exactly once; a push of
5,000 shared by three workers, with statuses sent beside it.

Three `oioi-onboard worker` processes share one outbox on a real PostgreSQL
server and push to the sandbox (5 ms of latency per request); then two
`oioi-onboard relay` processes take status changes for 1,000 EVSEs, which the
same workers deliver. Their claims
(`FOR UPDATE SKIP LOCKED` under a lease) must never hand one station to two
workers: the sandbox counts every accepted post per station id, repeats
included, so any double send shows up as a count of 2.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from oioi_onboard.settings import get_settings
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Outbox, OutboxState, Station
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import enqueue_plan
from oioi_onboard.sync.tokens import create_token
from oioi_onboard.testing.store import make_cpo, store_stations

STATIONS = 10_000
WORKERS = 3
RELAYS = 2
STATUS_EVSES = 1_000
DRAIN_SECONDS = 480  # a guard against a hang, not a timing goal: CI shares 2 cores
ROOT = Path(__file__).resolve().parents[2]
WORKER_COMMAND = [sys.executable, "-m", "oioi_onboard.cli", "worker"]

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    return {"latency_ms": 5}


def _start_worker(name: str, env: dict[str, str], log_dir: Path) -> tuple[subprocess.Popen, Path]:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(WORKER_COMMAND, cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, log_path


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _open_rows(url: str) -> int:
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(Outbox).where(
            Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING, OutboxState.HELD)))).one()[0]


def _claimers(url: str) -> set[str]:
    with session_scope(url) as session:
        return {w for (w,) in session.exec(select(Outbox.claimed_by).where(Outbox.claimed_by.is_not(None))
                                           .distinct()).all()}


def _wait_until_drained(url: str, processes: list[tuple[subprocess.Popen, Path]], seen: set[str]) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    while (remaining := _open_rows(url)) > 0:
        seen |= _claimers(url)
        for process, log_path in processes:
            assert process.poll() is None, f"a process exited early:\n{log_path.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"{remaining} outbox rows still open after {DRAIN_SECONDS} s"
        time.sleep(0.3)


def _start_relay(name: str, env: dict[str, str], log_dir: Path) -> tuple[subprocess.Popen, Path, str]:
    """`oioi-onboard relay --port 0`; returns the process, its log and the URL it printed."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (match := re.search(r"listening on (http://\S+)", log_path.read_text(errors="replace"))):
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.1)
    return process, log_path, match[1]


def _process_env(url: str, tmp_path: Path, monkeypatch) -> dict[str, str]:  # noqa: ANN001
    """A fresh secret key for this process and the workers and relays it starts on ``url``; their env."""
    secret_key = Fernet.generate_key().decode()
    monkeypatch.setenv("OIOI_SECRET_KEY", secret_key)
    get_settings.cache_clear()  # the settings hold the key they read
    return {**os.environ, "DATABASE_URL": url, "OIOI_SECRET_KEY": secret_key,
            "OIOI_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}


def test_three_workers_accept_each_of_10000_stations_exactly_once(on_postgres, sandbox, tmp_path, monkeypatch):
    postgres_url = on_postgres
    env = _process_env(postgres_url, tmp_path, monkeypatch)

    with session_scope(postgres_url) as session:
        cpo_id = make_cpo(session, name="Big CPO", operator_ids="DE*8PS", partner_ids=sandbox.partner_id,
                          endpoint=sandbox.url, api_key=sandbox.api_key).id
        store_stations(session, cpo_id=cpo_id, count=STATIONS, start=0, mixed=True)
    with session_scope(postgres_url) as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        assert plan.counts["new"] == STATIONS
        run = enqueue_plan(session, actor=SYSTEM, plan=plan)
        assert run.total == STATIONS
        token = create_token(session, actor=SYSTEM, cpo_id=cpo_id, label="scale test")

    processes = [_start_worker(f"worker-{n}", env, tmp_path) for n in range(WORKERS)]
    seen_claimers: set[str] = set()
    try:
        # 1. The full load.
        _wait_until_drained(postgres_url, processes, seen_claimers)
        stations_done = sandbox.stats()

        # 2. Statuses through two relay processes on the same database, sent by the same workers:
        # two rounds for the same EVSEs, the second newer; only the newest may be what the sandbox holds.
        relays = [_start_relay(f"relay-{n}", env, tmp_path) for n in range(RELAYS)]
        processes += [(process, log) for process, log, _ in relays]
        evse_ids = [f"DE*8PS*ES{n:06d}*1" for n in range(STATUS_EVSES)]
        for round_, status in enumerate(("Occupied", "Available")):
            items = [{"evse_id": evse, "status": status, "timestamp": f"2026-01-01T12:00:0{round_}Z"}
                     for evse in evse_ids]
            for n, start in enumerate(range(0, len(items), 250)):
                url = relays[n % RELAYS][2]
                answer = httpx.post(url, json=items[start:start + 250], timeout=60,
                                    headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200, answer.text
        _wait_until_drained(postgres_url, processes, seen_claimers)
    finally:
        for process, _ in processes:
            _stop(process)
    logs = "\n".join(log.read_text(errors="replace") for _, log in processes)
    assert "Traceback" not in logs, logs

    accepts = stations_done["station_accepts"]
    assert len(accepts) == STATIONS
    twice = {station_id: n for station_id, n in accepts.items() if n != 1}
    assert not twice, f"stations not accepted exactly once: {dict(list(twice.items())[:10])}"
    assert stations_done["station-post"]["accepted"] == STATIONS
    assert stations_done["station-post"]["repeats"] == 0
    assert stations_done["station-post"].get("rejected", 0) == 0

    held = {c["id"]: c["status"] for station in sandbox.stations() for c in station["connectors"]}
    wrong = {evse: held.get(evse) for evse in evse_ids if held.get(evse) != "Available"}
    assert not wrong, f"EVSEs whose newest status did not arrive: {dict(list(wrong.items())[:10])}"
    assert sandbox.stats()["station-post"]["accepted"] == STATIONS  # statuses sent no station again

    with session_scope(postgres_url) as session:
        posts = dict(session.exec(select(Outbox.state, func.count()).where(Outbox.kind == "station-post")
                                  .group_by(Outbox.state)).all())
        assert posts == {OutboxState.ACKED: STATIONS}
        assert session.exec(select(func.max(Outbox.attempts)).where(Outbox.kind == "station-post")).one()[0] == 1
        unacked = session.exec(select(func.count()).select_from(Station).where(
            (Station.acked_sha256.is_(None)) | (Station.acked_sha256 != Station.payload_sha256))).one()[0]
        assert unacked == 0
        statuses = dict(session.exec(select(Outbox.state, func.count()).where(Outbox.kind == "connector-post-status")
                                     .group_by(Outbox.state)).all())
        assert set(statuses) <= {OutboxState.ACKED, OutboxState.SUPERSEDED}, statuses
        assert statuses.get(OutboxState.ACKED, 0) >= STATUS_EVSES
    # The load was shared: every worker held rows at some point.
    assert len(seen_claimers) == WORKERS, seen_claimers


SHARED_STATIONS = 5_000
SHARED_STATUS_STATIONS = 100
SHARED_CONCURRENCY = 16  # per worker


def _acknowledged_by(log_path: Path) -> int:
    """The count a worker prints when it stops: ``worker stopped; 1,234 requests acknowledged``."""
    match = re.search(r"worker stopped; ([\d,]+) requests? acknowledged", log_path.read_text(errors="replace"))
    assert match, log_path.read_text(errors="replace")
    return int(match[1].replace(",", ""))


def test_three_workers_share_a_5000_station_push_and_send_its_statuses_before_it(on_postgres, tmp_path,
                                                                                  monkeypatch):
    """Issue 20: three worker processes on PostgreSQL share one CPO's queue of 5,000 station-posts (each
    sends a share, none sends a station twice), and statuses queued after the push are delivered while
    most of it still waits: they have a lane of their own in every worker."""
    from oioi_onboard.oioi.ids import normalise_evse_id
    from oioi_onboard.sync.status_ingest import record_statuses
    from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID, running_sandbox
    from oioi_onboard.testing.stations import evse
    from oioi_onboard.testing.store import store_status_station

    operator = "DE*8PT"
    postgres_url = on_postgres
    env = _process_env(postgres_url, tmp_path, monkeypatch)

    def push() -> None:
        with session_scope(postgres_url) as session:
            enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))

    with running_sandbox(tmp_path / "sandbox", latency_ms=20) as sandbox:
        with session_scope(postgres_url) as session:
            cpo_id = make_cpo(session, name="Shared CPO", operator_ids=operator, partner_ids=DEFAULT_PARTNER_ID,
                              endpoint=sandbox.url, api_key=sandbox.api_key, concurrency=SHARED_CONCURRENCY).id
            for n in range(1, SHARED_STATUS_STATIONS + 1):
                store_status_station(session, cpo_id, n)
        push()  # the stations whose statuses come later: statuses go only to acknowledged stations
        processes = [_start_worker(f"worker-{n}", env, tmp_path) for n in range(WORKERS)]
        try:
            _wait_until_drained(postgres_url, processes, set())
            # The big push, then statuses: in id order every station-post comes before every status.
            with session_scope(postgres_url) as session:
                store_stations(session, cpo_id=cpo_id, count=SHARED_STATIONS, operator_id=operator, prefix="P")
            push()
            evse_ids = [evse(n, k, operator) for n in range(1, SHARED_STATUS_STATIONS + 1) for k in (1, 2)]
            with session_scope(postgres_url) as session:
                results = record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, source="api",
                                          items=[{"evse_id": e, "status": "Occupied"} for e in evse_ids])
            assert {r.delivery for r in results} == {"pending"}
            _wait_until_drained(postgres_url, processes, set())
        finally:
            for process, _ in processes:
                _stop(process)
        stats = sandbox.stats()
        held = {c["id"]: c["status"] for station in sandbox.stations() for c in station["connectors"]}
    logs = "\n".join(log.read_text(errors="replace") for _, log in processes)
    assert "Traceback" not in logs, logs

    total_posts = SHARED_STATUS_STATIONS + SHARED_STATIONS
    accepts = stats["station_accepts"]
    assert len(accepts) == total_posts
    twice = {station_id: n for station_id, n in accepts.items() if n != 1}
    assert not twice, f"stations not accepted exactly once: {dict(list(twice.items())[:10])}"
    assert stats["station-post"]["repeats"] == 0
    assert {evse_id: held.get(evse_id) for evse_id in evse_ids} == dict.fromkeys(evse_ids, "Occupied")

    # Each worker sent a share; together exactly what the sandbox accepted, so nothing twice.
    shares = [_acknowledged_by(log) for _, log in processes]
    accepted = stats["station-post"]["accepted"] + stats["connector-post-status"]["accepted"]
    assert sum(shares) == accepted == total_posts + len(evse_ids), (shares, accepted)
    assert min(shares) >= accepted / (WORKERS * 5), f"a worker did (almost) nothing: {shares}"

    with session_scope(postgres_url) as session:
        keys = [normalise_evse_id(e) for e in evse_ids]
        status_acks = session.exec(select(Outbox.acked_at).where(Outbox.kind == "connector-post-status",
                                                                 Outbox.key.in_(keys))).all()
        last_run = session.exec(select(func.max(Outbox.run_id))).one()[0]
        post_acks = session.exec(select(Outbox.acked_at).where(Outbox.run_id == last_run,
                                                               Outbox.state == OutboxState.ACKED)).all()
    assert len(status_acks) == len(evse_ids) and all(status_acks)
    assert len(post_acks) == SHARED_STATIONS
    # Ordering, not timing: the statuses went out while most of the push was still to be sent.
    after = sum(1 for acked in post_acks if acked > max(status_acks))
    assert after >= SHARED_STATIONS // 2, f"only {after} of {SHARED_STATIONS} station-posts acknowledged after " \
                                          "the last status"
