"""A pydeck map of stations coloured by state (ok, warning, error): presentation only.

Colours are Okabe-Ito (blue, yellow, vermillion), told apart with the common
forms of colour blindness; error points are also drawn larger. Above
``AGGREGATE_ABOVE`` stations the ok stations are pre-aggregated into grid
cells (one point per cell, sized by count) while stations with problems stay
individual, unless they are more than ``AGGREGATE_ABOVE`` too: then the
warnings, and if still too many the errors, become cells of their own colour
(every station stays on the map). The deck stays small (350 kB for 50,000 stations, 11 MB with every
station), so reruns stay fast and the browser draws it at once. The cells are
``CELL_PIXELS`` wide at the first view, and no disc is wider than its cell.
Tooltips are plain text, never HTML: names come from users' files.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize

from components.basemap import deck_style, under
from components.live_map_layers import MAP_WIDTH_PX, CompactDeck, fit_view
from oioi_onboard.wording import counted

STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    "ok": (0, 114, 178),  # blue
    "warning": (240, 228, 66),  # yellow
    "error": (213, 94, 0),  # vermillion
}
STATE_RADIUS = {"ok": 5, "warning": 6, "error": 8}  # pixels: size repeats the colour's meaning
AGGREGATE_ABOVE = 5_000
CELL_PIXELS = 16  # width of an aggregated cell at the first view; its disc grows with the count up to half of it
FULL_SIZE_ZOOM = 9  # beside aggregated cells, stations with problems are drawn at full size from this zoom on
TOOLTIP = {"text": "{name}\n{address}\n{connectors}\n{problems}"}


def hex_colour(state: str) -> str:
    red, green, blue = STATE_COLOURS[state]
    return f"#{red:02x}{green:02x}{blue:02x}"


def legend_html(counts: dict[str, int] | None = None) -> str:
    """Coloured chips with labels (our own markup only, no user data)."""
    chips = []
    for state in STATE_COLOURS:
        count = f" {counts.get(state, 0):,}" if counts is not None else ""
        size = STATE_RADIUS[state] * 2
        chips.append(
            f'<span style="display:inline-flex;align-items:center;margin-right:1rem">'
            f'<span style="width:{size}px;height:{size}px;border-radius:50%;background:{hex_colour(state)};'
            f'border:1px solid #333;display:inline-block;margin-right:0.3rem"></span>{state}{count}</span>'
        )
    return "".join(chips)


def fitted_view(points: pd.DataFrame, width: int = MAP_WIDTH_PX) -> pdk.ViewState:
    """A view of ``width`` pixels showing every point: none is drawn outside the frame. Stray points are the
    ones whose position is out of range, and those are listed beside the map, not drawn (render_station_map)."""
    if points.empty:
        return pdk.ViewState(latitude=51.1, longitude=10.4, zoom=5)
    lat, lon = points["latitude"].to_numpy(), points["longitude"].to_numpy()
    return fit_view(float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max()), width=width)


def _with_style(points: pd.DataFrame) -> pd.DataFrame:
    out = points[["latitude", "longitude", "name", "address", "connectors", "problems", "state"]].copy()
    out["colour"] = out["state"].map({s: list(c) for s, c in STATE_COLOURS.items()})
    out["radius"] = out["state"].map(STATE_RADIUS)
    return out


CELL_NAMES = {"ok": "without problems", "warning": "with warnings", "error": "with errors"}


def aggregate_cells(points: pd.DataFrame, zoom: float, state: str = "ok") -> pd.DataFrame:
    """Points per grid cell of ``CELL_PIXELS`` at ``zoom``: position (mean), count, a disc sized by the count."""
    size = CELL_PIXELS * 360 / (512 * 2**zoom)  # degrees of longitude per cell (deck.gl: 512 px round the world)
    key_lat = np.floor(points["latitude"].to_numpy() / size).astype(np.int64)
    key_lon = np.floor(points["longitude"].to_numpy() / size).astype(np.int64)
    cells = points.assign(_lat=key_lat, _lon=key_lon).groupby(["_lat", "_lon"], sort=False).agg(
        latitude=("latitude", "mean"), longitude=("longitude", "mean"), count=("latitude", "size"),
    ).reset_index(drop=True)
    cells["name"] = cells["count"].map(lambda n: f"{n:,} stations {CELL_NAMES[state]} here")
    cells["address"] = "zoom in or choose 'every station' to see each"
    cells["connectors"] = ""
    cells["problems"] = ""
    cells["colour"] = [list(STATE_COLOURS[state])] * len(cells)
    return cells


def size_discs(cells: list[pd.DataFrame]) -> None:
    """Discs whose area is the count's, on one scale for every state's cells (a cell's few warnings are a small
    yellow disc on a larger blue one); the fullest cell's fills it, none is smaller than a speck."""
    most = max((int(c["count"].max()) for c in cells if len(c)), default=1)
    for c in cells:
        c["radius"] = np.maximum(CELL_PIXELS / 2 * np.sqrt(c["count"] / most), 2.0)


