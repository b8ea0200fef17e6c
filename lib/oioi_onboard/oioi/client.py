"""The async OIOI client: one endpoint, JSON over POST, answers mapped onto ``errors``.

    async with OioiClient(url, api_key) as client:
        result = await client.post_station(station, partner_identifier)
        await client.post_connector_status("DE*8PS*E123456", "Available", partner_identifier)

Retries (``max_retries`` > 0) cover what may pass later: transport failures and
5xx answers, with exponential backoff and full jitter, waiting at least what
``Retry-After`` asks (capped by ``backoff_max``). A 4xx or a non-zero result
code is never retried: sending the same request again cannot change the answer.

The API key is held in one private attribute and only ever written into the
``Authorization`` header; no repr, log line or exception carries it.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import socket
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

import httpx

from . import codes, errors, ids, messages

log = logging.getLogger(__name__)

_SUCCESS_MESSAGE = "Success."


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _check_partner(partner_identifier: str) -> None:
    try:
        ids.check_partner_identifier(partner_identifier)
    except ids.IdError as error:
        raise ValueError(f"partner identifier refused before sending: {error}") from None


def _result_of(data: Any) -> tuple[int, str] | None:
    """``(code, message)`` of ``{"result": {"code": N, ...}}``, or None when there is none."""
    if isinstance(data, dict):
        result = data.get("result")
        if isinstance(result, dict):
            code = result.get("code")
            if isinstance(code, str) and code.strip().isdigit():
                code = int(code)  # "000" style codes, as the spec's table writes them
            if isinstance(code, int) and not isinstance(code, bool):
                message = result.get("message")
                return code, message if isinstance(message, str) else ""
    return None


def _is_success_body(data: Any) -> bool:
    result = _result_of(data)
    if result is not None:
        return codes.is_success(result[0])
    if isinstance(data, dict):
        status = data.get("connector-post-status")
        if isinstance(status, dict) and status.get("success") is True:
            return True
    return False


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PooledTransport(httpx.AsyncBaseTransport):
    """Many small httpx connection pools in place of one large one.

    httpcore's pool scans every connection and every waiting request each time a
    request starts or ends, so its cost grows with the square of the requests in
    flight: at 64 it spends several times more CPU than the requests themselves
    (httpx issue 3215). Pools of ``pool_size`` connections keep each scan short;
    a request goes to the pool with the most free connections. Answers are read whole,
    which suits OIOI's small JSON bodies, so a pool is free again on return.
    """

    def __init__(self, max_connections: int = 100, *, pool_size: int = 4):
        if max_connections < 1 or pool_size < 1:
            raise ValueError("max_connections and pool_size must be at least 1")
        # Full pools of pool_size, and the rest in a last, smaller one: never more than max_connections.
        full, rest = divmod(max_connections, pool_size)
        sizes = [pool_size] * full + ([rest] if rest else [])
        self._pools = [
            # Idle connections are dropped after 4 s, before servers' usual 5 s keep-alive ends,
            # so a request is rarely sent on a connection the server is closing.
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=4.0)
            )
            for size in sizes
        ]
        self._sizes = sizes
        self._in_flight = [0] * len(sizes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = max(range(len(self._pools)), key=lambda i: self._sizes[i] - self._in_flight[i])
        self._in_flight[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        finally:
            self._in_flight[index] -= 1
        return httpx.Response(
            response.status_code, headers=response.headers, content=content,
            extensions={k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")},
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Answer:
    """An HTTP answer read whole: the parts of ``httpx.Response`` that ``_answer`` reads."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code = status_code
        self.headers = headers  # lower-case names
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Headers(dict):
    """Header names compared without case, as HTTP wants."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class _CannotConnect(Exception):
    """No connection to the endpoint could be opened (refused, unknown host, TLS handshake failed)."""


class _Dropped(Exception):
    """The server closed the connection before a whole answer arrived."""


class KeepAlivePool:
    """A small HTTP/1.1 client for one endpoint: kept-alive connections, one request at a time each.

    The worker sends small JSON POSTs to a single URL thousands of times a second;
    httpx + httpcore + anyio + h11 spend ~0.85 ms of CPU on each (URL parsing, header
    models, pool scans, several layers of async context managers), more than the
    database work per request. Here a request is one ``write`` of prepared bytes and
    an answer is a status line, headers and a Content-Length (or chunked) body.
    No proxies, no redirects, no cookies: OIOI needs none of them.
    """

    def __init__(self, url: str, *, max_connections: int = 100, keepalive_expiry: float = 4.0):
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise ValueError(f"endpoint {url!r} is not a valid URL: {error}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"endpoint {url!r}: only http and https URLs with a host are supported")
        self.host = parsed.host
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.tls = parsed.scheme == "https"
        target = parsed.raw_path.decode("ascii") or "/"
        host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
        if ":" in parsed.host and not parsed.host.startswith("["):
            host_header = f"[{parsed.host}]" + (f":{parsed.port}" if parsed.port else "")
        self._head = f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\n".encode("ascii")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._ssl: Any = None
        self.opened = 0  # connections opened so far (tests read it)

    async def post(self, content: bytes, headers: bytes) -> _Answer:
        """POST ``content``; ``headers`` are ready-made ``Name: value\\r\\n`` lines."""
        request = b"".join((self._head, headers, b"Content-Length: ", str(len(content)).encode(), b"\r\n\r\n",
                            content))
        async with self._slots:
            reused, (reader, writer) = self._take_idle()
            if reader is None:
                reader, writer = await self._open()
            try:
                try:
                    writer.write(request)
                    answer, keep = await self._read_answer(reader)
                except (_Dropped, ConnectionError) as error:
                    writer.close()
                    if not reused:
                        raise ConnectionError(str(error) or "the server closed the connection") from None
                    # The server closed an idle connection as we reused it: nothing was answered,
                    # so send once on a fresh connection (what browsers and httpcore do as well).
                    reader, writer = await self._open()
                    writer.write(request)
                    answer, keep = await self._read_answer(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer, time.monotonic() + self.keepalive_expiry))
            else:
                writer.close()
            return answer

    def _take_idle(self):  # noqa: ANN202
        now = time.monotonic()
        while self._idle:
            reader, writer, expires = self._idle.pop()
            if expires > now and not reader.at_eof() and not writer.is_closing():
                return True, (reader, writer)
            writer.close()
        return False, (None, None)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ssl_context = None
        if self.tls:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # certifi's CAs, as httpx verifies by default
            ssl_context = self._ssl
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=ssl_context, limit=1 << 20)
        except OSError as error:
            raise _CannotConnect(str(error) or type(error).__name__) from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened += 1
        log.debug("opened connection %d to %s:%d", self.opened, self.host, self.port)
        return reader, writer

    async def _read_answer(self, reader: asyncio.StreamReader) -> tuple[_Answer, bool]:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                raise _Dropped("the server closed the connection without answering") from None
            except asyncio.LimitOverrunError:
                raise ValueError("the answer's headers are too large") from None
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ValueError(f"not an HTTP/1.1 answer: {_short(lines[0])}")
            status = int(parts[1])
            headers = _Headers()
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break  # a 1xx (interim) answer is followed by the real one
        keep = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                content = await self._read_chunked(reader)
            elif "content-length" in headers:
                content = await reader.readexactly(int(headers["content-length"]))
            elif status in (204, 304):
                content = b""
            else:
                content, keep = await reader.read(), False  # the body ends with the connection
        except asyncio.IncompleteReadError:
            raise _Dropped("the server closed the connection in the middle of the answer") from None
        return _Answer(status, headers, content), keep

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def aclose(self) -> None:
        while self._idle:
            _reader, writer, _expires = self._idle.pop()
            writer.close()


class OioiClient:
    """Sends OIOI requests to one endpoint with one API key."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not api_key or not api_key.strip():
            raise ValueError("an API key is needed to talk to an OIOI endpoint")
        if any(ch in api_key for ch in "\r\n"):
            raise ValueError("the API key holds a line break; paste it again without one")
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.__api_key = api_key.strip()
        # Tests swap these for a recording sleep and a fixed random source.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.random: random.Random = random.Random()
        # Without a transport of the caller's (tests pass httpx mock and counting transports), requests
        # go through the lean KeepAlivePool; httpx's client stays for the custom transport case.
        self._pool: KeepAlivePool | None = None
        self._http: httpx.AsyncClient | None = None
        if transport is None:
            self._pool = KeepAlivePool(endpoint, max_connections=max_connections)
            self._headers = (f"Content-Type: application/json\r\nAccept: application/json\r\n"
                             f"Authorization: key={self.__api_key}\r\n").encode("latin-1")
        else:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout), transport=transport,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )

    @property
    def api_key_hint(self) -> str:
        """The last 4 characters of the API key, the only part ever shown."""
        return "…" + self.__api_key[-4:]

    def __repr__(self) -> str:
        return f"OioiClient(endpoint={self.endpoint!r}, api_key={self.api_key_hint!r})"

    async def __aenter__(self) -> "OioiClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self._http is not None:
            await self._http.aclose()

    # -- sending ---------------------------------------------------------------------------

    async def send(self, body: dict) -> dict:
        """POST an encoded request body; the decoded answer on success, else an ``errors.OioiError``."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kind = next(iter(body), "request") if isinstance(body, dict) else "request"
        attempt = 0
        while True:
            try:
                return await self._send_once(content, kind)
            except errors.OioiError as error:
                retryable = isinstance(error, (errors.TransportError, errors.ServerError))
                if not retryable or attempt >= self.max_retries:
                    raise
                delay = self._backoff(attempt, getattr(error, "retry_after", None))
                log.info("%s failed (%s); retry %d of %d in %.2f s", kind, error.message, attempt + 1,
                         self.max_retries, delay)
                attempt += 1
                await self.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter over an exponential ceiling, never less than Retry-After, capped."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        delay = self.random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max)

    async def _send_once(self, content: bytes, kind: str) -> dict:
        if self._pool is not None:
            return await self._send_pooled(content, kind)
        try:
            response = await self._http.post(
                self.endpoint, content=content, headers={"Authorization": f"key={self.__api_key}"}
            )
        except httpx.TimeoutException:
            raise errors.TimeoutError(f"{kind}: {self.endpoint} did not answer within {self.timeout:g} s") from None
        except httpx.ConnectError as error:
            raise errors.ConnectError(f"{kind}: cannot reach {self.endpoint} ({_short(str(error)) or 'refused'})") \
                from None
        except httpx.TransportError as error:
            raise errors.TransportError(
                f"{kind}: the connection to {self.endpoint} failed ({type(error).__name__}: {_short(str(error))})"
            ) from None
        return self._answer(response, kind)

    async def _send_pooled(self, content: bytes, kind: str) -> dict:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._pool.post(content, self._headers)
        except TimeoutError:
            raise errors.TimeoutError(f"{kind}: {self.endpoint} did not answer within {self.timeout:g} s") from None
        except _CannotConnect as error:
            raise errors.ConnectError(f"{kind}: cannot reach {self.endpoint} ({_short(str(error)) or 'refused'})") \
                from None
        except (OSError, ValueError) as error:
            raise errors.TransportError(
                f"{kind}: the connection to {self.endpoint} failed ({type(error).__name__}: {_short(str(error))})"
            ) from None
        return self._answer(response, kind)

    def _answer(self, response: httpx.Response | _Answer, kind: str) -> dict:
        status = response.status_code
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        result = _result_of(data)

        if status == 401:
            code, message = result if result and result[0] != codes.SUCCESS else (codes.INVALID_API_KEY, "")
            raise errors.error_for_code(code, message or "the endpoint refused the API key", status_code=status)
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            detail = f": {result[1]}" if result and result[1] else ""
            raise errors.ServerError(
                f"{kind}: {self.endpoint} answered HTTP {status}{detail}"
                + (f" (retry after {retry_after:g} s)" if retry_after is not None else ""),
                status_code=status, retry_after=retry_after,
            )
        if result is not None and not codes.is_success(result[0]):
            raise errors.error_for_code(result[0], result[1], status_code=status)
        if status == 200:
            if _is_success_body(data):
                return data
            raise errors.HTTPStatusError(
                f"{kind}: HTTP 200 without a success result: {_short(response.text) or 'empty body'}",
                status_code=status,
            )
        if status == 400:
            raise errors.error_for_code(codes.INVALID_REQUEST_FORMAT, _short(response.text), status_code=status)
        if status == 404 and kind == "connector-post-status":
            raise errors.error_for_code(codes.EVSE_NOT_FOUND, "", status_code=status)
        if status == 422:
            raise errors.ResultCodeError(
                codes.CLIENT_ERROR, "ambiguous: the endpoint could not tell which connector is meant",
                status_code=status,
            )
        if 200 <= status < 300 and _is_success_body(data):
            return data
        raise errors.HTTPStatusError(
            f"{kind}: {self.endpoint} answered HTTP {status}: {_short(response.text) or 'empty body'}",
            status_code=status,
        )

    # -- messages --------------------------------------------------------------------------

    async def post_station(self, station: messages.Station, partner_identifier: str) -> messages.Result:
        """Push one station (``deleted=True`` soft-deletes it); the endpoint's result on success."""
        _check_partner(partner_identifier)
        body = messages.encode(messages.StationPost(station=station, partner_identifier=partner_identifier))
        data = await self.send(body)
        result = _result_of(data)
        if result is None:
            return messages.Result(code=codes.SUCCESS, message=_SUCCESS_MESSAGE)
        return messages.Result(code=result[0], message=result[1])

    async def post_connector_status(
        self, connector_id: str, status: messages.ConnectorStatus | str, partner_identifier: str
    ) -> None:
        """Set the status of every connector with this EVSE id."""
        _check_partner(partner_identifier)
        try:
            status = messages.ConnectorStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in messages.ConnectorStatus)
            raise ValueError(f"connector {connector_id!r}: status {status!r} is not one of {allowed}") from None
        message = messages.ConnectorPostStatus(
            connector_id=connector_id, status=status, partner_identifier=partner_identifier
        )
        await self.send(messages.encode(message))


async def send_many(
    client: OioiClient,
    bodies: Sequence[dict],
    *,
    concurrency: int = 16,
    on_result: Callable[[int, dict | errors.OioiError], None] | None = None,
) -> list[dict | errors.OioiError]:
    """Send every body with at most ``concurrency`` in flight; item i's answer or error at index i.

    One failed item never stops the others: its ``OioiError`` takes its place in the list.
    ``on_result(index, answer_or_error)`` is called as each one finishes.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    results: list[dict | errors.OioiError | None] = [None] * len(bodies)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(bodies):
            index = next_index
            next_index += 1
            try:
                outcome: dict | errors.OioiError = await client.send(bodies[index])
            except errors.OioiError as error:
                outcome = error
            results[index] = outcome
            if on_result is not None:
                on_result(index, outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(bodies))):
            group.create_task(worker())
    return results  # type: ignore[return-value]
