"""Fixtures every test folder shares: an isolated data directory, the database, the sandbox process,
registered CPOs and an actor per role. The data they hold is built by oioi_onboard.testing.

Library modules are imported inside the fixtures, after the data directory is set.
"""

import shutil
from pathlib import Path

import pytest

from tests.helpers.postgres import on_postgres, postgres_url  # noqa: F401 - throw-away PostgreSQL fixtures, for every folder

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "oioi-spec"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own data directory and SQLite database, and an embedded-sandbox address where
    nothing listens (a developer's running `make run` is never touched) unless the test starts one there."""
    from oioi_onboard.settings import get_settings
    from oioi_onboard.store.db import get_engine
    from oioi_onboard.testing.sandbox import free_port

    monkeypatch.setenv("OIOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("OIOI_SANDBOX_HOST", "127.0.0.1")
    monkeypatch.setenv("OIOI_SANDBOX_PORT", str(free_port()))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """Argon2 at its lowest cost: the same kind of hash and the same checks, without 0.13 s per password."""
    from argon2 import PasswordHasher

    from oioi_onboard.store import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory) -> Path:
    """An SQLite database at the newest schema, migrated once per run for ``db`` to copy."""
    from oioi_onboard.store.db import get_engine, migrate

    path = tmp_path_factory.mktemp("migrated") / "onboard.db"
    url = f"sqlite:///{path}"
    migrate(url)
    get_engine(url).dispose()  # closes the last connection, so the WAL is folded into the file
    return path


@pytest.fixture
def db(_migrated_database):
    """The test's own SQLite database, upgraded; ``with db() as session:`` opens a session on it.

    It starts as a copy of a database migrated once per run; ``migrate()`` still runs (and finds
    nothing to do), as it does at every entry point.
    """
    from oioi_onboard.settings import get_settings
    from oioi_onboard.store.db import migrate, session_scope

    url = get_settings().db_url
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        if not target.exists():
            shutil.copyfile(_migrated_database, target)
    migrate()
    return session_scope


# --------------------------------------------------------------------------- the sandbox process


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    """Keywords for ``running_sandbox`` behind the module's ``sandbox``; a module overrides this fixture
    for other API keys, partner identifiers or latency."""
    return {}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, sandbox_options):
    """The real ``oioi-onboard sandbox`` process on a free port, one per test module.

    It accepts ``DEFAULT_API_KEY`` and ``DEFAULT_PARTNER_ID`` (oioi_onboard.testing.sandbox) unless the
    module overrides ``sandbox_options``. Its tests share it, so each uses station and EVSE ids of
    its own; a test that counts what the sandbox holds takes ``fresh_sandbox``.
    """
    from oioi_onboard.testing.sandbox import running_sandbox

    with running_sandbox(tmp_path_factory.mktemp("sandbox"), **sandbox_options) as process:
        yield process


@pytest.fixture
def fresh_sandbox(tmp_path):
    """An empty sandbox process of its own for one test, with the default API key and partner identifier."""
    from oioi_onboard.testing.sandbox import running_sandbox

    with running_sandbox(tmp_path / "sandbox") as process:
        yield process


# --------------------------------------------------------------------------- CPOs and people


@pytest.fixture
def cpo(db):
    """A registered CPO, 'Ours', holding DE*8PS (the operator id of the sample files and the hostile
    corpus), on the embedded sandbox (not running, so its provisioning there stays pending)."""
    from oioi_onboard.testing.store import make_cpo

    with db() as session:
        return make_cpo(session, name="Ours", operator_ids="DE*8PS")


@pytest.fixture
def other_cpo(db):
    """Another registered CPO, 'Theirs', holding DE*ABC."""
    from oioi_onboard.testing.store import make_cpo

    with db() as session:
        return make_cpo(session, name="Theirs", operator_ids="DE*ABC")


@pytest.fixture
def actors(db, cpo) -> dict:
    """One account and actor per role, named after it: 'admin', 'manager' (partner manager),
    'staff' (CPO staff of ``cpo``) and 'viewer' (assigned to ``cpo``: may look, never change)."""
    from oioi_onboard.store.models import Role
    from oioi_onboard.testing.store import make_user

    with db() as session:
        return {
            "admin": make_user(session, "admin", Role.ADMIN),
            "manager": make_user(session, "manager", Role.PARTNER_MANAGER),
            "staff": make_user(session, "staff", Role.CPO_STAFF, cpo_names=[cpo.name]),
            "viewer": make_user(session, "viewer", Role.VIEWER, cpo_names=[cpo.name]),
        }


API_KEY_A = "key-of-alpha-7f3c9e1d2b"
API_KEY_B = "key-of-bravo-4a8e6c0f5d"


@pytest.fixture
def two_cpos(db) -> dict:
    """CPOs Alpha (DE*ALP, sandbox, ``API_KEY_A``) and Bravo (AT*BRV, production, ``API_KEY_B``) with an
    account of every role: admin 'admin', partner manager 'maria', staff 'alice' (Alpha) and 'bob' (Bravo),
    viewer 'victor'; each signs in with ``oioi_onboard.testing.store.password_of(name)``.

    Returns the CPO ids ('alpha', 'bravo'), their partner identifiers ('alpha_pids', 'bravo_pids')
    and each person's actor under their name.
    """
    from oioi_onboard.store import queries
    from oioi_onboard.store.models import Role
    from oioi_onboard.testing.store import make_cpo, make_user

    with db() as session:
        alpha = make_cpo(session, name="Alpha", operator_ids="DE*ALP", endpoint="sandbox", api_key=API_KEY_A)
        bravo = make_cpo(session, name="Bravo", operator_ids="AT*BRV", endpoint="production", api_key=API_KEY_B)
        people = {
            "admin": make_user(session, "admin", Role.ADMIN),
            "maria": make_user(session, "maria", Role.PARTNER_MANAGER),
            "alice": make_user(session, "alice", Role.CPO_STAFF, cpo_names=["Alpha"]),
            "bob": make_user(session, "bob", Role.CPO_STAFF, cpo_names=["Bravo"]),
            "victor": make_user(session, "victor", Role.VIEWER),
        }
        return {
            "alpha": alpha.id, "bravo": bravo.id,
            "alpha_pids": queries.cpo_partner_identifiers(session, cpo_id=alpha.id),
            "bravo_pids": queries.cpo_partner_identifiers(session, cpo_id=bravo.id),
            **people,
        }
