"""The one retry policy for OIOI requests: how long to wait before sending the same request again.

The client's own retries (``OioiClient``, within one call) and the worker's (scheduled in the
outbox, so they survive restarts) both wait ``backoff_delay``: a random time up to an exponential
ceiling ("full jitter"), capped, and never less than the endpoint's ``Retry-After``, which is
honoured up to ``RETRY_AFTER_MAX`` even when that is longer than the cap.

Full jitter, not a random time in the ceiling's upper half: every CPO's lane, and every worker,
retries against the same platform endpoint, often after the same outage. Spreading the retries
over the whole interval sends the fewest of them at once into an endpoint that is recovering.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

__all__ = [
    "RETRY_AFTER_MAX", "CLIENT_BACKOFF_BASE", "CLIENT_BACKOFF_MAX", "WORKER_BACKOFF_BASE", "WORKER_BACKOFF_MAX",
    "backoff_delay", "parse_retry_after",
]

RETRY_AFTER_MAX = 3600  # seconds: a longer Retry-After is read as one hour
# Retries within one call: the caller waits for them, so they stay short.
CLIENT_BACKOFF_BASE = 0.5  # seconds: the ceiling of the first retry
CLIENT_BACKOFF_MAX = 30.0
# Retries scheduled in the outbox by the worker: nothing waits on them, and an outage may last hours.
WORKER_BACKOFF_BASE = 1.0
WORKER_BACKOFF_MAX = 300.0


def backoff_delay(retry: int, *, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Seconds to wait before retry number ``retry`` (1 for the first).

    A random time between 0 and ``base * 2 ** (retry - 1)``, at most ``cap``; never less
    than ``retry_after`` (up to ``RETRY_AFTER_MAX``, which may be more than ``cap``).
    """
    ceiling = min(cap, base * (2 ** min(max(0, retry - 1), 64)))
    delay = rng.uniform(0, ceiling)
    return max(delay, min(retry_after or 0.0, RETRY_AFTER_MAX))


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
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
