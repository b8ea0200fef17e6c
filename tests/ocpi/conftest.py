"""What the receiver's tests share: the relay on loopback, a CPO whose back end speaks OCPI, its token."""

import httpx
import pytest

from oioi_onboard.store.models import Cpo
from oioi_onboard.testing.store import make_cpo
from tests.helpers.ocpi import GENT_DEFAULTS, registered
from tests.helpers.statuses import running_relay


@pytest.fixture
def relay(db):
    """The relay (status ingest and OCPI receiver) on loopback; an httpx client on it."""
    with running_relay() as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture
def gent(db) -> int:
    """'Gent CPO', operator id DE*GNT, whose defaults fill what the official example Location lacks."""
    with db() as session:
        cpo = make_cpo(session, name="Gent CPO", operator_ids="DE*GNT", endpoint="http://127.0.0.1:1/api/v4/request")
        session.get(Cpo, cpo.id).defaults = GENT_DEFAULTS
        return cpo.id


@pytest.fixture
def token_c(db, gent) -> str:
    """Gent CPO's back end, registered for BE/BEC (the official examples' party): its TOKEN_C."""
    with db() as session:
        return registered(session, gent)
