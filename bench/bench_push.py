"""Full load: 10,000 stations against ``oioi-onboard sandbox --latency-ms 50``.

Real processes: the sandbox and ``oioi-onboard worker`` each run as their own
process on a fresh SQLite database per setting. For each concurrency the CPO is
set to, the stations are written to the store, diffed and enqueued (timed: "enqueue"),
then the already running worker sends them (timed from the enqueue's commit to
the last acknowledgement: "send"). The limit a concurrency allows is
concurrency / latency; the goal is at least 80 % of it.

Two baselines are measured in the same run:

- sequential (concurrency 1) on fewer stations (10,000 one after another at
  50 ms would take over 8 minutes): the fixed per-request cost;
- the bare client: the same station-posts sent by ``OioiClient`` alone at the
  same concurrency, no database and no outbox. On a small shared machine the
  sandbox and the client use up the CPU before concurrency / latency is reached;
  this row shows what the machine allows, and "of bare" what the outbox costs.

Run: ``.venv/bin/python bench/bench_push.py [stations] [concurrency ...]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

STATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
CONCURRENCIES = [int(c) for c in sys.argv[2:]] or [16, 64]
PROFILE = os.environ.get("BENCH_PROFILE") == "1"  # sample the worker at the highest concurrency with py-spy
BASELINE_STATIONS = 200
LATENCY_MS = 50
WORK = Path(tempfile.mkdtemp(prefix="bench-push-"))


def _fresh_database(name: str) -> dict:
    """Point this process (and the worker it starts) at a new SQLite database."""
    from oioi_onboard.settings import get_settings
    from oioi_onboard.store.db import get_engine

    os.environ["OIOI_DATA_DIR"] = str(WORK / name)
    os.environ.pop("DATABASE_URL", None)
    get_settings.cache_clear()
    get_engine.cache_clear()
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def measure(sandbox, concurrency: int, count: int) -> dict:
    from sqlalchemy import func, select

    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.store.db import migrate, session_scope
    from oioi_onboard.store.models import Outbox, OutboxState, PushRun
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan
    from oioi_onboard.testing.store import make_cpo, store_stations

    env = _fresh_database(f"c{concurrency}")
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=sandbox.partner_id,
                       concurrency=concurrency)
        store_stations(session, cpo.id, count)
        cpo_id = cpo.id
    log = open(WORK / f"worker-c{concurrency}.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "worker", "--poll-interval", "0.1"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    profile = spy = None
    if PROFILE and concurrency == max(CONCURRENCIES):
        # py-spy samples the worker from outside (no slowdown of its own) until it exits; collapsed stacks,
        # summed below.
        profile = WORK / f"worker-c{concurrency}.stacks"
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
                                "--rate", "200", "--gil", "--nonblocking", "--output", str(profile),
                                "--pid", str(worker.pid)], stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(2.0)  # the worker is up and idle before the clock starts
        started = time.perf_counter()
        with session_scope() as session:
            run = enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
            run_id = run.id
        enqueued = time.perf_counter()
        enqueued_at = datetime.now(UTC)
        # Poll rarely (the poll would take CPU from the worker); the end is the last ack's own time.
        while True:
            time.sleep(0.5)
            with session_scope() as session:
                finished = session.get(PushRun, run_id).finished_at
            if finished is not None:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker died: {(WORK / f'worker-c{concurrency}.log').read_text()[-2000:]}")
        with session_scope() as session:
            acked, last_ack = session.exec(select(func.count(), func.max(Outbox.acked_at)).where(
                Outbox.run_id == run_id, Outbox.state == OutboxState.ACKED)).one()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    if last_ack.tzinfo is None:
        last_ack = last_ack.replace(tzinfo=UTC)
    send_s = (last_ack - enqueued_at).total_seconds()
    done = enqueued + send_s
    limit = concurrency / (LATENCY_MS / 1000)
    rate = acked / send_s
    if spy is not None:
        spy.wait(timeout=30)  # py-spy writes its file once the worker has exited
    return {"profile": profile, "concurrency": concurrency, "stations": count, "acked": acked,
            "enqueue_s": enqueued - started, "send_s": send_s, "rate": rate, "limit": limit, "ratio": rate / limit,
            "rate_incl_enqueue": acked / (done - started)}


def summarize_profile(path: Path, top: int = 14) -> list[str]:
    """Where the worker's CPU went: busy samples per thread, and the functions with the most (inclusive, self)."""
    import re
    from collections import Counter

    if not path.exists():
        return [f"no profile at {path} (py-spy missing or not allowed to attach)"]
    threads: Counter = Counter()
    inclusive: Counter = Counter()
    own: Counter = Counter()
    areas: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        total += n
        threads[re.sub(r"\s*\(?0x[0-9a-f]+\)?|\s*\(\d+\)", "", thread).strip() or thread] += n
        names = []
        for frame in frames:
            match = re.match(r"(?P<fn>.+?) \((?P<file>[^:]+)(?::\d+)?\)$", frame)
            fn, file = (match["fn"], match["file"]) if match else (frame, "")
            names.append(f"{fn} ({file.split('site-packages/')[-1].split('lib/oioi_onboard/')[-1]})")
        for name in set(names):
            inclusive[name] += n
        if names:
            own[names[-1]] += n
            leaf_file = names[-1]
            area = next((a for a in ("sqlalchemy", "sqlite3", "json", "orjson", "httpx", "aiohttp", "httpcore",
                                     "asyncio", "uvloop", "pydantic", "cryptography", "oioi_onboard")
                         if a in " ".join(names[-3:]) or a in leaf_file), "other")
            areas[area] += n
    lines = [f"worker profile ({total} samples of the thread holding the GIL at 200/s, {total / 200:.1f} s of "
             "Python CPU; idle time is not sampled)"]
    lines.append("  by thread: " + ", ".join(f"{t} {n / total:.0%}" for t, n in threads.most_common(4)))
    lines.append("  by library (leaf frames): " + ", ".join(f"{a} {n / total:.0%}" for a, n in areas.most_common(8)))
    lines.append("  most inclusive time:")
    lines += [f"    {n / total:5.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("  most own time:")
    lines += [f"    {n / total:5.1%}  {name}" for name, n in own.most_common(top)]
    return lines


def client_cpu(sandbox, concurrency: int, count: int) -> list[tuple[str, float, float]]:
    """Client CPU per request and requests/s of three clients side by side, the same station-posts each:
    plain httpx (httpcore's pool), the project's OioiClient (httpx API on httpx-aiohttp), bare aiohttp."""
    import asyncio
    import json

    import aiohttp
    import httpx

    from oioi_onboard.oioi.client import OioiClient
    from oioi_onboard.oioi.messages import station_post_body
    from oioi_onboard.testing.stations import station_payload

    bodies = [station_post_body(station_payload(n), sandbox.partner_id) for n in range(1, count + 1)]
    headers = {"Authorization": f"key={sandbox.api_key}", "Content-Type": "application/json"}

    async def plain_httpx():
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(limits=limits, timeout=10, headers=headers)

        async def send(body):
            response = await client.post(sandbox.url, content=json.dumps(body, ensure_ascii=False).encode())
            assert response.status_code == 200 and response.json()
        return send, client.aclose

    async def oioi():
        client = OioiClient(sandbox.url, sandbox.api_key, max_retries=0, max_connections=concurrency)
        return client.send, client.aclose

    async def bare_aiohttp():
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        async def send(body):
            async with session.post(sandbox.url, data=json.dumps(body, ensure_ascii=False).encode(),
                                    headers=headers) as response:
                assert response.status == 200 and await response.json()
        return send, session.close

    async def measure_one(make) -> tuple[float, float]:
        send, close = await make()
        gate = asyncio.Semaphore(concurrency)

        async def one(body):
            async with gate:
                await send(body)

        await asyncio.gather(*(one(body) for body in bodies[:concurrency]))  # connections open, code warm
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await close()
        return cpu / count * 1000, count / wall

    return [(name, *asyncio.run(measure_one(make))) for name, make in (
        ("httpx.AsyncClient (httpcore pool)", plain_httpx), ("OioiClient (httpx-aiohttp)", oioi),
        ("bare aiohttp", bare_aiohttp))]


def bare_client(sandbox, concurrency: int, count: int) -> float:
    """Station-posts per second that the client alone reaches against the same sandbox."""
    import asyncio

    from oioi_onboard.oioi.client import OioiClient
    from oioi_onboard.oioi.messages import station_post_body
    from oioi_onboard.testing.stations import station_payload

    bodies = [station_post_body(station_payload(n), sandbox.partner_id) for n in range(1, count + 1)]

    async def run() -> float:
        async with OioiClient(sandbox.url, sandbox.api_key, max_retries=0, max_connections=concurrency) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(body: dict) -> None:
                async with gate:
                    await client.send(body)

            started = time.perf_counter()
            await asyncio.gather(*(one(body) for body in bodies))
            return count / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> None:
    from oioi_onboard.oioi.vocabulary import STATION_POST
    from oioi_onboard.testing.sandbox import start_sandbox

    sandbox = start_sandbox(WORK / "sandbox", latency_ms=LATENCY_MS, api_keys=("bench-key-0000",),
                            partner_ids=("bEnCh7Qw9LmZ2vK8sRb4",), seed=None)
    try:
        rows = [measure(sandbox, 1, BASELINE_STATIONS)]
        rows[0]["bare"] = bare_client(sandbox, 1, BASELINE_STATIONS)
        for concurrency in CONCURRENCIES:
            row = measure(sandbox, concurrency, STATIONS)
            row["bare"] = bare_client(sandbox, concurrency, min(STATIONS, 3000))
            rows.append(row)
        clients = client_cpu(sandbox, max(CONCURRENCIES), min(STATIONS, 3000))
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    print(f"\nFull load against the sandbox at {LATENCY_MS} ms latency ({os.cpu_count()} cores, worker, sandbox "
          f"and SQLite on one machine)")
    print(f"{'concurrency':>11} {'stations':>9} {'enqueue s':>10} {'send s':>8} {'stations/s':>11} "
          f"{'limit/s':>8} {'of limit':>9} {'incl. enqueue':>14} {'bare client/s':>14} {'of bare':>8}")
    for r in rows:
        print(f"{r['concurrency']:>11} {r['stations']:>9} {r['enqueue_s']:>10.2f} {r['send_s']:>8.1f} "
              f"{r['rate']:>11.1f} {r['limit']:>8.0f} {r['ratio']:>9.0%} {r['rate_incl_enqueue']:>14.1f} "
              f"{r['bare']:>14.1f} {r['rate'] / r['bare']:>8.0%}")
    base = rows[0]["rate"]
    for r in rows[1:]:
        print(f"concurrency {r['concurrency']}: {r['rate'] / base:.1f}x the sequential baseline "
              f"(ideal {r['concurrency']}x); goal >= 80% of the limit: {'met' if r['ratio'] >= 0.8 else 'NOT met'}")
    limit = max(CONCURRENCIES) / (LATENCY_MS / 1000)
    print(f"\nclient CPU per request at {max(CONCURRENCIES)} in flight, side by side (no database, no outbox):")
    for name, cpu_ms, rate in clients:
        print(f"  {name:36s} {cpu_ms:6.3f} ms CPU/request  {rate:7.1f} requests/s  {rate / limit:5.0%} of the limit")
    for r in rows:
        if r.get("profile") is not None:
            print("\n".join(summarize_profile(r["profile"])))
    repeats = stats.get(STATION_POST, {}).get("repeats", 0)
    print(f"sandbox: {stats[STATION_POST]['accepted']} station-posts accepted, {repeats} repeats "
          f"(each setting re-sends the same ids to the same sandbox, so repeats are expected across settings)")


if __name__ == "__main__":
    main()
