"""Statuses beside a big push: do they wait behind the station-posts? (issue 20, item 4)

Real processes on a fresh SQLite database: ``oioi-onboard sandbox --latency-ms 50``, one
``oioi-onboard worker`` and one ``oioi-onboard relay``. Two CPOs, A and B, each with STATUS_STATIONS
stations of two connectors, are pushed first (statuses are only sent for acknowledged stations). Then
single-status requests go to the relay at RATE a second, half for A's EVSEs and half for B's, for
SECONDS; two seconds in, PUSH new stations of A are queued, which the same worker sends while the
statuses keep coming. Reported, per CPO, for the statuses received while A's push was under way:

* queued -> delivered (received by the relay -> acknowledged by the endpoint), p50 / p99; goal p99 < 2 s;
* the baseline: the same figures for the statuses received before the push started (same run);
* how many of A's statuses were delivered while A's station-posts were still open (the lane at work);
* ``database is locked`` lines in the logs of the worker and the relay (goal: none).

Run: ``.venv/bin/python bench/bench_status_lane.py [rate] [seconds] [push]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

RATE = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "queue-push" else 300
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
PUSH = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
PUSH_AT = 2.0  # seconds into the status load
STATUS_STATIONS = 500
CONNECTIONS = 32  # keep-alive connections to the relay
LATENCY_MS = 50
CONCURRENCY = 64
API_KEY = "bench-key-0000"
PARTNERS = {"A": "bEnCh7Qw9LmZ2vK8sRbA", "B": "bEnCh7Qw9LmZ2vK8sRbB"}
OPERATORS = {"A": "DE*BNA", "B": "DE*BNB"}
STATUSES = ["Available", "Occupied", "Reserved", "Offline", "Unknown"]

# The child that queues the push works in its parent's directory.
WORK = Path(os.environ.get("BENCH_STATUS_LANE_DIR") or tempfile.mkdtemp(prefix="bench-status-lane-"))
os.environ["OIOI_DATA_DIR"] = str(WORK / "data")
os.environ.pop("DATABASE_URL", None)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_STATUS_LANE_DIR": str(WORK)}

from oioi_onboard.store.db import migrate, session_scope  # noqa: E402  (after the environment is set)
from oioi_onboard.testing.processes import start_command, stop  # noqa: E402
from oioi_onboard.testing.store import wait_statuses_delivered  # noqa: E402


def start(name: str, *args: str, pattern: str | None = None) -> tuple[subprocess.Popen, str | None]:
    return start_command(WORK, ENV, name, *args, pattern=pattern)


def register(endpoint: str) -> dict[str, tuple[int, list[str], str]]:
    """CPOs A and B with their status stations; per name: (CPO id, EVSE ids, ingest token)."""
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.sync.tokens import create_token
    from oioi_onboard.testing.stations import evse
    from oioi_onboard.testing.store import make_cpo, store_status_station

    migrate()
    cpos = {}
    with session_scope() as session:
        for name, operator in OPERATORS.items():
            cpo = make_cpo(session, name=f"Bench CPO {name}", operator_ids=operator, endpoint=endpoint,
                           api_key=API_KEY, partner_ids=PARTNERS[name], concurrency=CONCURRENCY)
            for n in range(1, STATUS_STATIONS + 1):
                store_status_station(session, cpo.id, n)
            token = create_token(session, actor=SYSTEM, cpo_id=cpo.id, label="bench")
            cpos[name] = (cpo.id, [evse(n, k, operator) for n in range(1, STATUS_STATIONS + 1) for k in (1, 2)],
                          token)
    return cpos


def queue_push(cpo_id: int, *, store: int = 0, operator: str = "") -> None:
    """Store ``store`` new stations of the CPO (numbered after the status stations), then queue its push."""
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan
    from oioi_onboard.testing.store import store_stations

    with session_scope() as session:
        if store:
            store_stations(session, cpo_id, store, operator_id=operator, prefix="P")
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))


CPO_IDS: dict[str, int] = {}


def open_posts(cpo_id: int) -> int:
    from sqlmodel import func, select

    from oioi_onboard.store.models import OPEN_STATES, Outbox

    with session_scope() as session:
        return session.exec(select(func.count(Outbox.id)).where(
            Outbox.cpo_id == cpo_id, Outbox.kind == "station-post", Outbox.state.in_(OPEN_STATES))).one()


def wait_posts(cpo_id: int, timeout: float = 600) -> None:
    started = time.monotonic()
    while open_posts(cpo_id):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"station-posts of CPO {cpo_id} still open after {timeout} s")
        time.sleep(0.2)


async def _connection(host: str, port: int, queue: asyncio.Queue, counts: dict) -> None:
    """One keep-alive connection sending the requests put on ``queue`` (raw HTTP/1.1: a light client)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (request := await queue.get()) is not None:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line[15:]) for line in head.split(b"\r\n")
                           if line[:15].lower() == b"content-length:"), 0)
            body = await reader.readexactly(length)
            status = int(head[9:12])
            counts[status] = counts.get(status, 0) + 1
            if status != 200 and "failure" not in counts:
                counts["failure"] = f"HTTP {status}: {body[:200]!r}"
    finally:
        writer.close()


