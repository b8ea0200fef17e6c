"""HTTP by hand on a socket, for tests of how a server reads a body: framing, slow or endless bodies,
a refusal before the body is read."""

import socket
from contextlib import contextmanager
from urllib.parse import urlsplit


@contextmanager
def connected(url: str):
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        yield sock


def head(method: str, path: str, authorization: str | None, *, length: int | None = None) -> bytes:
    """A request head with a JSON body framed by ``length`` (Content-Length) or chunked (None)."""
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    line = f"Authorization: {authorization}\r\n" if authorization else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: relay\r\n{line}Content-Type: application/json\r\n"
            f"{framing}\r\n\r\n").encode()


def answer_of(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """The status code and everything read until the server closed (or ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    assert data.startswith(b"HTTP/1.1 "), f"no answer within {timeout} s: {data[:200]!r}"
    return int(data.split(b" ", 2)[1]), data
