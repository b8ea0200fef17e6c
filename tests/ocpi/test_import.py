"""A file of OCPI Locations takes the import's own steps: read -> frame -> validate -> store -> plan, and the page."""

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Cpo, ImportRecord, Role, Station
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.testing.store import make_cpo, make_user
from oioi_onboard.workflows.imports import import_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "ocpi"
PAGE = str(ROOT / "app" / "views" / "import_stations.py")


@pytest.fixture
def ocpi_cpo(db) -> int:
    """'OCPI CPO' holding DE*OCP, whose defaults give the phone OCPI lacks, and its staff 'staff'."""
    with db() as session:
        cpo = make_cpo(session, name="OCPI CPO", operator_ids="DE*OCP")
        session.get(Cpo, cpo.id).defaults = {"phone": "+49 621 1234567"}
        make_user(session, "staff", Role.CPO_STAFF, cpo_names=["OCPI CPO"])
        return cpo.id


def test_the_import_workflow_stores_the_valid_stations_and_the_push_plan_sees_them(db, ocpi_cpo):
    network = (DATA / "network_response.json").read_bytes()
    with db() as session:
        result = import_file(session, actor=SYSTEM, cpo_id=ocpi_cpo, data=network, file_name="locations.json")
        assert result.validation.issues.empty and result.record is not None
        record = session.exec(select(ImportRecord)).one()
        assert (record.file_name, record.file_sha256, record.stations, record.connectors, record.stations_stored) \
            == ("locations.json", hashlib.sha256(network).hexdigest(), 3, 6, 3)
        stored = {s.station_id: s for s in session.exec(select(Station).where(Station.cpo_id == ocpi_cpo)).all()}
        assert set(stored) == {"DE*OCP*MA-001", "DE*OCP*HD-007", "DE*OCP*LU-042"}
        market = stored["DE*OCP*MA-001"].payload
        assert market["contact"] == {"phone": "+49 621 1234567", "web": "https://ocpi-demo.example.com"}
        assert [(c["id"], c["name"], c["speed"]) for c in market["connectors"]] == [
            ("DE*OCP*E0001*1", "Type2", 22.08), ("DE*OCP*E0001*2", "Chademo", 50.0),
            ("DE*OCP*E0001*2", "Combo", 150.0)]
        assert plan_push(session, actor=SYSTEM, cpo_id=ocpi_cpo).counts["new"] == 3

        # A station blocked by a standard without an OIOI plug is not stored.
        blocked = import_file(session, actor=SYSTEM, cpo_id=ocpi_cpo, data=(DATA / "no_oioi_plug.json").read_bytes(),
                              file_name="no_oioi_plug.json", full_upload=False)
        assert blocked.validation.blocked_station_ids() == ["DE*OCP*CN-1"]
        assert blocked.record.stations_stored == 0
        assert session.exec(select(Station).where(Station.station_id == "DE*OCP*CN-1")).first() is None


def test_the_import_page_takes_ocpi_locations_without_a_column_mapping(ocpi_cpo):
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["oioi_user"] = "staff"
    app.session_state["import_upload"] = {"name": "network.jsonl", "data": (DATA / "network.jsonl").read_bytes()}
    app = app.run()
    assert not app.exception, app.exception
    assert any("3 OCPI Locations" in m.value for m in app.markdown)
    assert not [s for s in app.selectbox if s.key == "import_profile" or (s.key or "").startswith("import_map_")]
    captions = [c.value for c in app.caption]
    assert any(c.startswith("read as OCPI 2.2.1 Locations, no column mapping needed") for c in captions), captions
    assert any("phone: empty cells from the CPO's defaults" in c for c in captions), captions
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Stations"], metrics["Connectors"], metrics["Errors"], metrics["Stations blocked"]) \
        == ("3", "6", "0", "0")

    app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception
    assert any("Stored 3 stations" in s.value for s in app.success)
    from oioi_onboard.store.db import session_scope

    with session_scope() as session:
        [record] = session.exec(select(ImportRecord)).all()
        assert (record.user_name, record.file_name, record.stations_stored) == ("staff", "network.jsonl", 3)


def test_the_import_page_says_why_a_failure_response_cannot_be_read(ocpi_cpo):
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = "staff"
    app.session_state["import_upload"] = {"name": "answer.json", "data": (DATA / "response_2001.json").read_bytes()}
    app = app.run()
    assert not app.exception, app.exception
    shown = app.error[0].value.replace("\\_", "_")  # markdown escapes the underscores
    assert "answer.json is an OCPI response that reports a failure, status_code 2001: Invalid or missing " \
           "parameters: date_from" in shown
