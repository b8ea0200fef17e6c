"""The import preview's deck: dots sized in pixels, coloured by state, view fitted to the data."""

import json

import pandas as pd

from components.station_map import AGGREGATE_ABOVE, station_deck


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


def test_radius_is_in_pixels_not_an_expression():
    layers = json.loads(station_deck(points(20)).to_json())["layers"]
    # pydeck turns a bare "pixels" into the expression "@@=pixels": deck.gl then draws
    # discs in metres, hundreds of pixels wide, covering the whole map.
    assert layers and all(layer["radiusUnits"] == "pixels" for layer in layers)


def test_view_is_fitted_to_the_stations():
    view = json.loads(station_deck(points(300)).to_json())["initialViewState"]
    assert 48.0 <= view["latitude"] <= 50.0 and 8.0 <= view["longitude"] <= 8.1


def test_many_stations_are_aggregated_but_problems_stay_single_points():
    layers = json.loads(station_deck(points(AGGREGATE_ABOVE * 2)).to_json())["layers"]
    ids = {layer["id"] for layer in layers}
    assert {"stations_aggregated", "stations_with_problems"} <= ids
