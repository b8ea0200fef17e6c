"""The one retry policy (oioi.retry): full jitter, the cap, Retry-After, and the client waiting by it."""

import asyncio
import random

import httpx

from oioi_onboard.oioi.client import OioiClient
from oioi_onboard.oioi.retry import RETRY_AFTER_MAX, backoff_delay

PARTNER = "Pa7tnerOne-x81Kq02LmZ"


def test_full_jitter_draws_from_zero_to_the_ceiling():
    rng = random.Random(3)
    delays = [backoff_delay(3, base=1, cap=5, rng=rng) for _ in range(2000)]  # ceiling 1 * 2**2 = 4
    assert all(0 <= delay <= 4 for delay in delays)
    assert min(delays) < 0.2 and max(delays) > 3.8  # the whole interval, not only its upper half


def test_the_ceiling_doubles_per_retry_up_to_the_cap():
    top = random.Random(0)
    top.uniform = lambda low, high: high  # the ceiling itself
    assert [backoff_delay(n, base=0.5, cap=3, rng=top) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]
    assert backoff_delay(0, base=0.5, cap=3, rng=top) == 0.5  # no retry number below the first


def test_retry_after_wins_over_a_shorter_backoff_up_to_the_longest_honoured():
    rng = random.Random(1)
    assert backoff_delay(1, base=1, cap=5, retry_after=120, rng=rng) == 120
    assert backoff_delay(1, base=1, cap=5, retry_after=2 * RETRY_AFTER_MAX, rng=rng) == RETRY_AFTER_MAX


def test_the_client_waits_as_the_policy_says():
    """OioiClient's retries draw from the same function, with its own base, cap and random source."""
    answers = iter([503, 503, 503, 200])

    def endpoint(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, json={"result": {"code": 0 if status == 200 else 100, "message": ""}})

    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    async def go() -> None:
        async with OioiClient("http://oioi.test/api/v4/request", "k3y-Zq81-vYt5-secret-77aa", max_retries=3,
                              backoff_base=0.5, backoff_max=1.5, transport=httpx.MockTransport(endpoint)) as client:
            client.sleep, client.random = sleep, random.Random(11)
            await client.post_connector_status("DE*8PS*E123456", "Available", PARTNER)

    asyncio.run(go())
    rng = random.Random(11)
    assert waited == [backoff_delay(n, base=0.5, cap=1.5, rng=rng) for n in (1, 2, 3)]

