"""From the canonical frame to ``station-post`` station objects.

Rows are grouped by station id; the station columns come from the station's
first row (validation has made sure its rows agree). One EVSE id with several
connector types becomes several connectors sharing that id.
"""

import hashlib
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..oioi.ids import normalise_evse_id
from ..oioi.messages import Station, ValidationError, canonical_sha256, describe_validation_error
from . import factorize, rules
from .addresses import address_line
from .canonical import ROW
from .validate import canonical_frame

__all__ = ["build_stations", "iter_stations", "station_payloads", "connectors_signature", "station_sources",
           "StationBuildError"]


@cache
def _builder_version() -> np.uint64:
    """The code that turns rows into a station object, as a number folded into every source fingerprint: after
    an upgrade that changes it the same rows may make another object, so every station is built again once
    (and only those whose object changed are pushed)."""
    from .. import __version__
    from ..oioi import ids, messages, vocabulary
    from . import canonical, rules, validate

    digest = hashlib.sha256(__version__.encode())
    for module in (sys.modules[__name__], canonical, rules, validate, ids, messages, vocabulary):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):  # no source beside it: the version alone
            continue
    return np.uint64(int.from_bytes(digest.digest()[:8], "little"))

_OPTIONAL_BOOLEANS = {
    "is_reservable": "is-reservable",
    "is_free_charge": "is-free-charge",
    "is_green_power_available": "is-green-power-available",
    "is_plugin_charge": "is-plugin-charge",
    "is_roofed": "is-roofed",
    "is_private": "is-private",
}


class StationBuildError(UserError):
    """A station that cannot become a station-post object (it was not validated, or has errors)."""


def connectors_signature(station: Station | dict) -> str:
    """A hash of the station's (EVSE id, connector type) pairs; OIOI forbids changing them."""
    connectors = station["connectors"] if isinstance(station, dict) else station.to_json()["connectors"]
    pairs = sorted({(normalise_evse_id(c["id"]), c["name"]) for c in connectors})
    return canonical_sha256(pairs)


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce").astype("float64").to_numpy()


def _optional(values: np.ndarray) -> list:
    return [v or None for v in values]


def _booleans(values: pd.Series) -> list:
    words = {w: True for w in rules.TRUE_WORDS} | {w: False for w in rules.FALSE_WORDS}
    return [words.get(v) for v in values.str.lower().tolist()]


def _integers(values: pd.Series) -> list:
    numbers = pd.to_numeric(values, errors="coerce")
    return [None if n != n else int(n) for n in numbers]  # n != n: NaN (empty)


def _strip(column: pd.Series) -> pd.Series:
    """``str.strip`` of each cell, computed once per distinct value: a national file repeats most of its cells,
    and pandas' element-wise strip of object columns was a third of storing 50,000 stations."""
    if column.dtype != object:
        return column.str.strip()  # Arrow strings strip in C
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    return pd.Series(np.array([value.strip() for value in distinct], dtype=object)[codes], index=column.index)


