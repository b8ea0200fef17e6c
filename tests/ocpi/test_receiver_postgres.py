"""The OCPI receiver on PostgreSQL, with two relays patching one Location at once: no PATCH is lost."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from oioi_onboard.store.models import Cpo
from oioi_onboard.testing.store import make_cpo
from tests.helpers.ocpi import GENT_DEFAULTS, auth, example, registered
from tests.helpers.postgres import postgres_available  # on_postgres: the fixture in tests/conftest.py
from tests.helpers.statuses import running_relay

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(not postgres_available(), reason="PostgreSQL binaries are not installed")]

LOC1 = "/ocpi/2.2.1/locations/BE/BEC/LOC1"


def test_two_relays_patching_one_location_keep_every_evse_newest_status(on_postgres):
    from oioi_onboard.store.db import get_engine, session_scope

    with session_scope() as session:
        cpo = make_cpo(session, name="Gent CPO", operator_ids="DE*GNT", endpoint="http://127.0.0.1:1/api/v4/request")
        session.get(Cpo, cpo.id).defaults = GENT_DEFAULTS
        token_c = registered(session, cpo.id)
    base = datetime.now(UTC) - timedelta(minutes=10)
    statuses = ["AVAILABLE", "CHARGING", "RESERVED", "OUTOFORDER"]

    def moment(i: int) -> str:
        return (base + timedelta(seconds=i)).isoformat()

    async def patch_all(first: str, second: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.put(first + LOC1, json=example("location_example.json"), headers=auth(token_c))
            assert answer.json()["status_code"] == 1000, answer.text
            # EVSE 3256 through one relay, EVSE 3257 through the other, interleaved.
            return await asyncio.gather(*(
                client.patch(f"{(first, second)[i % 2]}{LOC1}/{('3256', '3257')[i % 2]}", headers=auth(token_c),
                             json={"status": statuses[i % 4], "last_updated": moment(i)})
                for i in range(40)))

    with running_relay() as first, running_relay() as second:
        answers = asyncio.run(patch_all(first, second))
        assert {answer.json()["status_code"] for answer in answers} == {1000}
        held = httpx.get(first + LOC1, headers=auth(token_c), timeout=30).json()["data"]
    # The last PATCH of each EVSE: i = 38 (3256) and i = 39 (3257).
    assert {evse["uid"]: evse["status"] for evse in held["evses"]} == {"3256": statuses[38 % 4],
                                                                       "3257": statuses[39 % 4]}
    assert held["last_updated"] == moment(39)
    get_engine(on_postgres).dispose()
