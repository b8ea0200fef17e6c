"""The simulator as a pushing CPO: EVSE status changes sent as PATCHes to a receiver, at a steady rate.

    stats = await send_status_patches(network, receiver_url="http://127.0.0.1:8766/ocpi/2.2.1/locations",
                                      token=token, rate=200, count=1000)

Each change is one of the network's (``Network.change``: an EVSE's status moves, its and its
Location's ``last_updated`` with it) and goes out as

    PATCH {receiver_url}/{country_code}/{party_id}/{location_id}/{evse_uid}
    {"status": "CHARGING", "last_updated": "2026-12-02T21:00:00Z"}

with ``Authorization: Token <base64 of the token>`` (or plain), an ``X-Request-ID`` and an
``X-Correlation-ID``. The PATCHes start on a fixed schedule (``rate`` a second) whatever the
answers take, up to ``max_in_flight`` at once; an answer other than HTTP 200 with status_code 1000
is counted as refused, no answer as failed, and neither stops the sending.

Or, as a CSMS connects to a new receiver, it registers first (``register``, the credentials handshake
with the registration token, TOKEN_A, the receiver's operator gave): it learns the receiver's
credentials and locations endpoints from its versions, POSTs its own credentials (its token, versions
URL and CPO role), and PATCHes with the token the receiver answers (TOKEN_C). ``registered_status_sender``
does that at start, trying again while the receiver does not answer yet.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .network import Change, Network

__all__ = ["SenderStats", "send_status_patches", "periodic_changes", "status_sender", "Registration",
           "RegistrationFailed", "register", "registered_status_sender"]

log = logging.getLogger(__name__)


@dataclass
class SenderStats:
    sent: int = 0
    accepted: int = 0  # HTTP 200 and status_code 1000
    refused: int = 0  # another answer
    failed: int = 0  # no answer
    last_problem: str | None = None
    # With keep_records: (change, monotonic time sent, monotonic time answered, HTTP status or None) per PATCH.
    records: list[tuple[Change, float, float, int | None]] = field(default_factory=list)


def _authorization(token: str, plain: bool) -> str:
    return f"Token {token}" if plain else "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")


async def send_status_patches(
    network: Network,
    *,
    receiver_url: str,
    token: str,
    rate: float,
    count: int | None = None,
    seconds: float | None = None,
    stop: asyncio.Event | None = None,
    plain: bool = False,
    max_in_flight: int = 64,
    timeout: float = 10.0,
    keep_records: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SenderStats:
    """Send status changes until ``count`` are sent, ``seconds`` have passed or ``stop`` is set."""
    if rate <= 0:
        raise ValueError("the rate must be more than 0 PATCHes a second")
    stats = SenderStats()
    stop = stop or asyncio.Event()
    room = asyncio.Semaphore(max(1, max_in_flight))
    base = receiver_url.rstrip("/")
    authorization = _authorization(token, plain)
    tasks: set[asyncio.Task] = set()

    async def patch(client: httpx.AsyncClient, change: Change) -> None:
        url = f"{base}/{network.country_code}/{network.party_id}/{change.location_id}/{change.evse_uid}"
        request_id = str(uuid.uuid4())
        sent_at = time.monotonic()
        status_code = None
        try:
            response = await client.patch(url, json={"status": change.status, "last_updated": change.last_updated},
                                          headers={"Authorization": authorization, "X-Request-ID": request_id,
                                                   "X-Correlation-ID": request_id})
            status_code = response.status_code
            try:
                ok = status_code == 200 and response.json().get("status_code") == 1000
            except (ValueError, AttributeError):
                ok = False
            if ok:
                stats.accepted += 1
            else:
                stats.refused += 1
                stats.last_problem = f"{url}: HTTP {status_code} {response.text[:200]}"
        except httpx.HTTPError as error:
            stats.failed += 1
            stats.last_problem = f"{url}: {type(error).__name__}: {error}"
        finally:
            room.release()
            if keep_records:
                stats.records.append((change, sent_at, time.monotonic(), status_code))

    started = time.monotonic()
    limits = httpx.Limits(max_connections=max(1, max_in_flight), max_keepalive_connections=max(1, max_in_flight))
    async with httpx.AsyncClient(transport=transport, timeout=timeout, limits=limits) as client:
        while not stop.is_set() and (count is None or stats.sent < count):
            due = started + stats.sent / rate
            now = time.monotonic()
            if seconds is not None and due - started >= seconds:
                break
            if due > now:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=due - now)
                    break
                except TimeoutError:
                    pass
            await room.acquire()
            change = network.change()
            if change is None:
                room.release()
                break  # nothing left that has a status to change
            stats.sent += 1
            task = asyncio.create_task(patch(client, change))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def periodic_changes(every: float, count: int = 1, static_share: float = 0.0):  # noqa: ANN201
    """A job for ``create_app(background=...)``: every ``every`` seconds, ``count`` changes; a share of them static."""

    async def job(state) -> None:  # noqa: ANN001
        while True:
            await asyncio.sleep(every)
            for _ in range(count):
                static = state.network.rng.random() < static_share
                if state.network.change(static=static) is not None:
                    state.counts["changes"] += 1

    return job


async def _send_forever(state, *, receiver_url: str, token: str, rate: float, plain: bool) -> None:  # noqa: ANN001
    while True:
        stats = await send_status_patches(state.network, receiver_url=receiver_url, token=token, rate=rate,
                                          seconds=60, plain=plain)
        state.counts["patches_sent"] += stats.sent
        state.counts["patches_accepted"] += stats.accepted
        state.counts["patches_refused"] += stats.refused
        state.counts["patches_failed"] += stats.failed
        if stats.refused or stats.failed:
            log.warning("status PATCHes in the last minute: %d sent, %d refused, %d unanswered; last: %s",
                        stats.sent, stats.refused, stats.failed, stats.last_problem)


def status_sender(*, receiver_url: str, token: str, rate: float, plain: bool = False):  # noqa: ANN201
    """A job for ``create_app(background=...)``: status PATCHes to a receiver for as long as the sandbox runs."""

    async def job(state) -> None:  # noqa: ANN001
        await _send_forever(state, receiver_url=receiver_url, token=token, rate=rate, plain=plain)

    return job


@dataclass(frozen=True)
class Registration:
    """What the handshake gave: the token to send from now on (TOKEN_C) and the receiver's locations endpoint."""

    token: str = field(repr=False)
    locations_url: str


