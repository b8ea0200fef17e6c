"""The live map's colours, legend and pydeck deck: presentation only, no queries.

Colours are the Okabe-Ito palette, which stays distinguishable for the common
forms of colour blindness; Unknown is a neutral grey.

The map draws one point per station (25,000 stations are 75,000 connectors:
per connector the deck would be 17 MB a refresh), coloured by the most serious
status among its connectors. Above ``CELLS_ABOVE`` stations, points are summed
per grid cell. Connectors are listed in the tooltip when at most
``LIST_CONNECTORS_UP_TO`` stations are shown; otherwise it gives counts.
Tooltips are plain text, never HTML: names come from users' files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from components.basemap import deck_style, under

STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "Available": (0, 158, 115),  # bluish green
    "Occupied": (0, 114, 178),  # blue
    "Reserved": (230, 159, 0),  # orange
    "Offline": (213, 94, 0),  # vermillion
    "Unknown": (153, 153, 153),  # grey
}
# A station takes the colour of the first of these among its connectors: problems are never hidden.
SEVERITY = ("Offline", "Unknown", "Reserved", "Occupied", "Available")
LIST_CONNECTORS_UP_TO = 2_000  # stations; beyond, per-connector tooltips would make the deck megabytes
CELLS_ABOVE = 30_000  # stations; beyond, one point per grid cell keeps the deck small
CELLS_ACROSS = 150
TOOLTIP = {"text": "{tooltip}"}  # "text": shown as plain text, never parsed as HTML
MAP_WIDTH_PX, MAP_HEIGHT_PX = 560, 520  # the map column of the wide layout, for fitting the first view


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


def fit_view(lat_min: float, lat_max: float, lon_min: float, lon_max: float, *, width: int = MAP_WIDTH_PX,
             height: int = MAP_HEIGHT_PX) -> pdk.ViewState:
    """The view whose map of ``width`` x ``height`` pixels shows the whole box, with a margin.

    Web Mercator as deck.gl draws it: the world is 512 px wide at zoom 0; the
    latitude span is measured in Mercator y, which stretches towards the poles.
    """
    def mercator_y(lat: float) -> float:
        lat = max(-85.0, min(85.0, lat))
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lon_span = max(lon_max - lon_min, 0.002)
    y_span = max(mercator_y(lat_max) - mercator_y(lat_min), 0.00005)
    zoom_lon = math.log2(width * 360 / (512 * lon_span))
    zoom_lat = math.log2(height * 2 * math.pi / (512 * y_span))
    zoom = max(1.0, min(16.0, min(zoom_lon, zoom_lat) - 0.3))  # 0.3: a margin of about a fifth
    # Centred in Mercator y, as drawn: the middle latitude lies south of it, and the north edge would be cut.
    centre = math.degrees(2 * math.atan(math.exp((mercator_y(lat_min) + mercator_y(lat_max)) / 2)) - math.pi / 2)
    return pdk.ViewState(latitude=round(centre, 6), longitude=(lon_min + lon_max) / 2, zoom=round(zoom, 2))


def worst_status(counts: pd.DataFrame) -> pd.Series:
    """Per row of per-status counts, the first status of ``SEVERITY`` with a count (Unknown when none)."""
    worst = pd.Series("Unknown", index=counts.index)
    for status in reversed(SEVERITY):  # the most serious written last wins
        worst = worst.mask(counts[status] > 0, status)
    return worst


def _summary(counts: tuple[int, ...] | list[int]) -> str:
    """``(offline, unknown, ...)`` in ``SEVERITY`` order -> "1 Offline · 2 Available"."""
    return " · ".join(f"{count:,} {status}" for status, count in zip(SEVERITY, counts, strict=True) if count)


def _summaries(counts: list[list[int]]) -> list[str]:
    # Stations mostly share a handful of count combinations: each is formatted once.
    known: dict[tuple[int, ...], str] = {}
    out = []
    for row in counts:
        key = tuple(row)
        text = known.get(key)
        if text is None:
            text = known[key] = _summary(key)
        out.append(text)
    return out


# Point JSON per station, by what it shows: under a live feed most stations look the same as a refresh ago.
_POINT_JSON: dict[tuple, str] = {}
_POINT_JSON_MAX = 200_000


def _point_json(lon: float, lat: float, status: str, tooltip: str, station_id: str) -> str:
    colour = ",".join(str(part) for part in STATUS_COLOURS[status])
    # station_id: what a click on the point selects (the station view).
    return (f'{{"position":[{lon},{lat}],"colour":[{colour}],"tooltip":{json.dumps(tooltip)},'
            f'"station_id":{json.dumps(station_id)}}}')


def station_points_json(stations: pd.DataFrame, connectors: pd.DataFrame | None = None) -> str:
    """The JSON list of ``station_points``, built from remembered pieces where a station did not change.

    The most serious last: deck.gl draws later points on top, and an Offline station among a city's
    stations must not hide under grey ones.
    """
    shown = stations[stations[list(SEVERITY)].sum(axis=1) > 0]
    if shown.empty:
        return "[]"
    worst = worst_status(shown)
    order = np.argsort(worst.map({status: -index for index, status in enumerate(SEVERITY)}).to_numpy(),
                       kind="stable")
    shown, worst = shown.iloc[order], worst.iloc[order]
    listed: dict[str, list[str]] = {}
    if connectors is not None and not connectors.empty:
        since = (pd.to_datetime(connectors["status_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
                 .fillna("never reported"))
        sources = (connectors["status_source"] if "status_source" in connectors else pd.Series(
            [None] * len(connectors), index=connectors.index)).astype(object).fillna("").tolist()
        for station_id, evse_id, kind, status, at, source in zip(
            connectors["station_id"].tolist(), connectors["evse_id"].tolist(),
            connectors["connector_type"].tolist(), connectors["status"].tolist(), since.tolist(), sources,
            strict=True,
        ):
            # Where the status came from (ocpi, api, file, ui ...): record_statuses keeps it per connector.
            via = f" (source {source})" if source else ""
            listed.setdefault(station_id, []).append(f"{evse_id} · {kind} · {status} since {at}{via}")
    if len(_POINT_JSON) > _POINT_JSON_MAX:
        _POINT_JSON.clear()
    counts = shown[list(SEVERITY)].to_numpy()
    station_sources = (shown["source"] if "source" in shown else pd.Series([""] * len(shown), index=shown.index))
    pieces = []
    for lon, lat, name, station_id, total, row, status, summary, source in zip(
        shown["lon"].round(5).tolist(), shown["lat"].round(5).tolist(), shown["name"].tolist(),
        shown["station_id"].tolist(), shown["connectors"].tolist(), counts.tolist(),
        worst.tolist(), _summaries(counts.tolist()), station_sources.astype(object).fillna("").tolist(), strict=True,
    ):
        lines = listed.get(station_id)
        key = (station_id, name, lon, lat, total, source, *row) if lines is None else None
        piece = _POINT_JSON.get(key) if key else None
        if piece is None:
            matching = sum(row)
            tooltip = [f"{name} ({station_id})", *(lines or [summary + (f" · source {source}" if source else "")])]
            if matching < total:
                tooltip.append(f"{matching} of {total} connectors match the filters")
            piece = _point_json(lon, lat, status, "\n".join(tooltip), station_id)
            if key:
                _POINT_JSON[key] = piece
        pieces.append(piece)
    return "[" + ",".join(pieces) + "]"


def station_points(stations: pd.DataFrame, connectors: pd.DataFrame | None = None) -> list[dict]:
    """One point per station with at least one matching connector; ``stations`` as ``live.live_stations``.

    With ``connectors`` (as ``live.live_connectors``, same filters) the
    tooltip lists each connector with its status; without, it counts them.
    """
    return json.loads(station_points_json(stations, connectors))


def cell_points(stations: pd.DataFrame, cells_across: int = CELLS_ACROSS) -> list[dict]:
    """Stations summed per grid cell (the grid fits the data's extent): one point per cell, sized by count."""
    shown = stations[stations[list(SEVERITY)].sum(axis=1) > 0]
    if shown.empty:
        return []
    size = max(shown["lat"].max() - shown["lat"].min(), shown["lon"].max() - shown["lon"].min(), 0.01) / cells_across
    keyed = shown.assign(_lat=np.floor(shown["lat"].to_numpy() / size), _lon=np.floor(shown["lon"].to_numpy() / size))
    cells = keyed.groupby(["_lat", "_lon"], sort=False).agg(
        lat=("lat", "mean"), lon=("lon", "mean"), stations=("lat", "size"),
        **{status: (status, "sum") for status in SEVERITY},
    )
    colours = {status: list(rgb) for status, rgb in STATUS_COLOURS.items()}
    points = []
    for lon, lat, stations_here, status, summary in zip(
        cells["lon"].round(5).tolist(), cells["lat"].round(5).tolist(), cells["stations"].tolist(),
        worst_status(cells).tolist(), _summaries(cells[list(SEVERITY)].to_numpy().tolist()), strict=True,
    ):
        points.append({
            "position": [lon, lat], "colour": colours[status], "radius": round(4 + 1.5 * math.sqrt(stations_here), 1),
            "tooltip": f"{stations_here:,} stations here\n{summary}\nnarrow the filters to see each station",
        })
    return points


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation, and whose layers may come as ready JSON.

    pydeck indents its JSON; compact it is a third of the size in a tenth of the
    time. ``layers_json`` lets a cached layer be sent without serialising it again.
    """

    def __init__(self, *args, layers_json: str | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._layers_json = layers_json

    def to_json(self) -> str:
        shell = default_serialize(self)  # the deck's own attributes, as pydeck names them in JSON
        layers_json = shell.pop("_layersJson", None)
        text = json.dumps(shell, default=default_serialize, separators=(",", ":"))
        if layers_json is None:
            return text
        # Only our own view and settings are in ``text``: the layers list is the one empty list in it.
        return text.replace('"layers":[]', f'"layers":{layers_json}', 1)


def _layer(points: list[dict], layer_id: str, radius: int | str) -> pdk.Layer:
    return pdk.Layer(
        "ScatterplotLayer",
        data=points,
        id=layer_id,
        get_position="position",
        get_fill_color="colour",
        get_line_color=[255, 255, 255],
        line_width_min_pixels=1,
        stroked=True,
        radius_units="'pixels'",  # quoted: pydeck turns a bare string into an expression ("@@=pixels")
        get_radius=radius,
        pickable=True,
    )


@dataclass
class LiveMap:
    """What one refresh of the map shows: the layers as JSON, and the figures around it."""

    layers_json: str
    counts: dict[str, int]  # matching connectors per status
    stations: int  # stations shown
    connectors: int  # connectors shown (matching the filters)
    all_connectors: int  # connectors of every live station in scope
    cells: bool  # stations summed per grid cell
    listed: bool  # connectors listed in the tooltips
    bounds: tuple[float, float, float, float] | None = field(default=None)  # lat/lon min/max of every station


def live_map(stations: pd.DataFrame, connectors: pd.DataFrame | None = None) -> LiveMap:
    """The map of ``live.live_stations`` rows (and ``live_connectors`` rows to list in tooltips)."""
    shown = stations[stations[list(SEVERITY)].sum(axis=1) > 0]
    cells = len(shown) > CELLS_ABOVE
    if cells:
        layers_json = json.dumps([_layer(cell_points(shown), "station_cells", "radius")], default=default_serialize,
                                 separators=(",", ":"))
    else:
        layer = json.dumps([_layer([], "stations", 6)], default=default_serialize, separators=(",", ":"))
        # Our own settings only, so its one empty data list is where the points go.
        layers_json = layer.replace('"data":[]', f'"data":{station_points_json(shown, connectors)}', 1)
    counts = {status: int(shown[status].sum()) for status in STATUS_COLOURS}
    bounds = None
    if not stations.empty:
        bounds = (float(stations["lat"].min()), float(stations["lat"].max()),
                  float(stations["lon"].min()), float(stations["lon"].max()))
    return LiveMap(
        layers_json=layers_json,
        counts=counts, stations=len(shown), connectors=sum(counts.values()),
        all_connectors=int(stations["connectors"].sum()) if not stations.empty else 0,
        cells=cells, listed=connectors is not None and not cells, bounds=bounds,
    )


def live_deck(layers_json: str, view: pdk.ViewState) -> pdk.Deck:
    """The live map: the offline base map under the points, tiles only when ``OIOI_MAP_STYLE`` names a style."""
    return CompactDeck(
        layers=[],
        layers_json=under(layers_json),
        initial_view_state=view,
        tooltip=TOOLTIP,
        **deck_style(),
    )


def display_timezone(browser: str | None) -> str:
    """The zone to show times in: the browser's (``st.context.timezone``) when it is a known zone, else UTC."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if browser:
        try:
            ZoneInfo(browser)
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"
        return browser
    return "UTC"


def counts_chart(counts: pd.DataFrame, timezone: str = "UTC") -> tuple[pd.DataFrame, dict]:
    """Data and Vega-Lite spec of connectors per status over time (``live.status_counts_over_time``).

    The time axis is a 24-hour clock in ``timezone``, and says so: the minutes
    are turned into that zone's wall-clock time and drawn on a UTC scale, so the
    browser's own zone (Vega's default, with a 12-hour "05:05" for 17:05) never
    shifts or reformats them. A plain spec for ``st.vega_lite_chart``:
    ``st.line_chart`` builds it through Altair, whose schema validation alone
    cost more per refresh than the whole map.
    """
    minutes = pd.DatetimeIndex(counts.index)
    minutes = minutes.tz_localize("UTC") if minutes.tz is None else minutes
    wall_clock = minutes.tz_convert(timezone).tz_localize(None)
    data = (counts.set_axis(wall_clock).rename_axis("minute").reset_index()
            .melt(id_vars="minute", var_name="status", value_name="connectors"))
    data["time"] = data["minute"].dt.strftime("%H:%M")  # the tooltip's text, formatted here once
    title = f"time ({timezone})"
    spec = {
        "mark": {"type": "line"},
        "encoding": {
            # labelExpr as well as format: Streamlit's chart showed its own 12-hour labels ("08 PM") with
            # format alone.
            "x": {"field": "minute", "type": "temporal", "title": title, "scale": {"type": "utc"},
                  "axis": {"format": "%H:%M", "formatType": "utc", "labelOverlap": True,
                           "labelExpr": "utcFormat(datum.value, '%H:%M')"}},
            # No axis title: the subheader above names the quantity, and a title longer than the short axis
            # (the chart's height less the legend's rows) was cut to "connecto".
            "y": {"field": "connectors", "type": "quantitative", "title": None},
            "color": {"field": "status", "type": "nominal", "title": None,
                      "scale": {"domain": list(STATUS_COLOURS), "range": [hex_colour(s) for s in STATUS_COLOURS]},
                      "legend": {"orient": "bottom", "columns": 3}},  # three a row: the side column is narrow
            "tooltip": [
                {"field": "time", "type": "nominal", "title": title},
                {"field": "status", "type": "nominal"},
                {"field": "connectors", "type": "quantitative"},
            ],
        },
    }
    return data, spec
