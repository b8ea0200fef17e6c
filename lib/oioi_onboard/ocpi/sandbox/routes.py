"""The simulator's ASGI app: versions, details, the Locations Sender interface, faults and inspection.

The rules it answers by are in ``ocpi.sandbox``; ``oioi-onboard ocpi-sandbox`` serves it with uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...untrusted import parse_utc
from ..client import ocpi_datetime
from .network import Network

__all__ = ["create_app", "Faults", "OCPI_VERSIONS", "VERSIONS_PATH"]

log = logging.getLogger(__name__)

OCPI_VERSIONS = ("2.2.1", "2.1.1")
VERSIONS_PATH = "/ocpi/versions"
_FAULT_KEYS = ("latency_ms", "fail_next", "retry_after", "status_code", "html_from_page", "plain_only")


@dataclass
class Faults:
    """What goes wrong on purpose, changed at run time through ``POST /_sandbox/faults``."""

    latency_ms: float = 0.0  # added to every OCPI request
    fail_next: int = 0  # the next OCPI requests answered 503 with Retry-After
    retry_after: int = 1  # seconds, on those 503s
    status_code: int = 1000  # what the Locations list answers with; anything but 1000 is a failure
    html_from_page: int = 0  # from this page of the list on (1 is the first), an HTML error page instead of JSON
    plain_only: bool = False  # accept the token only unencoded, as many 2.1.1 peers do

    def update(self, body: Any) -> None:
        """Apply a ``POST /_sandbox/faults`` body; ValueError (nothing changed) says what is wrong."""
        if not isinstance(body, dict) or not body:
            raise ValueError("the body must be a JSON object with any of " + ", ".join(_FAULT_KEYS))
        unknown = sorted(set(body) - set(_FAULT_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"expected any of {', '.join(_FAULT_KEYS)}")
        for key, value in body.items():
            wanted = bool if key == "plain_only" else float if key == "latency_ms" else int
            if isinstance(value, bool) != (wanted is bool) or not isinstance(value, int | float) \
                    or (wanted is int and not float(value).is_integer()) or value < 0:
                raise ValueError(f"{key} must be {'true or false' if wanted is bool else 'a number of 0 or more'}, "
                                 f"not {value!r}")
        for key, value in body.items():
            setattr(self, key, bool(value) if key == "plain_only" else float(value) if key == "latency_ms"
                    else int(value))

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _FAULT_KEYS}


@dataclass
class SandboxState:
    network: Network
    tokens: tuple[str, ...]
    page_limit: int
    versions: tuple[str, ...]
    faults: Faults = field(default_factory=Faults)
    requests: deque = field(default_factory=lambda: deque(maxlen=500))  # what the last requests carried
    counts: Counter = field(default_factory=Counter)


def envelope(data: Any = None, status_code: int = 1000, message: str | None = None, *, http_status: int = 200,
             headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"data": data, "status_code": status_code, "timestamp": ocpi_datetime(datetime.now(UTC))}
    if message:
        body["status_message"] = message
    return JSONResponse(body, status_code=http_status, headers=headers)


def _is_loopback(request: Request) -> bool:
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _encoding(header: str | None, tokens: tuple[str, ...]) -> str | None:
    """'base64' or 'plain' for an ``Authorization: Token ...`` naming a known token; None otherwise."""
    if not header or not header.startswith("Token "):
        return None
    given = header.removeprefix("Token ").strip()
    if given in tokens:
        return "plain"
    try:
        decoded = base64.b64decode(given, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return "base64" if decoded in tokens else None


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc(value, what=name)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an RFC 3339 DateTime such as 2026-01-05T08:00:00Z") from None


def _count(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} {value!r} is not a whole number of 0 or more")
    return int(value)


def as_211(location: dict[str, Any]) -> dict[str, Any]:
    """A Location as an OCPI 2.1.1 peer sends it: no party fields nor publish, ``voltage``/``amperage``."""
    old = {k: v for k, v in location.items() if k not in ("country_code", "party_id", "publish", "parking_type")}
    old["type"] = "ON_STREET"
    old["evses"] = [{**evse, "connectors": [
        {**{k: v for k, v in c.items() if k not in ("max_voltage", "max_amperage", "max_electric_power")},
         "voltage": c["max_voltage"], "amperage": c["max_amperage"]} for c in evse["connectors"]]}
        for evse in location["evses"]]
    return old


def create_app(*, network: Network, tokens: list[str] | tuple[str, ...], page_limit: int = 20,
               versions: tuple[str, ...] = ("2.2.1",), faults: Faults | None = None,
               background: list | None = None) -> Starlette:
    """The simulator's app. ``background`` holds coroutine functions taking the state, run while it serves
    (the periodic changes, the status sender)."""
    if not tokens:
        raise ValueError("the OCPI sandbox needs at least one token to accept")
    if page_limit < 1:
        raise ValueError("the page limit (X-Limit) must be at least 1")
    unknown = [v for v in versions if v not in OCPI_VERSIONS]
    if unknown or not versions:
        raise ValueError(f"versions: {', '.join(unknown) or 'none given'}; "
                         f"the sandbox speaks {', '.join(OCPI_VERSIONS)}")
    state = SandboxState(network=network, tokens=tuple(tokens), page_limit=page_limit, versions=tuple(versions),
                         faults=faults or Faults())

    async def guarded(request: Request) -> Response | None:
        """Faults and the token check, before any OCPI answer; None lets the request through."""
        faults = state.faults
        state.counts["requests"] += 1
        encoding = _encoding(request.headers.get("Authorization"), state.tokens)
        state.requests.append({
            "path": request.url.path, "query": request.url.query, "encoding": encoding,
            "request_id": request.headers.get("X-Request-ID"),
            "correlation_id": request.headers.get("X-Correlation-ID"),
        })
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.fail_next > 0:
            faults.fail_next -= 1
            state.counts["failed"] += 1
            return JSONResponse({"error": "the back end is busy"}, status_code=503,
                                headers={"Retry-After": str(faults.retry_after)})
        if encoding is None or (faults.plain_only and encoding != "plain"):
            state.counts["unauthorized"] += 1
            return envelope(None, 2000, "Unauthorized: unknown or missing credentials token", http_status=401)
        state.counts[f"token_{encoding}"] += 1
        return None

    def _version(request: Request) -> str | None:
        version = request.path_params.get("version")
        return version if version in state.versions else None

    async def versions_list(request: Request) -> Response:
        if (refused := await guarded(request)) is not None:
            return refused
        base = str(request.base_url).rstrip("/")
        return envelope([{"version": v, "url": f"{base}/ocpi/{v}"} for v in state.versions])

    async def details(request: Request) -> Response:
        if (refused := await guarded(request)) is not None:
            return refused
        version = _version(request)
        if version is None:
            return envelope(None, 3002, f"unsupported version; this back end speaks {', '.join(state.versions)}",
                            http_status=404)
        url = f"{str(request.base_url).rstrip('/')}/ocpi/{version}/locations"
        endpoint = {"identifier": "locations", "url": url} | ({"role": "SENDER"} if version != "2.1.1" else {})
        return envelope({"version": version, "endpoints": [endpoint]})

    async def locations(request: Request) -> Response:
        if (refused := await guarded(request)) is not None:
            return refused
        version = _version(request)
        if version is None:
            return envelope(None, 3002, "unsupported version", http_status=404)
        query = request.query_params
        try:
            date_from = _date(query.get("date_from"), "date_from")
            date_to = _date(query.get("date_to"), "date_to")
            offset = _count(query.get("offset"), "offset", 0)
            limit = min(_count(query.get("limit"), "limit", state.page_limit), state.page_limit)
        except ValueError as error:
            return envelope(None, 2001, f"Invalid or missing parameters: {error}", http_status=400)
        faults = state.faults
        page = offset // max(limit, 1) + 1
        if faults.html_from_page and page >= faults.html_from_page:
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=200,
                            media_type="text/html")
        if faults.status_code != 1000:
            return envelope(None, faults.status_code, f"the back end cannot list Locations now (status "
                                                      f"{faults.status_code})")
        selected = state.network.select(date_from=date_from, date_to=date_to)
        chosen = selected[offset:offset + limit]
        data = [state.network.snapshot(i) for i in chosen]
        if version == "2.1.1":
            data = [as_211(location) for location in data]
        headers = {"X-Total-Count": str(len(selected)), "X-Limit": str(state.page_limit)}
        if offset + limit < len(selected):
            following = request.url.include_query_params(offset=offset + limit, limit=limit)
            headers["Link"] = f'<{following}>; rel="next"'
        state.counts["pages"] += 1
        return envelope(data, headers=headers)

    async def one_object(request: Request) -> Response:
        if (refused := await guarded(request)) is not None:
            return refused
        version = _version(request)
        location = state.network.location(request.path_params["location_id"])
        if version is None or location is None:
            return envelope(None, 2003, "Unknown location", http_status=404)
        found: Any = location
        for name, key, children in (("evse_uid", "uid", "evses"), ("connector_id", "id", "connectors")):
            wanted = request.path_params.get(name)
            if wanted is None:
                break
            found = next((child for child in found[children] if child[key] == wanted), None)
            if found is None:
                return envelope(None, 2003, f"Unknown {children[:-1]} {wanted!r}", http_status=404)
        if version == "2.1.1" and found is location:
            found = as_211(location)
        return envelope(found)

    def _loopback_only(request: Request) -> Response | None:
        if not _is_loopback(request):
            return JSONResponse({"error": "only loopback callers may use /_sandbox/"}, status_code=403)
        return None

    async def faults_route(request: Request) -> Response:
        if (refused := _loopback_only(request)) is not None:
            return refused
        if request.method == "POST":
            try:
                state.faults.update(await request.json())
            except ValueError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(state.faults.to_json())

    async def changes_route(request: Request) -> Response:
        if (refused := _loopback_only(request)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and set(body) == {"remove"}:
            count, static = body["remove"], False
        else:
            count, static = (body.get("count", 1), body.get("static", False)) if isinstance(body, dict) else (0, 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or not isinstance(static, bool):
            return JSONResponse({"error": 'the body must be {"count": N (1 or more), "static": false or true} or '
                                          '{"remove": N}'}, status_code=400)
        if "remove" in body:
            return JSONResponse({"removed": state.network.remove(count)})
        made = [change for _ in range(count) if (change := state.network.change(static=static)) is not None]
        state.counts["changes"] += len(made)
        return JSONResponse({"changes": [change.to_json() for change in made]})

    async def requests_route(request: Request) -> Response:
        if (refused := _loopback_only(request)) is not None:
            return refused
        return JSONResponse(list(state.requests))

    async def stats_route(request: Request) -> Response:
        return JSONResponse({"locations": len(state.network), **state.counts})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job(state)) for job in background or []]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    locations_path = "/ocpi/{version}/locations"
    routes = [
        Route(VERSIONS_PATH, versions_list),
        Route("/ocpi/{version}", details),
        Route(locations_path, locations),
        Route(locations_path + "/{location_id}", one_object),
        Route(locations_path + "/{location_id}/{evse_uid}", one_object),
        Route(locations_path + "/{location_id}/{evse_uid}/{connector_id}", one_object),
        Route("/_sandbox/faults", faults_route, methods=["GET", "POST"]),
        Route("/_sandbox/changes", changes_route, methods=["POST"]),
        Route("/_sandbox/requests", requests_route),
        Route("/_sandbox/stats", stats_route),
        Route("/_sandbox/health", health),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = state
    return app
