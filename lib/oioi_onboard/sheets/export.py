"""The canonical table of what a push sends: one row per connector, in the template's columns.

Built from the station objects themselves (``sheets.stations.build_stations``,
the same objects the push sends), so the table says exactly what the endpoint
gets: the operator id in its canonical spelling, the parsed numbers, yes/no as
true/false, the opening hours as they went out. Stations with errors are not
in it, as they are not pushed. It re-imports through the ``template`` profile.
"""

import csv
import io
from collections.abc import Iterable

from ..oioi.messages import Station
from .canonical import NAMES

__all__ = ["export_rows", "export_csv"]

# Optional station fields of the template, by their station-post names.
_OPTIONAL = {
    "description": "description", "notes": "notes", "is_reservable": "is-reservable",
    "floor_level": "floor-level", "is_free_charge": "is-free-charge", "total_parking": "total-parking",
    "is_green_power_available": "is-green-power-available", "is_plugin_charge": "is-plugin-charge",
    "is_roofed": "is-roofed", "is_private": "is-private",
}


def _text(value: object) -> str:
    """A JSON value as a cell: true/false, 22 rather than 22.0, '' for absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _open_hours(notes: list[dict] | None) -> str:
    """open-hour-notes -> 'Mo-Fr 08:00-12:00, 14:00-18:00; Sa 09:00-13:00' (the template's form)."""
    periods: dict[tuple[str, str], list[str]] = {}
    for note in notes or []:
        first, last = note["days"]
        periods.setdefault((first, last), []).append("-".join(note["times"]))
    return "; ".join(f"{first if first == last else f'{first}-{last}'} {', '.join(times)}"
                     for (first, last), times in periods.items())


def export_rows(stations: Iterable[Station]) -> list[dict[str, str]]:
    """One dict per connector, keyed by the template's column names."""
    rows = []
    for station in stations:
        data = station.to_json()
        address, contact = data["address"], data["contact"]
        shared = {
            "station_id": data["id"], "station_name": data["name"],
            "latitude": _text(data["latitude"]), "longitude": _text(data["longitude"]),
            "street": address["street"], "street_number": address["street-number"], "city": address["city"],
            "zip": address["zip"], "country": address["country"],
            "phone": contact.get("phone", ""), "fax": contact.get("fax", ""), "web": contact.get("web", ""),
            "email": contact.get("email", ""), "cpo_id": data["cpo-id"], "is_open_24": _text(data["is-open-24"]),
            "open_hours": _open_hours(data.get("open-hour-notes")),
            **{column: _text(data.get(field)) for column, field in _OPTIONAL.items()},
        }
        for connector in data["connectors"]:
            rows.append({**shared, "evse_id": connector["id"], "connector_type": connector["name"],
                         "speed_kw": _text(connector["speed"])})
    return rows


def export_csv(stations: Iterable[Station]) -> bytes:
    """UTF-8 with a byte-order mark and CRLF, like the template, so Excel opens it as the template."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=NAMES, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(export_rows(stations))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
