"""The push worker: claims due outbox rows, sends them, records each result.

One lane per CPO: one OioiClient (kept-alive connections, no retries of its own:
retries are scheduled in the outbox so they survive restarts) and at most
``Cpo.concurrency`` requests in flight. Each lane keeps a small buffer of claimed
rows so the wire never waits for the database. Database work runs on one
thread, so claims and result batches are short transactions one after another
while the event loop keeps sending.

Embedded (``make run``) the launcher starts ``oioi-onboard worker`` as a process;
it stops cleanly on SIGTERM: in-flight requests finish, their results are
recorded, the rows it held but had not sent go back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from ..oioi import errors
from ..store.db import session_scope
from ..store.models import Cpo, Outbox, OutboxState
from .outbox import Result, claim, now, record_results, release, renew_leases

log = logging.getLogger(__name__)

RECORD_DELAY = 0.05  # seconds: ~3 answers per request in flight share one transaction
SWITCH_INTERVAL = 0.0005  # seconds

API_KEY_REJECTED = (
    "the endpoint rejected the API key (HTTP 401 / code 210): enter the current key on the CPOs page, "
    "then resume the queue"
)


@dataclass
class WorkerOptions:
    lease_seconds: float = 30.0
    timeout: float = 10.0  # per request
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    max_attempts: int = 10  # transient failures, then FAILED as a to-do
    kinds: tuple[str, ...] | None = None  # None: every kind of request
    cpo_ids: tuple[int, ...] | None = None  # None: every CPO


@dataclass
class Lane:
    cpo_id: int
    concurrency: int
    key_token: str | None  # the encrypted key: a new one means a new client
    paused: bool = False
    client: object | None = None
    buffer: deque = field(default_factory=deque)
    running: int = 0
    idle_until: float = 0.0  # no due rows at the last claim: do not ask again before this
    client_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one client per lane, not one per task


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{random.randrange(16**4):04x}"


def backoff_delay(attempts: int, *, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Exponential backoff with jitter (half to full ceiling), never below Retry-After."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def classify(row: Outbox, error: Exception, options: WorkerOptions) -> Result:
    """The outbox result of a failed send."""
    if isinstance(error, errors.InvalidApiKey) or getattr(error, "status_code", None) == 401:
        return Result(row.id, "paused", code=getattr(error, "code", 210), error=_describe(error),
                      pause_reason=API_KEY_REJECTED)
    code = getattr(error, "code", None)
    retryable = getattr(error, "retryable", isinstance(error, (OSError, asyncio.TimeoutError)))
    if not isinstance(error, errors.OioiError):
        retryable = True  # unexpected: keep the row, say what happened
    if not retryable:
        return Result(row.id, "failed", code=code, error=_describe(error))
    if row.attempts >= options.max_attempts:
        return Result(row.id, "failed", code=code,
                      error=f"gave up after {row.attempts} attempts; last: {_describe(error)}")
    delay = backoff_delay(row.attempts, base=options.backoff_base, cap=options.backoff_max,
                          retry_after=getattr(error, "retry_after", None))
    return Result(row.id, "retry", code=code, error=_describe(error), retry_at=now() + timedelta(seconds=delay))


def _describe(error: Exception) -> str:
    if isinstance(error, errors.OioiError):
        return error.message
    return f"{type(error).__name__}: {error}"


class Worker:
    def __init__(self, *, worker_id: str, db_url: str | None, options: WorkerOptions,
                 poll_interval: float, on_cycle: Callable[[], None] | None = None):
        self.worker_id = worker_id
        self.db_url = db_url
        self.options = options
        self.poll_interval = poll_interval
        self.lanes: dict[int, Lane] = {}
        self.results: list[Result] = []
        self.wake = asyncio.Event()
        self.results_ready = asyncio.Event()
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0
        self.recording = 0  # result batches being written right now
        self.on_cycle = on_cycle

    # -- database work, on the one DB thread ------------------------------------------

    async def _db(self, fn, *args):  # noqa: ANN001, ANN202
        return await asyncio.get_running_loop().run_in_executor(self.db, fn, *args)

    def _load_lanes(self) -> list[tuple[int, int, str | None, bool]]:
        with session_scope(self.db_url) as session:
            return [tuple(r) for r in session.exec(
                select(Cpo.id, Cpo.concurrency, Cpo.api_key_encrypted, Cpo.paused_reason.is_not(None))
                .where(Cpo.active == True)  # noqa: E712
            ).all() if self.options.cpo_ids is None or r[0] in self.options.cpo_ids]

    def _credentials(self, cpo_id: int) -> tuple[str, str]:
        from ..store.auth import SYSTEM
        from ..store.queries import cpo_credentials

        with session_scope(self.db_url) as session:
            endpoint, api_key, _partner = cpo_credentials(session, actor=SYSTEM, cpo_id=cpo_id)
            return endpoint, api_key

    def _claim(self, cpo_id: int, limit: int) -> list[Outbox]:
        with session_scope(self.db_url) as session:
            return claim(session, worker_id=self.worker_id, limit=limit, cpo_id=cpo_id,
                         kinds=self.options.kinds, lease_seconds=self.options.lease_seconds)

    def _record(self, results: list[Result]) -> set[int]:
        """Write a batch of results; the CPOs that had a row acknowledged."""
        with session_scope(self.db_url) as session:
            return {row.cpo_id for row in record_results(session, results) if row.state == OutboxState.ACKED}

    @staticmethod
    def _warm_up() -> None:
        """Import now what the first send needs (the outbox, imported with this module, already brought
        the store's queries, whose accounts module hashes a dummy password at import): CPU that otherwise
        lands on the first rows of the first push."""
        from ..oioi import client  # noqa: F401
        from ..store import secrets  # noqa: F401

    def _renew(self) -> None:
        with session_scope(self.db_url) as session:
            renew_leases(session, worker_id=self.worker_id, lease_seconds=self.options.lease_seconds)

    def _release(self) -> int:
        with session_scope(self.db_url) as session:
            return release(session, worker_id=self.worker_id)

    # -- lanes --------------------------------------------------------------------------

    async def refresh_lanes(self) -> None:
        seen = set()
        for cpo_id, concurrency, key_token, paused in await self._db(self._load_lanes):
            seen.add(cpo_id)
            lane = self.lanes.get(cpo_id)
            if lane is None:
                lane = self.lanes[cpo_id] = Lane(cpo_id, max(1, concurrency), key_token)
            if lane.key_token != key_token and lane.client is not None:
                await lane.client.aclose()
                lane.client = None
            lane.key_token = key_token
            lane.concurrency = max(1, concurrency)
            if lane.paused and not paused:
                lane.idle_until = 0.0  # resumed: look for rows now
            lane.paused = paused
        for cpo_id in list(self.lanes):
            if cpo_id not in seen:
                self.lanes[cpo_id].paused = True

    async def _client(self, lane: Lane):  # noqa: ANN202
        if lane.client is None:
            async with lane.client_lock:
                if lane.client is None:
                    from ..oioi.client import OioiClient

                    endpoint, api_key = await self._db(self._credentials, lane.cpo_id)
                    lane.client = OioiClient(endpoint, api_key, timeout=self.options.timeout, max_retries=0,
                                             max_connections=max(lane.concurrency, 4))
        return lane.client

    def _release_buffer(self, lane: Lane) -> None:
        while lane.buffer:
            self.results.append(Result(lane.buffer.popleft().id, "release"))
        self.results_ready.set()

    async def fill(self, lane: Lane) -> int:
        """Claim rows for a lane whose buffer runs low; how many were claimed."""
        if lane.paused:
            self._release_buffer(lane)
            return 0
        if time.monotonic() < lane.idle_until:
            return 0
        # Claim in batches of at least max(8, concurrency) rows: fewer, larger claim transactions.
        target = lane.concurrency * 2 + 16
        have = lane.running + len(lane.buffer)
        if have > target - max(8, lane.concurrency):
            return 0
        rows = await self._db(self._claim, lane.cpo_id, target - have)
        if not rows:
            lane.idle_until = time.monotonic() + self.poll_interval
        lane.buffer.extend(rows)
        return len(rows)

    def start_sends(self, lane: Lane) -> None:
        while lane.buffer and lane.running < lane.concurrency and not lane.paused:
            row = lane.buffer.popleft()
            lane.running += 1
            task = asyncio.create_task(self._send(lane, row))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, lane: Lane, row: Outbox) -> None:
        result = Result(row.id, "release")  # if anything below breaks, the row goes back unsent
        try:
            try:
                client = await self._client(lane)
            except LookupError as error:  # no API key or partner identifier yet
                result = Result(row.id, "paused", error=str(error), pause_reason=f"{error}: add it on the CPOs page")
            except Exception as error:  # noqa: BLE001 - e.g. a key that no longer decrypts
                result = Result(row.id, "paused", error=str(error), pause_reason=str(error))
            else:
                try:
                    await client.send(row.payload)
                    result = Result(row.id, "acked", code=0)
                    self.sent += 1
                except Exception as error:  # noqa: BLE001 - every failure becomes a recorded result
                    result = classify(row, error, self.options)
            if result.outcome == "paused" and not lane.paused:
                lane.paused = True
                # Rows held but not sent go back too; the pause reason says why.
                self._release_buffer(lane)
        finally:
            self.results.append(result)
            lane.running -= 1
            self.start_sends(lane)  # the next buffered row goes out now, not after the loop's next turn
            self.results_ready.set()
            self.wake.set()

    async def flush_results(self) -> None:
        while self.results:
            batch, self.results = self.results, []
            self.recording += 1
            acked_cpos: set[int] = set()
            try:
                acked_cpos = await self._db(self._record, batch)
            except Exception:  # noqa: BLE001 - keep the results, try again shortly
                log.exception("recording %d results failed; retrying", len(batch))
                self.results = batch + self.results
                await asyncio.sleep(0.5)
            finally:
                self.recording -= 1
            # An ack may have released held rows (a replacement station): look for work again.
            for cpo_id in acked_cpos:
                if cpo_id in self.lanes:
                    self.lanes[cpo_id].idle_until = 0.0
            self.wake.set()

    async def flusher(self, stop: asyncio.Event) -> None:
        while True:
            await self.results_ready.wait()
            if not stop.is_set():
                # Let a few more answers arrive so one transaction records them together; this is
                # also the longest an acknowledged request waits to be recorded.
                await asyncio.sleep(RECORD_DELAY)
            self.results_ready.clear()
            await self.flush_results()
            if stop.is_set() and not self.tasks and not self.results:
                return

    async def heartbeat(self, stop: asyncio.Event) -> None:
        interval = max(0.2, self.options.lease_seconds / 3)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                try:
                    await self._db(self._renew)
                except Exception:  # noqa: BLE001
                    log.exception("renewing leases failed")

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, once: bool) -> None:
        flusher = asyncio.create_task(self.flusher(stop))
        heartbeat = asyncio.create_task(self.heartbeat(stop))
        last_refresh = 0.0
        try:
            await self._db(self._warm_up)
            while not stop.is_set():
                if time.monotonic() - last_refresh >= min(1.0, self.poll_interval):
                    await self.refresh_lanes()
                    last_refresh = time.monotonic()
                claimed = 0
                for lane in list(self.lanes.values()):
                    self.start_sends(lane)
                    claimed += await self.fill(lane)
                    self.start_sends(lane)
                busy = (self.tasks or self.results or self.recording
                        or any(lane.buffer for lane in self.lanes.values()))
                if once and not claimed and not busy:
                    break
                if self.on_cycle is not None:
                    self.on_cycle()
                self.wake.clear()
                if not claimed:
                    try:
                        await asyncio.wait_for(self.wake.wait(), timeout=self.poll_interval)
                    except TimeoutError:
                        pass
                    if not busy:
                        for lane in self.lanes.values():
                            lane.idle_until = 0.0
        finally:
            await self.shutdown(flusher, heartbeat, stop)

    async def shutdown(self, flusher: asyncio.Task, heartbeat: asyncio.Task, stop: asyncio.Event) -> None:
        stop.set()
        if self.tasks:
            # In-flight requests finish (bounded by the client timeout) so their results are kept.
            await asyncio.wait(set(self.tasks), timeout=self.options.timeout + 5)
        self.results_ready.set()
        try:
            await asyncio.wait_for(flusher, timeout=30)
        except TimeoutError:
            flusher.cancel()
        await self.flush_results()
        heartbeat.cancel()
        released = await self._db(self._release)
        if released:
            log.info("worker %s put %d unsent rows back", self.worker_id, released)
        for lane in self.lanes.values():
            if lane.client is not None:
                await lane.client.aclose()
        self.db.shutdown(wait=True)


async def run_worker(
    *,
    worker_id: str | None = None,
    stop: asyncio.Event | None = None,
    poll_interval: float = 0.5,
    once: bool = False,
    db_url: str | None = None,
    lease_seconds: float = 30.0,
    timeout: float = 10.0,
    backoff_base: float = 1.0,
    backoff_max: float = 300.0,
    max_attempts: int = 10,
    kinds: tuple[str, ...] | None = None,
    cpo_ids: tuple[int, ...] | None = None,
    on_cycle: Callable[[], None] | None = None,
) -> int:
    """Send due outbox rows until ``stop`` is set (or, with ``once``, until nothing is due); returns rows acked."""
    stop = stop or asyncio.Event()
    options = WorkerOptions(lease_seconds=max(lease_seconds, 1.0), timeout=timeout, backoff_base=backoff_base,
                            backoff_max=backoff_max, max_attempts=max_attempts, kinds=kinds,
                            cpo_ids=cpo_ids)
    worker = Worker(worker_id=worker_id or default_worker_id(), db_url=db_url, options=options,
                    poll_interval=poll_interval, on_cycle=on_cycle)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests, Streamlit): the caller sets ``stop``
    # The DB thread holds the GIL in long stretches of Python; the event loop then waits up to the
    # switch interval (5 ms) after every socket call. A shorter interval measured ~1.3x the throughput
    # at 64 in flight, the same as doing the DB work on the loop, which would freeze it on a lock wait.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        await worker.run(stop, once)
    finally:
        sys.setswitchinterval(switch_interval)
        for sig in installed:
            loop.remove_signal_handler(sig)
    return worker.sent
