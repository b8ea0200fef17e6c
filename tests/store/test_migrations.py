"""The alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

import subprocess
import sys

import pytest
from sqlalchemy import inspect
from sqlmodel import select

from oioi_onboard.errors import ConfigError
from oioi_onboard.settings import get_settings
from oioi_onboard.store import db as migrations
from oioi_onboard.store.db import get_engine


def _check_upgraded(url: str) -> None:
    migrations.migrate(url)
    tables = set(inspect(get_engine(url)).get_table_names())
    assert {"cpo", "operator_id", "partner_identifier", "app_user", "audit_log", "alembic_version"} <= tables
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()
    # The models and the migration agree: nothing left for autogenerate to do.
    assert migrations.schema_differences(url) == []


def test_upgrade_empty_sqlite_matches_models():
    _check_upgraded(get_settings().db_url)


def test_the_head_and_the_database_revision_are_alembic_s_own_answers():
    """Read without importing alembic at every command: the file names and the version table must say
    what alembic's script directory and migration context say."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = get_settings().db_url
    assert migrations.head_revision() == ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) is None  # before the first migration
    migrations.migrate(url)
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) == MigrationContext.configure(
            connection).get_current_revision() == migrations.head_revision()


def test_upgrade_twice_is_a_no_op():
    url = get_settings().db_url
    migrations.migrate(url)
    migrations.migrate(url)
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()


def _upgrade_from_processes(url: str, count: int = 3) -> list[int]:
    # Fresh interpreters, not multiprocessing: a spawned child re-runs __main__, which an
    # earlier AppTest in the same pytest process may have left pointing at a page script.
    code = "import sys; from oioi_onboard.store.db import migrate; migrate(sys.argv[1])"
    processes = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(count)]
    return [process.wait(120) for process in processes]


@pytest.mark.slow  # several processes
def test_concurrent_upgrades_on_sqlite_all_succeed():
    url = get_settings().db_url
    assert _upgrade_from_processes(url) == [0, 0, 0]
    assert migrations.schema_differences(url) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_upgrade_empty_postgres_matches_models(postgres_url):
    _check_upgraded(postgres_url)


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_upgrades_on_postgres_all_succeed(postgres_url):
    assert _upgrade_from_processes(postgres_url) == [0, 0, 0]
    assert migrations.schema_differences(postgres_url) == []


def test_the_comparison_notices_a_schema_that_differs_from_the_models():
    url = get_settings().db_url
    migrations.migrate(url)
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql("ALTER TABLE cpo DROP COLUMN paused_reason")
    differences = migrations.schema_differences(url)
    assert any(d[0] == "add_column" and d[3].name == "paused_reason" for d in differences)


def test_a_database_made_by_create_all_is_adopted_when_it_matches():
    from sqlmodel import SQLModel

    url = get_settings().db_url
    SQLModel.metadata.create_all(get_engine(url))
    migrations.migrate(url)
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()


def test_a_database_without_history_that_differs_is_refused_clearly():
    from sqlmodel import SQLModel

    url = get_settings().db_url
    SQLModel.metadata.create_all(get_engine(url))
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql("ALTER TABLE cpo DROP COLUMN paused_reason")
    with pytest.raises(ConfigError, match="has tables but no migration history"):
        migrations.migrate(url)


def test_a_database_at_the_first_revision_keeps_its_cpos_through_the_upgrade():
    """0002 adds the last connection test and the sandbox provisioning state; existing CPOs read as never tested."""
    from alembic import command
    from sqlmodel import Session

    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.store.connection import push_readiness
    from oioi_onboard.store.models import Cpo

    url = get_settings().db_url
    config = migrations.alembic_config(url)
    command.upgrade(config, "0001")
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO cpo (name, endpoint, stage, active, concurrency, created_at, updated_at)"
            " VALUES ('Old CPO', 'production', 'REGISTERED', 1, 16, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    migrations.migrate(url)
    with get_engine(url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()
    assert migrations.schema_differences(url) == []
    with Session(get_engine(url)) as session:
        cpo = session.exec(select(Cpo)).one()
        assert (cpo.name, cpo.connection_checked_at, cpo.connection_ok, cpo.sandbox_pending) == (
            "Old CPO", None, None, None)
        assert "has not been tested" in push_readiness(session, actor=SYSTEM, cpo_id=cpo.id)
    command.downgrade(config, "0001")
    with get_engine(url).connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("cpo")}
    assert "connection_ok" not in columns and "name" in columns


