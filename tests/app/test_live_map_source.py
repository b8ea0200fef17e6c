"""Where a status came from (``ocpi``, ``api``, ``file`` ...; what ``record_statuses`` keeps as its source), shown
on the live map's tooltips, in its recent changes and in the station view: Streamlit's AppTest on a real store."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.live_map_layers import station_points
from oioi_onboard.store.auth import SYSTEM, create_user
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Role
from oioi_onboard.sync import live
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "live_map.py")


@pytest.fixture
def network() -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Live CPO", partner_ids=DEFAULT_PARTNER_ID)
        for n in range(1, 4):
            store_status_station(session, cpo.id, n, acked=True)
        create_user(session, actor=SYSTEM, name="admin", role=Role.ADMIN, password="x" * 12)
        record_statuses(session, actor=SYSTEM, cpo_id=cpo.id, source="ocpi", items=[
            {"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(1, 2), "status": "Offline"}])
        record_statuses(session, actor=SYSTEM, cpo_id=cpo.id, source="api",
                        items=[{"evse_id": evse(2), "status": "Reserved"}])
        return cpo.id


def _tooltips(app) -> dict[str, str]:
    [chart] = app.get("deck_gl_json_chart")
    [layer] = [layer for layer in json.loads(chart.proto.json)["layers"] if layer["id"] == "stations"]
    return {line.split(" · ")[0]: line for point in layer["data"] for line in point["tooltip"].split("\n")[1:]}


def test_the_tooltips_the_recent_changes_and_the_station_view_name_the_source(network):
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = "admin"
    app.run()
    assert not app.exception, app.exception
    lines = _tooltips(app)
    assert lines[evse(1)].endswith("(source ocpi)") and " Occupied since " in lines[evse(1)]
    assert lines[evse(2)].endswith("(source api)")
    assert "source" not in lines[evse(3)]  # never reported: no source to name
    recent = app.dataframe[0].value
    assert dict(zip(recent["evse_id"], recent["source"], strict=True)) == {
        evse(1): "ocpi", evse(1, 2): "ocpi", evse(2): "api"}

    app.text_input(key="live_station_id").set_value("DE*8PS*S00001").run()
    assert not app.exception, app.exception
    connectors = [d.value for d in app.dataframe if "connector_type" in d.value.columns][0]
    assert dict(zip(connectors["evse_id"], connectors["source"], strict=True)) == {evse(1): "ocpi",
                                                                                  evse(1, 2): "ocpi"}
    changes = [d.value for d in app.dataframe if "took_s" in d.value.columns and "cpo" not in d.value.columns][0]
    assert set(changes["source"]) == {"ocpi"}


def test_a_station_counted_rather_than_listed_names_its_source_too(network):
    with session_scope() as session:
        stations = live.live_stations(session, actor=SYSTEM)
        assert dict(zip(stations["station_id"], stations["source"], strict=True)) == {
            "DE*8PS*S00001": "ocpi", "DE*8PS*S00002": "api", "DE*8PS*S00003": ""}
        # A status from another source replaces it, and an incremental refresh of the map sees that too.
        version = live.live_map_version(session, actor=SYSTEM)
        record_statuses(session, actor=SYSTEM, cpo_id=network, source="file",
                        items=[{"evse_id": evse(3), "status": "Available"}])
        session.flush()
        again = live.live_stations_since(session, actor=SYSTEM, version=live.live_map_version(session, actor=SYSTEM),
                                         previous=(version, stations))
        assert dict(zip(again["station_id"], again["source"], strict=True))["DE*8PS*S00003"] == "file"
    tooltips = {p["station_id"]: p["tooltip"] for p in station_points(again)}  # no connectors: counts
    assert tooltips["DE*8PS*S00001"].endswith("· source ocpi")
    assert tooltips["DE*8PS*S00003"].endswith("· source file")