def _layer(data: pd.DataFrame, layer_id: str, units: str = "pixels", **sizes: float) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id=layer_id,
        get_position=["longitude", "latitude"],
        get_fill_color="colour",
        get_line_color=[40, 40, 40],
        get_radius="radius",
        radius_units=f"'{units}'",  # quoted: pydeck turns a bare string into an expression
        line_width_min_pixels=1,
        stroked=True,
        opacity=0.85,
        pickable=True,
        **sizes,
    )


def _metres_per_pixel(latitude: float, zoom: float) -> float:
    """Web Mercator as deck.gl draws it (512 px round the world at zoom 0)."""
    return 40_075_016.7 * math.cos(math.radians(latitude)) / (512 * 2**zoom)


def station_deck(points: pd.DataFrame, every_station: bool = False, width: int = MAP_WIDTH_PX) -> pdk.Deck:
    """The deck for ``station_points``-shaped data, over the offline base map (and tiles if a style is set),
    fitted to a map ``width`` pixels wide."""
    styled = _with_style(points)
    view = fitted_view(points, width)
    layers = []
    if every_station or len(styled) <= AGGREGATE_ABOVE:
        # Problems on top: draw ok first.
        layers.append(_layer(styled.sort_values("radius", kind="stable"), "stations"))
    else:
        aggregated = {"stations_aggregated": aggregate_cells(styled[styled["state"] == "ok"], view.zoom)}
        problems = styled[styled["state"] != "ok"]
        for state in ("warning", "error"):  # too many to draw one by one: the milder ones as cells too
            if len(problems) > AGGREGATE_ABOVE:
                aggregated[f"stations_aggregated_{state}"] = aggregate_cells(
                    problems[problems["state"] == state], view.zoom, state)
                problems = problems[problems["state"] != state]
        size_discs(list(aggregated.values()))
        layers += [_layer(cells, layer_id) for layer_id, cells in aggregated.items()]
        # Sized in metres: full size from a region's zoom on, specks over a whole country, where hundreds of
        # full-size dots would hide the cells of the stations without problems.
        problems = problems.assign(
            radius=(problems["radius"] * _metres_per_pixel(view.latitude, FULL_SIZE_ZOOM)).round())
        layers.append(_layer(problems.sort_values("radius", kind="stable"), "stations_with_problems", "meters",
                             radius_min_pixels=1.5, radius_max_pixels=max(STATE_RADIUS.values())))
    # Compact JSON with the base map's layers serialised once: pydeck would indent a few hundred kilobytes each rerun.
    layers_json = json.dumps(layers, default=default_serialize, separators=(",", ":"))
    return CompactDeck(layers=[], layers_json=under(layers_json), initial_view_state=view,
                       tooltip=TOOLTIP, **deck_style())


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_deck(key: str, _points: pd.DataFrame, every_station: bool, width: int) -> pdk.Deck:
    # Keyed on the caller's key: hashing 25,000 points on every rerun would cost more than the map.
    return station_deck(_points, every_station, width)


def render_station_map(points: pd.DataFrame, *, key: str | None = None, every_station: bool = False,
                       height: int = 520) -> None:
    """Legend and map of the stations whose position is in range (``in_range``), and a list of the others
    beside it. ``key`` names this exact set of points (e.g. a revision): the deck is then cached."""
    in_range = points["in_range"].to_numpy(dtype=bool) if "in_range" in points.columns else np.ones(len(points), bool)
    shown, away = points[in_range], points[~in_range]
    counts = points["state"].value_counts().to_dict() if len(points) else {}
    st.markdown(legend_html(counts), unsafe_allow_html=True)
    place, width = st, MAP_WIDTH_PX
    if len(away):
        place, beside = st.columns([3, 1])
        width = MAP_WIDTH_PX * 3 // 4  # the map's column
        beside.caption(f"{counted(len(away), 'station')} not on the map: their position lies outside their country "
                       "(or outside latitude -90..90, longitude -180..180). Fix them above.")
        beside.dataframe(away[["station_id", "name", "latitude", "longitude"]], hide_index=True)
    deck = _cached_deck(key, shown, every_station, width) if key else station_deck(shown, every_station, width)
    place.pydeck_chart(deck, height=height)