def build_stations(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> list[Station]:
    """Station models for the given station ids (all when None), in file order.

    Raises StationBuildError naming the station and its row when a station is not valid OIOI.
    """
    return list(iter_stations(frame, station_ids))


def iter_stations(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> Iterator[Station]:
    """``build_stations`` one station at a time, so that a caller storing 50,000 holds a batch, not all.

    Values are converted column by column; only the assembly of each station's
    object and its pydantic validation run per station.
    """
    frame = canonical_frame(frame)
    station_key = frame["station_id"].str.strip()
    keep = station_key != ""
    if station_ids is not None:
        keep &= station_key.isin(set(station_ids))
    frame = frame[keep.to_numpy()].reset_index(drop=True)
    if frame.empty:
        return
    stripped = frame.drop(columns=[ROW]).apply(_strip)
    codes, _ = pd.factorize(stripped["station_id"])
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    first = stripped.iloc[order[starts]].reset_index(drop=True)
    rows = frame[ROW].to_numpy()[order[starts]]

    # Station columns, converted once for all stations.
    operator = first["cpo_id"].str.replace("*", "", regex=False).str.upper()
    station_columns = {
        "id": first["station_id"].tolist(),
        "name": first["station_name"].tolist(),
        "description": _optional(first["description"]),
        "latitude": _numbers(first["latitude"]).tolist(),
        "longitude": _numbers(first["longitude"]).tolist(),
        "cpo-id": (operator.str[:2] + "*" + operator.str[2:]).tolist(),  # the registry's canonical spelling
        "is-open-24": _booleans(first["is_open_24"]),
        "notes": _optional(first["notes"]),
        "floor-level": _integers(first["floor_level"]),
        "total-parking": _integers(first["total_parking"]),
    }
    for column, field in _OPTIONAL_BOOLEANS.items():
        station_columns[field] = _booleans(first[column])
    hours_of = {text: rules.parse_open_hours(text) for text in first["open_hours"].unique() if text}
    open_hours = [hours_of.get(text) or None for text in first["open_hours"]]
    address = first[["street", "street_number", "city", "zip"]].to_numpy(dtype=object)
    country = first["country"].str.upper().tolist()
    contact = first[["phone", "fax", "web", "email"]].to_numpy(dtype=object)
    evse_ids = stripped["evse_id"].to_numpy(dtype=object)[order]
    types = stripped["connector_type"].to_numpy(dtype=object)[order]
    speeds = _numbers(stripped["speed_kw"])[order].tolist()
    fields = list(station_columns)
    values = list(zip(*station_columns.values(), strict=True))

    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        payload = {k: v for k, v in zip(fields, values[i], strict=True) if v is not None}
        street, number, city, zip_code = address[i]
        payload["address"] = {"street": street, "street-number": number, "city": city, "zip": zip_code,
                              "country": country[i]}
        phone, fax, web, email = contact[i]
        payload["contact"] = {k: v for k, v in (("phone", phone), ("fax", fax), ("web", web), ("email", email))
                              if v or k == "phone"}
        if open_hours[i]:
            payload["open-hour-notes"] = open_hours[i]
        payload["connectors"] = sorted(
            ({"id": evse_ids[p], "name": types[p], "speed": speeds[p]} for p in range(start, end)),
            key=lambda c: (c["id"], c["name"]),
        )
        try:
            station = Station.model_validate(payload)
        except ValidationError as error:
            raise StationBuildError(
                f"station {payload['id']!r} (row {rows[i]}): {describe_validation_error(error, 'station.')}"
            ) from None
        yield station


def station_sources(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> dict[str, str]:
    """A fingerprint of each station's rows as mapped: every canonical column, the rows in file order.

    Rows with the same fingerprint make the same station object (``iter_stations`` reads nothing
    else), so a re-import of an unchanged station need not build it again. Vectorised: about 0.2 s
    for 150,000 rows, where building and hashing the station objects takes seconds. Cells are hashed
    as they are, spaces included: a cell that differs only in spaces counts as changed, and the
    station is built and compared as usual.
    """
    frame = canonical_frame(frame)
    key = frame["station_id"].str.strip()
    keep = key != ""
    if station_ids is not None:
        keep &= key.isin(set(station_ids))
    keep = keep.to_numpy()
    if not keep.any():
        return {}
    rows = frame[keep].drop(columns=[ROW])
    key = key[keep].to_numpy(dtype=object)
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    codes, _ = pd.factorize(key)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    # Each row's hash mixed with its place in the station, summed per station (wrapping at 2**64).
    mixed = pd.util.hash_array(hashes[order] ^ (position.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
    sums = np.add.reduceat(mixed, starts) ^ _builder_version()
    return {station: f"{value:016x}" for station, value in zip(key[order[starts]], sums.tolist(), strict=True)}


def station_payloads(stations: Iterable[Station]) -> list[dict[str, Any]]:
    """The station objects as sent on the wire (``station-post``'s ``station``)."""
    return [station.to_json() for station in stations]


def _join_per_key(keys: list, texts: list, separator: str, limit: int) -> dict:
    """key -> its first ``limit`` texts joined, with "…" when there are more (a plain loop beats groupby here)."""
    parts: dict = {}
    for key, text in zip(keys, texts, strict=True):
        bucket = parts.setdefault(key, [])
        if len(bucket) < limit:
            bucket.append(text)
        elif len(bucket) == limit:
            bucket.append("…")
    return {key: separator.join(bucket) for key, bucket in parts.items()}


POINT_COLUMNS = ["station_id", "name", "latitude", "longitude", "state", "address", "connectors", "problems",
                 "in_range"]
# A position the validator found outside its country or the globe: listed beside a map, not drawn on it.
_OFF_THE_MAP = ("coordinates_swapped", "outside_country", "latitude_range", "longitude_range")


def station_points(validation) -> pd.DataFrame:
    """One row per station for a map preview: position, state, what a tooltip shows, and ``in_range``:
    whether its position lies where the validator expects it (its country, the globe).

    Stations without coordinates that are numbers are left out (their issues say why).
    Vectorised over the frame; only the short per-station texts are joined per group.
    """
    frame = validation.frame

    def text(rows: pd.DataFrame, column: str) -> pd.Series:  # stripped once per distinct value, not per cell
        return factorize.by_value(rows[column], lambda value: str(value).strip())

    station = text(frame, "station_id")
    has_station = (station != "").to_numpy()
    if not has_station.any():
        return pd.DataFrame({name: [] for name in POINT_COLUMNS})
    rows = frame[has_station].assign(station_id=station[has_station])
    first = rows.drop_duplicates("station_id")
    latitude = pd.to_numeric(text(first, "latitude").str.replace(",", ".", regex=False), errors="coerce")
    longitude = pd.to_numeric(text(first, "longitude").str.replace(",", ".", regex=False), errors="coerce")
    address = [address_line(*parts) for parts in zip(text(first, "street"), text(first, "street_number"),
                                                     text(first, "zip"), text(first, "city"), strict=True)]
    label = factorize.by_value(text(rows, "connector_type") + " " + text(rows, "speed_kw"), lambda v: f"{v} kW")
    connectors = _join_per_key(rows["station_id"].tolist(), label.tolist(), ", ", 6)
    points = pd.DataFrame({
        "station_id": first["station_id"].to_numpy(),
        "name": text(first, "station_name").to_numpy(),
        "latitude": latitude.to_numpy(dtype="float64"),
        "longitude": longitude.to_numpy(dtype="float64"),
        "address": address,
    })
    points["state"] = points["station_id"].map(validation.station_state).fillna("ok")
    points["connectors"] = points["station_id"].map(connectors).fillna("")
    issues = validation.issues
    misplaced: set = set()
    if len(issues):
        by_row = rows.drop_duplicates(ROW).set_index(ROW)["station_id"]
        issue_station = issues["row"].map(by_row)
        text = (issues["severity"] + ": " + issues["message"]).tolist()
        problems = _join_per_key(issue_station.tolist(), text, "; ", 3)
        points["problems"] = points["station_id"].map(problems).fillna("")
        misplaced = set(issue_station[issues["rule"].isin(_OFF_THE_MAP).to_numpy()])
    else:
        points["problems"] = ""
    points["in_range"] = (points["latitude"].between(-90, 90) & points["longitude"].between(-180, 180)
                          & ~points["station_id"].isin(misplaced))
    numbers = points["latitude"].notna() & points["longitude"].notna()
    return points[numbers][POINT_COLUMNS].reset_index(drop=True)
