"""The push worker: claims due outbox rows, sends them, records each result.

One lane per CPO: one OioiClient (kept-alive connections, no retries of its own:
retries are scheduled in the outbox so they survive restarts) and at most
``Cpo.concurrency`` requests in flight. Each lane keeps a small buffer of claimed
rows so the wire never waits for the database. Answers are recorded within a few ms, and a
lane starts no request while half its concurrency (at least 4) of its answers wait
to be recorded: a worker killed with SIGKILL can have sent and not recorded at most
concurrency + that allowance - 1 requests per CPO (a quarter of the concurrency more through a
sending process, ``Lane.prefetch``), the most a restart sends twice (docs/operations.md). Database work runs on one
thread, so claims and result batches are short transactions one after another
while the event loop keeps sending.

Statuses have a lane of their own within the CPO's lane: they are claimed apart
from the station-posts (``claim(kinds=...)``), buffered apart, and a free slot
goes to a status first, up to ``Lane.status_share`` of the concurrency while
station-posts wait (the rest keeps the push moving). So a status is sent within
a claim or two of its arrival, however many station-posts of other stations are
queued. A status for a station the endpoint has not acknowledged yet is not in
the queue at all: it is held until the station-post is acknowledged
(``status_ingest``).

Embedded (``make run``) the launcher starts ``oioi-onboard worker`` as a process;
it stops cleanly on SIGTERM: in-flight requests finish, their results are
recorded, the rows it held but had not sent go back to the queue.

What an answer does to a lane (``classify`` and ``Worker._settle``):

- transient (transport error, timeout, 5xx, 408, 425, 429, result codes that mean
  "later"): the row is retried as the one retry policy says (``oioi.retry``: capped
  exponential backoff with full jitter, never less than ``Retry-After`` up to an
  hour), for as long as it takes; a row never fails for it. ``Retry-After`` also
  holds the whole lane back: every request would get the same answer. After
  ``unreachable_after`` transient failures in a row (429 is an answer, it does not
  count) the CPO is marked "endpoint unreachable since ...";
  the lane then sends one request at a time every ``probe_interval`` and returns
  to full speed by itself at the first answer;
- the CPO's set-up refused (401/210 API key, 211 partner identifier): the queue
  pauses with one message; 220 / 403 (not allowed) pause it too unless this lane
  already saw an answer that proves the set-up works, in which case the refusal
  is the request's own (a station id another partner holds) and the row fails;
- 181 for a status whose station was acknowledged less than ``status_grace``
  ago: retried (the platform may publish new stations by hand); after that the
  status is rejected with the reason;
- any other refusal fails the row: a to-do for the user.
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
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select

from ..oioi import codes, errors
from ..oioi.retry import RETRY_AFTER_MAX, WORKER_BACKOFF_BASE, WORKER_BACKOFF_MAX, backoff_delay
from ..oioi.sender import SendingProcess
from ..oioi.vocabulary import CONNECTOR_POST_STATUS
from ..store.auth import SYSTEM
from ..store.db import checkpoints_aside, session_scope
from ..store.models import Cpo, OutboxState, utcnow
from . import queue_control
from .outbox import Claimed, Outcome, Recorded, claim, finish_open_runs, record_results, release, renew_leases

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds: answers arriving this close together share one transaction. A batch's statements and commit cost
# about 0.7 ms whatever its size, each answer in it about 0.04 ms: at 1,000 answers/s, 5 ms made batches of 5.
RECORD_DELAY = 0.015
RUN_CHECK_INTERVAL = 1.0  # seconds: while this worker has requests out, whether a run has ended is asked this often
SWITCH_INTERVAL = 0.0005  # seconds
PROBE_INTERVAL = 30.0  # seconds between probes of an unreachable endpoint (at most backoff_max)
SETUP_REFUSALS = 3  # 220/403 in a row, with no answer proving the set-up works, pause the queue
LONG_HOLD = 5.0  # seconds: a lane held back longer gives the rows it claimed back to the queue
STATUS_CLAIM_GAP = 0.05  # seconds between two claims of statuses for a lane while they keep coming, at least
# ...and at most about this share of the database thread spent claiming statuses: on a busy database a
# claim takes longer, and claiming as often as on an idle one would starve recording and the push.
STATUS_CLAIM_SHARE = 0.3
STATUS_KINDS = (CONNECTOR_POST_STATUS,)

@dataclass
class WorkerOptions:
    lease_seconds: float = 30.0
    timeout: float = 10.0  # per request
    backoff_base: float = WORKER_BACKOFF_BASE
    backoff_max: float = WORKER_BACKOFF_MAX  # a Retry-After may ask for more (up to RETRY_AFTER_MAX) and is honoured
    unreachable_after: int = 10  # transient failures in a row, then the endpoint counts as unreachable
    probe_interval: float | None = None  # None: PROBE_INTERVAL, at most backoff_max
    status_grace: float = 600.0  # seconds after a station's ack during which a 181 for its status is retried
    kinds: tuple[str, ...] | None = None  # None: every kind of request
    cpo_ids: tuple[int, ...] | None = None  # None: every CPO

    @property
    def probe_every(self) -> float:
        return self.probe_interval if self.probe_interval is not None else min(PROBE_INTERVAL, self.backoff_max)


@dataclass
class Lane:
    cpo_id: int
    concurrency: int
    key_token: str | None  # the endpoint and encrypted key: a new one means a new client
    paused: bool = False
    # Paused here by an answer whose result is not recorded yet: until it is, the database still says
    # "not paused", which a lane refresh must not read as a resume (another wave into the same refusal).
    pause_unrecorded: bool = False
    client: object | None = None
    buffer: deque = field(default_factory=deque)  # claimed rows other than statuses
    running: int = 0  # requests in flight, statuses included
    idle_until: float = 0.0  # no due rows at the last claim: do not ask again before this
    statuses: deque = field(default_factory=deque)  # claimed statuses: they go out before ``buffer``
    status_running: int = 0
    status_idle_until: float = 0.0  # the next claim of statuses not before this
    statuses_coming: bool = False  # the last claim of statuses found some
    client_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one client per lane, not one per task
    hold_until: float = 0.0  # Retry-After or throttling: no request starts before this (monotonic)
    throttled: int = 0  # 429 without Retry-After in a row: the lane's own backoff
    failures: int = 0  # transient failures in a row
    failing_since: datetime | None = None
    unreachable: bool = False  # one probe at a time, every probe_interval
    next_probe_at: float = 0.0
    setup_ok: bool = False  # an answer since the last start or resume proved the API key and partner work
    setup_refusals: int = 0  # 220/403 in a row before such an answer
    unrecorded: int = 0  # answers not yet recorded in the database
    pool: int | None = None  # connections of the client's pool when a sending process holds it, else None

    @property
    def allowance(self) -> int:
        """Answers that may wait to be recorded while the lane starts more requests."""
        return max(4, self.concurrency // 2)

    @property
    def prefetch(self) -> int:
        """Requests handed to a sending process beyond the concurrency: they wait there for one of its
        ``concurrency`` connections, and one that comes free takes the next at once, without a round trip through
        this process. A kill -9 may then resend them too (docs/operations.md)."""
        return self.concurrency // 4 if self.pool == self.concurrency else 0

    @property
    def status_share(self) -> int:
        """Slots statuses may take while station-posts wait (all of them when none wait)."""
        return max(1, self.concurrency * 3 // 4)

    @property
    def room(self) -> int:
        """Requests this lane may start now: sent and not recorded stay under concurrency + allowance."""
        if self.paused or time.monotonic() < self.hold_until or self.unrecorded >= self.allowance:
            return 0
        if self.unreachable:
            return 1 - self.running if time.monotonic() >= self.next_probe_at else 0
        return min(self.concurrency + self.prefetch - self.running, self.allowance - self.unrecorded)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{random.randrange(16**4):04x}"


def is_transient(error: Exception) -> bool:
    """Whether the same request may pass later: no usable answer, or an answer that says "later"."""
    if not isinstance(error, errors.OioiError):
        return True  # unexpected: keep the row, say what happened
    return bool(error.retryable)


def classify(row: Claimed, error: Exception, options: WorkerOptions) -> Outcome:
    """The outbox result of a failed send, from the answer alone (``Worker._settle`` adds what the lane saw)."""
    code = getattr(error, "code", None)
    if isinstance(error, errors.InvalidApiKey) or getattr(error, "status_code", None) == 401:
        return Outcome(row.id, "paused", code=code or codes.INVALID_API_KEY, error=_describe(error),
                       pause_reason=queue_control.API_KEY_REJECTED)
    if isinstance(error, errors.InvalidPartnerIdentifier):
        return Outcome(row.id, "paused", code=code, error=_describe(error),
                       pause_reason=queue_control.PARTNER_REJECTED.format(partner=_partner_of(row)))
    if is_transient(error):
        delay = backoff_delay(row.attempts, base=options.backoff_base, cap=options.backoff_max,
                              retry_after=getattr(error, "retry_after", None))
        return Outcome(row.id, "retry", code=code, error=_describe(error), retry_at=utcnow() + timedelta(seconds=delay))
    if isinstance(error, errors.EvseNotFound) and row.kind == CONNECTOR_POST_STATUS and options.status_grace > 0:
        # Fails unless its station was acknowledged moments ago (the outbox checks, in the same transaction).
        delay = backoff_delay(row.attempts, base=options.backoff_base, cap=min(options.backoff_max, 60.0))
        return Outcome(row.id, "failed", code=code, error=_describe(error),
                       retry_at=utcnow() + timedelta(seconds=delay), grace=timedelta(seconds=options.status_grace))
    return Outcome(row.id, "failed", code=code, error=_describe(error))


def _partner_of(row: Claimed) -> str:
    payload = row.payload if isinstance(row.payload, dict) else {}
    body = next(iter(payload.values()), None) if payload else None
    partner = body.get("partner-identifier") if isinstance(body, dict) else None
    return repr(partner) if partner else "used"


def _describe(error: Exception) -> str:
    if isinstance(error, errors.OioiError):
        return error.message
    return f"{type(error).__name__}: {error}"


class Worker:
    def __init__(self, *, worker_id: str, db_url: str | None, options: WorkerOptions,
                 poll_interval: float, on_cycle: Callable[[], None] | None = None,
                 on_recorded: Callable[[list[Recorded]], None] | None = None,
                 sending_process: bool | SendingProcess = False):
        self.worker_id = worker_id
        self.db_url = db_url
        self.options = options
        self.poll_interval = poll_interval
        self.lanes: dict[int, Lane] = {}
        self.results: list[Outcome] = []
        # CPO-wide marks (endpoint unreachable / answering again / set-up proven), written with the next result batch.
        self.marks: list[tuple[int, str, datetime | None, str]] = []
        self.wake = asyncio.Event()
        self.results_ready = asyncio.Event()
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0
        self.recording = 0  # result batches being written right now
        self.pausing: dict[int, Lane] = {}  # outbox row id -> the lane its unrecorded "paused" result paused
        self.status_claim_seconds = 0.0  # a claim of statuses lately takes this long (moving average)
        self.answered: dict[int, Lane] = {}  # outbox row id -> the lane whose unrecorded answer it is
        self.open_runs: set[int] = set()  # runs whose rows this worker recorded since it last asked if they ended
        self.runs_checked_at = 0.0
        self.on_cycle = on_cycle
        self.on_recorded = on_recorded  # told each batch of results once it is written (a push's progress)
        # The HTTP in a process of its own (oioi.sender), this one claiming and recording: a big push's pace.
        self.sending: SendingProcess | None = (
            sending_process if isinstance(sending_process, SendingProcess)
            else SendingProcess() if sending_process else None)

    # -- database work, on the one DB thread ------------------------------------------

    async def _db(self, fn, *args):  # noqa: ANN001, ANN202
        return await asyncio.get_running_loop().run_in_executor(self.db, fn, *args)

    def _load_lanes(self) -> list[tuple[int, int, str | None, bool, bool]]:
        """(CPO id, concurrency, endpoint + key token, paused, marked unreachable) of every CPO to send for.

        A queue paused for a set-up that has changed since is resumed here: the fix is the resume.
        """
        with session_scope(self.db_url) as session:
            rows = [r for r in session.exec(
                select(Cpo.id, Cpo.concurrency, Cpo.endpoint, Cpo.api_key_encrypted, Cpo.paused_reason,
                       Cpo.paused_setup, Cpo.unreachable_since)
                .where(Cpo.active == True)  # noqa: E712
            ).all() if self.options.cpo_ids is None or r[0] in self.options.cpo_ids]
            lanes = []
            for cpo_id, concurrency, endpoint, key, paused, paused_setup, unreachable in rows:
                if paused is not None and paused_setup is not None and queue_control.resume_if_setup_changed(
                        session, actor=SYSTEM, cpo_id=cpo_id):
                    log.info("CPO %s: the set-up changed, the paused queue resumes", cpo_id)
                    paused = None
                lanes.append((cpo_id, concurrency, f"{endpoint}\n{key}", paused is not None, unreachable is not None))
            return lanes

    def _credentials(self, cpo_id: int) -> tuple[str, str]:
        from ..store.queries import cpo_credentials

        with session_scope(self.db_url) as session:
            endpoint, api_key, _partner = cpo_credentials(session, actor=SYSTEM, cpo_id=cpo_id)
            return endpoint, api_key

    def _claim(self, cpo_id: int, limit: int, any_time: bool = False, lane: str = "") -> list[Claimed]:
        """Claim rows of a CPO: of any kind (``lane`` ""), only statuses ("statuses") or all but statuses ("posts")."""
        kinds = self.options.kinds
        if lane == "statuses":
            kinds = tuple(k for k in kinds or STATUS_KINDS if k in STATUS_KINDS)
            if not kinds:
                return []
        started = time.monotonic()
        with session_scope(self.db_url) as session:
            rows = claim(session, worker_id=self.worker_id, limit=limit, cpo_id=cpo_id, kinds=kinds,
                         lease_seconds=self.options.lease_seconds, any_time=any_time,
                         other_than=STATUS_KINDS if lane == "posts" else ())
        if lane == "statuses":
            self.status_claim_seconds += 0.3 * (time.monotonic() - started - self.status_claim_seconds)
        return rows

    def _record(self, results: list[Outcome], marks: list[tuple[int, str, datetime | None, str]],
                finish_runs: bool) -> list[Recorded]:
        """Write a batch of results (and CPO marks); the rows changed. ``finish_runs``: also mark finished the
        runs recorded into since the last time that have no open row left."""
        with session_scope(self.db_url) as session:
            recorded = record_results(session, results, finish_runs=False)
            runs = self.open_runs | {row.run_id for row in recorded if row.run_id is not None}
            if finish_runs:
                finish_open_runs(session, runs)
            for cpo_id, mark, since, reason in marks:
                if mark == "unreachable":
                    queue_control.mark_unreachable(session, cpo_id=cpo_id, since=since or utcnow(), reason=reason)
                elif mark == "proven":
                    from ..store.connection import record_setup_proven

                    record_setup_proven(session, cpo_id=cpo_id)
                else:
                    queue_control.mark_reachable(session, cpo_id=cpo_id)
        self.open_runs = set() if finish_runs else runs
        return recorded

    def _warm_up(self) -> None:
        """Import now what the first send needs (the outbox, imported with this module, already brought
        the store's queries, whose accounts module hashes a dummy password at import): CPU that otherwise
        lands on the first rows of the first push. Not the HTTP client when a sending process has its own:
        importing it here held the first request of a national push back by 0.3 s."""
        from ..store import secrets  # noqa: F401

        if self.sending is None:
            from ..oioi import client  # noqa: F401

    def _renew(self) -> None:
        with session_scope(self.db_url) as session:
            renew_leases(session, worker_id=self.worker_id, lease_seconds=self.options.lease_seconds)

    def _release(self) -> int:
        with session_scope(self.db_url) as session:
            return release(session, worker_id=self.worker_id)

    # -- lanes --------------------------------------------------------------------------

    async def refresh_lanes(self) -> None:
        seen = set()
        for cpo_id, concurrency, key_token, paused, unreachable in await self._db(self._load_lanes):
            seen.add(cpo_id)
            concurrency = max(1, concurrency)
            lane = self.lanes.get(cpo_id)
            if lane is None:
                lane = self.lanes[cpo_id] = Lane(cpo_id, concurrency, key_token)
            if lane.key_token != key_token:
                if lane.client is not None:
                    await lane.client.aclose()
                    lane.client, lane.pool = None, None
                lane.setup_ok, lane.setup_refusals = False, 0  # a new key or endpoint proves nothing yet
            lane.key_token = key_token
            lane.concurrency = concurrency
            resumed = lane.paused and not paused
            if not (resumed and lane.pause_unrecorded):  # else our own pause is on its way to the database
                if resumed:
                    lane.idle_until = lane.status_idle_until = 0.0  # resumed: look for rows now
                    lane.setup_ok, lane.setup_refusals = False, 0
                lane.paused = paused
            if unreachable and not lane.unreachable:
                # Marked by another worker, or by this CPO's last run: probe first rather than send everything.
                lane.unreachable, lane.next_probe_at = True, 0.0
        for cpo_id in list(self.lanes):
            if cpo_id not in seen:
                self.lanes[cpo_id].paused = True

    async def _client(self, lane: Lane):  # noqa: ANN202
        if lane.client is None:
            async with lane.client_lock:
                if lane.client is None:
                    endpoint, api_key = await self._db(self._credentials, lane.cpo_id)
                    settings = {"timeout": self.options.timeout, "max_retries": 0,
                                "max_connections": max(lane.concurrency, 4)}
                    if self.sending is not None:
                        lane.client = self.sending.client(endpoint, api_key, **settings)
                        lane.pool = settings["max_connections"]
                    else:
                        from ..oioi.client import OioiClient

                        lane.client = OioiClient(endpoint, api_key, **settings)
        return lane.client

    def _release_buffer(self, lane: Lane) -> None:
        for buffer in (lane.statuses, lane.buffer):
            while buffer:
                self.results.append(Outcome(buffer.popleft().id, "release"))
        self.results_ready.set()

    @staticmethod
    def _buffer(lane: Lane, rows: list[Claimed]) -> None:
        for row in rows:
            (lane.statuses if row.kind in STATUS_KINDS else lane.buffer).append(row)

    async def fill(self, lane: Lane) -> int:
        """Claim rows for a lane whose buffer runs low; how many were claimed."""
        if lane.paused:
            self._release_buffer(lane)
            return 0
        if lane.unreachable:
            # One probe at a time: whichever row is oldest, due or not, tells whether the endpoint answers.
            if lane.running or lane.buffer or lane.statuses or time.monotonic() < lane.next_probe_at:
                return 0
            rows = await self._db(self._claim, lane.cpo_id, 1, True)
            self._buffer(lane, rows)
            if not rows:
                lane.next_probe_at = time.monotonic() + self.options.probe_every
            return len(rows)
        if time.monotonic() < lane.hold_until:
            return 0
        return await self._fill_statuses(lane) + await self._fill_posts(lane)

    async def _fill_statuses(self, lane: Lane) -> int:
        """Claim the lane's due statuses, apart from its station-posts, a few times a second while they come."""
        # As many as the posts may hold: a claim every gap (longer on a busy database) must keep up with
        # hundreds of statuses a second.
        target = lane.concurrency * 2 + 16
        if time.monotonic() < lane.status_idle_until or lane.status_running + len(lane.statuses) > target - 8:
            return 0
        rows = await self._db(self._claim, lane.cpo_id, target - lane.status_running - len(lane.statuses), False,
                              "statuses")
        lane.statuses_coming = bool(rows)
        lane.statuses.extend(rows)
        if not rows:
            lane.status_idle_until = time.monotonic() + self.poll_interval
            return 0
        lane.status_idle_until = time.monotonic() + self._status_gap()
        return len(rows)

    def _status_gap(self) -> float:
        """Seconds between two claims of a lane's statuses while they keep coming."""
        coming = sum(1 for lane in self.lanes.values() if lane.statuses_coming) or 1
        return max(STATUS_CLAIM_GAP, self.status_claim_seconds * coming / STATUS_CLAIM_SHARE)

    async def _fill_posts(self, lane: Lane) -> int:
        if time.monotonic() < lane.idle_until:
            return 0
        # Claim in batches of at least max(8, concurrency) rows: fewer, larger claim transactions.
        target = lane.concurrency * 2 + 16
        have = lane.running - lane.status_running + len(lane.buffer)
        if have > target - max(8, lane.concurrency):
            return 0
        rows = await self._db(self._claim, lane.cpo_id, target - have, False, "posts")
        if not rows:
            lane.idle_until = time.monotonic() + self.poll_interval
        lane.buffer.extend(rows)
        return len(rows)

    def start_sends(self, lane: Lane) -> None:
        room = lane.room
        while room > 0:
            # A status first, unless statuses already hold their share of the slots and station-posts wait.
            if lane.statuses and (lane.status_running < lane.status_share or not lane.buffer):
                row = lane.statuses.popleft()
                lane.status_running += 1
            elif lane.buffer:
                row = lane.buffer.popleft()
            else:
                break
            lane.running += 1
            room -= 1
            task = asyncio.create_task(self._send(lane, row))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, lane: Lane, row: Claimed) -> None:
        result = Outcome(row.id, "release")  # if anything below breaks, the row goes back unsent
        try:
            try:
                client = await self._client(lane)
            except LookupError as error:  # no API key or partner identifier yet
                result = Outcome(row.id, "paused", error=str(error), pause_reason=f"{error}: add it on the CPOs page")
            except Exception as error:  # noqa: BLE001 - e.g. a key that no longer decrypts
                result = Outcome(row.id, "paused", error=str(error), pause_reason=str(error))
            else:
                if lane.unreachable:
                    lane.next_probe_at = time.monotonic() + self.options.probe_every
                try:
                    await client.send_json(row.body, row.kind)
                    result = Outcome(row.id, "acked", code=0)
                    self.sent += 1
                    self._answered(lane)
                except Exception as error:  # noqa: BLE001 - every failure becomes a recorded result
                    result = self._settle(lane, row, error)
            if result.outcome == "paused" and not lane.paused:
                lane.paused = lane.pause_unrecorded = True
                self.pausing[result.outbox_id] = lane
                # Rows held but not sent go back too; the pause reason says why.
                self._release_buffer(lane)
        finally:
            # Unrecorded answers count against the lane's allowance until ``flush_results`` writes them:
            # an answer lost with the process is one a restart sends again, and they stay few.
            self.results.append(result)
            self.answered[result.outbox_id] = lane
            lane.unrecorded += 1
            lane.running -= 1
            if row.kind in STATUS_KINDS:
                lane.status_running -= 1
            self.start_sends(lane)  # the next buffered row goes out now, not after the loop's next turn
            self.results_ready.set()
            self.wake.set()

    # -- what an answer tells about the lane ------------------------------------------------

    def _settle(self, lane: Lane, row: Claimed, error: Exception) -> Outcome:
        """The result of a failed send, and what it says about the endpoint and the CPO's set-up."""
        result = classify(row, error, self.options)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and result.outcome == "retry":
            self._hold(lane, min(retry_after, RETRY_AFTER_MAX))
        if isinstance(error, errors.Throttled):
            # An answer (the endpoint is there), but every request would get the same one for a while.
            self._answered(lane, proves_setup=False)
            lane.throttled += 1
            if retry_after is None:
                self._hold(lane, backoff_delay(lane.throttled, base=self.options.backoff_base,
                                               cap=self.options.backoff_max))
            return result
        if result.outcome == "retry":
            self._failed_transiently(lane, error, retry_after)
            return result
        if result.outcome == "paused":
            self._answered(lane, proves_setup=False)
            return result
        if getattr(error, "setup_problem", False):  # 220 / 403 not allowed
            self._answered(lane, proves_setup=False)
            if lane.setup_ok:
                return result  # others pass with this set-up: the refusal is this request's own
            lane.setup_refusals += 1
            what = f"code {error.code}" if getattr(error, "code", None) else f"HTTP {error.status_code}"
            if lane.setup_refusals >= SETUP_REFUSALS:
                return Outcome(row.id, "paused", code=result.code, error=result.error,
                               pause_reason=queue_control.NOT_ALLOWED.format(what=what))
            # Not sure yet whether the set-up or this request is refused: ask again soon.
            delay = backoff_delay(1, base=self.options.backoff_base, cap=self.options.backoff_max)
            return Outcome(row.id, "retry", code=result.code, error=result.error,
                           retry_at=utcnow() + timedelta(seconds=delay))
        self._answered(lane)  # a refusal of the request itself: the endpoint and the set-up work
        return result

    def _hold(self, lane: Lane, seconds: float) -> None:
        until = time.monotonic() + seconds
        if until > lane.hold_until:
            lane.hold_until = until
            if seconds > LONG_HOLD:
                self._release_buffer(lane)  # not held by this worker for that long

    def _answered(self, lane: Lane, *, proves_setup: bool = True) -> None:
        """The endpoint answered: no longer failing, and (unless told otherwise) the set-up works."""
        if proves_setup:
            if not lane.setup_ok:  # where no connection test ran, this answer proves the set-up as one would
                self.marks.append((lane.cpo_id, "proven", None, ""))
            lane.setup_ok, lane.setup_refusals = True, 0
            lane.throttled = 0
        lane.failures, lane.failing_since = 0, None
        if lane.unreachable:
            lane.unreachable = False
            lane.idle_until = lane.status_idle_until = 0.0
            self.marks.append((lane.cpo_id, "reachable", None, ""))
            log.info("CPO %s: the endpoint answers again; sending resumes", lane.cpo_id)

    def _failed_transiently(self, lane: Lane, error: Exception, retry_after: float | None) -> None:
        lane.failures += 1
        lane.failing_since = lane.failing_since or utcnow()
        if lane.unreachable:
            lane.next_probe_at = max(lane.next_probe_at,
                                     time.monotonic() + max(self.options.probe_every,
                                                            min(retry_after or 0.0, RETRY_AFTER_MAX)))
        elif lane.failures >= self.options.unreachable_after:
            lane.unreachable = True
            lane.next_probe_at = time.monotonic() + max(self.options.probe_every,
                                                        min(retry_after or 0.0, RETRY_AFTER_MAX))
            self._release_buffer(lane)
            log.warning("CPO %s: %d transient failures in a row since %s; probing every %g s (last: %s)",
                        lane.cpo_id, lane.failures, lane.failing_since, self.options.probe_every, _describe(error))
        if lane.unreachable:
            self.marks.append((lane.cpo_id, "unreachable", lane.failing_since, _describe(error)))

    async def flush_results(self) -> None:
        while self.results or self.marks:
            batch, self.results = self.results, []
            marks, self.marks = self.marks, []
            self.recording += 1
            acked_cpos: set[int] = set()
            try:
                recorded = await self._db(self._record, batch, marks, self._check_runs())
                acked_cpos = {row.cpo_id for row in recorded if row.state == OutboxState.ACKED}
                if self.on_recorded is not None:
                    try:
                        self.on_recorded(recorded)
                    except Exception:  # noqa: BLE001 - the batch is written: a listener's fault must not redo it
                        log.exception("the listener of recorded results failed")
                freed: dict[int, Lane] = {}
                for result in batch:  # the database now says "paused" itself
                    if (lane := self.pausing.pop(result.outbox_id, None)) is not None:
                        lane.pause_unrecorded = False
                    if (lane := self.answered.pop(result.outbox_id, None)) is not None:
                        lane.unrecorded -= 1
                        freed[lane.cpo_id] = lane
                for lane in freed.values():
                    self.start_sends(lane)  # a lane held back by its allowance sends again now
            except Exception:  # noqa: BLE001 - keep the results, try again shortly
                log.exception("recording %d results failed; retrying", len(batch))
                self.results = batch + self.results
                self.marks = marks + self.marks
                await asyncio.sleep(0.5)
            finally:
                self.recording -= 1
            # An ack may have released held rows (a replacement station, statuses): look for work again.
            for cpo_id in acked_cpos:
                if (lane := self.lanes.get(cpo_id)) is not None:
                    lane.idle_until = 0.0
                    lane.status_idle_until = min(lane.status_idle_until, time.monotonic() + self._status_gap())
            self.wake.set()

    async def flusher(self, stop: asyncio.Event) -> None:
        while True:
            await self.results_ready.wait()
            if not stop.is_set() and not self._record_now():
                # Let answers arriving close together share one transaction; briefly, since unrecorded
                # answers hold their lane back once there are as many as its allowance.
                await asyncio.sleep(RECORD_DELAY)
            self.results_ready.clear()
            await self.flush_results()
            if stop.is_set() and not self.tasks and not self.results and not self.marks:
                return

    def _check_runs(self) -> bool:
        """Whether to ask now if runs ended: when nothing else is out (the last answers of a run come then), else
        once a second (a run's end beside a busy lane; the loop asks too when no batch did). Asked at every batch,
        it cost ~0.12 ms each."""
        if any(lane.running or lane.buffer or lane.statuses for lane in self.lanes.values()):
            if time.monotonic() - self.runs_checked_at < RUN_CHECK_INTERVAL:
                return False
        self.runs_checked_at = time.monotonic()
        return True

    def _record_now(self) -> bool:
        """Whether to record the answers at once: nothing is on the wire, or a lane used half its allowance."""
        lanes = self.lanes.values()
        return (not any(lane.running for lane in lanes)
                or any(2 * lane.unrecorded >= lane.allowance for lane in lanes))

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
                if self.open_runs and self._check_runs():  # no batch asked lately: a run may have ended
                    await self._db(self._record, [], [], True)
                busy = (self.tasks or self.results or self.recording
                        or any(lane.buffer or lane.statuses for lane in self.lanes.values()))
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
                            lane.idle_until = lane.status_idle_until = 0.0
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
        if self.sending is not None:
            await self.sending.aclose()
        self.db.shutdown(wait=True)


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the worker's (or the push's) event loop: uvloop where it is installed, else asyncio's.

    uvloop's socket and timer handling in C takes a little off the client CPU of every request
    (~0.03 of 0.3 ms at 64 in flight), which on a small machine the sandbox or the database use.
    """
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    return uvloop.run(main)


async def run_worker(
    *,
    worker_id: str | None = None,
    stop: asyncio.Event | None = None,
    poll_interval: float = 0.5,
    once: bool = False,
    db_url: str | None = None,
    lease_seconds: float = 30.0,
    timeout: float = 10.0,
    backoff_base: float = WORKER_BACKOFF_BASE,
    backoff_max: float = WORKER_BACKOFF_MAX,
    unreachable_after: int = 10,
    probe_interval: float | None = None,
    status_grace: float = 600.0,
    kinds: tuple[str, ...] | None = None,
    cpo_ids: tuple[int, ...] | None = None,
    on_cycle: Callable[[], None] | None = None,
    on_signal: Callable[[int], None] | None = None,
    on_recorded: Callable[[list[Recorded]], None] | None = None,
    sending_process: bool | SendingProcess = False,
) -> int:
    """Send due outbox rows until ``stop`` is set (or, with ``once``, until nothing is due); returns rows acked.

    ``sending_process``: the HTTP in a second process (``oioi.sender``), for a big push on a small machine
    (True, or one already spawned).

    In the main thread SIGTERM and SIGINT stop it gracefully (in-flight requests finish and are
    recorded, held rows go back to the queue); ``on_signal(signum)`` is told which signal it was.
    """
    stop = stop or asyncio.Event()
    if backoff_base <= 0 or backoff_max <= 0:
        raise ValueError("backoff_base and backoff_max must be more than 0 seconds")
    options = WorkerOptions(lease_seconds=max(lease_seconds, 1.0), timeout=timeout, backoff_base=backoff_base,
                            backoff_max=max(backoff_max, backoff_base), unreachable_after=max(1, unreachable_after),
                            probe_interval=probe_interval, status_grace=max(0.0, status_grace), kinds=kinds,
                            cpo_ids=cpo_ids)
    worker = Worker(worker_id=worker_id or default_worker_id(), db_url=db_url, options=options,
                    poll_interval=poll_interval, on_cycle=on_cycle, on_recorded=on_recorded,
                    sending_process=sending_process)
    if worker.sending is not None:
        try:
            await worker.sending.start()
        except OSError as error:  # no second process to be had: this one sends, as it always could
            log.warning("sending from this process: the sending process did not start (%s)", error)
            worker.sending = None
    loop = asyncio.get_running_loop()

    def stopped_by(signum: int) -> None:
        if on_signal is not None:
            on_signal(signum)
        stop.set()

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stopped_by, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests, Streamlit): the caller sets ``stop``
    # The DB thread holds the GIL in long stretches of Python; the event loop then waits up to the
    # switch interval (5 ms) after every socket call. A shorter interval measured ~1.3x the throughput
    # at 64 in flight, the same as doing the DB work on the loop, which would freeze it on a lock wait.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with checkpoints_aside(db_url):  # the DB thread's commits never stop to copy SQLite's log
            await worker.run(stop, once)
    finally:
        sys.setswitchinterval(switch_interval)
        for sig in installed:
            loop.remove_signal_handler(sig)
    return worker.sent
