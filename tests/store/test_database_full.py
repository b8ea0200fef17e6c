"""A database that fills up during a store (issue 20, "Bad input"): one clear error, nothing half-stored.

SQLite runs out of room through ``PRAGMA max_page_count`` (``tests.helpers.database_room``); PostgreSQL's
disk-full (SQLSTATE 53100) cannot be caused without root, so its error is raised through a session as the
driver would raise it.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from oioi_onboard.errors import ConfigError
from oioi_onboard.store import stations as store_stations
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import DatabaseFull, session_scope
from oioi_onboard.store.models import AuditLog, Connector, ImportRecord, Station
from oioi_onboard.testing.sheets import stations_csv
from oioi_onboard.workflows.imports import import_file
from tests.helpers.database_room import database_room


def _import(cpo_id: int, data: bytes, file_name: str) -> ImportRecord:
    with session_scope() as session:
        return import_file(session, actor=SYSTEM, cpo_id=cpo_id, data=data, file_name=file_name).record


def _stored() -> dict:
    """Everything an import writes: stations (content and import), connectors, import records, audit entries."""
    with session_scope() as session:
        return {
            "stations": dict(session.execute(select(Station.station_id, Station.payload_sha256)).all()),
            "imports of stations": dict(session.execute(select(Station.station_id, Station.import_id)).all()),
            "connectors": session.execute(select(func.count()).select_from(Connector)).scalar_one(),
            "import records": session.execute(select(ImportRecord.file_name)).scalars().all(),
            "audit": session.execute(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.action == "stations.import")).scalar_one(),
        }


def test_an_import_that_fills_the_database_is_one_error_and_stores_nothing_of_it(cpo, monkeypatch):
    first = stations_csv(20)
    _import(cpo.id, first, "first.csv")
    before = _stored()
    assert len(before["stations"]) == 20 and before["import records"] == ["first.csv"]

    # The same 20 stations changed (and 580 new ones): a half-stored import would show in both.
    second = stations_csv(600).replace(b"https://example.com", b"https://example.org")
    monkeypatch.setattr(store_stations, "_BATCH", 25)  # several batches are written before the room runs out
    written = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO station "):
            written.append(statement)

    event.listen(Engine, "after_cursor_execute", count)
    try:
        with database_room(pages=40), pytest.raises(DatabaseFull) as raised:
            _import(cpo.id, second, "second.csv")
    finally:
        event.remove(Engine, "after_cursor_execute", count)

    assert len(written) >= 2, "stations were written before the room ran out: the test would show them half-stored"
    message = str(raised.value)
    assert isinstance(raised.value, ConfigError) and raised.value.exit_code == 2
    assert message.startswith("the database sqlite:///") and "is full (database or disk is full)" in message
    assert "nothing of this was stored" in message and "\n" not in message
    assert _stored() == before  # the earlier import intact, nothing of the second one

    # With room again the same file stores whole: nothing the failed attempt left stands in its way.
    record = _import(cpo.id, second, "second.csv")
    assert record.stations_stored == 600
    assert _stored()["import records"] == ["first.csv", "second.csv"]


def test_postgresqls_disk_full_is_the_same_error(db):
    def disk_full() -> None:
        # What SQLAlchemy raises from psycopg when PostgreSQL cannot extend a file (SQLSTATE 53100).
        raise OperationalError("INSERT INTO station ...", {}, psycopg.errors.DiskFull(
            'could not extend file "base/16384/16385": No space left on device'))

    with pytest.raises(DatabaseFull) as raised, session_scope():
        disk_full()
    assert "is full (could not extend file" in str(raised.value)


def test_other_database_errors_stay_what_they_are(db):
    with pytest.raises(OperationalError), session_scope() as session:
        session.execute(select(func.count()).select_from(Station).where(func.no_such_function()))