def test_a_database_at_0004_keeps_its_cpos_and_reads_them_as_not_connected_to_ocpi():
    """0005 adds the CPO's OCPI connection; existing CPOs have none, pull every 15 minutes once they do."""
    from alembic import command
    from sqlmodel import Session

    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.store.models import Cpo
    from oioi_onboard.store.ocpi_connection import ocpi_connection

    url = get_settings().db_url
    config = migrations.alembic_config(url)
    command.upgrade(config, "0004")
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO cpo (name, endpoint, stage, active, concurrency, created_at, updated_at)"
            " VALUES ('Old CPO', 'production', 'REGISTERED', 1, 16, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    migrations.migrate(url)
    assert migrations.schema_differences(url) == []
    with Session(get_engine(url)) as session:
        cpo = session.exec(select(Cpo)).one()
        assert (cpo.name, cpo.ocpi_versions_url, cpo.ocpi_token_encrypted, cpo.ocpi_token_plain,
                cpo.ocpi_pull_minutes, cpo.ocpi_last_pull_started_at) == ("Old CPO", None, None, False, 15, None)
        assert ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id) is None
    command.downgrade(config, "0004")
    with get_engine(url).connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("cpo")}
    assert "ocpi_versions_url" not in columns and "defaults" in columns


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres,
                                                                                pytest.mark.slow])])
def test_0013_finds_the_replacements_made_before_by_their_outbox_rows(backend, request):
    """A replacement row (<id>-N) says which station it stands in for; one named so by the CPO does not."""
    from alembic import command

    url = get_settings().db_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    command.upgrade(migrations.alembic_config(url), "0012")
    at = "'2026-01-01 00:00:00'"
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO cpo (id, name, endpoint, stage, active, concurrency, created_at, updated_at)"
            f" VALUES (1, 'Old CPO', 'production', 'REGISTERED', TRUE, 16, {at}, {at})")
        for station_id, deleted in (("DE*OLD*S1", "TRUE"), ("DE*OLD*S1-2", "FALSE"), ("DE*OLD*P", "FALSE"),
                                    ("DE*OLD*P-2", "FALSE")):
            connection.exec_driver_sql(
                "INSERT INTO station (cpo_id, station_id, name, latitude, longitude, city, cpo_operator_id, payload,"
                " payload_sha256, connectors_signature, deleted, updated_at, acked_deleted)"
                f" VALUES (1, '{station_id}', 'x', 52.5, 13.4, 'Berlin', 'DE*OLD', '{{}}', 'x', 'y', {deleted}, {at},"
                " FALSE)")
        for row_id, key, change, depends_on in ((1, "DE*OLD*S1", "deleted", "NULL"),
                                                (2, "DE*OLD*S1-2", "replaced", "1"),
                                                (3, "DE*OLD*P-2", "new", "NULL")):
            connection.exec_driver_sql(
                "INSERT INTO outbox (id, cpo_id, kind, key, change, payload, payload_sha256, state, attempts,"
                f" created_at, next_attempt_at, depends_on) VALUES ({row_id}, 1, 'station-post', '{key}', '{change}',"
                f" '{{}}', 'x', 'ACKED', 1, {at}, {at}, {depends_on})")
    migrations.migrate(url)
    assert migrations.schema_differences(url) == []
    with get_engine(url).connect() as connection:
        replaces = dict(connection.exec_driver_sql("SELECT station_id, replaces FROM station").all())
    get_engine(url).dispose()
    assert replaces == {"DE*OLD*S1": None, "DE*OLD*S1-2": "DE*OLD*S1", "DE*OLD*P": None, "DE*OLD*P-2": None}
