"""The sandbox's ASGI app: the OIOI endpoint, provisioning, faults and inspection (rules: ``oioi.sandbox``)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import codes, ids, messages
from ..retry import RETRY_AFTER_MAX
from .state import ProvisionConflict, Refusal, SandboxState, key_sha256

__all__ = ["create_app", "check_faults", "OIOI_PATH", "MAX_BODY_BYTES", "FAULT_RATES"]

log = logging.getLogger(__name__)

OIOI_PATH = "/api/v4/request"

# The largest request body read: one station is a few kB even with every text at its limit
# (vocabulary.TEXT_LIMITS), so 1 MiB leaves room and still stops a runaway field.
MAX_BODY_BYTES = 1024 * 1024
# A body over the limit is still read (and dropped) up to this size, so that the client, still
# sending, reads the 413 instead of a reset connection; beyond it the connection is cut.
_DRAIN_BYTES = 16 * MAX_BODY_BYTES

FAULT_RATES = ("fail_rate", "stall_rate", "throttle_rate")


# The answer to nearly every request, encoded once.
_SUCCESS_BODY = json.dumps({"result": {"code": codes.SUCCESS, "message": "Success."}}).encode()


def _result(code: int, message: str, http_status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"result": {"code": code, "message": message}}, status_code=http_status, headers=headers)


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


_PROVISION_FIELDS = {"api_key", "partner_identifiers", "previous_api_key"}


def _provision_request(body: Any) -> tuple[str, list[str], str | None]:
    """(api key, partner identifiers, previous key) of a provisioning body; ValueError says what is wrong.

    Messages never quote a key: whatever was sent as one stays out of the answer.
    """
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object: {"api_key": "...", "partner_identifiers": ["..."]}')
    unknown = sorted(set(body) - _PROVISION_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected api_key, partner_identifiers"
                         " and optionally previous_api_key")
    keys = {}
    for field in ("api_key", "previous_api_key"):
        value = body.get(field)
        if value is None and field == "previous_api_key":
            keys[field] = None
            continue
        if not isinstance(value, str) or not value.strip() or value != value.strip() \
                or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError(f"{field} must be a non-empty string without spaces or line breaks")
        keys[field] = value
    partners = body.get("partner_identifiers")
    if not isinstance(partners, list) or not partners or not all(isinstance(p, str) for p in partners):
        raise ValueError("partner_identifiers must be a non-empty list of strings")
    for partner in partners:
        ids.check_partner_identifier(partner)  # IdError is a ValueError with a message for the user
    return keys["api_key"], list(dict.fromkeys(partners)), keys["previous_api_key"]


def check_faults(faults: dict[str, float]) -> None:
    """Raise ValueError unless every rate is within 0..1, they add up to at most 1 and
    ``retry_after`` is whole seconds within 0..RETRY_AFTER_MAX."""
    for name in FAULT_RATES:
        rate = faults[name]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be a number between 0 and 1, not {rate!r}")
    total = sum(faults[name] for name in FAULT_RATES)
    if total > 1.0 + 1e-9:
        raise ValueError("fail_rate, stall_rate and throttle_rate are shares of the same requests: together at "
                         f"most 1, not {total:g}")
    retry_after = faults["retry_after"]
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or not 0 <= retry_after <= RETRY_AFTER_MAX:
        raise ValueError(f"retry_after must be whole seconds between 0 and {RETRY_AFTER_MAX}, not {retry_after!r}")


def _fault_change(body: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The fault settings after applying a ``POST /_sandbox/faults`` body; ValueError says what is wrong."""
    known = (*FAULT_RATES, "retry_after")
    if not isinstance(body, dict) or not body:
        raise ValueError('the body must be a JSON object with any of ' + ", ".join(known)
                         + ', e.g. {"fail_rate": 1}')
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected any of {', '.join(known)}")
    changed = {**current, **body}
    check_faults(changed)
    return {name: (float(value) if name in FAULT_RATES else value) for name, value in changed.items()}


