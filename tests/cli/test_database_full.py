"""``oioi-onboard push`` into a database that fills up while it stores (issue 20, "Bad input"): exit 2, one
line that says the database is full, no traceback, nothing of the file stored, no push lock left behind.

The database runs out of room through ``PRAGMA max_page_count`` (``tests.helpers.database_room``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo, ImportRecord, Outbox, PushRun, Station
from oioi_onboard.testing.sheets import stations_csv
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.workflows.imports import import_file
from tests.helpers.database_room import database_room

KEY = "cli-test-key-7d3f"


def _stations() -> dict[str, str]:
    with session_scope() as session:
        return dict(session.execute(select(Station.station_id, Station.payload_sha256)).all())


def test_push_into_a_full_database_exits_2_with_one_line_and_stores_nothing(cli, db, tmp_path):
    with db() as session:
        # Never reached: the push stops while it stores.
        cpo = make_cpo(session, name="Ours", endpoint="http://127.0.0.1:9", api_key=KEY,
                       partner_ids="PartnerForTheTest01")
    with session_scope() as session:
        import_file(session, actor=SYSTEM, cpo_id=cpo.id, data=stations_csv(20), file_name="first.csv")
    before = _stations()
    file = tmp_path / "stations.csv"
    file.write_bytes(stations_csv(2500).replace(b"https://example.com", b"https://example.org"))

    with database_room(pages=40):
        result = CliRunner().invoke(cli, ["push", str(file)])

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("error: the database sqlite:///")
    assert "is full (database or disk is full): nothing of this was stored" in lines[0]
    assert _stations() == before  # the earlier import intact, nothing of this file
    with session_scope() as session:
        assert session.execute(select(ImportRecord.file_name)).scalars().all() == ["first.csv"]
        assert session.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(PushRun)).scalar_one() == 0
        assert session.execute(select(Cpo.push_lock_holder)).scalars().all() == [None]  # released on the way out
