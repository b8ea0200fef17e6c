"""The import preview's deck: dots sized in pixels, coloured by state, view fitted, over the offline base map."""

import json
import math

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.basemap import LAYER_IDS, STATIC_DIR, STATIC_URL
from components.station_map import AGGREGATE_ABOVE, CELL_PIXELS, STATE_RADIUS, station_deck
from oioi_onboard.settings import get_settings


def points(count: int) -> pd.DataFrame:
    return pd.DataFrame({
        "station_id": [f"S{i}" for i in range(count)],
        "name": [f"Station {i}" for i in range(count)],
        "latitude": [48.0 + (i % 100) * 0.02 for i in range(count)],
        "longitude": [8.0 + (i // 100) * 0.02 for i in range(count)],
        "address": "Hauptstr. 1, 12345 Stadt",
        "connectors": "Type2 22 kW",
        "problems": "",
        "state": ["error" if i % 7 == 0 else "ok" for i in range(count)],
    })


def station_layers(deck) -> list[dict]:
    return [layer for layer in json.loads(deck.to_json())["layers"] if layer["id"] not in LAYER_IDS]


@pytest.fixture
def map_style(monkeypatch):
    def use(style: str) -> None:
        monkeypatch.setenv("OIOI_MAP_STYLE", style)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_radius_is_in_pixels_not_an_expression():
    layers = station_layers(station_deck(points(20)))
    # pydeck turns a bare "pixels" into the expression "@@=pixels": deck.gl then draws
    # discs in metres, hundreds of pixels wide, covering the whole map.
    assert layers and all(layer["radiusUnits"] == "pixels" for layer in layers)


def test_view_is_fitted_to_the_stations():
    view = json.loads(station_deck(points(300)).to_json())["initialViewState"]
    assert 48.0 <= view["latitude"] <= 50.0 and 8.0 <= view["longitude"] <= 8.1


def test_every_city_of_a_network_lies_inside_the_first_view():
    # Gent, Antwerp and Brussels: the first view once cut off two of the three cities.
    cities = [(51.054, 3.721), (51.218, 4.411), (50.846, 4.366)]
    frame = points(300).assign(latitude=[cities[i % 3][0] for i in range(300)],
                               longitude=[cities[i % 3][1] for i in range(300)])
    view = json.loads(station_deck(frame).to_json())["initialViewState"]
    scale = 512 * 2 ** view["zoom"]  # pixels around the world at this zoom (deck.gl's Web Mercator)

    def pixel(lat, lon):
        return lon / 360 * scale, -math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / (2 * math.pi) * scale

    centre_x, centre_y = pixel(view["latitude"], view["longitude"])
    for lat, lon in cities:
        x, y = pixel(lat, lon)
        # The preview is 520 px high and at least 560 px wide.
        assert abs(x - centre_x) < 560 / 2 and abs(y - centre_y) < 520 / 2, (lat, lon, view["zoom"])
    assert view["zoom"] > 7  # a region, not a continent


def test_many_stations_are_aggregated_but_problems_stay_single_points():
    ids = {layer["id"] for layer in station_layers(station_deck(points(AGGREGATE_ABOVE * 2)))}
    assert {"stations_aggregated", "stations_with_problems"} <= ids


def test_aggregated_discs_grow_with_their_count_and_stay_inside_their_cell():
    """50,000 stations once piled up into discs far wider than the stations they stood for."""
    frame = points(50_000)
    deck = station_deck(frame)
    [cells] = [layer for layer in station_layers(deck) if layer["id"] == "stations_aggregated"]
    zoom = json.loads(deck.to_json())["initialViewState"]["zoom"]
    cell_degrees = CELL_PIXELS * 360 / (512 * 2**zoom)
    # The stations lie 0.02 degrees apart on a 100 x 500 grid: that many 16-pixel cells, no more.
    spread = frame[["latitude", "longitude"]].max() - frame[["latitude", "longitude"]].min()
    most = math.prod(math.floor(span / cell_degrees) + 2 for span in spread)
    radius = [point["radius"] for point in cells["data"]]
    assert len(radius) <= most and max(radius) == CELL_PIXELS / 2 and min(radius) >= 2
    assert cells["radiusUnits"] == "pixels"
    # Beside the cells, stations with problems are specks over a country and full-size dots over a region.
    [problems] = [layer for layer in station_layers(deck) if layer["id"] == "stations_with_problems"]
    assert problems["radiusUnits"] == "meters" and problems["radiusMaxPixels"] == max(STATE_RADIUS.values())
    assert len(deck.to_json()) < 2_000_000  # the browser gets a small deck (every station: 11 MB), at most 5,000 points


def test_every_station_is_on_the_aggregated_map_however_many_have_problems():
    """Past 5,000 problems the warnings once went missing: 16,409 of a national network's 50,056 stations."""
    frame = points(30_000).assign(state=["error" if i % 7 == 0 else "warning" if i % 3 == 0 else "ok"
                                         for i in range(30_000)])
    layers = {layer["id"]: layer["data"] for layer in station_layers(station_deck(frame))}
    assert set(layers) == {"stations_aggregated", "stations_aggregated_warning", "stations_with_problems"}
    drawn = {state: 0 for state in ("ok", "warning", "error")}
    for layer, state in (("stations_aggregated", "ok"), ("stations_aggregated_warning", "warning")):
        drawn[state] += sum(int(cell["name"].split()[0].replace(",", "")) for cell in layers[layer])
    drawn["error"] += len(layers["stations_with_problems"])
    assert drawn == frame["state"].value_counts().to_dict()


def test_the_offline_base_map_is_drawn_under_the_points_and_no_tiles_are_asked_for():
    deck = json.loads(station_deck(points(20)).to_json())
    ids = [layer["id"] for layer in deck["layers"]]
    assert ids[:3] == list(LAYER_IDS) and ids[3:] == ["stations"]  # sea, land, regions, then the stations
    countries = deck["layers"][1]
    assert countries["@@type"] == "GeoJsonLayer" and countries["filled"] is True
    # By URL: the browser loads the layer once from the static files, not with every rerun.
    assert countries["data"] == f"{STATIC_URL}/countries.json"
    names = {f["properties"]["name"] for f in json.loads((STATIC_DIR / "countries.json").read_text())["features"]}
    assert {"Germany", "France", "Poland"} <= names
    assert not any(layer["pickable"] for layer in deck["layers"][:3])  # tooltips stay the stations'
    # pydeck's "no base map" for map_provider=None; Streamlit then loads no tiles (map_style=None would).
    assert deck["mapStyle"] == "__MAP_STYLE__" and "mapProvider" not in deck


def test_a_configured_style_puts_tiles_under_the_borders(map_style):
    map_style("https://tiles.example.org/styles/light/style.json")
    deck = json.loads(station_deck(points(20)).to_json())
    assert deck["mapStyle"] == "https://tiles.example.org/styles/light/style.json"
    ids = [layer["id"] for layer in deck["layers"]]
    assert "basemap_sea" not in ids and ids[:2] == ["basemap_countries", "basemap_regions"]
    assert deck["layers"][0]["filled"] is False  # the tiles' own land shows through


def test_the_shipped_layer_is_small_covers_europe_and_says_where_it_comes_from():
    files = {name: STATIC_DIR / f"{name}.json" for name in ("countries", "regions")}
    assert sum(path.stat().st_size for path in files.values()) < 400 * 1024
    countries, regions = (json.loads(path.read_text(encoding="utf-8")) for path in files.values())
    assert len(countries["features"]) > 40 and len(regions["features"]) > 20
    for feature in countries["features"]:
        for ring in _rings(feature["geometry"]):
            for lon, lat in ring:
                assert -25.0 <= lon <= 45.0 and 27.0 <= lat <= 72.0
    source = (STATIC_DIR / "SOURCE.md").read_text(encoding="utf-8")
    assert "Natural Earth" in source and "public domain" in source.lower()


def _rings(geometry: dict):
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    for polygon in polygons:
        yield from polygon


PREVIEW = """
import pandas as pd
from components.station_map import render_station_map
from tests.app.test_station_map import points
render_station_map(points(30), key="preview")
"""


def test_the_import_preview_page_element_carries_the_base_map():
    app = AppTest.from_string(PREVIEW, default_timeout=60).run()
    assert not app.exception, app.exception
    [chart] = app.get("deck_gl_json_chart")
    deck = json.loads(chart.proto.json)
    assert [layer["id"] for layer in deck["layers"][:3]] == list(LAYER_IDS)