class _BodyTooLarge(Exception):
    def __init__(self, size: int, exact: bool):
        super().__init__(size)
        self.size = size
        self.exact = exact  # False: reading stopped at _DRAIN_BYTES, the body is larger still

    def message(self) -> str:
        size = f"{self.size:,}" if self.exact else f"more than {self.size:,}"
        return (f"The body has {size} bytes; a request may have at most {MAX_BODY_BYTES:,} bytes (1 MiB). "
                "Send one station per station-post and keep texts within their limits.")


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, at most ``limit`` bytes; raises _BodyTooLarge (after draining a little more) beyond it."""
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > _DRAIN_BYTES:
        raise _BodyTooLarge(declared, exact=True)  # not read at all: the connection is cut after the answer
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_BYTES:
            raise _BodyTooLarge(size, exact=False)
        else:
            chunks.clear()  # over the limit: counted and dropped
    if size > limit:
        raise _BodyTooLarge(size, exact=True)
    return b"".join(chunks)


async def _hangs_up_before(request: Request, deadline: float) -> bool:
    """Wait until ``deadline`` (loop time); True as soon as the client hangs up before it.

    The rest of the body is read and dropped meanwhile; after it, the only message left is the disconnect.
    One timer in the request's own task: ``Request.is_disconnected`` costs a cancel scope per call, about a
    tenth of the sandbox's CPU per request under load.
    """
    try:
        async with asyncio.timeout_at(deadline):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


def _parse_api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition("=")
    return value.strip() if scheme.strip().lower() == "key" and value.strip() else None


class _Shortcut:
    """ASGI middleware: an OIOI request goes straight to its handler, past the router and the exception
    middleware's wrappers (about a tenth of the sandbox's CPU per request while a national push comes in).
    Everything else, and any error, is Starlette's as usual."""

    def __init__(self, app: Any, handler: Any):
        self.app, self.handler = app, handler

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == OIOI_PATH and scope["method"] == "POST":
            response = await self.handler(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(
    *,
    db_path: str | Path,
    api_keys: Iterable[str],
    partner_ids: Iterable[str],
    latency_ms: float = 0,
    fail_rate: float = 0.0,
    stall_rate: float = 0.0,
    throttle_rate: float = 0.0,
    retry_after: int = 1,
    seed: int | None = None,
    stall_seconds: float = 3600,
) -> Starlette:
    """The sandbox receiver as an ASGI app (see the package docstring, ``oioi.sandbox``, for its rules).

    ``api_keys`` and ``partner_ids`` may be empty: CPOs are then provisioned through
    ``POST /_sandbox/partners``. The fault settings are where they start; ``POST
    /_sandbox/faults`` changes them while the app runs.
    """
    keys = [k for k in api_keys if k]
    partners = frozenset(partner_ids)
    for partner in partners:
        ids.check_partner_identifier(partner)
    # What POST /_sandbox/faults changes; read by every request when it arrives.
    faults: dict[str, Any] = {"fail_rate": float(fail_rate), "stall_rate": float(stall_rate),
                              "throttle_rate": float(throttle_rate), "retry_after": retry_after}
    check_faults(faults)
    rng = random.Random(seed)
    state = SandboxState(db_path)
    latency = max(0.0, latency_ms / 1000)

    def is_startup_key(candidate: str | None) -> bool:
        # Constant-time comparison against every key: no timing hint about which is close.
        found = False
        for key in keys:
            found |= candidate is not None and secrets.compare_digest(candidate.encode(), key.encode())
        return found

    def check_partner(partner: str, *, startup_key: bool, key_hash: str | None) -> None:
        if startup_key and partner in partners:
            return
        if key_hash is not None and state.grants.get(partner) == key_hash:
            return
        if partner in partners or partner in state.grants:
            raise Refusal(400, codes.INVALID_PARTNER_IDENTIFIER,
                          f"partner identifier ending in {partner[-4:]!r} does not belong to this API key")
        raise Refusal(400, codes.INVALID_PARTNER_IDENTIFIER,
                      f"partner identifier ending in {partner[-4:]!r} is not known here")

    async def stall(request: Request) -> Response:
        # Hold the request open, without answering, until the client hangs up.
        state.count("faults.stalled")
        state.save_counts()
        await _hangs_up_before(request, asyncio.get_running_loop().time() + stall_seconds)
        return Response(status_code=504)

    async def oioi_request(request: Request) -> Response:
        # The latency is the time to an answer, as a platform's is: the checks and storing happen within it
        # (after it, a wave of requests waking together queued behind each other's checks).
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + latency
        try:
            response = await answer(request)
            if latency and await _hangs_up_before(request, answer_at):
                raise ClientDisconnect
            return response
        except ClientDisconnect:
            # Common under load (a client's timeout ran out during the latency): a line, not a traceback.
            log.warning("%s hung up before its request was answered", _client(request))
            return Response(status_code=499)  # nobody reads it
        finally:
            state.save_counts()

    async def answer(request: Request) -> Response:
        stall_rate, fail_rate, throttle_rate = faults["stall_rate"], faults["fail_rate"], faults["throttle_rate"]
        if stall_rate or fail_rate or throttle_rate:
            draw = rng.random()
            if draw < stall_rate:
                with contextlib.suppress(_BodyTooLarge):
                    await _read_body(request)
                return await stall(request)
            retry = {"Retry-After": str(faults["retry_after"])}
            if draw < stall_rate + fail_rate:
                state.count("faults.failed")
                return _result(codes.SYSTEM_ERROR, "The sandbox is failing on purpose; retry later.", 503,
                               headers=retry)
            if draw < stall_rate + fail_rate + throttle_rate:
                state.count("faults.throttled")
                return _result(codes.SYSTEM_ERROR, "Too many requests (the sandbox throttles on purpose); "
                               f"retry after {faults['retry_after']} s.", 429, headers=retry)
        state.count("requests.received")
        api_key = _parse_api_key(request.headers.get("authorization"))
        startup_key = is_startup_key(api_key)
        key_hash = key_sha256(api_key) if api_key else None
        if not startup_key and key_hash not in state.granted_keys:
            state.count("requests.unauthorized")
            return _result(codes.INVALID_API_KEY, "Invalid API key: send the header 'Authorization: key=<API key>'.",
                           401)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT,
                           f"Content-Type must be application/json, not {content_type or 'missing'!r}", 400)
        try:
            raw = await _read_body(request)
        except _BodyTooLarge as too_large:
            state.count("requests.too_large")
            return _result(codes.INVALID_REQUEST_FORMAT, too_large.message(), 413)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT, f"The body is not UTF-8 JSON: {error}", 400)
        kind = next(iter(body), None) if isinstance(body, dict) and len(body) == 1 else None
        if kind in messages.MESSAGE_TYPES:
            state.count(f"{kind}.received")
        try:
            message = messages.decode_request(body)
        except messages.UnknownMessageType as error:
            state.count("requests.malformed")
            return _result(codes.INVALID_REQUEST_FORMAT, str(error), 400)
        except ValidationError as error:
            state.count(f"{kind}.rejected")
            return _result(codes.INVALID_REQUEST_FORMAT,
                           messages.describe_validation_error(error, prefix=f"{kind}."), 400)
        try:
            check_partner(message.partner_identifier, startup_key=startup_key, key_hash=key_hash)
            if isinstance(message, messages.StationPost):
                state.post_station(message.station, message.partner_identifier)
            else:
                state.post_connector_status(message.connector_id, message.status.value, message.partner_identifier)
        except Refusal as refusal:
            state.count(f"{message.type}.rejected")
            return _result(refusal.code, refusal.message, refusal.http_status)
        return Response(_SUCCESS_BODY, media_type="application/json")

    async def control_body(request: Request, what: str) -> Any:
        """The JSON body of a control request (provisioning, faults), or the answer refusing it."""
        if not _is_loopback(request):
            return JSONResponse({"error": f"{what} answer loopback callers only"}, status_code=403)
        try:
            return json.loads((await _read_body(request)).decode("utf-8"))
        except _BodyTooLarge as too_large:
            return JSONResponse({"error": too_large.message()}, status_code=413)
        except (UnicodeDecodeError, ValueError):
            return JSONResponse({"error": "the body is not UTF-8 JSON"}, status_code=400)

    async def provision(request: Request) -> Response:
        body = await control_body(request, "provisioning requests")
        if isinstance(body, Response):
            return body
        try:
            api_key, wanted, previous = _provision_request(body)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        try:
            outcome = state.provision(key_sha256(api_key), wanted,
                                      previous_key_hash=key_sha256(previous) if previous else None,
                                      reserved=partners if not is_startup_key(api_key) else frozenset())
        except ProvisionConflict as conflict:
            return JSONResponse(
                {"error": "partner identifier(s) already belong to another API key: "
                          + ", ".join(conflict.partner_identifiers),
                 "partner_identifiers": conflict.partner_identifiers},
                status_code=409,
            )
        return JSONResponse({"partner_identifiers": wanted, **outcome})

    async def set_faults(request: Request) -> Response:
        body = await control_body(request, "fault controls")
        if isinstance(body, Response):
            return body
        try:
            changed = _fault_change(body, faults)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        faults.update(changed)
        return JSONResponse(dict(faults))

    async def show_faults(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "fault controls answer loopback callers only"}, status_code=403)
        return JSONResponse(dict(faults))

    async def partner_list(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the partner list answers loopback callers only"}, status_code=403)
        startup = [{"partner_identifier": p, "provisioned_at": None} for p in sorted(partners)]
        return JSONResponse(startup + state.partners())

    async def stations(request: Request) -> Response:
        return JSONResponse(state.stations())

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    app = Starlette(
        routes=[
            Route(OIOI_PATH, oioi_request, methods=["POST"]),  # reached by _Shortcut; here for other methods' 405
            Route("/_sandbox/partners", provision, methods=["POST"]),
            Route("/_sandbox/partners", partner_list, methods=["GET"]),
            Route("/_sandbox/faults", set_faults, methods=["POST"]),
            Route("/_sandbox/faults", show_faults, methods=["GET"]),
            Route("/_sandbox/stations", stations, methods=["GET"]),
            Route("/_sandbox/stats", stats, methods=["GET"]),
            Route("/_sandbox/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(_Shortcut, handler=oioi_request)],
    )
    app.state.sandbox = state
    app.state.faults = faults
    return app
