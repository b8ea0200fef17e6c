"""The live map's colours, legend and pydeck deck: presentation only, no queries.

Colours are the Okabe-Ito palette, which stays distinguishable for the common
forms of colour blindness; Unknown is a neutral grey.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "Available": (0, 158, 115),  # bluish green
    "Occupied": (0, 114, 178),  # blue
    "Reserved": (230, 159, 0),  # orange
    "Offline": (213, 94, 0),  # vermillion
    "Unknown": (153, 153, 153),  # grey
}
# Connectors of one station sit side by side, a few metres apart, so each shows its own colour.
CONNECTOR_OFFSET_DEGREES = 0.00003


def hex_colour(status: str) -> str:
    red, green, blue = STATUS_COLOURS.get(status, STATUS_COLOURS["Unknown"])
    return f"#{red:02x}{green:02x}{blue:02x}"


def legend_html(counts: dict[str, int] | None = None) -> str:
    chips = []
    for status in STATUS_COLOURS:
        count = f" {counts.get(status, 0):,}" if counts is not None else ""
        chips.append(
            f'<span style="display:inline-flex;align-items:center;margin-right:1rem">'
            f'<span style="width:0.8rem;height:0.8rem;border-radius:50%;background:{hex_colour(status)};'
            f'display:inline-block;margin-right:0.3rem"></span>{status}{count}</span>'
        )
    return "".join(chips)


def initial_view(frame: pd.DataFrame) -> pdk.ViewState:
    """A view that shows every point of ``frame`` (Germany when there is none)."""
    if frame.empty:
        return pdk.ViewState(latitude=51.1, longitude=10.4, zoom=5)
    lat_min, lat_max = float(frame["lat"].min()), float(frame["lat"].max())
    lon_min, lon_max = float(frame["lon"].min()), float(frame["lon"].max())
    span = max(lat_max - lat_min, (lon_max - lon_min) / 1.5, 0.005)
    zoom = max(1.0, min(16.0, 8.5 - math.log2(span)))
    return pdk.ViewState(latitude=(lat_min + lat_max) / 2, longitude=(lon_min + lon_max) / 2, zoom=zoom)


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation and no key sorting.

    pydeck indents its JSON; for 50,000 connectors that is 18 MB and two seconds per refresh,
    compact it is a third of the size in a tenth of the time.
    """

    def to_json(self) -> str:
        return json.dumps(self, default=default_serialize, separators=(",", ":"))


def map_points(frame: pd.DataFrame) -> list[dict]:
    """Only what the map needs, one point per connector, coloured by its status."""
    if frame.empty:
        return []
    offset = frame.groupby("station_id", sort=False).cumcount() * CONNECTOR_OFFSET_DEGREES
    since = pd.to_datetime(frame["status_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC").fillna("never reported")
    colours = {status: list(rgb) for status, rgb in STATUS_COLOURS.items()}
    unknown = colours["Unknown"]
    points = []
    for lon, lat, name, station_id, evse_id, kind, status, at in zip(
        (frame["lon"] + offset).round(6).tolist(), frame["lat"].round(6).tolist(), frame["name"].tolist(),
        frame["station_id"].tolist(), frame["evse_id"].tolist(), frame["connector_type"].tolist(),
        frame["status"].tolist(), since.tolist(),
    ):
        points.append({
            "position": [lon, lat], "colour": colours.get(status, unknown), "evse_id": evse_id, "status": status,
            # Plain text (the tooltip's "text" mode): names from uploaded files are never parsed as HTML.
            "tooltip": f"{name} ({station_id})\n{evse_id} · {kind}\n{status} since {at}",
        })
    return points


def live_deck(frame: pd.DataFrame, view: pdk.ViewState) -> pdk.Deck:
    layer = pdk.Layer(
        "ScatterplotLayer",
        data=map_points(frame),
        id="connectors",
        get_position="position",
        get_fill_color="colour",
        get_line_color=[255, 255, 255],
        line_width_min_pixels=1,
        stroked=True,
        radius_units="pixels",
        get_radius=5,
        pickable=True,
    )
    return CompactDeck(
        layers=[layer],
        initial_view_state=view,
        map_style=None,  # Streamlit's own base map: no token, follows the theme
        tooltip={"text": "{tooltip}"},
    )
