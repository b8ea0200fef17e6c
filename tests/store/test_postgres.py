"""The same registry, scoping and overview code on a real PostgreSQL server."""

import pytest

from oioi_onboard.settings import get_settings
from oioi_onboard.store import queries, registry
from oioi_onboard.store.auth import SYSTEM, authenticate
from oioi_onboard.store.db import get_engine, migrate, session_scope
from oioi_onboard.store.models import Role, Stage
from oioi_onboard.testing.store import make_cpo, make_user, password_of


@pytest.mark.postgres
@pytest.mark.slow
def test_registry_and_scoping_on_postgres(postgres_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    assert get_settings().db_url == postgres_url
    migrate()
    try:
        with session_scope() as session:
            alpha = make_cpo(session, name="Alpha", operator_ids="DE*ALP", api_key="pg-alpha-key-0001")
            make_cpo(session, name="Bravo", operator_ids="AT*BRV", endpoint="staging", api_key="pg-bravo-key-0002")
            make_user(session, "alice", Role.CPO_STAFF, cpo_names=["Alpha"])
        with session_scope() as session:
            with pytest.raises(registry.RegistrationError, match="already registered to CPO 'Alpha'"):
                registry.register_cpo(session, actor=SYSTEM, name="Copy", operator_ids=["de*alp"],
                                      endpoint="sandbox", api_key=None)
        with session_scope() as session:
            alice = authenticate(session, name="alice", password=password_of("alice"))
            assert [c.name for c in queries.list_cpos(session, actor=alice)] == ["Alpha"]
            with pytest.raises(queries.PermissionDenied):
                queries.get_cpo(session, actor=alice, name="Bravo")
            assert queries.set_stage(session, cpo_id=alpha.id, stage=Stage.STATIONS_VALIDATED)
            frame = queries.overview(session, actor=SYSTEM).set_index("CPO")
            assert frame.loc["Alpha", "stage"] == "stations validated"
            assert frame.loc["Bravo", "last activity"] is not None
            assert queries.cpo_credentials(session, actor=alice, cpo_id=alpha.id)[1] == "pg-alpha-key-0001"
        with get_engine().connect() as connection:
            stored = connection.exec_driver_sql("SELECT api_key_encrypted FROM cpo").scalars().all()
        assert all(value and "pg-" not in value for value in stored)
    finally:
        get_engine().dispose()
