"""A push of the same inputs again, nothing changed since: recorded as a repeat without reading the file
(issue 20: a national rerun that sends nothing spent most of its time reading, mapping and validating it).

``push_file`` in process against the real sandbox, on the test's own SQLite database. Whether the file was
read is counted at ``workflows.push.read_file``: a repeat never reads it, anything that could change the
import reads it (and the import's own comparison then decides what is stored).
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Cpo, ImportRecord, Station
from oioi_onboard.store.registry import update_cpo
from oioi_onboard.store.stations import withdraw_station
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.workflows import imports
from oioi_onboard.workflows import push as push_workflow
from oioi_onboard.workflows.push import Credentials, push_file
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a real sandbox process and real pushes

DEMO = ROOT / "sample_data" / "demo_network.csv"
KEY = "repeat-test-key-5e1a"


@pytest.fixture
def pushed(tmp_path, db, monkeypatch):
    """A first push of 6 stations acknowledged; ``again()`` pushes the same file, returning (summary, lines,
    whether the file was read)."""
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    file = tmp_path / "stations.csv"
    file.write_text("\n".join(lines[:13]) + "\n", encoding="utf-8")
    reads: list[str] = []
    real_read = push_workflow.read_file

    def counted_read(data, file_name, sheet=None):  # noqa: ANN001, ANN202
        reads.append(file_name)
        return real_read(data, file_name, sheet)

    monkeypatch.setattr(push_workflow, "read_file", counted_read)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        credentials = Credentials(endpoint=sandbox.url, api_key=KEY, partner_identifier=sandbox.partner_id)

        def again(**options):  # noqa: ANN003, ANN202
            said: list[str] = []
            reads.clear()
            summary = push_file(file=file, credentials=credentials, say=said.append, **options)
            return summary, said, bool(reads)

        first, _, read = again()
        assert read and first.acknowledged == first.stations_in_file == 6
        yield file, again, sandbox


def _imports(db) -> list[ImportRecord]:  # noqa: ANN001
    with db() as session:
        return list(session.exec(select(ImportRecord).order_by(ImportRecord.id)).all())


def test_the_same_push_again_repeats_the_import_without_reading_the_file(pushed, db):
    file, again, sandbox = pushed
    accepted = sandbox.stats()["station-post"]["accepted"]
    for _ in range(2):  # a run of repeats: each names the first import, whose id the stations keep
        summary, said, read = again()
        assert not read
        assert summary.nothing_to_push and summary.acknowledged == summary.stations_in_file == 6
        assert any("6 stations, 6 stored, 0 blocked by errors (the same as import" in line for line in said)
    first, *repeats = _imports(db)
    assert [r.same_as for r in repeats] == [first.id, first.id]
    assert all((r.stations, r.stations_stored, r.errors, r.full_upload) == (6, 6, 0, True) for r in repeats)
    assert sandbox.stats()["station-post"]["accepted"] == accepted  # nothing sent again
    with db() as session:
        assert set(session.exec(select(Station.import_id)).all()) == {first.id}


@pytest.mark.parametrize("change", ["file", "cpo option", "code", "another CPO", "a CPO's defaults",
                                    "a station withdrawn"])
def test_anything_that_could_change_the_import_reads_the_file_again(pushed, db, monkeypatch, change):
    file, again, _sandbox = pushed
    options = {}
    if change == "file":
        file.write_bytes(file.read_bytes() + b"\n")  # the same stations, other bytes
    elif change == "cpo option":
        with db() as session:
            options["cpo_name"] = session.exec(select(Cpo.name)).one()  # the same CPO, named this time
    elif change == "code":
        monkeypatch.setattr(imports, "_code_sha256", lambda: "another version")
    elif change == "another CPO":
        with db() as session:
            make_cpo(session, name="Someone else", operator_ids="DE*ZZZ")
    elif change == "a CPO's defaults":
        with db() as session:
            cpo_id = session.exec(select(Cpo.id)).one()
            update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, defaults={"country": "DE"})
    elif change == "a station withdrawn":
        with db() as session:
            station = session.exec(select(Station).order_by(Station.id)).first()
            assert withdraw_station(session, actor=SYSTEM, cpo_id=station.cpo_id, station_id=station.station_id,
                                    reason="closed")
    summary, said, read = again(**options)
    assert read, change
    assert not any("not read again" in line for line in said)
    assert summary.stations_in_file == 6


def test_an_import_with_errors_is_never_repeated_unread(tmp_path, db, monkeypatch):
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("latitude")] = "north"  # one station blocked by an error
    file = tmp_path / "stations.csv"
    file.write_text("\n".join([lines[0], ",".join(bad), *lines[2:6]]) + "\n", encoding="utf-8")
    reads: list[str] = []
    real_read = push_workflow.read_file
    monkeypatch.setattr(push_workflow, "read_file",
                        lambda data, name, sheet=None: reads.append(name) or real_read(data, name, sheet))
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        credentials = Credentials(endpoint=sandbox.url, api_key=KEY, partner_identifier=sandbox.partner_id)
        first = push_file(file=file, credentials=credentials, say=lambda _line: None)
        assert len(first.blocked) == 1
        second = push_file(file=file, credentials=credentials, say=lambda _line: None)
    assert len(reads) == 2 and len(second.blocked) == 1  # read both times: the blocked station is named again
    assert all(record.input_sha256 is None for record in _imports(db))