async def drive(url: str, cpos: dict) -> tuple[int, dict]:
    """RATE single-status requests a second, alternating over the CPOs, on schedule whatever the answers;
    A's push is queued (by a process of its own) PUSH_AT seconds in."""
    rng = random.Random(7)
    clock = [datetime.now(UTC)]
    parts = urlsplit(url)
    counts: dict = {}
    queue: asyncio.Queue = asyncio.Queue()

    def request(token: str, evse_id: str) -> bytes:
        clock[0] = max(datetime.now(UTC), clock[0] + timedelta(microseconds=1))
        body = json.dumps([{"evse_id": evse_id, "status": rng.choice(STATUSES), "timestamp": clock[0].isoformat()}])
        return (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()

    connections = [asyncio.create_task(_connection(parts.hostname, parts.port, queue, counts))
                   for _ in range(CONNECTIONS)]
    pusher = None
    begin = time.monotonic()
    names = list(cpos)
    k = 0
    while (due := begin + k / RATE) - begin < SECONDS:
        if pusher is None and due - begin >= PUSH_AT:
            pusher = subprocess.Popen([sys.executable, __file__, "queue-push", str(cpos["A"][0]), str(PUSH),
                                       OPERATORS["A"]],
                                      env=ENV)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        _cpo_id, evses, token = cpos[names[k % len(names)]]
        queue.put_nowait(request(token, rng.choice(evses)))
        k += 1
    for _ in connections:
        queue.put_nowait(None)
    await asyncio.gather(*connections)
    if pusher is not None and pusher.wait() != 0:
        raise SystemExit("queueing the push failed")
    return k, counts


def measurements(push_from: datetime, push_to: datetime) -> dict:
    """Per CPO: queued -> delivered of statuses received before the push, and during it."""
    from sqlmodel import select

    from oioi_onboard.store.models import Outbox, StatusEvent

    with session_scope() as session:
        rows = session.exec(select(StatusEvent.cpo_id, StatusEvent.received_at, Outbox.acked_at, Outbox.sent_at)
                            .join(Outbox, Outbox.id == StatusEvent.outbox_id)
                            .where(StatusEvent.delivery == "delivered", StatusEvent.source == "api")).all()
    figures: dict = {}
    for name, cpo_id in CPO_IDS.items():
        def aware(moment: datetime) -> datetime:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

        mine = [(aware(received), aware(acked), aware(sent)) for c, received, acked, sent in rows
                if c == cpo_id and acked]
        before = sorted((a - r).total_seconds() for r, a, _s in mine if r < push_from)
        during = sorted((a - r).total_seconds() for r, a, _s in mine if push_from <= r < push_to)
        # Of that, the wait for a claim (sent_at is stamped at the claim).
        claim_wait = sorted((s - r).total_seconds() for r, _a, s in mine if push_from <= r < push_to)
        early = sum(1 for _r, a, _s in mine if push_from <= a < push_to)  # delivered while the push ran
        figures[name] = (before, during, early, claim_wait)
    return figures


def post_window(cpo_id: int) -> tuple[datetime, datetime]:
    """When A's push was queued and when its last station-post was acknowledged."""
    from sqlmodel import func, select

    from oioi_onboard.store.models import Outbox

    with session_scope() as session:
        last_run = session.exec(select(func.max(Outbox.run_id)).where(Outbox.cpo_id == cpo_id)).one()
        first, last = session.exec(select(func.min(Outbox.created_at), func.max(Outbox.acked_at))
                                   .where(Outbox.run_id == last_run)).one()
    return (first if first.tzinfo else first.replace(tzinfo=UTC)), (last if last.tzinfo else last.replace(tzinfo=UTC))


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    processes: list[subprocess.Popen] = []
    load_start = os.getloadavg()[0]
    try:
        sandbox, oioi_url = start("sandbox", "sandbox", "--port", "0", "--latency-ms", str(LATENCY_MS),
                                  "--api-key", API_KEY, *(a for p in PARTNERS.values() for a in ("--partner-id", p)),
                                  "--db", str(WORK / "sandbox.db"), pattern=r"listening on (http://\S+)")
        processes.append(sandbox)
        cpos = register(oioi_url)
        CPO_IDS.update({name: cpo[0] for name, cpo in cpos.items()})
        worker, _ = start("worker", "worker")
        processes.append(worker)
        for cpo_id, _evses, _token in cpos.values():
            queue_push(cpo_id)
        for cpo_id, _evses, _token in cpos.values():
            wait_posts(cpo_id)
        relay, relay_url = start("relay", "relay", "--port", "0", pattern=r"listening on (http://\S+)")
        processes.append(relay)

        began = time.monotonic()
        sent, counts = asyncio.run(drive(relay_url, cpos))
        load_elapsed = time.monotonic() - began
        wait_posts(CPO_IDS["A"])
        wait_statuses_delivered()
        push_from, push_to = post_window(CPO_IDS["A"])
        figures = measurements(push_from, push_to)
    finally:
        for process in reversed(processes):
            stop(process)
    locked = {name: (WORK / f"{name}.log").read_text(errors="replace").count("database is locked")
              for name in ("worker", "relay")}

    load_end = os.getloadavg()[0]
    print(f"\nStatuses beside a push: {RATE:,} single-status requests/s for {SECONDS:g} s over CPOs A and B, "
          f"{PUSH:,} new stations of A queued {PUSH_AT:g} s in; sandbox {LATENCY_MS} ms, concurrency {CONCURRENCY}, "
          f"one worker, one relay, SQLite")
    print(f"  machine load (1 min, 2 cores): {load_start:.1f} at start, {load_end:.1f} at end")
    failure = counts.pop("failure", None)
    print(f"  requests sent {sent:,} in {load_elapsed:.1f} s (all answered), answers {counts}"
          + (f", e.g. {failure}" if failure else ""))
    print(f"  A's push: {(push_to - push_from).total_seconds():.1f} s from queued to its last acknowledgement")
    for name, (before, during, early, claim_wait) in figures.items():
        p99 = percentile(during, 0.99)
        print(f"  CPO {name}: before the push p50 {percentile(before, 0.5):.3f} s p99 {percentile(before, 0.99):.3f} s"
              f" (n={len(before)});  during A's push p50 {percentile(during, 0.5):.3f} s p99 {p99:.3f} s "
              f"(n={len(during)}, goal p99 < 2 s: {'met' if p99 < 2 else 'MISSED'});  "
              f"delivered while A's station-posts were open: {early:,}; of the time during the push, waiting for "
              f"a claim p50 {percentile(claim_wait, 0.5):.3f} s p99 {percentile(claim_wait, 0.99):.3f} s")
    print(f"  'database is locked' in the logs: worker {locked['worker']}, relay {locked['relay']}")
    print(f"  logs: {WORK}")
    return 0 if not failure and not any(locked.values()) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["queue-push"]:  # the child that stores A's new stations and queues their push
        queue_push(int(sys.argv[2]), store=int(sys.argv[3]), operator=sys.argv[4])
        sys.exit(0)
    sys.exit(main())
