"""The status ingest API a CPO's back end posts to; ``oioi-onboard relay`` serves it.

    POST /v1/statuses
    Authorization: Bearer <ingest token>
    [{"evse_id": "DE*8PS*E123456", "status": "Available", "timestamp": "2024-05-01T12:00:00Z"}, ...]

Answers 200 when every item was accepted, 207 when some were not, both with
``{"accepted": n, "rejected": n, "results": [{"index", "evse_id", "ok", "error", "delivery"}]}``: every
item is judged on its own (an unknown EVSE id, a status or timestamp that cannot be read) and the rest is
recorded. Refused as a whole, with ``{"error": ...}``:

- 401 without a valid token, before the body is read;
- 413 for more than MAX_ITEMS items or MAX_BYTES bytes (counted as they arrive, chunked or not);
- 408 for a body slower than ``request_body.MIN_BYTES_PER_SECOND`` or not whole within ``BODY_SECONDS``;
- 400 when the body is not a JSON list, or nests deeper than ``request_body.MAX_DEPTH``;
- 503 with Retry-After when the database cannot record right now; 500 for anything unexpected.
  Both come with a ``request_id``, the one the log's single line about it names; no request makes the
  relay log a traceback.

``GET /health`` says whether the database answers.

Tokens are checked before a body is read, against a cache that remembers a token for
``tokens.TOKEN_CACHE_SECONDS`` (5 s). A revoked token therefore has its body read for at most that long,
and is refused at once all the same: the recording transaction checks every token again.

The relay only records: the token selects the CPO, ``record_statuses`` writes the status log and the outbox,
and the worker process sends. Database work runs on one thread of its own so the event loop keeps accepting;
requests that arrive meanwhile are recorded together in one transaction, with one ``record_statuses`` call
per CPO (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .request_body import BODY_SECONDS, MIN_BYTES_PER_SECOND, BodyRefused, parse_json, read_body

log = logging.getLogger(__name__)

STATUSES_PATH = "/v1/statuses"
MAX_ITEMS = 5000
MAX_BYTES = 2_000_000  # 5,000 items of ~150 bytes with room to spare

_UNAUTHORISED = ("send the header 'Authorization: Bearer <ingest token>' with a valid token; tokens are created "
                 "on the CPOs page or with 'oioi-onboard cpo token NAME'")


def answer(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # ASCII JSON: echoed client text (a lone surrogate from a JSON escape) can always be encoded.
    return Response(json.dumps(content, separators=(",", ":")), status_code, headers, "application/json")


def _error(status_code: int, message: str, headers: dict[str, str] | None = None, *, close: bool = False,
           request_id: str | None = None) -> Response:
    content: dict[str, Any] = {"error": message}
    headers = dict(headers or {})
    if close:
        headers["Connection"] = "close"  # the client may still be sending a body nobody will read
    if request_id:
        content["request_id"] = headers["X-Request-ID"] = request_id
    return answer(content, status_code, headers)


def _unauthorised(*, close: bool) -> Response:
    return _error(401, _UNAUTHORISED, {"WWW-Authenticate": 'Bearer realm="oioi-relay"'}, close=close)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _new_request_id() -> str:
    return secrets.token_hex(6)


def _describe(error: BaseException) -> str:
    """One line about an unexpected error: its type, message and where it was raised (no traceback)."""
    where = error.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    place = f" at {where.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{where.tb_lineno}" if where else ""
    return f"{type(error).__name__}: {str(error)[:300]!s}{place}"


def _is_transient(error: BaseException) -> bool:
    """A database that is busy, locked, unreachable or full: worth a retry, unlike a bug."""
    from sqlalchemy.exc import InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from ..store.db import DatabaseFull

    return isinstance(error, OperationalError | InterfaceError | PoolTimeout | DatabaseFull)


class OneLineErrors:
    """The outermost layer: an error that escapes a route is one log line with a request id and a 500 answer
    carrying that id; a client that hung up is one line too. Never a traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.info("%s %s: the client hung up", scope.get("method"), scope.get("path"))
        except Exception as error:  # noqa: BLE001 - the point of this layer
            request_id = _new_request_id()
            log.error("request %s (%s %s) failed: %s", request_id, scope.get("method"), scope.get("path"),
                      _describe(error))
            with contextlib.suppress(Exception):  # the answer may have begun already
                await _error(500, "an unexpected error; the relay's log says more under this request id",
                             close=True, request_id=request_id)(scope, receive, send)


@dataclass
class _Posted:
    """One request waiting for the database thread."""

    token: str = field(repr=False)  # a secret: never in a repr or a log line
    items: list[Any]
    answer: asyncio.Future = field(repr=False)


