"""From the canonical frame to ``station-post`` station objects.

Rows are grouped by station id; the station columns come from the station's
first row (validation has made sure its rows agree). One EVSE id with several
connector types becomes several connectors sharing that id.
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..oioi.ids import normalise_evse_id
from ..oioi.messages import Station, ValidationError, describe_validation_error
from . import rules
from .canonical import ROW
from .validate import canonical_frame

__all__ = ["build_stations", "station_payloads", "connectors_signature", "payload_sha256", "StationBuildError"]

_OPTIONAL_BOOLEANS = {
    "is_reservable": "is-reservable",
    "is_free_charge": "is-free-charge",
    "is_green_power_available": "is-green-power-available",
    "is_plugin_charge": "is-plugin-charge",
    "is_roofed": "is-roofed",
    "is_private": "is-private",
}


class StationBuildError(ValueError):
    """A station that cannot become a station-post object (it was not validated, or has errors)."""


def _sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_sha256(payload: dict) -> str:
    """A stable hash of a station object: the same content gives the same hash whatever the key order."""
    return _sha256(payload)


def connectors_signature(station: Station | dict) -> str:
    """A hash of the station's (EVSE id, connector type) pairs; OIOI forbids changing them."""
    connectors = station["connectors"] if isinstance(station, dict) else station.to_json()["connectors"]
    pairs = sorted({(normalise_evse_id(c["id"]), c["name"]) for c in connectors})
    return _sha256(pairs)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _integer(text: str) -> int | None:
    return int(float(text)) if text else None


def _station_object(first: dict[str, str], connectors: list[dict], hours: dict[str, list]) -> dict[str, Any]:
    def optional(name: str) -> str | None:
        return first[name] or None

    operator = first["cpo_id"].replace("*", "").upper()
    payload: dict[str, Any] = {
        "id": first["station_id"],
        "name": first["station_name"],
        "description": optional("description"),
        "latitude": _number(first["latitude"]),
        "longitude": _number(first["longitude"]),
        "address": {
            "street": first["street"],
            "street-number": first["street_number"],
            "city": first["city"],
            "zip": first["zip"],
            "country": first["country"].upper(),
        },
        "contact": {
            "phone": first["phone"],
            "fax": optional("fax"),
            "web": optional("web"),
            "email": optional("email"),
        },
        "cpo-id": f"{operator[:2]}*{operator[2:]}",  # the registry's canonical spelling
        "is-open-24": rules.parse_boolean(first["is_open_24"]),
        "connectors": connectors,
        "open-hour-notes": hours.get(first["open_hours"]) or None,
        "notes": optional("notes"),
        "floor-level": _integer(first["floor_level"]),
        "total-parking": _integer(first["total_parking"]),
    }
    for column, field in _OPTIONAL_BOOLEANS.items():
        payload[field] = rules.parse_boolean(first[column])
    payload["contact"] = {k: v for k, v in payload["contact"].items() if v is not None}
    return {k: v for k, v in payload.items() if v is not None}


def build_stations(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> list[Station]:
    """Station models for the given station ids (all when None), in file order.

    Raises StationBuildError naming the station and its row when a station is not valid OIOI.
    """
    frame = canonical_frame(frame)
    station_key = frame["station_id"].str.strip()
    keep = station_key != ""
    if station_ids is not None:
        keep &= station_key.isin(set(station_ids))
    frame = frame[keep.to_numpy()]
    if frame.empty:
        return []
    stripped = {name: frame[name].str.strip().to_numpy(dtype=object) for name in frame.columns if name != ROW}
    rows = frame[ROW].to_numpy()
    codes, _ = pd.factorize(stripped["station_id"])
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    hours = {text: rules.parse_open_hours(text) for text in pd.unique(stripped["open_hours"]) if text}

    stations = []
    for start, end in zip(starts, ends):
        positions = order[start:end]
        first_position = positions[0]
        first = {name: values[first_position] for name, values in stripped.items()}
        connectors = sorted(
            (
                {"id": stripped["evse_id"][p], "name": stripped["connector_type"][p],
                 "speed": _number(stripped["speed_kw"][p])}
                for p in positions
            ),
            key=lambda c: (c["id"], c["name"]),
        )
        try:
            payload = _station_object(first, connectors, hours)
            stations.append(Station.model_validate(payload))
        except ValidationError as error:
            raise StationBuildError(
                f"station {first['station_id']!r} (row {rows[first_position]}): "
                f"{describe_validation_error(error, 'station.')}"
            ) from None
        except (ValueError, TypeError) as error:
            raise StationBuildError(f"station {first['station_id']!r} (row {rows[first_position]}): {error}") from None
    return stations


def station_payloads(stations: Iterable[Station]) -> list[dict[str, Any]]:
    """The station objects as sent on the wire (``station-post``'s ``station``)."""
    return [station.to_json() for station in stations]
