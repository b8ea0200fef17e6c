"""The live map page in Streamlit's AppTest: renders, refreshes, scopes, and lets staff set statuses."""

import json
import math
import re
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from components.live_map_layers import STATUS_COLOURS, cell_points, fit_view, live_map, station_points
from oioi_onboard.store.auth import SYSTEM, create_user
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Connector, Cpo, Role, StatusEvent
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station

APP = Path(__file__).resolve().parents[2] / "app"
PAGE = str(APP / "views" / "live_map.py")


@pytest.fixture
def network():
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Live CPO", partner_ids=DEFAULT_PARTNER_ID)
        for n in range(1, 4):
            store_status_station(session, cpo.id, n, acked=n != 3)
        other = make_cpo(session, name="Hidden CPO", partner_ids="Zq8Lm3Pw9Xr2Tk7Vb5Nc", operator_ids="DE*ABC")
        store_status_station(session, other.id, 9, acked=True)
        create_user(session, actor=SYSTEM, name="admin", role=Role.ADMIN, password="x" * 12)
        create_user(session, actor=SYSTEM, name="staff", role=Role.CPO_STAFF, password="x" * 12, cpo_names=["Live CPO"])
        create_user(session, actor=SYSTEM, name="viewer", role=Role.VIEWER, password="x" * 12, cpo_names=["Live CPO"])
        record_statuses(session, actor=SYSTEM, cpo_id=cpo.id, source="api", items=[
            {"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(3), "status": "Offline"}])
        return cpo.id


def page(user):
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = user
    return app.run()


def deck(app):
    [chart] = app.get("deck_gl_json_chart")
    return json.loads(chart.proto.json)


def station_layer(app):
    """The layer of station points (the base map's layers lie under it)."""
    [layer] = [layer for layer in deck(app)["layers"] if layer["id"] in ("stations", "station_cells")]
    return layer


def stations(app):
    """Station id -> its point (one point per station; its tooltip lists the connectors)."""
    return {p["tooltip"].split("\n")[0].rsplit(" (", 1)[1].rstrip(")"): p for p in station_layer(app)["data"]}


def points(app):
    """EVSE id -> status, as the tooltips list them ("EVSE id · type · status since ...")."""
    shown = {}
    for point in station_layer(app)["data"]:
        for line in point["tooltip"].split("\n")[1:]:
            if line.endswith("connectors match the filters"):
                continue
            evse_id, _kind, status = line.split(" · ")
            shown[evse_id] = status.split(" since ")[0]
    return shown


def test_the_map_and_the_recent_changes_render_and_a_refresh_shows_new_changes(network):
    app = page("admin")
    assert not app.exception, app.exception
    shown = points(app)
    assert shown[evse(1)] == "Occupied" and shown[evse(3)] == "Offline" and shown[evse(2)] == "Unknown"
    assert len(shown) == 8  # 4 stations x 2 connectors, both CPOs for an admin
    # One point per station, in the colour of its most serious status: Offline over Unknown over Occupied.
    colours = {station_id: tuple(p["colour"]) for station_id, p in stations(app).items()}
    assert len(colours) == 4
    assert colours["DE*8PS*S00003"] == STATUS_COLOURS["Offline"]
    assert colours["DE*8PS*S00001"] == colours["DE*8PS*S00002"] == STATUS_COLOURS["Unknown"]
    # The most serious drawn last, on top of the others: Offline over Unknown.
    assert list(stations(app))[-1] == "DE*8PS*S00003"
    layer = station_layer(app)
    assert layer["radiusUnits"] == "pixels"  # the constant, not "@@=pixels" (an expression: discs in metres)
    recent = app.dataframe[0].value
    assert list(recent["evse_id"]) == [evse(3), evse(1)]  # newest first
    assert set(recent["delivery"]) == {"pending", "held back"}
    view = deck(app)["initialViewState"]

    with session_scope() as session:
        record_statuses(session, actor=SYSTEM, cpo_id=network, source="api",
                        items=[{"evse_id": evse(2), "status": "Reserved"}])
        store_status_station(session, network, 80, acked=True)  # far off: a new view would move
        record_statuses(session, actor=SYSTEM, cpo_id=network, source="api",
                        items=[{"evse_id": evse(1, 2), "status": "Offline"}])
    app.run()  # what the fragment's timer does: the same script again, with new data
    assert not app.exception, app.exception
    assert points(app)[evse(2)] == "Reserved" and evse(80) in points(app)
    assert tuple(stations(app)["DE*8PS*S00001"]["colour"]) == STATUS_COLOURS["Offline"]
    assert list(app.dataframe[0].value["evse_id"].iloc[:2]) == [evse(1, 2), evse(2)]  # newest first
    assert deck(app)["initialViewState"] == view  # the user's map is not re-centred


def test_tooltips_are_plain_text_so_a_hostile_station_name_stays_text(network):
    from oioi_onboard.store.models import Station

    with session_scope() as session:
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00001")).one()
        station.name = "<img src=x onerror=alert(1)>"
        session.add(station)
    app = page("admin")
    assert not app.exception
    [chart] = app.get("deck_gl_json_chart")
    assert json.loads(chart.proto.tooltip) == {"text": "{tooltip}"}
    point = stations(app)["DE*8PS*S00001"]
    assert point["tooltip"].startswith("<img src=x onerror=alert(1)> (DE*8PS*S00001)\n")


def live_rows(*rows):
    """``live.live_stations``-shaped rows: (station id, lat, lon, {status: matching connectors}, connectors)."""
    import pandas as pd

    from oioi_onboard.oioi.vocabulary import STATUSES
    from oioi_onboard.sync.live import LIVE_STATION_COLUMNS

    return pd.DataFrame([
        {"station_id": station_id, "name": f"Station {station_id}", "lat": lat, "lon": lon, "cpo_id": 1,
         "connectors": total, **{status: counts.get(status, 0) for status in STATUSES}}
        for station_id, lat, lon, counts, total in rows
    ], columns=LIVE_STATION_COLUMNS)


def test_many_stations_show_counts_in_their_tooltips_and_very_many_are_summed_per_grid_cell(monkeypatch):
    from components import live_map_layers

    frame = live_rows(("S1", 52.5, 13.4, {"Available": 2, "Offline": 1}, 3),
                      ("S2", 52.50001, 13.40001, {"Occupied": 1}, 2),  # same cell as S1
                      ("S3", 48.1, 11.5, {}, 2))  # no connector matches the filters: not shown
    [two, one] = station_points(frame)  # without connectors to list: counts per status; the Offline one on top
    assert one["tooltip"] == "Station S1 (S1)\n1 Offline · 2 Available"
    assert one["colour"] == list(STATUS_COLOURS["Offline"])
    assert two["tooltip"] == "Station S2 (S2)\n1 Occupied\n1 of 2 connectors match the filters"

    [cell] = cell_points(frame[frame["station_id"] != "S3"], cells_across=10)
    assert cell["tooltip"].startswith("2 stations here\n1 Offline · 1 Occupied · 2 Available")
    assert cell["colour"] == list(STATUS_COLOURS["Offline"]) and cell["radius"] > 4

    shown = live_map(frame)
    assert (shown.stations, shown.connectors, shown.all_connectors, shown.cells) == (2, 4, 7, False)
    assert shown.bounds == (48.1, 52.50001, 11.5, 13.40001)  # every station frames the view, shown or not
    monkeypatch.setattr(live_map_layers, "CELLS_ABOVE", 1)
    summed = live_map(frame)
    assert summed.cells and json.loads(summed.layers_json)[0]["id"] == "station_cells"


def test_the_first_view_fits_every_station_on_the_map():
    # The eight cities of the demo, Germany's corners: each must lie inside the first view.
    cities = [(53.55, 9.99), (52.52, 13.40), (48.14, 11.58), (50.94, 6.96), (50.11, 8.68), (48.78, 9.18),
              (51.34, 12.37), (54.32, 10.13)]
    lats, lons = [c[0] for c in cities], [c[1] for c in cities]
    width, height = 560, 520
    view = fit_view(min(lats), max(lats), min(lons), max(lons), width=width, height=height)
    scale = 512 * 2 ** view.zoom  # pixels around the world at this zoom (deck.gl's Web Mercator)

    def pixel(lat, lon):
        y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
        return lon / 360 * scale, -y / (2 * math.pi) * scale

    centre_x, centre_y = pixel(view.latitude, view.longitude)
    for lat, lon in cities:
        x, y = pixel(lat, lon)
        assert abs(x - centre_x) < width / 2 and abs(y - centre_y) < height / 2, (lat, lon, view.zoom)
    assert view.zoom > 4.5  # and not zoomed out further than it needs


def test_filters_narrow_the_map(network):
    app = page("admin")
    app.multiselect(key="live_statuses").set_value(["Occupied", "Offline"]).run()
    assert not app.exception
    assert points(app) == {evse(1): "Occupied", evse(3): "Offline"}
    app.multiselect(key="live_statuses").set_value([]).run()
    app.multiselect(key="live_types").set_value(["Combo"]).run()
    assert set(points(app)) == {evse(n, 2) for n in (1, 2, 3)} | {evse(9, 2, "DE*ABC")}


def test_a_viewer_sees_only_their_cpos_and_cannot_set_statuses(network):
    app = page("viewer")
    assert not app.exception
    assert all(evse_id.startswith("DE*8PS") for evse_id in points(app))
    assert not app.get("form")
    assert "Set statuses" not in [h.value for h in app.subheader]


def test_staff_set_one_connector_and_upload_a_status_file(network):
    app = page("staff")
    assert not app.exception
    app.selectbox(key="set_evse").set_value(evse(2, 2))
    app.radio(key="set_status_value").set_value("Offline")
    [submit] = [b for b in app.button if b.label == "Set status"]
    submit.click().run()  # the form's submit button
    assert not app.exception
    # Shown escaped, so the '*' of the EVSE id do not turn into italics; read as the user sees it.
    assert any(f"{evse(2, 2)} is now Offline (pending)" in re.sub(r"\\(.)", r"\1", s.value) for s in app.success)
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(2, 2))).one() == "Offline"
        event = session.exec(select(StatusEvent).order_by(StatusEvent.id.desc())).first()
        assert (event.source, event.evse_id) == ("ui", evse(2, 2))


TOKEN_SCRIPT = """
import streamlit as st
from common import current_actor, db_session
from components.ingest_tokens import token_section
from oioi_onboard.store.models import Cpo
actor = current_actor()
with db_session() as session:
    cpo = session.get(Cpo, 1)
token_section(actor, cpo)
"""


def test_the_token_section_shows_a_new_token_once_and_revokes_it(network):
    from oioi_onboard.store.models import IngestToken
    from oioi_onboard.sync.tokens import cpo_for_token

    app = AppTest.from_string(TOKEN_SCRIPT, default_timeout=60)
    app.session_state["oioi_user"] = "staff"
    app.run()
    assert not app.exception, app.exception
    app.text_input(key="token_label_1").set_value("Frankfurt back end")
    app.button[0].click().run()
    assert not app.exception, app.exception
    [code] = app.code
    token = code.value
    with session_scope() as session:
        assert cpo_for_token(session, token) == network
        assert session.exec(select(IngestToken.label)).one() == "Frankfurt back end"
    assert any("Frankfurt back end" in m.value for m in app.markdown)
    [hide] = [b for b in app.button if b.label == "I have copied it"]
    hide.click().run()
    assert not app.code  # shown once
    [revoke] = [b for b in app.button if b.label == "Revoke"]
    revoke.click().run()
    assert not app.exception
    with session_scope() as session:
        assert cpo_for_token(session, token) is None
    assert any("revoked" in m.value for m in app.markdown)

    viewer = AppTest.from_string(TOKEN_SCRIPT, default_timeout=60)
    viewer.session_state["oioi_user"] = "viewer"
    viewer.run()
    assert not viewer.exception
    assert not [b for b in viewer.button if b.label in ("Revoke", "Create token")]


def test_a_person_without_cpos_is_told_why_the_map_is_empty(network):
    with session_scope() as session:
        create_user(session, actor=SYSTEM, name="lonely", role=Role.VIEWER, password="x" * 12)
    app = page("lonely")
    assert not app.exception
    assert "No CPO is assigned to you yet" in app.info[0].value
    assert not app.get("deck_gl_json_chart")


def test_a_cpo_without_stations_yet_shows_an_empty_map_over_germany():
    migrate()
    with session_scope() as session:
        make_cpo(session, name="New CPO")
        create_user(session, actor=SYSTEM, name="admin", role=Role.ADMIN, password="x" * 12)
    app = page("admin")
    assert not app.exception, app.exception
    assert station_layer(app)["data"] == []
    assert 50 < deck(app)["initialViewState"]["latitude"] < 52
    assert any("0 of 0 connectors" in caption.value for caption in app.caption)


# --- issue 13: the base map, delivery you can see, one station, the time axis, filters that stay ---------------


def test_the_live_map_draws_the_offline_base_map_under_the_points_without_tiles(network):
    from components.basemap import LAYER_IDS, STATIC_URL

    app = page("admin")
    assert not app.exception, app.exception
    drawn = deck(app)
    assert [layer["id"] for layer in drawn["layers"]] == [*LAYER_IDS, "stations"]
    assert drawn["layers"][1]["data"] == f"{STATIC_URL}/countries.json"  # loaded once by the browser
    assert drawn["mapStyle"] == "__MAP_STYLE__"  # Streamlit's "no base map": no tile request leaves the browser
    assert all(point["station_id"] for point in station_layer(app)["data"])  # what a click on a point selects


def delivered(evse_id, seconds):
    """Mark the newest status of ``evse_id`` delivered ``seconds`` after it came in, as the worker would."""
    from datetime import UTC, timedelta

    from oioi_onboard.store.models import Outbox, OutboxState

    with session_scope() as session:
        event = session.exec(select(StatusEvent).where(StatusEvent.evse_id == evse_id)
                             .order_by(StatusEvent.id.desc())).first()
        row = session.get(Outbox, event.outbox_id)
        received = event.received_at if event.received_at.tzinfo else event.received_at.replace(tzinfo=UTC)
        row.state, row.result_code = OutboxState.ACKED, 0
        row.sent_at, row.acked_at = received + timedelta(seconds=seconds / 2), received + timedelta(seconds=seconds)
        event.delivery = "delivered"
        session.add(row)
        session.add(event)


def test_recent_changes_show_delivery_time_to_delivery_and_reasons_in_a_named_time_zone(network):
    delivered(evse(1), 1.5)
    app = page("admin")
    assert not app.exception, app.exception
    recent = app.dataframe[0].value.set_index("evse_id")
    assert recent.loc[evse(1), "delivery"] == "delivered" and recent.loc[evse(1), "took_s"] == 1.5
    assert recent.loc[evse(3), "delivery"] == "held back"
    assert "not acknowledged" in recent.loc[evse(3), "reason"]
    config = json.loads(app.dataframe[0].proto.columns)
    assert config["received_at"]["label"] == "Received (UTC)" and config["delivered_at"]["label"] == "Delivered (UTC)"
    assert config["received_at"]["type_config"]["timezone"] == "UTC"


def test_the_chart_has_a_24_hour_axis_labelled_with_its_time_zone(network):
    import pandas as pd

    from components.live_map_layers import counts_chart

    app = page("admin")
    [chart] = app.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    axis = spec["encoding"]["x"]
    assert axis["title"] == "time (UTC)" and axis["axis"]["format"] == "%H:%M" and axis["scale"]["type"] == "utc"
    # The subheader names what the y axis counts: as the axis's title it was cut to "connecto" on the short axis.
    assert spec["encoding"]["y"]["title"] is None
    assert any(h.value == "Connectors per status, last hour" for h in app.subheader)

    minutes = pd.date_range("2026-01-15 17:05", periods=3, freq="min", tz="UTC", name="minute")
    counts = pd.DataFrame({"Available": [1, 2, 3]}, index=minutes)
    data, spec = counts_chart(counts, "Europe/Berlin")
    assert str(data["minute"].iloc[0]) == "2026-01-15 18:05:00"  # Berlin's wall clock, shown as it is (UTC scale)
    assert spec["encoding"]["x"]["title"] == "time (Europe/Berlin)"
    data, _ = counts_chart(counts, "UTC")
    assert str(data["minute"].iloc[0]) == "2026-01-15 17:05:00"  # 17:05, never 05:05


def test_the_station_view_shows_connectors_changes_and_the_exact_request_with_its_answer(network):
    delivered(evse(1), 0.8)
    app = page("admin")
    app.text_input(key="live_station_id").set_value("DE*8PS*S00001").run()
    assert not app.exception, app.exception
    text = " ".join(re.sub(r"\\(.)", r"\1", m.value) for m in app.markdown)
    assert "Station 1" in text and "Live CPO" in text
    connectors = [d.value for d in app.dataframe if "connector_type" in d.value.columns][0]
    assert dict(zip(connectors["evse_id"], connectors["status"], strict=True)) == {evse(1): "Occupied",
                                                                                  evse(1, 2): "Unknown"}
    [request] = app.expander
    assert "\\*" in request.label  # escaped: the '*' of EVSE ids would turn the label into italics
    assert re.sub(r"\\(.)", r"\1", request.label).startswith(
        f"{evse(1)} → Occupied · acknowledged · success (result code 0)")
    [body] = app.json
    assert json.loads(body.value) == {"connector-post-status": {
        "connector-id": evse(1), "partner-identifier": "tP3x9Qw7LmZ2vK8sRb4N", "status": "Occupied"}}
    app.run()  # the fragment's refresh keeps the station open
    assert app.text_input(key="live_station_id").value == "DE*8PS*S00001" and app.json

    app.button(key="live_station_close").click().run()
    assert not app.json and any("No station chosen" in c.value for c in app.caption)


def test_a_station_of_another_cpo_is_not_shown_to_staff(network):
    app = page("staff")
    app.text_input(key="live_station_id").set_value("DE*ABC*S00009").run()
    assert not app.exception, app.exception
    # Told as if it did not exist: neither the other CPO's name nor that the station is there.
    [warning] = [w.value for w in app.warning if "DE\\*ABC\\*S00009" in w.value]
    assert "not found or not yours" in warning and "Hidden CPO" not in warning
    assert not app.json


def test_filters_survive_refreshes_and_a_visit_to_another_page(network):
    app = AppTest.from_file(str(APP / "main.py"), default_timeout=60)  # the whole app, with its navigation
    app.session_state["oioi_user"] = "admin"
    app.run().switch_page("views/live_map.py").run()
    app.multiselect(key="live_statuses").set_value(["Offline"]).run()
    app.run()  # a refresh
    assert app.multiselect(key="live_statuses").value == ["Offline"]
    assert points(app) == {evse(3): "Offline"}
    app.switch_page("views/overview.py").run()
    assert "live_statuses" not in app.session_state  # Streamlit forgot the widget's value on the other page
    app.switch_page("views/live_map.py").run()
    assert not app.exception, app.exception
    assert app.multiselect(key="live_statuses").value == ["Offline"] and points(app) == {evse(3): "Offline"}


def test_set_statuses_follows_the_cpo_the_map_is_filtered_to(network):
    with session_scope() as session:
        hidden = session.exec(select(Cpo.id).where(Cpo.name == "Hidden CPO")).one()
    app = page("admin")
    assert app.selectbox(key="set_cpo").value == hidden  # no filter: the first CPO by name
    app.multiselect(key="live_cpos").set_value([network]).run()
    assert not app.exception, app.exception
    assert app.selectbox(key="set_cpo").value == network
    app.multiselect(key="live_cpos").set_value([hidden]).run()
    assert not app.exception, app.exception
    assert app.selectbox(key="set_cpo").value == hidden
    assert all(evse_id.startswith("DE*ABC") for evse_id in app.selectbox(key="set_evse").options)


def test_a_configured_map_style_draws_its_tiles_under_the_borders(network, monkeypatch):
    from oioi_onboard.settings import get_settings

    monkeypatch.setenv("OIOI_MAP_STYLE", "https://tiles.example.org/styles/positron/style.json")
    get_settings.cache_clear()
    try:
        app = page("admin")
        assert not app.exception, app.exception
        drawn = deck(app)
        assert drawn["mapStyle"] == "https://tiles.example.org/styles/positron/style.json"
        assert [layer["id"] for layer in drawn["layers"]] == ["basemap_countries", "basemap_regions", "stations"]
        assert drawn["layers"][0]["filled"] is False  # lines over the tiles, which bring their own land
    finally:
        get_settings.cache_clear()