class RegistrationFailed(Exception):
    """The handshake did not go through; ``retry``: the receiver did not answer (yet), so trying later may work."""

    def __init__(self, message: str, *, retry: bool = False):
        super().__init__(message)
        self.retry = retry


async def _data(client: httpx.AsyncClient, method: str, url: str, token: str, body: Any = None) -> Any:
    request_id = str(uuid.uuid4())
    try:
        response = await client.request(method, url, json=body, headers={
            "Authorization": _authorization(token, False), "X-Request-ID": request_id,
            "X-Correlation-ID": request_id})
    except httpx.InvalidURL as error:
        raise RegistrationFailed(f"{method} {url}: not a URL to reach: {error}") from None
    except httpx.HTTPError as error:
        raise RegistrationFailed(f"{method} {url}: {type(error).__name__}: {error}", retry=True) from None
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    if response.status_code != 200 or not isinstance(envelope, dict) or envelope.get("status_code") != 1000:
        said = envelope.get("status_message") if isinstance(envelope, dict) else response.text[:200]
        raise RegistrationFailed(f"{method} {url}: HTTP {response.status_code}: {said}",
                                 retry=response.status_code >= 500)
    return envelope.get("data")


async def register(versions_url: str, *, registration_token: str, credentials: dict[str, Any],
                   timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> Registration:
    """The credentials handshake from the CSMS's side: ``credentials`` ({token, url, roles}) POSTed with the
    registration token to the credentials endpoint the receiver's 2.2.1 details name."""
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        versions = await _data(client, "GET", versions_url, registration_token)
        chosen = next((v.get("url") for v in versions or [] if isinstance(v, dict) and v.get("version") == "2.2.1"),
                      None)
        if not chosen:
            raise RegistrationFailed(f"{versions_url} offers no OCPI 2.2.1")
        details = await _data(client, "GET", chosen, registration_token)
        endpoints = {(e.get("identifier"), e.get("role")): e.get("url") for e in (details or {}).get("endpoints", [])
                     if isinstance(e, dict)}
        credentials_url = endpoints.get(("credentials", "SENDER")) or endpoints.get(("credentials", "RECEIVER"))
        locations_url = endpoints.get(("locations", "RECEIVER"))
        if not credentials_url or not locations_url:
            raise RegistrationFailed(f"the 2.2.1 details at {chosen} name no credentials or no locations RECEIVER "
                                     "endpoint")
        ours = await _data(client, "POST", credentials_url, registration_token, credentials)
    token = ours.get("token") if isinstance(ours, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistrationFailed(f"POST {credentials_url} answered no token")
    return Registration(token=token, locations_url=locations_url)


def registered_status_sender(*, versions_url: str, registration_token: str, credentials: dict[str, Any],
                             rate: float, retry_every: float = 2.0,
                             say: Callable[[str], None] = lambda line: None):  # noqa: ANN201
    """A job for ``create_app(background=...)``: register at the receiver whose versions are at ``versions_url``
    (trying again every ``retry_every`` seconds while it does not answer), then send status PATCHes to it."""

    async def job(state) -> None:  # noqa: ANN001
        while True:
            try:
                registration = await register(versions_url, registration_token=registration_token,
                                              credentials=credentials)
                break
            except RegistrationFailed as error:
                if not error.retry:
                    log.warning("registering at %s failed, so no status PATCHes are sent: %s", versions_url, error)
                    return
            await asyncio.sleep(retry_every)
        state.counts["registrations"] += 1
        say(f"OCPI sandbox registered at {versions_url}: status PATCHes to {registration.locations_url} at "
            f"{rate:g}/s")
        await _send_forever(state, receiver_url=registration.locations_url, token=registration.token, rate=rate,
                            plain=False)

    return job
