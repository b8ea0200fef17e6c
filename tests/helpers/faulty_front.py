"""A switchable front for the real sandbox: an outage, throttling or a refusal on demand, at run time.

    with faulty_front(sandbox.url) as front:
        front.mode = "down"            # every request: 503, no Retry-After
        front.throttle(1, "2")         # the next request: 429 with Retry-After: 2
        front.mode = "up"              # requests go to the sandbox
        front.requests                 # (monotonic time, station id or EVSE id, HTTP status) per request

It is a real HTTP server on 127.0.0.1 (uvicorn, in a thread) that forwards to the
sandbox process, so the worker's client, connections and timing are the real ones.
Until the sandbox has run-time fault controls of its own this is how a test starts
and ends an outage without a restart.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oioi_onboard.testing.sandbox import free_port


@dataclass
class Front:
    url: str  # the OIOI endpoint to give a CPO
    target: str  # the sandbox's OIOI endpoint
    mode: str = "up"  # up, down (503), reset (connection dropped), forbidden (403 without a body)
    retry_after: str | None = None  # sent with "down" answers when set
    requests: list[tuple[float, str, int]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # requests being answered at once, at most: never more than open connections
    _throttle: list[str | None] = field(default_factory=list)  # Retry-After values for the next requests
    _fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle(self, count: int, retry_after: str | None) -> None:
        """The next ``count`` requests are answered 429 with this Retry-After (None: without one)."""
        with self.lock:
            self._throttle.extend([retry_after] * count)

    def fail_next(self, count: int) -> None:
        """The next ``count`` requests are answered 503 without Retry-After, whatever the mode."""
        with self.lock:
            self._fail_next += count

    def statuses(self) -> list[int]:
        with self.lock:
            return [status for _, _, status in self.requests]

    def times_of(self, key: str) -> list[float]:
        with self.lock:
            return [at for at, k, _ in self.requests if k == key]


def _key(body: bytes) -> str:
    try:
        data = json.loads(body)
        kind, message = next(iter(data.items()))
        return message["station"]["id"] if kind == "station-post" else message["connector-id"]
    except Exception:  # noqa: BLE001 - whatever it is, it is recorded
        return "?"


def _app(front: Front) -> Starlette:
    client: httpx.AsyncClient | None = None

    async def oioi(request: Request) -> Response:
        nonlocal client
        with front.lock:
            front.in_flight += 1
            front.max_in_flight = max(front.max_in_flight, front.in_flight)
        try:
            return await answer(request)
        finally:
            with front.lock:
                front.in_flight -= 1

    async def answer(request: Request) -> Response:
        nonlocal client
        body = await request.body()
        key = _key(body)
        with front.lock:
            throttled = front._throttle.pop(0) if front._throttle else False
            fail = front._fail_next > 0
            front._fail_next -= 1 if fail else 0
            mode = front.mode

        def answered(status: int) -> None:
            with front.lock:
                front.requests.append((time.monotonic(), key, status))

        if throttled is not False:
            answered(429)
            return JSONResponse({"error": "too many requests"}, status_code=429,
                                headers={"Retry-After": throttled} if throttled is not None else None)
        if fail or mode == "down":
            answered(503)
            headers = {"Retry-After": front.retry_after} if front.retry_after and not fail else None
            return JSONResponse({"error": "maintenance"}, status_code=503, headers=headers)
        if mode == "forbidden":
            answered(403)
            return Response("forbidden", status_code=403)
        if client is None:
            client = httpx.AsyncClient(timeout=30)
        answer = await client.post(front.target, content=body, headers={
            "Authorization": request.headers.get("authorization", ""),
            "Content-Type": request.headers.get("content-type", "")})
        answered(answer.status_code)
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/api/v4/request", oioi, methods=["POST"])])


@contextmanager
def faulty_front(target: str) -> Iterator[Front]:
    import uvicorn

    port = free_port()
    front = Front(url=f"http://127.0.0.1:{port}/api/v4/request", target=target)
    server = uvicorn.Server(uvicorn.Config(_app(front), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="faulty-front", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the faulty front did not start")
        time.sleep(0.02)
    try:
        yield front
    finally:
        server.should_exit = True
        thread.join(timeout=10)
