"""The base under every map: the offline boundary layer, and tiles on top of the page when a style is set.

Without ``OIOI_MAP_STYLE`` (the default) no tile is asked for: the map is the
shipped Natural Earth layer (sea, land, country and region borders), the same
with or without internet. With a style, its tiles are drawn first and the
boundary layer over them as lines only, so the tiles' own land stays visible.
The layer's data (``app/static/basemap``, sources and licence in its
SOURCE.md) is served as static files and named in the deck by URL: a browser
loads it once, not with every rerun (the live map reruns every few seconds).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from oioi_onboard.settings import get_settings

SEA = [222, 233, 242]
LAND = [246, 244, 239]
COUNTRY_BORDER = [140, 140, 140]
REGION_BORDER = [196, 196, 196]
LAYER_IDS = ("basemap_sea", "basemap_countries", "basemap_regions")
BOUNDS = (-25.0, 27.0, 45.0, 72.0)  # lon/lat box the layer covers (west, south, east, north), as built
# Relative to the page, as Streamlit serves app/static (below any server.baseUrlPath).
STATIC_DIR, STATIC_URL = Path(__file__).resolve().parents[1] / "static" / "basemap", "app/static/basemap"


def map_style() -> str:
    return get_settings().map_style.strip()


def deck_style() -> dict:
    """``pdk.Deck`` keyword arguments for the tiles: none (``map_provider=None``) unless a style is set.

    pydeck writes ``"mapStyle": "__MAP_STYLE__"`` for ``map_provider=None``, which
    Streamlit reads as "no base map"; ``map_style=None`` would load Streamlit's
    own Carto tiles from the internet instead.
    """
    style = map_style()
    if not style:
        return {"map_provider": None}
    return {"map_style": style, "map_provider": "mapbox" if style.startswith("mapbox://") else "carto"}


def basemap_layers(*, tiles: bool | None = None) -> list[pdk.Layer]:
    """Sea, land and borders (no tiles) or borders alone (over tiles); never pickable, drawn first."""
    tiles = bool(map_style()) if tiles is None else tiles
    west, south, east, north = BOUNDS
    layers = []
    if not tiles:
        layers.append(pdk.Layer(
            "SolidPolygonLayer", id=LAYER_IDS[0], data=[{"polygon": [[west, south], [east, south], [east, north],
                                                                     [west, north]]}],
            get_polygon="polygon", get_fill_color=SEA, pickable=False,
        ))
    layers.append(pdk.Layer(
        "GeoJsonLayer", id=LAYER_IDS[1], data=f"{STATIC_URL}/countries.json", filled=not tiles, stroked=True,
        get_fill_color=LAND, get_line_color=COUNTRY_BORDER, line_width_min_pixels=1, get_line_width=1,
        line_width_units="'pixels'", pickable=False,
    ))
    layers.append(pdk.Layer(
        "GeoJsonLayer", id=LAYER_IDS[2], data=f"{STATIC_URL}/regions.json", stroked=True, filled=False,
        get_line_color=REGION_BORDER, line_width_min_pixels=1, get_line_width=0.5, line_width_units="'pixels'",
        pickable=False,
    ))
    return layers


@lru_cache(maxsize=2)
def _layers_json(tiles: bool) -> str:
    return json.dumps(basemap_layers(tiles=tiles), default=default_serialize, separators=(",", ":"))


def basemap_layers_json() -> str:
    """``basemap_layers`` as a JSON list, serialised once per process."""
    return _layers_json(bool(map_style()))


def under(layers_json: str) -> str:
    """A JSON list of layers with the base map's layers first (drawn underneath)."""
    inner = layers_json.strip()[1:-1].strip()
    base = basemap_layers_json()
    return base if not inner else f"{base[:-1]},{inner}]"
