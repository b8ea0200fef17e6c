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
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from dataclasses import dataclass, field

import httpx

from .network import Change, Network

__all__ = ["SenderStats", "send_status_patches", "periodic_changes", "status_sender"]

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


def status_sender(*, receiver_url: str, token: str, rate: float, plain: bool = False):  # noqa: ANN201
    """A job for ``create_app(background=...)``: status PATCHes to a receiver for as long as the sandbox runs."""

    async def job(state) -> None:  # noqa: ANN001
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

    return job
