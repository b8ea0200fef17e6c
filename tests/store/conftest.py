import pytest

from oioi_onboard.store.auth import SYSTEM, Actor, create_user
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Role
from oioi_onboard.store.registry import register_cpo
from tests.helpers.postgres import postgres_url  # noqa: F401 - fixture

API_KEY_A = "key-of-alpha-7f3c9e1d2b"
API_KEY_B = "key-of-bravo-4a8e6c0f5d"


@pytest.fixture
def db():
    """The test's own SQLite database, upgraded."""
    migrate()
    return session_scope


@pytest.fixture
def two_cpos(db):
    """CPOs Alpha (DE*ALP) and Bravo (AT*BRV), a staff user for each, a manager and a viewer."""
    with db() as session:
        alpha, alpha_pids = register_cpo(session, actor=SYSTEM, name="Alpha", operator_ids=["DE*ALP"],
                                         endpoint="sandbox", api_key=API_KEY_A)
        bravo, bravo_pids = register_cpo(session, actor=SYSTEM, name="Bravo", operator_ids=["AT*BRV"],
                                         endpoint="production", api_key=API_KEY_B)
        create_user(session, actor=SYSTEM, name="alice", role=Role.CPO_STAFF, password="alice-password-1", cpo_names=["Alpha"])
        create_user(session, actor=SYSTEM, name="bob", role=Role.CPO_STAFF, password="bob-password-12", cpo_names=["Bravo"])
        create_user(session, actor=SYSTEM, name="maria", role=Role.PARTNER_MANAGER, password="maria-password-1")
        create_user(session, actor=SYSTEM, name="victor", role=Role.VIEWER, password="victor-password")
        ids = {"alpha": alpha.id, "bravo": bravo.id, "alpha_pids": alpha_pids, "bravo_pids": bravo_pids}
    ids["alice"] = Actor(name="alice", role=Role.CPO_STAFF, cpo_ids=frozenset({ids["alpha"]}))
    ids["bob"] = Actor(name="bob", role=Role.CPO_STAFF, cpo_ids=frozenset({ids["bravo"]}))
    ids["maria"] = Actor(name="maria", role=Role.PARTNER_MANAGER)
    ids["victor"] = Actor(name="victor", role=Role.VIEWER)
    return ids
