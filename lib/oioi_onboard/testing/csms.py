"""A small CSMS (a CPO's OCPI back end) on loopback: the other side of the receiver's credentials handshake.

    with running_csms() as csms:
        httpx.post(receiver + "/ocpi/2.2.1/credentials", json=csms.credentials(),
                   headers={"Authorization": token_header(token_a)})
        assert csms.seen[0].authorization == token_header(csms.token)

It serves its versions and its 2.2.1 details (credentials, and locations as SENDER) to whoever sends its
current ``token`` (a test may change it), Base64-encoded or plain (``plain_only``: plain only, as many
2.1.1 and 2.2 peers), and records every request it got.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_TOKEN = "csms-token-b-5f0c2a9e"


def token_header(token: str, *, plain: bool = False) -> str:
    """The Authorization header OCPI 2.2.1 sends for a token (``plain``: as 2.1.1 peers send it)."""
    return f"Token {token if plain else base64.b64encode(token.encode()).decode('ascii')}"


@dataclass(frozen=True)
class Seen:
    path: str
    authorization: str | None
    request_id: str | None
    correlation_id: str | None


@dataclass
class Csms:
    base_url: str
    token: str
    seen: list[Seen] = field(default_factory=list)

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    def credentials(self, parties: tuple[tuple[str, str], ...] = (("BE", "BEC"),)) -> dict[str, Any]:
        """The credentials it POSTs: its token, its versions URL, a role CPO per (country_code, party_id)."""
        return {"token": self.token, "url": self.versions_url, "roles": [
            {"role": "CPO", "country_code": country, "party_id": party, "business_details": {"name": "Demo CSMS"}}
            for country, party in parties]}


def _app(csms: Csms, versions: tuple[str, ...], plain_only: bool) -> Starlette:
    def envelope(data: Any, status: int = 200) -> JSONResponse:
        body = {"data": data, "status_code": 1000 if status == 200 else 2000, "timestamp": "2026-01-01T00:00:00Z"}
        return JSONResponse(body, status_code=status)

    def answer(request: Request, data: Any) -> JSONResponse:
        csms.seen.append(Seen(request.url.path, request.headers.get("authorization"),
                              request.headers.get("x-request-id"), request.headers.get("x-correlation-id")))
        accepted = {token_header(csms.token, plain=True)} | (set() if plain_only else {token_header(csms.token)})
        return envelope(data) if request.headers.get("authorization") in accepted else envelope(None, 401)

    async def listed(request: Request) -> JSONResponse:
        return answer(request, [{"version": v, "url": f"{csms.base_url}/ocpi/{v}"} for v in versions])

    async def details(request: Request) -> JSONResponse:
        version = request.path_params["version"]
        return answer(request, {"version": version, "endpoints": [
            {"identifier": "credentials", "role": "SENDER", "url": f"{csms.base_url}/ocpi/{version}/credentials"},
            {"identifier": "locations", "role": "SENDER", "url": f"{csms.base_url}/ocpi/{version}/locations"},
        ]})

    return Starlette(routes=[Route("/ocpi/versions", listed), Route("/ocpi/{version}", details)])


@contextmanager
def running_csms(*, token: str = DEFAULT_TOKEN, versions: tuple[str, ...] = ("2.1.1", "2.2.1"),
                 plain_only: bool = False) -> Iterator[Csms]:
    """The CSMS served by uvicorn on a free port of 127.0.0.1 in a thread, stopped afterwards."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    csms = Csms(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", token=token)
    server = uvicorn.Server(uvicorn.Config(_app(csms, versions, plain_only), log_level="warning", access_log=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign] - not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-csms", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the CSMS did not start within 20 s")
        time.sleep(0.02)
    try:
        yield csms
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
