"""KeepAlivePool, the HTTP/1.1 client under OioiClient: real sockets, hand-written answers."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from oioi_onboard.oioi import errors
from oioi_onboard.oioi.client import KeepAlivePool, OioiClient

SECRET_KEY = "pool-test-key-0000-1234"
SUCCESS = b'{"result":{"code":0,"message":"Success."}}'


class RawServer:
    """Answers each request on a connection with the next of ``answers`` (bytes), then maybe hangs up."""

    def __init__(self, answers: list[bytes], *, close_after: int | None = None):
        self.answers = list(answers)
        self.close_after = close_after  # requests per connection before the server closes it
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/v4/request"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(connection,), daemon=True).start()

    def _connection(self, connection: socket.socket) -> None:
        served = 0
        buffer = b""
        with connection:
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")][0])
                while len(rest) < length:
                    rest += connection.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                connection.sendall(self.answers.pop(0))
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    return

    def close(self) -> None:
        self.listener.close()


def ok(body: bytes = SUCCESS, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def test_requests_share_one_kept_alive_connection_and_carry_the_key_header():
    server = RawServer([ok(), ok(), ok()])
    try:
        async def go():
            async with OioiClient(server.url, SECRET_KEY, max_retries=0) as client:
                return [await client.send({"station-post": {"n": n}}) for n in range(3)]

        answers = asyncio.run(go())
    finally:
        server.close()
    assert answers == [{"result": {"code": 0, "message": "Success."}}] * 3
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/v4/request HTTP/1.1\r\n")
    assert f"Authorization: key={SECRET_KEY}".encode() in first
    assert first.endswith(b'{"station-post":{"n":0}}')


def test_chunked_answers_and_connection_close_are_read_whole():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"10\r\n" + SUCCESS[:16] + b"\r\n" + b"%x\r\n" % (len(SUCCESS) - 16) + SUCCESS[16:] + b"\r\n0\r\n\r\n")
    closing = ok(extra=b"Connection: close\r\n")
    server = RawServer([chunked, closing, ok()])
    try:
        async def go():
            async with OioiClient(server.url, SECRET_KEY, max_retries=0) as client:
                return [await client.send({"station-post": {}}) for _ in range(3)]

        answers = asyncio.run(go())
    finally:
        server.close()
    assert answers == [{"result": {"code": 0, "message": "Success."}}] * 3
    assert server.connections == 2  # the server said "close" after the second answer


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error():
    server = RawServer([ok(), ok()], close_after=1)
    try:
        async def go():
            async with OioiClient(server.url, SECRET_KEY, max_retries=0) as client:
                first = await client.send({"station-post": {}})
                await asyncio.sleep(0.2)  # the server hangs up the idle connection meanwhile
                return first, await client.send({"station-post": {}})

        answers = asyncio.run(go())
    finally:
        server.close()
    assert answers == ({"result": {"code": 0, "message": "Success."}},) * 2
    assert server.connections == 2


def test_503_with_retry_after_header_is_a_server_error():
    body = b'{"result":{"code":500,"message":"busy"}}'
    server = RawServer([b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 7\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body)])
    try:
        async def go():
            async with OioiClient(server.url, SECRET_KEY, max_retries=0) as client:
                await client.send({"station-post": {}})

        with pytest.raises(errors.ServerError) as caught:
            asyncio.run(go())
    finally:
        server.close()
    assert caught.value.retry_after == 7 and caught.value.retryable


def test_never_more_connections_than_allowed():
    server = RawServer([ok() for _ in range(24)])
    pool = KeepAlivePool(server.url, max_connections=3)
    try:
        async def go():
            return await asyncio.gather(*(pool.post(b"{}", b"") for _ in range(24)))

        answers = asyncio.run(go())
    finally:
        server.close()
    assert [a.status_code for a in answers] == [200] * 24
    assert pool.opened <= 3 and server.connections <= 3


def test_only_http_urls():
    with pytest.raises(ValueError, match="only http and https"):
        KeepAlivePool("ftp://example.org/x")
