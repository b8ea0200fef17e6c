"""The async OIOI client: one endpoint, JSON over POST, answers mapped onto ``errors``.

    async with OioiClient(url, api_key) as client:
        result = await client.post_station(station, partner_identifier)
        await client.post_connector_status("DE*8PS*E123456", "Available", partner_identifier)

Retries (``max_retries`` > 0) cover what may pass later: transport failures,
5xx, 408, 425 and 429 answers and the result codes ``codes.TRANSIENT``, waiting
as the one retry policy says (``retry.backoff_delay``: exponential backoff with
full jitter, at least what ``Retry-After`` asks).
An answer that asks for more than ``backoff_max`` is raised instead of retried
early (the outbox schedules it). Any other 4xx or result code is never retried:
sending the same request again cannot change the answer.

The API key is held in one private attribute and only ever written into the
``Authorization`` header; no repr, log line or exception carries it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx

from . import codes, errors, ids
from .retry import CLIENT_BACKOFF_BASE, CLIENT_BACKOFF_MAX, backoff_delay, parse_retry_after
from .vocabulary import CONNECTOR_POST_STATUS, STATUSES

if TYPE_CHECKING:
    from . import messages

log = logging.getLogger(__name__)

_SUCCESS_MESSAGE = "Success."
_REASONS = {403: " (forbidden)", 408: " (request timeout)", 425: " (too early)", 429: " (too many requests)"}


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
        status = data.get(CONNECTOR_POST_STATUS)
        if isinstance(status, dict) and status.get("success") is True:
            return True
    return False


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


KEEPALIVE_EXPIRY = 4.0  # seconds: idle connections go before servers' usual 5 s keep-alive ends


def default_transport(max_connections: int = 100) -> httpx.AsyncBaseTransport:
    """httpx on aiohttp's connection pool (httpx-aiohttp), at most ``max_connections`` open at once.

    httpcore's own pool scans every connection and waiting request whenever a request
    starts or ends, so its CPU grows with the square of the requests in flight (httpx
    issue 3215); aiohttp's pool does not. Measured side by side at 64 in flight against the
    sandbox: 0.41 ms of client CPU per request against 0.75 ms for the hand-written pools
    this replaces and several ms for httpcore's single pool (bench/bench_push.py prints it).
    Idle connections are dropped before servers' usual 5 s keep-alive ends, so a request
    is rarely sent on a connection the server is closing.
    """
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    return _whole_answers_transport()(limits=httpx.Limits(max_connections=max_connections,
                                                         max_keepalive_connections=max_connections,
                                                         keepalive_expiry=KEEPALIVE_EXPIRY))


@functools.cache
def _whole_answers_transport() -> type[httpx.AsyncBaseTransport]:
    """httpx-aiohttp's transport, reading each answer whole in aiohttp: an OIOI answer is a few bytes, and
    streaming it through httpx's byte iterators cost a tenth of the client's CPU per request."""
    from httpx_aiohttp import AiohttpTransport
    from httpx_aiohttp.transport import map_aiohttp_exceptions

    class WholeAnswers(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not isinstance(self.client, aiohttp.ClientSession):
                self.client = self.get_client()
            timeout = request.extensions.get("timeout", {})
            with map_aiohttp_exceptions():
                async with self.client.request(
                    request.method, str(request.url), headers=request.headers, data=request.content or None,
                    allow_redirects=False, auto_decompress=False, compress=False,
                    timeout=aiohttp.ClientTimeout(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                                  connect=timeout.get("pool")),
                ) as answer:
                    content = await answer.read()
            return httpx.Response(answer.status, headers=answer.raw_headers, content=content, request=request)

    return WholeAnswers


def _transport_failure(error: Exception) -> type[errors.TransportError]:
    """Which way a request without a usable answer failed, from httpx's error or aiohttp's under it.

    httpx-aiohttp maps every aiohttp connection error onto ``httpx.ConnectTimeout``; the
    aiohttp exception it chains tells a refused connection, a dropped one and a timeout apart.
    """
    cause = error.__cause__ if isinstance(error, httpx.TransportError) else error
    if isinstance(error, httpx.TransportError) and cause is None:  # httpx's own transports say it themselves
        if isinstance(error, httpx.TimeoutException):
            return errors.Timeout
        return errors.ConnectError if isinstance(error, httpx.ConnectError) else errors.TransportError
    if isinstance(cause, TimeoutError):  # aiohttp's read and connect timeouts are TimeoutErrors too
        return errors.Timeout
    if isinstance(cause, aiohttp.ClientConnectorError):
        return errors.ConnectError
    return errors.TransportError


class OioiClient:
    """Sends OIOI requests to one endpoint with one API key."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = CLIENT_BACKOFF_BASE,
        backoff_max: float = CLIENT_BACKOFF_MAX,
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
        # httpx's transport API, called directly: an OIOI request needs none of AsyncClient's work per request
        # (header merging, URL parsing, cookies, auth and redirect flows), which cost a third of the client's
        # CPU per request at 64 in flight. Tests inject httpx transports (MockTransport).
        self._transport = transport or default_transport(max_connections)
        self._timeouts = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._url: httpx.URL | None = None  # parsed at the first request: a bad URL fails that request
        self._headers = httpx.Headers({"Content-Type": "application/json", "Accept": "application/json",
                                       "Authorization": f"key={self.__api_key}"})  # httpx masks it in any repr

    @property
    def api_key_hint(self) -> str:
        """The last 4 characters of the API key, the only part ever shown."""
        return "…" + self.__api_key[-4:]

    def __repr__(self) -> str:
        return f"OioiClient(endpoint={self.endpoint!r}, api_key={self.api_key_hint!r})"

    async def __aenter__(self) -> OioiClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- sending ---------------------------------------------------------------------------

    async def send(self, body: dict) -> dict:
        """POST an encoded request body; the decoded answer on success, else an ``errors.OioiError``."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return await self.send_json(content, next(iter(body), "request") if isinstance(body, dict) else "request")

    async def send_json(self, content: bytes, kind: str) -> dict:
        """``send`` of a body already encoded as JSON (the outbox keeps it so); ``kind`` names it in errors."""
        attempt = 0
        while True:
            try:
                return await self._send_once(content, kind)
            except errors.OioiError as error:
                if not error.retryable or attempt >= self.max_retries:
                    raise
                retry_after = error.retry_after
                if retry_after is not None and retry_after > self.backoff_max:
                    # Sending sooner than the endpoint asked would only be refused again; waiting that long
                    # is not this call's to decide: the caller (the outbox) schedules the retry.
                    raise
                delay = backoff_delay(attempt + 1, base=self.backoff_base, cap=self.backoff_max,
                                      retry_after=retry_after, rng=self.random)
                log.info("%s failed (%s); retry %d of %d in %.2f s", kind, error.message, attempt + 1,
                         self.max_retries, delay)
                attempt += 1
                await self.sleep(delay)

    async def _send_once(self, content: bytes, kind: str) -> dict:
        if self._url is None:
            self._url = httpx.URL(self.endpoint)
        request = httpx.Request("POST", self._url, headers=self._headers, content=content, extensions=self._timeouts)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except (httpx.TransportError, aiohttp.ClientError) as error:
            failure = _transport_failure(error)
            if failure is errors.Timeout:
                raise errors.Timeout(f"{kind}: {self.endpoint} did not answer within {self.timeout:g} s") \
                    from None
            cause = error.__cause__ or error
            if failure is errors.ConnectError:
                raise errors.ConnectError(f"{kind}: cannot reach {self.endpoint} ({_short(str(cause)) or 'refused'})") \
                    from None
            raise errors.TransportError(
                f"{kind}: the connection to {self.endpoint} failed ({type(cause).__name__}: {_short(str(cause))})"
            ) from None
        return self._answer(response, kind)

    def _answer(self, response: httpx.Response, kind: str) -> dict:
        status = response.status_code
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        result = _result_of(data)
        # Read for every answer: a throttled or failing endpoint says when to come back, and the
        # worker honours it whatever the answer was.
        retry_after = parse_retry_after(response.headers.get("Retry-After"))

        if status == 401:
            code, message = result if result and result[0] != codes.SUCCESS else (codes.INVALID_API_KEY, "")
            raise errors.error_for_code(code, message or "the endpoint refused the API key", status_code=status,
                                        retry_after=retry_after)
        if status >= 500 or status in codes.RETRY_LATER_HTTP:
            detail = f": {result[1]}" if result and result[1] else ""
            cls = (errors.ServerError if status >= 500 else errors.Throttled if status == 429
                   else errors.RetryLater)
            reason = _REASONS.get(status, "")
            raise cls(
                f"{kind}: {self.endpoint} answered HTTP {status}{reason}{detail}"
                + (f" (retry after {retry_after:g} s)" if retry_after is not None else ""),
                status_code=status, retry_after=retry_after,
            )
        if result is not None and not codes.is_success(result[0]):
            raise errors.error_for_code(result[0], result[1], status_code=status, retry_after=retry_after)
        if status == 200:
            if _is_success_body(data):
                return data
            raise errors.HTTPStatusError(
                f"{kind}: HTTP 200 without a success result: {_short(response.text) or 'empty body'}",
                status_code=status,
            )
        if status == 400:
            raise errors.error_for_code(codes.INVALID_REQUEST_FORMAT, _short(response.text), status_code=status)
        if status == 404 and kind == CONNECTOR_POST_STATUS:
            raise errors.error_for_code(codes.EVSE_NOT_FOUND, "", status_code=status)
        if status == 422:
            raise errors.ResultCodeError(
                codes.CLIENT_ERROR, "ambiguous: the endpoint could not tell which connector is meant",
                status_code=status,
            )
        if 200 <= status < 300 and _is_success_body(data):
            return data
        raise errors.HTTPStatusError(
            f"{kind}: {self.endpoint} answered HTTP {status}{_REASONS.get(status, '')}: "
            f"{_short(response.text) or 'empty body'}",
            status_code=status, retry_after=retry_after,
        )

    # -- messages --------------------------------------------------------------------------

    async def post_station(self, station: messages.Station, partner_identifier: str) -> messages.Result:
        """Push one station (``deleted=True`` soft-deletes it); the endpoint's result on success."""
        from . import messages  # here: the sending process sends bodies made elsewhere, without the models (0.2 s)

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
        from . import messages

        _check_partner(partner_identifier)
        try:
            status = messages.ConnectorStatus(status)
        except ValueError:
            allowed = ", ".join(STATUSES)
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
