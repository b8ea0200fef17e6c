"""The OCPI 2.2.1 receiver a CPO's back end (CSMS) pushes to, served by ``oioi-onboard relay``.

    GET                  /ocpi/versions                  the versions we speak: 2.2.1
    GET                  /ocpi/2.2.1                     its details: credentials, and locations as RECEIVER
    GET POST PUT DELETE  /ocpi/2.2.1/credentials         the handshake (``ocpi.credentials``)
    GET PUT PATCH        /ocpi/2.2.1/locations/{country_code}/{party_id}/{location_id}[/{evse_uid}[/{connector_id}]]

Every request carries ``Authorization: Token <token>``, the token Base64-encoded (OCPI 2.2.1) or plain
(2.1.1 and many 2.2 peers); a missing or unknown token is HTTP 401, and so is the registration token
(TOKEN_A) anywhere but at versions, details and credentials. Every answer is an OCPI envelope
(``data``, ``status_code``, ``status_message``, ``timestamp``) and repeats the request's X-Request-ID and
X-Correlation-ID: 1000 success, 2001 invalid or missing parameters (HTTP 400 for a body that is not
JSON or nests deeper than ``request_body.MAX_DEPTH``), 2003 an unknown Location, EVSE or connector, HTTP 404
for a party the token's CPO did not register, HTTP 405 for a credentials method that does not fit the
registration. The token is checked before a body is read: without a valid one the body is not read (401).
A body is read as the relay reads every body (``sync.request_body``): HTTP 413 for ``MAX_BODY_BYTES`` or
more (counted while it arrives, never held whole), 408 for one that trickles in. Anything unexpected is one
log line with the request id and an HTTP 500 envelope with status 3000, never a traceback.

What a pushed Location does is ``workflows.received_locations``'s. Database work runs on one thread of
its own; requests that arrive while it works share its next transaction, and the EVSE statuses of the
status-only PATCHes among them are forwarded by one ``record_statuses`` call (``batched_statuses``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlmodel import Session
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import OnboardError, UserError
from ..store.db import session_scope
from ..sync.request_body import BodyRefused, parse_json, read_body
from ..sync.tokens import TokenCache
from ..workflows import received_locations
from ..workflows.received_locations import Address
from .credentials import (
    CREDENTIALS,
    REGISTRATION,
    VERSION,
    HandshakeError,
    TokenHolder,
    cpo_of_token_sha256,
    our_credentials,
    peer_endpoints,
    register,
    token_holder,
    tokens_in_header,
    unregister,
)
from .models import Credentials, Envelope, StatusCode

__all__ = ["VERSIONS_PATH", "DETAILS_PATH", "CREDENTIALS_PATH", "LOCATIONS_PATH", "MAX_BODY_BYTES", "ocpi_routes"]

log = logging.getLogger(__name__)
T = TypeVar("T")

VERSIONS_PATH = "/ocpi/versions"
DETAILS_PATH = f"/ocpi/{VERSION}"
CREDENTIALS_PATH = f"{DETAILS_PATH}/credentials"
LOCATIONS_PATH = f"{DETAILS_PATH}/locations"
MAX_BODY_BYTES = 5_000_000  # a Location with hundreds of EVSEs is well under 1 MB
BATCH = 64  # requests in one database transaction at most
_ID_LENGTHS = {"country_code": (2, 2), "party_id": (3, 3), "location_id": (1, 36), "evse_uid": (1, 36),
               "connector_id": (1, 36)}


class _Answer(Exception):
    """An answer decided before the work is done: a refusal with its HTTP status and OCPI status code."""

    def __init__(self, http_status: int, status_code: int, message: str, *, close: bool = False):
        super().__init__(message)
        self.http_status, self.status_code, self.message = http_status, status_code, message
        self.close = close  # the client may still be sending a body nobody will read


def _unauthorised(*, close: bool = False) -> _Answer:
    return _Answer(401, StatusCode.CLIENT_ERROR, "send the header 'Authorization: Token <token>' with the token "
                   "this receiver gave in the credentials handshake (Base64-encoded or plain)", close=close)


def _envelope(data: Any = None, status_code: int = StatusCode.SUCCESS, message: str | None = None,
              http_status: int = 200) -> JSONResponse:
    body = Envelope.answer(data=data, status_code=status_code, status_message=message).to_json()
    return JSONResponse(body, status_code=http_status)


class _Lane:
    """The receiver's database thread: jobs that arrive while it works run together in its next transaction.

    A job that raises takes its batch's transaction down with it; the batch then runs again one job per
    transaction, so that only that job fails.
    """

    def __init__(self, db_url: str | None):
        self.db_url = db_url
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpi-db")
        self.waiting: list[tuple[Callable[[Session], Any], asyncio.Future]] = []
        self.draining: asyncio.Task | None = None

    async def run(self, job: Callable[[Session], T]) -> T:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((job, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting:
            batch, self.waiting = self.waiting[:BATCH], self.waiting[BATCH:]
            try:
                outcomes = await loop.run_in_executor(self.pool, self._transact, [job for job, _ in batch])
            except Exception as error:  # noqa: BLE001 - the pool itself failed: every request of the batch hears it
                outcomes = [(False, error)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # the client hung up
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _transact(self, jobs: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        try:
            with session_scope(self.db_url) as session:
                # The status-only PATCHes of the batch forward their statuses together when it ends.
                with received_locations.batched_statuses(session):
                    outcomes = [job(session) for job in jobs]
                return [(True, received_locations.settled(outcome)) for outcome in outcomes]
        except Exception as error:  # noqa: BLE001 - reported to its request, or found again one by one
            if len(jobs) == 1:
                return [(False, error)]
        return [self._transact([job])[0] for job in jobs]


class _Receiver:
    def __init__(self, db_url: str | None, body_options: dict[str, float]):
        self.lane = _Lane(db_url)
        self.body_options = body_options

        def known(digest: str) -> int | None:
            with session_scope(db_url) as session:
                return cpo_of_token_sha256(session, digest)

        # Who may send a body is checked before it is read, without a query per request; the transaction
        # that uses the body checks the token again, so one revoked a moment ago changes nothing.
        self.tokens = TokenCache(known, self.lane.pool)

    def routes(self) -> list[Route]:
        location = LOCATIONS_PATH + "/{country_code}/{party_id}/{location_id}"
        return [
            Route(VERSIONS_PATH, self._endpoint(self.versions), methods=["GET"]),
            Route(DETAILS_PATH, self._endpoint(self.details), methods=["GET"]),
            Route(CREDENTIALS_PATH, self._endpoint(self.credentials), methods=["GET", "POST", "PUT", "DELETE"]),
            *(Route(path, self._endpoint(self.locations), methods=["GET", "PUT", "PATCH"])
              for path in (location, location + "/{evse_uid}", location + "/{evse_uid}/{connector_id}")),
        ]

    def _endpoint(self, handler: Callable[[Request, str], Awaitable[Response]]) -> Callable:
        async def endpoint(request: Request) -> Response:
            request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
            correlation_id = request.headers.get("x-correlation-id") or request_id
            ids = {"X-Request-ID": request_id, "X-Correlation-ID": correlation_id}
            try:
                response = await handler(request, correlation_id)
            except (_Answer, OnboardError) as error:
                answer = error if isinstance(error, _Answer) else _refusal(error, request.method)
                response = _envelope(status_code=answer.status_code, message=answer.message,
                                     http_status=answer.http_status)
                if answer.close:
                    response.headers["Connection"] = "close"
            except ClientDisconnect:
                raise  # one line from the relay's outer layer: nobody is left to answer
            except Exception as error:  # noqa: BLE001 - one line in the log, a clean answer to the back end
                log.error("OCPI %s %s failed, request id %s: %s: %s", request.method, request.url.path, request_id,
                          type(error).__name__, str(error).splitlines()[0][:300] if str(error) else "")
                response = _envelope(status_code=StatusCode.SERVER_ERROR, http_status=500,
                                     message=f"the receiver failed on this request; it is logged under request id "
                                             f"{request_id}. Send it again later")
            response.headers.update(ids)
            return response

        return endpoint

    async def _known(self, tokens: list[str]) -> bool:
        """Whether one of ``tokens`` is an active credentials token (TOKEN_C) of an active CPO, as known a few
        seconds ago."""
        for token in tokens:
            if await self.tokens.cpo_id(token) is not None:
                return True
        return False

    async def _holder(self, request: Request) -> TokenHolder:
        tokens = tokens_in_header(request.headers.get("authorization"))
        holder = await self.lane.run(lambda session: token_holder(session, tokens)) if tokens else None
        if holder is None:
            raise _unauthorised(close=_has_body(request))
        return holder

    # --- versions and details ---

    async def versions(self, request: Request, correlation_id: str) -> Response:
        await self._holder(request)
        return _envelope([{"version": VERSION, "url": _base(request) + DETAILS_PATH}])

    async def details(self, request: Request, correlation_id: str) -> Response:
        await self._holder(request)
        base = _base(request)
        # credentials.asciidoc: the role of one's own credentials endpoint does not matter; SENDER is advised.
        return _envelope({"version": VERSION, "endpoints": [
            {"identifier": "credentials", "role": "SENDER", "url": base + CREDENTIALS_PATH},
            {"identifier": "locations", "role": "RECEIVER", "url": base + LOCATIONS_PATH},
        ]})

    # --- credentials ---

    async def credentials(self, request: Request, correlation_id: str) -> Response:
        holder = await self._holder(request)
        versions_url = _base(request) + VERSIONS_PATH
        method = request.method
        if method == "GET":
            return _envelope(our_credentials(holder.token, versions_url))
        if holder.kind == REGISTRATION and method in ("PUT", "DELETE"):
            raise _Answer(405, StatusCode.CLIENT_ERROR, "not registered yet: POST your credentials with the "
                                                        "registration token first", close=_has_body(request))
        if holder.kind == CREDENTIALS and method == "POST":
            raise _Answer(405, StatusCode.CLIENT_ERROR, "already registered: PUT new credentials to update them, "
                                                        "DELETE to unregister", close=True)
        if method == "DELETE":
            await self.lane.run(lambda session: unregister(session, holder=holder))
            return _envelope()
        try:
            peer = Credentials.model_validate(await _json_body(request, self.body_options))  # token checked above
        except ValidationError as error:
            raise _Answer(200, StatusCode.INVALID_PARAMETERS, f"not valid OCPI credentials: {_problems(error)}"
                          ) from None
        details = await peer_endpoints(peer, correlation_id=correlation_id)
        ours = await self.lane.run(lambda session: register(session, token=holder.token, peer=peer, details=details,
                                                         versions_url=versions_url))
        if ours is None:
            raise _unauthorised()  # the registration token was used a moment ago
        return _envelope(ours)

    # --- locations ---

    async def locations(self, request: Request, correlation_id: str) -> Response:
        tokens = tokens_in_header(request.headers.get("authorization"))
        if not await self._known(tokens):
            raise _unauthorised(close=_has_body(request))  # the body is not read
        address = _address(request.path_params)
        if request.method == "GET":
            work, body = received_locations.get_object, None
        else:
            work = received_locations.put_object if request.method == "PUT" else received_locations.patch_object
            body = await _json_body(request, self.body_options)

        def job(session: Session) -> Any:
            holder = _token_holder(session, tokens)
            if holder is None or holder.kind != CREDENTIALS:
                return None
            options = {} if request.method == "GET" else {"body": body}
            return work(session, actor=holder.actor, cpo_id=holder.cpo_id, address=address, **options)

        outcome = await self.lane.run(job)
        if outcome is None:
            raise _unauthorised()
        if request.method == "GET":
            return _envelope(outcome)
        return _envelope(message=outcome.message, http_status=201 if outcome.created else 200)


def _token_holder(session: Session, tokens: list[str]) -> TokenHolder | None:
    """``token_holder``, asked once per transaction for the requests of one back end that share it."""
    known = session.info.setdefault("ocpi.token_holders", {})
    key = tuple(tokens)
    if key not in known:
        known[key] = token_holder(session, tokens)
    return known[key]


def _refusal(error: OnboardError, method: str) -> _Answer:
    """The OCPI answer to an expected refusal of the library."""
    if isinstance(error, HandshakeError):
        return _Answer(200, error.status_code, str(error))
    if isinstance(error, received_locations.UnknownObject):
        return _Answer(404 if method == "GET" else 200, StatusCode.UNKNOWN_LOCATION, str(error))
    if isinstance(error, received_locations.ForeignParty):
        # transport_and_format.asciidoc: a party of no role of the handshake may get a 404.
        return _Answer(404, StatusCode.CLIENT_ERROR, str(error))
    if isinstance(error, UserError):
        return _Answer(200, StatusCode.INVALID_PARAMETERS, str(error))
    return _Answer(200, StatusCode.CLIENT_ERROR, str(error))


def _has_body(request: Request) -> bool:
    """Whether the client may be sending a body: a refusal before reading it closes the connection."""
    return request.method in ("POST", "PUT", "PATCH")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'the body'}: {item['msg']}"
                     for item in error.errors()[:5])


def _address(params: dict[str, str]) -> Address:
    for name, value in params.items():
        low, high = _ID_LENGTHS[name]
        if not low <= len(value) <= high:
            size = f"{low} characters" if low == high else f"1 to {high} characters"
            raise _Answer(200, StatusCode.INVALID_PARAMETERS, f"{name} {value!r} in the URL must be {size}")
    return Address(**params)


async def _json_body(request: Request, options: dict[str, float]) -> Any:
    """The request's JSON, read as the relay reads every body (``sync.request_body``): counted as it arrives
    (413 from MAX_BODY_BYTES on), in time (408), within the nesting limit (400, 2001). Only for a caller whose
    token was checked."""
    try:
        return parse_json(await read_body(request, limit=MAX_BODY_BYTES - 1, **options))
    except BodyRefused as refused:
        code = StatusCode.INVALID_PARAMETERS if refused.status_code == 400 else StatusCode.CLIENT_ERROR
        raise _Answer(refused.status_code, code, refused.message, close=refused.unread) from None


def ocpi_routes(db_url: str | None = None, **body_options: float) -> list[Route]:
    """The receiver's routes, writing to ``db_url`` (default: the configured database); ``body_options`` are
    ``request_body.read_body``'s time limits (``seconds``, ``min_bytes_per_second``)."""
    return _Receiver(db_url, body_options).routes()