def create_app(*, db_url: str | None = None, max_items: int = MAX_ITEMS, batch_items: int = 5_000,
               body_seconds: float = BODY_SECONDS,
               min_bytes_per_second: float = MIN_BYTES_PER_SECOND) -> Starlette:
    """The relay as an ASGI app, writing to ``db_url`` (default: the configured database)."""
    from sqlalchemy import text

    from ..ocpi.receiver import ocpi_routes
    from ..store.db import migrate, session_scope
    from . import status_ingest
    from .tokens import TokenCache, cpo_for_token_sha256, token_actor

    # One database thread; requests that arrive while it works are recorded together in its next
    # transaction (group commit): one write lock and one commit for many requests. ``batch_items``
    # caps a transaction, so the worker never waits long for the write lock.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")
    queue: deque[_Posted] = deque()
    arrived = asyncio.Event()

    def known_token(digest: str) -> int | None:
        with session_scope(db_url) as session:
            return cpo_for_token_sha256(session, digest)

    token_cache = TokenCache(known_token, pool)

    def record(session, batch: list[_Posted]) -> list[Any]:  # noqa: ANN001
        """Per request: (CPO id, results), or (None, []) for a token that is no longer valid."""
        # Tokens again, in this transaction: one revoked a moment ago is refused. Then one call per CPO.
        actors = {token: token_actor(session, token) for token in dict.fromkeys(p.token for p in batch)}
        by_cpo: dict[int, list[int]] = {}
        outcomes: list[Any] = [(None, [])] * len(batch)
        for n, posted in enumerate(batch):
            actor = actors[posted.token]
            if actor is not None:
                by_cpo.setdefault(next(iter(actor.cpo_ids)), []).append(n)
        for cpo_id, members in by_cpo.items():
            items = [item for n in members for item in batch[n].items]
            results = status_ingest.record_statuses(session, actor=actors[batch[members[0]].token], cpo_id=cpo_id,
                                                    items=items, source="api") if items else []
            start = 0
            for n in members:
                mine = results[start:start + len(batch[n].items)]
                outcomes[n] = (cpo_id, [{**r.to_json(), "index": r.index - start} for r in mine])
                start += len(batch[n].items)
        return outcomes

    def ingest(batch: list[_Posted]) -> list[Any]:
        try:
            with session_scope(db_url) as session:
                return record(session, batch)
        except Exception as error:  # noqa: BLE001 - one bad request must not fail the others: each on its own
            if len(batch) == 1:
                return [error]
        outcomes: list[Any] = []
        for posted in batch:
            try:
                with session_scope(db_url) as session:
                    outcomes.extend(record(session, [posted]))
            except Exception as error:  # noqa: BLE001 - answered to that request only
                outcomes.append(error)
        return outcomes

    async def recorder() -> None:
        loop = asyncio.get_running_loop()
        while True:
            await arrived.wait()
            # One turn of the loop, so that requests already read join this transaction: each costs far less
            # in a batch than alone. (Waiting a fixed 5 ms instead cost 15 % of the throughput, bench_relay.)
            await asyncio.sleep(0)
            arrived.clear()
            while queue:
                batch, size = [], 0
                while queue and (not batch or size + len(queue[0].items) <= batch_items):
                    batch.append(queue.popleft())
                    size += len(batch[-1].items)
                try:
                    outcomes = await loop.run_in_executor(pool, ingest, batch)
                except Exception as error:  # noqa: BLE001
                    outcomes = [error] * len(batch)
                for posted, outcome in zip(batch, outcomes, strict=True):
                    if posted.answer.done():
                        continue
                    if isinstance(outcome, Exception):
                        posted.answer.set_exception(outcome)
                    else:
                        posted.answer.set_result(outcome)

    async def post_statuses(request: Request) -> Response:
        token = _bearer(request.headers.get("authorization"))
        if token is None or await token_cache.cpo_id(token) is None:
            return _unauthorised(close=True)
        try:
            body = parse_json(await read_body(request, limit=MAX_BYTES, seconds=body_seconds,
                                              min_bytes_per_second=min_bytes_per_second))
        except BodyRefused as refused:
            return _error(refused.status_code, refused.message, close=refused.unread)
        if not isinstance(body, list):
            return _error(400, "the body must be a JSON list of {\"evse_id\", \"status\", \"timestamp\"} objects, "
                               f"not a JSON {type(body).__name__.replace('dict', 'object').replace('str', 'string')}")
        if len(body) > max_items:
            return _error(413, f"{len(body)} items in one request; send at most {max_items} per request")
        posted = _Posted(token, body, asyncio.get_running_loop().create_future())
        queue.append(posted)
        arrived.set()
        try:
            cpo_id, results = await posted.answer
        except Exception as error:  # noqa: BLE001 - one line in the log, the request id in the answer
            request_id = _new_request_id()
            log.error("request %s: recording %d statuses failed: %s", request_id, len(body), _describe(error))
            if _is_transient(error):
                return _error(503, "the statuses could not be recorded right now; send them again shortly",
                              {"Retry-After": "1"}, request_id=request_id)
            return _error(500, "the statuses could not be recorded: an unexpected error; the relay's log says "
                               "more under this request id", request_id=request_id)
        if cpo_id is None:
            return _unauthorised(close=False)
        accepted = sum(1 for result in results if result["ok"])
        rejected = len(results) - accepted
        return answer({"accepted": accepted, "rejected": rejected, "results": results}, 207 if rejected else 200)

    def database_answers() -> bool:
        with session_scope(db_url) as session:
            session.execute(text("SELECT 1"))
        return True

    async def health(request: Request) -> Response:
        try:
            await asyncio.get_running_loop().run_in_executor(pool, database_answers)
        except Exception as error:  # noqa: BLE001
            return answer({"status": "error", "database": type(error).__name__}, 503)
        return answer({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(pool, migrate, db_url)
        task = asyncio.create_task(recorder())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pool.shutdown(wait=True)

    routes = [
        Route(STATUSES_PATH, post_statuses, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        *ocpi_routes(db_url, seconds=body_seconds, min_bytes_per_second=min_bytes_per_second),
    ]
    return Starlette(routes=routes, middleware=[Middleware(OneLineErrors)], lifespan=lifespan)
