"""OCPI receiver: the delay from an EVSE status PATCH to the OIOI endpoint, at 200 PATCHes a second.

Real processes on a fresh SQLite database: ``oioi-onboard sandbox --latency-ms 50``, ``oioi-onboard
worker`` and ``oioi-onboard relay``. A small CSMS in this process registers with the relay's receiver
(the credentials handshake); it PUTs a network of Locations, whose stations the worker pushes; then, for
the same number of seconds each:

* baseline: one status per ``POST /v1/statuses`` (the ingest API, same relay) at the target rate;
* OCPI: one ``PATCH /ocpi/2.2.1/locations/{cc}/{party}/{location}/{evse_uid}`` per status at the target rate.

Each status carries the moment it was sent as its time (``timestamp`` / ``last_updated``), so the delay
of a delivered status is the endpoint's acknowledgement as the worker recorded it minus that moment:
the whole way, HTTP in, the relay, the outbox, the worker and the endpoint's answer. Reported: p50/p99 of
that delay for both, their ratio, the rate achieved, the PATCH answer time, what became of every status
(delivered, superseded by a newer one, stale: overtaken in transit) and whether each EVSE's final status
at the sandbox is the last one sent.

Run: ``.venv/bin/python bench/bench_ocpi_receiver.py [rate] [seconds] [locations]``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

RATE = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
LOCATIONS = int(sys.argv[3]) if len(sys.argv) > 3 else 250
EVSES_PER_LOCATION = 4
CONNECTIONS = 8
LATENCY_MS = 50
CONCURRENCY = 32
API_KEY = "bench-key-0000"
PARTNER_ID = "bEnCh7Qw9LmZ2vK8sRb4"
COUNTRY, PARTY = "BE", "BEN"
OCPI_STATUSES = ["AVAILABLE", "CHARGING", "BLOCKED", "RESERVED", "INOPERATIVE", "OUTOFORDER", "UNKNOWN"]

WORK = Path(tempfile.mkdtemp(prefix="bench-ocpi-receiver-"))
os.environ["OIOI_DATA_DIR"] = str(WORK / "data")
os.environ.pop("DATABASE_URL", None)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

from oioi_onboard.ocpi.mapping import oioi_status  # noqa: E402  (after the environment is set)
from oioi_onboard.store.db import migrate, session_scope  # noqa: E402
from oioi_onboard.testing.csms import running_csms, token_header  # noqa: E402
from oioi_onboard.testing.processes import start_command, stop  # noqa: E402


def start(name: str, *args: str, pattern: str | None = None) -> tuple[subprocess.Popen, str | None]:
    return start_command(WORK, ENV, name, *args, pattern=pattern)


def location(n: int) -> dict:
    """Location ``n`` of the network: EVSES_PER_LOCATION EVSEs with a Type2 socket each, in Gent."""
    stamp = "2026-01-01T00:00:00Z"
    socket = {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230,
              "max_amperage": 16, "last_updated": stamp}
    return {
        "country_code": COUNTRY, "party_id": PARTY, "id": f"L{n:05d}", "publish": True, "name": f"Laadpunt {n}",
        "address": f"Voskenslaan {n % 300 + 1}", "city": "Gent", "postal_code": "9000", "country": "BEL",
        "coordinates": {"latitude": f"{51.03 + n * 0.0001:.6f}", "longitude": f"{3.71 + n * 0.0001:.6f}"},
        "opening_times": {"twentyfourseven": True}, "last_updated": stamp,
        "evses": [{"uid": f"{n}-{k}", "evse_id": evse_id(n, k), "status": "AVAILABLE", "last_updated": stamp,
                   "connectors": [socket]}
                  for k in range(1, EVSES_PER_LOCATION + 1)],
    }


def evse_id(n: int, k: int) -> str:
    return f"{COUNTRY}*{PARTY}*E{n:05d}{k}"


def register(endpoint: str) -> tuple[int, str, str]:
    """The CPO (its defaults give the phone OCPI lacks), its OCPI registration token and an ingest token."""
    from oioi_onboard.ocpi.credentials import create_registration_token
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.store.models import Cpo
    from oioi_onboard.sync.tokens import create_token
    from oioi_onboard.testing.store import make_cpo

    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Bench CPO", operator_ids=f"{COUNTRY}*{PARTY}", endpoint=endpoint,
                       api_key=API_KEY, partner_ids=PARTNER_ID, concurrency=CONCURRENCY)
        session.get(Cpo, cpo.id).defaults = {"phone": "+32 9 265 03 00"}
        return cpo.id, create_registration_token(session, actor=SYSTEM, cpo_id=cpo.id), \
            create_token(session, actor=SYSTEM, cpo_id=cpo.id, label="bench")


def wait_until(what: str, condition, timeout: float = 600) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def count(query) -> int:  # noqa: ANN001
    with session_scope() as session:
        return session.exec(query).one()


def settled() -> bool:
    from sqlmodel import func, select

    from oioi_onboard.store.models import StatusEvent

    return count(select(func.count(StatusEvent.id)).where(StatusEvent.delivery.in_(["pending", "held"]))) == 0


async def put_network(client: httpx.AsyncClient, token_c: str) -> list[float]:
    """PUT every Location, a few at a time; the answer times."""
    times: list[float] = []
    gate = asyncio.Semaphore(4)

    async def put(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            answer = await client.put(f"/ocpi/2.2.1/locations/{COUNTRY}/{PARTY}/L{n:05d}", json=location(n),
                                      headers={"Authorization": token_header(token_c)})
            times.append(time.perf_counter() - started)
            if answer.json().get("status_code") != 1000 or answer.json().get("status_message"):
                raise SystemExit(f"PUT of Location {n} answered {answer.text}")

    await asyncio.gather(*(put(n) for n in range(1, LOCATIONS + 1)))
    return times


async def drive(client: httpx.AsyncClient, send) -> tuple[int, float, list[float], list[str], dict]:  # noqa: ANN001
    """``send(client, n, k, status, moment)`` RATE times a second for SECONDS over CONNECTIONS, on schedule
    whether or not earlier answers are back. Returns (sent, elapsed, answer times, failures, last sent)."""
    rng = random.Random(7)
    clock = [datetime.now(UTC)]
    answers: list[float] = []
    failures: list[str] = []
    last_sent: dict[str, tuple[datetime, str]] = {}
    gate = asyncio.Semaphore(CONNECTIONS * 8)

    def next_moment() -> datetime:
        # Strictly increasing, so "the last one sent" is well defined across connections.
        clock[0] = max(datetime.now(UTC), clock[0] + timedelta(microseconds=1))
        return clock[0]

    async def one(n: int, k: int, status: str) -> None:
        async with gate:
            moment = next_moment()
            started = time.perf_counter()
            problem = await send(client, n, k, status, moment)
            answers.append(time.perf_counter() - started)
        if problem:
            failures.append(problem)
        elif evse_id(n, k) not in last_sent or last_sent[evse_id(n, k)][0] < moment:
            last_sent[evse_id(n, k)] = (moment, status)

    begin = time.monotonic()
    tasks = []
    for i in range(int(RATE * SECONDS)):
        await asyncio.sleep(max(0.0, begin + i / RATE - time.monotonic()))
        n, k = rng.randint(1, LOCATIONS), rng.randint(1, EVSES_PER_LOCATION)
        tasks.append(asyncio.create_task(one(n, k, rng.choice(OCPI_STATUSES))))
    await asyncio.gather(*tasks)
    return len(tasks), time.monotonic() - begin, answers, failures, last_sent


def patch_sender(token_c: str, overtaken: list[int]):  # noqa: ANN201
    async def send(client: httpx.AsyncClient, n: int, k: int, status: str, moment: datetime) -> str | None:
        answer = await client.patch(f"/ocpi/2.2.1/locations/{COUNTRY}/{PARTY}/L{n:05d}/{n}-{k}",
                                    json={"status": status, "last_updated": moment.isoformat()},
                                    headers={"Authorization": token_header(token_c)})
        body = answer.json()
        message = body.get("status_message") or ""
        if message.endswith("nothing changed"):
            overtaken[0] += 1  # a newer PATCH of the EVSE arrived first
        elif body.get("status_code") != 1000 or message:
            return f"HTTP {answer.status_code}: {answer.text[:200]}"
        return None

    return send


def ingest_sender(token: str):  # noqa: ANN201
    async def send(client: httpx.AsyncClient, n: int, k: int, status: str, moment: datetime) -> str | None:
        item = {"evse_id": evse_id(n, k), "status": oioi_status(status).value, "timestamp": moment.isoformat()}
        answer = await client.post("/v1/statuses", json=[item], headers={"Authorization": f"Bearer {token}"})
        return None if answer.status_code == 200 else f"HTTP {answer.status_code}: {answer.text[:200]}"

    return send


def delays(source: str, since: datetime) -> tuple[dict[str, int], list[float]]:
    """What became of the statuses of ``source`` sent since ``since``, and each delivered one's delay
    (sent -> acknowledged)."""
    from sqlmodel import func, select

    from oioi_onboard.store.models import Outbox, StatusEvent

    ours = (StatusEvent.source == source, StatusEvent.observed_at >= since)
    with session_scope() as session:
        deliveries = dict(session.exec(select(StatusEvent.delivery, func.count(StatusEvent.id))
                                       .where(*ours).group_by(StatusEvent.delivery)).all())
        pairs = session.exec(select(StatusEvent.observed_at, Outbox.acked_at)
                             .join(Outbox, Outbox.id == StatusEvent.outbox_id)
                             .where(StatusEvent.delivery == "delivered", *ours)).all()
    return deliveries, sorted((acked - sent).total_seconds() for sent, acked in pairs if acked is not None)


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def phase(base: str, send, source: str) -> dict:  # noqa: ANN001
    async def go() -> tuple:
        async with httpx.AsyncClient(base_url=base, timeout=60,
                                     limits=httpx.Limits(max_connections=CONNECTIONS)) as client:
            return await drive(client, send)

    since = datetime.now(UTC)
    sent, elapsed, answers, failures, last_sent = asyncio.run(go())
    wait_until(f"the {source} statuses to be delivered", settled)
    deliveries, delivered = delays(source, since)
    return {"sent": sent, "elapsed": elapsed, "answers": answers, "failures": failures, "last_sent": last_sent,
            "deliveries": deliveries, "delays": delivered}


def main() -> int:
    # A SIGTERM stops the bench through ``finally``, so the processes it started stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    processes: list[subprocess.Popen] = []
    try:
        sandbox, oioi_url = start("sandbox", "sandbox", "--port", "0", "--latency-ms", str(LATENCY_MS),
                                  "--api-key", API_KEY, "--partner-id", PARTNER_ID, "--db", str(WORK / "sandbox.db"),
                                  pattern=r"listening on (http://\S+)")
        processes.append(sandbox)
        cpo_id, token_a, ingest_token = register(oioi_url)
        worker, _ = start("worker", "worker", "--poll-interval", "0.05")
        processes.append(worker)
        relay, versions_url = start("relay", "relay", "--port", "0",
                                    pattern=r"OCPI 2.2.1 receiver: versions at (http://\S+)")
        processes.append(relay)
        base = versions_url.removesuffix("/ocpi/versions")

        with running_csms() as csms:
            handshake = httpx.post(f"{base}/ocpi/2.2.1/credentials", json=csms.credentials(((COUNTRY, PARTY),)),
                                   headers={"Authorization": token_header(token_a)}, timeout=30).json()
        token_c = handshake["data"]["token"]

        async def setup() -> list[float]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                return await put_network(client, token_c)

        started = time.monotonic()
        put_times = asyncio.run(setup())
        put_seconds = time.monotonic() - started
        from sqlmodel import func, select

        from oioi_onboard.store.models import Station

        push_seconds = wait_until("every station to be acknowledged", lambda: count(
            select(func.count(Station.id)).where(Station.acked_at.is_not(None))) == LOCATIONS)
        wait_until("the first statuses to be delivered", settled)

        baseline = phase(base, ingest_sender(ingest_token), "api")
        overtaken = [0]
        ocpi = phase(base, patch_sender(token_c, overtaken), "ocpi")
        sandbox_base = oioi_url.split("/api/")[0]
        at_sandbox = {c["id"]: c["status"] for s in httpx.get(f"{sandbox_base}/_sandbox/stations", timeout=60).json()
                      for c in s["connectors"]}
    finally:
        for process in reversed(processes):
            stop(process)

    wrong = [evse for evse, (_, status) in ocpi["last_sent"].items() if at_sandbox.get(evse) != oioi_status(status)]
    load = os.getloadavg()[0]
    lost = {name: sum(count for kind, count in result["deliveries"].items()
                      if kind not in ("delivered", "superseded", "stale"))
            for name, result in (("api", baseline), ("ocpi", ocpi))}
    unchanged = ocpi["sent"] - overtaken[0] - len(ocpi["failures"]) - sum(ocpi["deliveries"].values())
    b50, b99 = percentile(baseline["delays"], 0.5), percentile(baseline["delays"], 0.99)
    o50, o99 = percentile(ocpi["delays"], 0.5), percentile(ocpi["delays"], 0.99)
    rows = [
        ("machine load (1 min, 2 cores)", f"{load:.1f}", "other processes share the cores"),
        ("Locations PUT first", f"{LOCATIONS:,} x {EVSES_PER_LOCATION} EVSEs in {put_seconds:.1f} s",
         f"answer p50 {percentile(put_times, 0.5) * 1000:.0f} ms, p99 {percentile(put_times, 0.99) * 1000:.0f} ms"),
        ("their stations pushed", f"{push_seconds:.1f} s", f"sandbox latency {LATENCY_MS} ms"),
        ("baseline: POST /v1/statuses, 1 a request", f"{baseline['sent']:,} in {baseline['elapsed']:.1f} s",
         f"{baseline['sent'] / baseline['elapsed']:.0f}/s"),
        ("  delay sent -> acknowledged p50", f"{b50:.3f} s", ""),
        ("  delay sent -> acknowledged p99", f"{b99:.3f} s", ""),
        ("OCPI: PATCH of an EVSE status", f"{ocpi['sent']:,} in {ocpi['elapsed']:.1f} s",
         f"{ocpi['sent'] / ocpi['elapsed']:.0f}/s of target {RATE}/s"),
        ("  PATCH answer time p50 / p99",
         f"{percentile(ocpi['answers'], 0.5) * 1000:.0f} / {percentile(ocpi['answers'], 0.99) * 1000:.0f} ms", ""),
        ("  delay sent -> acknowledged p50", f"{o50:.3f} s", f"{o50 / b50:.2f} x baseline"),
        ("  delay sent -> acknowledged p99", f"{o99:.3f} s", f"{o99 / b99:.2f} x baseline"),
        ("  statuses delivered / superseded", " / ".join(
            f"{ocpi['deliveries'].get(kind, 0):,}" for kind in ("delivered", "superseded")), "superseded: coalesced"),
        ("  PATCHes overtaken by a newer one", f"{overtaken[0]:,}", "older than what is held: nothing changed"),
        ("  PATCHes of an unchanged OIOI status", f"{unchanged:,}", "e.g. CHARGING -> BLOCKED: both Occupied"),
        ("  PATCHes refused", f"{len(ocpi['failures']):,}", ocpi["failures"][0] if ocpi["failures"] else ""),
        ("  statuses pending/held/rejected", f"{lost['ocpi']:,} (baseline {lost['api']:,})",
         "none lost" if not lost["ocpi"] else "LOST"),
        ("  final status at the sandbox",
         f"{len(ocpi['last_sent']) - len(wrong):,} of {len(ocpi['last_sent']):,} EVSEs",
         "all equal the last PATCH" if not wrong else f"{len(wrong)} DIFFER, e.g. {wrong[:3]}"),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\nOCPI receiver: {RATE:,} status PATCHes/s for {SECONDS:g} s, {LOCATIONS * EVSES_PER_LOCATION:,} EVSEs, "
          f"sandbox at {LATENCY_MS} ms, concurrency {CONCURRENCY}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>{value_width}}  {note}")
    return 0 if not wrong and not lost["ocpi"] and not ocpi["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
