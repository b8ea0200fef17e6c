"""The status ingest API a CPO's back end posts to; ``oioi-onboard relay`` serves it.

    POST /v1/statuses
    Authorization: Bearer <ingest token>
    [{"evse_id": "DE*8PS*E123456", "status": "Available", "timestamp": "2024-05-01T12:00:00Z"}, ...]

Answers 200 when every item was accepted, 207 when some were not, both with
``{"accepted": n, "rejected": n, "results": [{"index", "evse_id", "ok", "error", "delivery"}]}``;
400 when the body is not a JSON list, 401 without a valid token, 413 for too
many items or bytes at once. ``GET /health`` says whether the database answers.

The relay only records: the token selects the CPO, ``record_statuses`` writes
the status log and the outbox in one transaction, and the worker process sends.
Database work runs on one thread of its own so the event loop keeps accepting;
requests that arrive meanwhile are recorded together in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

STATUSES_PATH = "/v1/statuses"
MAX_ITEMS = 5000
MAX_BYTES = 2_000_000  # 5,000 items of ~150 bytes with room to spare


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def create_app(*, db_url: str | None = None, max_items: int = MAX_ITEMS, batch_items: int = 5_000) -> Starlette:
    """The relay as an ASGI app, writing to ``db_url`` (default: the configured database)."""
    from ..ocpi.receiver import ocpi_routes
    from ..store.db import migrate, session_scope
    from .status_ingest import record_statuses
    from .tokens import token_actor

    # One database thread; requests that arrive while it works are recorded together in its next
    # transaction (group commit): one write lock and one commit for many requests. ``batch_items``
    # caps a transaction, so the worker never waits long for the write lock.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")
    queue: list[tuple[str, list[Any], asyncio.Future]] = []
    arrived = asyncio.Event()

    def ingest_one(session, token: str, items: list[Any]) -> tuple[int | None, list[dict[str, Any]]]:  # noqa: ANN001
        # Token check and recording in one transaction: a token revoked a moment ago is refused.
        actor = token_actor(session, token)  # the token's CPO, and no other
        if actor is None:
            return None, []
        [cpo_id] = actor.cpo_ids
        if not items:
            return cpo_id, []
        results = record_statuses(session, actor=actor, cpo_id=cpo_id, items=items, source="api")
        return cpo_id, [result.to_json() for result in results]

    def ingest(batch: list[tuple[str, list[Any]]]) -> list[Any]:
        try:
            with session_scope(db_url) as session:
                return [ingest_one(session, token, items) for token, items in batch]
        except Exception:  # noqa: BLE001 - one bad request must not fail the others: each on its own
            if len(batch) == 1:
                raise
        outcomes: list[Any] = []
        for token, items in batch:
            try:
                with session_scope(db_url) as session:
                    outcomes.append(ingest_one(session, token, items))
            except Exception as error:  # noqa: BLE001 - answered as a 503 to that request only
                outcomes.append(error)
        return outcomes

    async def recorder() -> None:
        loop = asyncio.get_running_loop()
        while True:
            await arrived.wait()
            arrived.clear()
            while queue:
                batch, size = [], 0
                while queue and (not batch or size + len(queue[0][1]) <= batch_items):
                    batch.append(queue.pop(0))
                    size += len(batch[-1][1])
                try:
                    outcomes = await loop.run_in_executor(pool, ingest, [(t, i) for t, i, _ in batch])
                except Exception as error:  # noqa: BLE001
                    outcomes = [error] * len(batch)
                for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # the client hung up
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)

    async def post_statuses(request: Request) -> Response:
        token = _bearer(request.headers.get("authorization"))
        unauthorised = _error(401, "send the header 'Authorization: Bearer <ingest token>' with a valid token; "
                                   "tokens are created on the CPOs page or with 'oioi-onboard cpo token NAME'",
                              headers={"WWW-Authenticate": 'Bearer realm="oioi-relay"'})
        if token is None:
            return unauthorised
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BYTES:
            return _error(413, f"the body has {int(length)} bytes; send at most {MAX_BYTES} per request")
        raw = await request.body()
        if len(raw) > MAX_BYTES:
            return _error(413, f"the body has {len(raw)} bytes; send at most {MAX_BYTES} per request")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            return _error(400, f"the body is not UTF-8 JSON: {error}")
        if not isinstance(body, list):
            return _error(400, "the body must be a JSON list of {\"evse_id\", \"status\", \"timestamp\"} objects, "
                               f"not a JSON {type(body).__name__.replace('dict', 'object').replace('str', 'string')}")
        if len(body) > max_items:
            return _error(413, f"{len(body)} items in one request; send at most {max_items} per request")
        future = asyncio.get_running_loop().create_future()
        queue.append((token, body, future))
        arrived.set()
        try:
            cpo_id, results = await future
        except Exception:  # noqa: BLE001 - the caller gets a clean 503 and retries; the log has the details
            log.exception("recording %d statuses failed", len(body))
            return _error(503, "the statuses could not be recorded right now; send them again shortly",
                          headers={"Retry-After": "1"})
        if cpo_id is None:
            return unauthorised
        accepted = sum(1 for result in results if result["ok"])
        rejected = len(results) - accepted
        return JSONResponse({"accepted": accepted, "rejected": rejected, "results": results},
                            status_code=207 if rejected else 200)

    def database_answers() -> bool:
        from sqlalchemy import text

        with session_scope(db_url) as session:
            session.execute(text("SELECT 1"))
        return True

    async def health(request: Request) -> Response:
        try:
            await asyncio.get_running_loop().run_in_executor(pool, database_answers)
        except Exception as error:  # noqa: BLE001
            return JSONResponse({"status": "error", "database": type(error).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(pool, migrate, db_url)
        task = asyncio.create_task(recorder())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pool.shutdown(wait=True)

    return Starlette(
        routes=[Route(STATUSES_PATH, post_statuses, methods=["POST"]), Route("/health", health, methods=["GET"]),
                *ocpi_routes(db_url)],
        lifespan=lifespan,
    )
