"""A lean HTTP/1.1 load generator, and the bare endpoint it is compared with; run as processes of their own.

    python bench/http_load.py hello                       # a bare Starlette/uvicorn endpoint; prints its URL
    python bench/http_load.py load URL BODIES.json SECONDS CONNECTIONS [HEADER: value ...]

``load`` keeps CONNECTIONS keep-alive connections busy, each sending the next body of the JSON list in
BODIES.json as soon as the previous answer is in, for SECONDS; it prints one JSON line: requests, seconds,
answers per status code, and its own CPU seconds. Raw sockets, so that the client costs a small part of
what the server does (an httpx client costs more per request than the servers measured with it).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


def hello() -> None:
    """POST / reads the body and answers a small JSON object: Starlette on uvicorn, as the relay runs."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"accepted": 1, "rejected": 0})

    app = Starlette(routes=[Route("/", endpoint, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"hello listening on http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


async def _connection(host: str, port: int, requests: list[bytes], deadline: float, codes: Counter,
                      offset: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    try:
        while time.monotonic() < deadline:
            writer.write(requests[(offset + done) % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            codes[status] += 1
            done += 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    return done


async def _load(url: str, bodies: list[str], seconds: float, connections: int, headers: list[str]) -> dict:
    parts = urlsplit(url)
    extra = "".join(f"{h}\r\n" for h in headers)
    requests = [(f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                 f"{extra}Content-Length: {len(body.encode())}\r\n\r\n{body}").encode() for body in bodies]
    codes: Counter = Counter()
    started = time.monotonic()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    counts = await asyncio.gather(*(
        _connection(parts.hostname, parts.port, requests, started + seconds, codes, n * 7919)
        for n in range(connections)))
    elapsed = time.monotonic() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {"requests": sum(counts), "seconds": elapsed, "codes": {str(k): v for k, v in codes.items()},
            "client_cpu": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime}


def main() -> None:
    if sys.argv[1] == "hello":
        hello()
        return
    _, _, url, bodies_path, seconds, connections, *headers = sys.argv
    with open(bodies_path) as file:
        bodies = json.load(file)
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run
    print(json.dumps(run(_load(url, bodies, float(seconds), int(connections), headers))))


if __name__ == "__main__":
    main()
