"""Status relay under load: 1,000 changes a second for 30 seconds, relayed to the sandbox at 50 ms latency.

Real processes on a fresh SQLite database: ``oioi-onboard sandbox --latency-ms 50``,
``oioi-onboard worker`` and ``oioi-onboard relay``. A CPO with 2,000 stations of
two connectors is pushed first (statuses are only accepted for acknowledged
stations), then several HTTP connections post batches of changes to
``POST /v1/statuses`` at the target rate. Reported:

* ingest rate achieved, as a ratio of the target rate;
* delivery latency (received by the relay -> acknowledged by the endpoint), p50 / p99, goal p99 < 2 s,
  and as a ratio of the endpoint's own latency (the baseline, measured in this run);
* requests saved by coalescing: changes in per request sent;
* proof: every connector's final status at the sandbox equals the last one sent in,
  and every change is delivered, superseded or stale (none pending, held, rejected or lost).

Run: ``.venv/bin/python bench/bench_relay.py [rate] [seconds] [stations]``.

``bench_relay.py requests [seconds] [connections] [workers]`` measures the relay alone instead: single-item
requests a second, on keep-alive connections from a load generator in another process (``http_load.py``),
as a ratio against a bare Starlette/uvicorn endpoint measured in the same run, alternately, twice; with
the relay's CPU use per request. ``workers`` > 1 runs ``oioi-onboard relay --workers N``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REQUESTS_MODE = len(sys.argv) > 1 and sys.argv[1] == "requests"
_ARGS = [] if REQUESTS_MODE else sys.argv[1:]
RATE = int(_ARGS[0]) if len(_ARGS) > 0 else 1000
SECONDS = float(_ARGS[1]) if len(_ARGS) > 1 else 30.0
STATIONS = int(_ARGS[2]) if len(_ARGS) > 2 else 2000
CONNECTIONS = 4
BATCH_EVERY = 0.2  # seconds between two batches of one connection (1,000/s over 4: 50 a batch)
LATENCY_MS = 50
CONCURRENCY = 64  # requests in flight to the endpoint for this CPO
API_KEY = "bench-key-0000"
PARTNER_ID = "bEnCh7Qw9LmZ2vK8sRb4"
OPERATOR = "DE*BEN"
STATUSES = ["Available", "Occupied", "Reserved", "Offline", "Unknown"]

WORK = Path(tempfile.mkdtemp(prefix="bench-relay-"))
os.environ["OIOI_DATA_DIR"] = str(WORK / "data")
os.environ.pop("DATABASE_URL", None)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

from oioi_onboard.oioi.messages import connector_post_status_body  # noqa: E402  (after the environment is set)
from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS  # noqa: E402
from oioi_onboard.store.db import migrate, session_scope  # noqa: E402
from oioi_onboard.testing.processes import start_command, stop  # noqa: E402
from oioi_onboard.testing.store import wait_statuses_delivered  # noqa: E402


def start(name: str, *args: str, pattern: str | None = None) -> tuple[subprocess.Popen, str | None]:
    return start_command(WORK, ENV, name, *args, pattern=pattern)


def register(endpoint: str) -> tuple[int, list[str]]:
    """The CPO and its stations of two connectors, straight into the store as an import leaves them;
    returns the CPO id and every EVSE id."""
    from oioi_onboard.testing.stations import evse
    from oioi_onboard.testing.store import make_cpo, store_status_station

    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Bench CPO", operator_ids=OPERATOR, endpoint=endpoint, api_key=API_KEY,
                       partner_ids=PARTNER_ID, concurrency=CONCURRENCY)
        for n in range(1, STATIONS + 1):
            store_status_station(session, cpo.id, n)
        return cpo.id, [evse(n, k, OPERATOR) for n in range(1, STATIONS + 1) for k in (1, 2)]


def push_and_wait(cpo_id: int) -> float:
    from sqlmodel import func, select

    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.store.models import Station
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan

    started = time.monotonic()
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
    while time.monotonic() - started < 300:
        with session_scope() as session:
            acked = session.exec(select(func.count(Station.id)).where(Station.acked_at.is_not(None))).one()
        if acked == STATIONS:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"only {acked} of {STATIONS} stations were acknowledged within 300 s")


async def drive(url: str, token: str, evses: list[str]) -> tuple[int, int, float, dict[str, tuple[datetime, str]]]:
    """Post RATE changes a second for SECONDS over CONNECTIONS connections; returns what was sent."""
    rng = random.Random(11)
    last_sent: dict[str, tuple[datetime, str]] = {}
    clock = [datetime.now(UTC)]
    per_batch = max(1, round(RATE * BATCH_EVERY / CONNECTIONS))
    sent = accepted = 0
    failures: list[str] = []

    def next_time() -> datetime:
        # Strictly increasing, so "the last one sent in" is well defined across connections.
        clock[0] = max(datetime.now(UTC), clock[0] + timedelta(microseconds=1))
        return clock[0]

    async def post(client: httpx.AsyncClient, items: list[dict]) -> None:
        nonlocal accepted
        async with in_flight:
            answer = await client.post(url, json=items, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            return
        accepted += answer.json()["accepted"]
        for item in items:
            moment = datetime.fromisoformat(item["timestamp"])
            if item["evse_id"] not in last_sent or last_sent[item["evse_id"]][0] < moment:
                last_sent[item["evse_id"]] = (moment, item["status"])

    async def connection(index: int, client: httpx.AsyncClient, begin: float, posts: list) -> None:
        # Batches leave on schedule whether or not earlier answers are back: the offered rate stays RATE.
        nonlocal sent
        k = 0
        while True:
            due = begin + index * BATCH_EVERY / CONNECTIONS + k * BATCH_EVERY
            if due - begin >= SECONDS:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            items = []
            for evse in rng.sample(evses, per_batch):
                moment, status = next_time(), rng.choice(STATUSES)
                items.append({"evse_id": evse, "status": status, "timestamp": moment.isoformat()})
            posts.append(asyncio.create_task(post(client, items)))
            sent += len(items)
            k += 1

    in_flight = asyncio.Semaphore(CONNECTIONS * 8)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=CONNECTIONS)) as client:
        begin = time.monotonic()
        posts: list[asyncio.Task] = []
        await asyncio.gather(*(connection(i, client, begin, posts) for i in range(CONNECTIONS)))
        await asyncio.gather(*posts)
        elapsed = time.monotonic() - begin
    if failures:
        print(f"{len(failures)} request(s) failed, e.g. {failures[0]}", file=sys.stderr)
    return sent, accepted, elapsed, last_sent


def measurements() -> tuple[dict[str, int], list[float]]:
    from sqlmodel import func, select

    from oioi_onboard.store.models import Outbox, StatusEvent

    with session_scope() as session:
        deliveries = dict(session.exec(select(StatusEvent.delivery, func.count(StatusEvent.id))
                                       .where(StatusEvent.source == "api").group_by(StatusEvent.delivery)).all())
        pairs = session.exec(select(StatusEvent.received_at, Outbox.sent_at, Outbox.acked_at)
                             .join(Outbox, Outbox.id == StatusEvent.outbox_id)
                             .where(StatusEvent.delivery == "delivered", StatusEvent.source == "api")).all()
    latencies = sorted((acked - received).total_seconds() for received, _, acked in pairs if acked is not None)
    # Time waiting in the outbox until a worker claimed the row (sent_at is set at the claim).
    waits = sorted((sent - received).total_seconds() for received, sent, _ in pairs if sent is not None)
    return deliveries, latencies, waits


def endpoint_baseline(url: str, evse_id: str, n: int = 50) -> float:
    """The endpoint's own answer time for one status, sent one at a time: the floor for delivery latency."""
    body = connector_post_status_body(evse_id, "Unknown", PARTNER_ID)
    times = []
    with httpx.Client(timeout=10, headers={"Authorization": f"key={API_KEY}"}) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def send_capacity(cpo_id: int, evses: list[str]) -> float:
    """Requests a second the worker gets acknowledged with nothing else running: one status for every EVSE."""
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.sync.status_ingest import record_statuses

    with session_scope() as session:
        record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, source="simulator",
                        items=[{"evse_id": e, "status": "Available"} for e in evses])
    return len(evses) / wait_statuses_delivered()


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def family(process: subprocess.Popen) -> list[int]:
    """The process and its children (``relay --workers N`` runs N processes under one)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [process.pid, *map(int, children.read_text().split())] if children.exists() else [process.pid]


def load(url: str, bodies: Path, seconds: float, connections: int, *headers: str) -> dict:
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("http_load.py")), "load", url, str(bodies),
                           str(seconds), str(connections), *headers], capture_output=True, text=True, env=ENV,
                          timeout=seconds + 60)
    if done.returncode:
        raise SystemExit(f"the load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)


def requests_main() -> int:
    """Single-item requests a second: the relay against a bare endpoint, in one run."""
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.sync.tokens import create_token
    from oioi_onboard.testing.stations import evse
    from oioi_onboard.testing.store import make_cpo, store_status_station

    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Bench CPO", operator_ids=OPERATOR, partner_ids=PARTNER_ID, registered=False)
        for n in range(1, STATIONS + 1):
            store_status_station(session, cpo.id, n, acked=True)
        token = create_token(session, actor=SYSTEM, cpo_id=cpo.id, label="bench")
    rng = random.Random(5)
    bodies = WORK / "bodies.json"
    bodies.write_text(json.dumps([json.dumps([{"evse_id": evse(n, k, OPERATOR), "status": rng.choice(STATUSES)}])
                                  for n in range(1, STATIONS + 1) for k in (1, 2)]))
    processes: list[subprocess.Popen] = []
    rows = []
    try:
        hello = subprocess.Popen([sys.executable, str(Path(__file__).with_name("http_load.py")), "hello"],
                                 stdout=subprocess.PIPE, text=True, env=ENV)
        processes.append(hello)
        hello_url = re.search(r"listening on (\S+)", hello.stdout.readline())[1]
        relay, relay_url = start("relay", "relay", "--port", "0", *(["--workers", str(workers)] if workers > 1 else []),
                                 pattern=r"listening on (http://\S+)")
        processes.append(relay)
        time.sleep(1.0 + workers)  # every worker process up
        load(relay_url, bodies, 2, connections, f"Authorization: Bearer {token}")  # warm: token cache, pools
        for round_ in (1, 2):
            bare = load(hello_url, bodies, seconds, connections)
            before = cpu_seconds(family(relay))
            ours = load(relay_url, bodies, seconds, connections, f"Authorization: Bearer {token}")
            used = cpu_seconds(family(relay)) - before
            if set(ours["codes"]) != {"200"}:
                print(f"the relay answered {ours['codes']}", file=sys.stderr)
            rows.append((round_, bare, ours, used))
    finally:
        for process in reversed(processes):
            stop(process)
    load_avg = os.getloadavg()[0]
    print(f"\nRelay, single-item requests on {connections} keep-alive connections, {seconds:g} s each, "
          f"{workers} relay process(es); machine load {load_avg:.1f} on 2 cores")
    for round_, bare, ours, used in rows:
        bare_rate, rate = bare["requests"] / bare["seconds"], ours["requests"] / ours["seconds"]
        print(f"  round {round_}: bare endpoint {bare_rate:7,.0f}/s   relay {rate:7,.0f}/s = {rate / bare_rate:.2f} x "
              f"bare   relay CPU {used / ours['seconds']:.0%} of a core, {1000 * used / ours['requests']:.2f} ms a "
              f"request   (goal >= 1,000/s: {'met' if rate >= 1000 else 'MISSED'})")
    return 0


def main() -> int:
    if REQUESTS_MODE:
        return requests_main()
    # A SIGTERM stops the bench through ``finally``, so the processes it started stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    processes: list[subprocess.Popen] = []
    try:
        sandbox, oioi_url = start("sandbox", "sandbox", "--port", "0", "--latency-ms", str(LATENCY_MS),
                                  "--api-key", API_KEY, "--partner-id", PARTNER_ID, "--db", str(WORK / "sandbox.db"),
                                  pattern=r"listening on (http://\S+)")
        processes.append(sandbox)
        cpo_id, evses = register(oioi_url)
        worker, _ = start("worker", "worker", "--poll-interval", "0.05")
        processes.append(worker)
        push_seconds = push_and_wait(cpo_id)
        relay, relay_url = start("relay", "relay", "--port", "0", pattern=r"listening on (http://\S+)")
        processes.append(relay)

        from oioi_onboard.store.auth import SYSTEM
        from oioi_onboard.sync.tokens import create_token

        with session_scope() as session:
            token = create_token(session, actor=SYSTEM, cpo_id=cpo_id, label="bench")
        baseline = endpoint_baseline(oioi_url, evses[0])
        capacity = send_capacity(cpo_id, evses)
        sandbox_base = oioi_url.split("/api/")[0]
        requests_before = httpx.get(f"{sandbox_base}/_sandbox/stats").json()[CONNECTOR_POST_STATUS]["received"]

        sent, accepted, elapsed, last_sent = asyncio.run(drive(relay_url, token, evses))
        settle_seconds = wait_statuses_delivered()
        deliveries, latencies, waits = measurements()
        stats = httpx.get(f"{sandbox_base}/_sandbox/stats").json()
        requests = stats[CONNECTOR_POST_STATUS]["received"] - requests_before
        at_sandbox = {c["id"]: c["status"] for s in httpx.get(f"{sandbox_base}/_sandbox/stations", timeout=60).json()
                      for c in s["connectors"]}
        wrong = [evse for evse, (_, status) in last_sent.items() if at_sandbox.get(evse) != status]
    finally:
        for process in reversed(processes):
            stop(process)

    load = os.getloadavg()[0]
    rate = accepted / elapsed
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    lost = sum(count for kind, count in deliveries.items() if kind not in ("delivered", "superseded", "stale"))
    rows = [
        ("machine load (1 min, 2 cores)", f"{load:.1f}", "other processes share the cores"),
        ("stations pushed first", f"{STATIONS:,} x 2 connectors in {push_seconds:.1f} s", ""),
        ("changes sent in", f"{sent:,} over {elapsed:.1f} s on {CONNECTIONS} connections", ""),
        ("ingest rate achieved", f"{rate:,.0f} changes/s", f"{rate / RATE:.2f} x target {RATE:,}/s"),
        ("endpoint answer time (baseline)", f"{baseline * 1000:.0f} ms", f"sandbox latency {LATENCY_MS} ms"),
        ("delivery latency p50", f"{p50:.3f} s", f"{p50 / baseline:.1f} x baseline"),
        ("delivery latency p99", f"{p99:.3f} s", ("meets" if p99 < 2 else "MISSES") + " goal < 2 s"),
        ("  of which waiting for a worker, p99", f"{percentile(waits, 0.99):.3f} s", "queue, not the wire"),
        ("worker send capacity (baseline)", f"{capacity:,.0f} requests/s",
         f"{len(evses):,} EVSEs cycle in {len(evses) / capacity:.1f} s"),
        ("requests sent to the endpoint", f"{requests:,}", f"{accepted / max(1, requests):.2f} changes per request"),
        ("requests saved by coalescing", f"{accepted - requests:,}", f"{1 - requests / max(1, accepted):.0%}"),
        ("changes delivered", f"{deliveries.get('delivered', 0):,}", ""),
        ("changes superseded by newer", f"{deliveries.get('superseded', 0):,}", ""),
        ("changes stale on arrival", f"{deliveries.get('stale', 0):,}", "an older change overtaken in transit"),
        ("changes pending/held/rejected", f"{lost:,}", "none lost" if lost == 0 else "LOST"),
        ("catch-up after the last change", f"{settle_seconds:.1f} s", ""),
        ("final status at the sandbox", f"{len(last_sent) - len(wrong):,} of {len(last_sent):,} EVSEs",
         "all equal the last sent in" if not wrong else f"{len(wrong)} DIFFER, e.g. {wrong[:3]}"),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\nStatus relay: {RATE:,} changes/s for {SECONDS:g} s, sandbox at {LATENCY_MS} ms, "
          f"concurrency {CONCURRENCY}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>{value_width}}  {note}")
    ok = not wrong and lost == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
