"""An offline base map of Europe: Natural Earth's countries and region borders (public domain).

Drawn under the stations on every map, so a map has context without any tile
server (a locked-down network, a demo without Wi-Fi, a screenshot test). Made by
``tools/build_basemap.py``; sources and licence in ``SOURCE.md`` beside it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

BOUNDS = (-25.0, 27.0, 45.0, 72.0)  # lon/lat box the layer covers (west, south, east, north), as built


@lru_cache(maxsize=1)
def europe() -> dict:
    """``{"countries": FeatureCollection of polygons, "regions": FeatureCollection of lines}``; read once."""
    text = resources.files(__package__).joinpath("europe.json").read_text(encoding="utf-8")
    return json.loads(text)


def country_names() -> list[str]:
    return [feature["properties"]["name"] for feature in europe()["countries"]["features"]]
