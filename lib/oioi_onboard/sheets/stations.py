"""From the canonical frame to ``station-post`` station objects.

Rows are grouped by station id; the station columns come from the station's
first row (validation has made sure its rows agree). One EVSE id with several
connector types becomes several connectors sharing that id.
"""

import hashlib
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..oioi.ids import normalise_evse_id
from ..oioi.messages import OpenHourNote, Station, ValidationError, canonical_sha256, describe_validation_error
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


def build_stations(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> list[Station]:
    """Station models for the given station ids (all when None), in file order.

    Raises StationBuildError naming the station and its row when a station is not valid OIOI.
    """
    return list(iter_stations(frame, station_ids))


def iter_stations(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> Iterator[Station]:
    """``build_stations`` one station at a time: each composed object (``station_objects``) read by the model."""
    for batch in station_objects(frame, station_ids):
        for i, text in enumerate(batch.texts):
            try:
                yield Station.model_validate_json(text)
            except ValidationError as error:
                raise StationBuildError(f"station {batch.ids[i]!r} (row {batch.rows[i]}): "
                                        f"{describe_validation_error(error, 'station.')}") from None


@dataclass
class StationObjects:
    """Station objects of consecutive stations, composed as JSON text, with what the store keeps beside them.

    ``texts[i]`` is what ``Station.to_json`` gives for the station, encoded compact (the text stored and sent);
    ``sha256[i]`` is its ``canonical_sha256`` and ``signatures[i]`` its ``connectors_signature``. Connectors
    are listed in the object's order; ``connector_station`` is each one's index in this batch.
    """

    ids: list[str]
    rows: list[int]  # each station's first row in the file
    names: list[str]
    latitudes: list[float]
    longitudes: list[float]
    cities: list[str]
    operator_ids: list[str]  # cpo-id, canonical
    texts: list[str]
    sha256: list[str]
    signatures: list[str]
    connector_station: np.ndarray
    evse_ids: list[str]
    evse_keys: list[str]  # normalise_evse_id
    connector_types: list[str]
    speeds: list[float]


# Station's fields in the model's order: the order ``Station.to_json`` gives them in.
_FIELD_ORDER = ["id", "name", "description", "latitude", "longitude", "address", "contact", "cpo-id", "is-open-24",
                "connectors", "open-hour-notes", "notes", "is-reservable", "floor-level", "is-free-charge",
                "total-parking", "is-green-power-available", "is-plugin-charge", "is-roofed", "is-private",
                "deleted"]
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> str:
    # Texts through json's own string encoder, without dumps' set-up per call: most values are texts.
    return encode_basestring(value) if type(value) is str else _dumps(value)


def _cells(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A column as codes into its distinct cells, stripped (a missing cell reads as empty).

    Every conversion and encoding below runs once per distinct cell: a national file repeats most of them.
    """
    codes, distinct = factorize.factorize(column)
    stripped = [str(value).strip() for value in list(distinct)] + [""]  # code -1 (missing): the last
    merged, texts = pd.factorize(np.array(stripped, dtype=object))  # cells that differ only in spaces: one
    return merged.astype(np.int32)[codes], list(texts)  # int32: 30 columns of 150,000 codes, half the memory


def _numbers(texts: list[str], *, comma: bool = True) -> list[float]:
    """Texts as numbers (NaN where not one), as the validator reads them: a decimal comma too."""
    values = pd.Series(texts, dtype=object)
    if comma:
        values = values.str.replace(",", ".", regex=False)
    return pd.to_numeric(values, errors="coerce").astype("float64").tolist()


def _integers(texts: list[str]) -> list[int | None]:
    return [int(n) if math.isfinite(n) else None for n in _numbers(texts, comma=False)]


_BOOLEANS = {w: True for w in rules.TRUE_WORDS} | {w: False for w in rules.FALSE_WORDS}


def _boolean(text: str) -> bool | None:
    return _BOOLEANS.get(text.lower())


def _member(key: str, values: list) -> np.ndarray:
    """``,"key":value`` for each value, ``""`` for None: a key the object leaves out."""
    return np.array(["" if value is None else f',"{key}":{_json(value)}' for value in values], dtype=object)


def _object(fields: list[tuple[str, np.ndarray]], *, sort_keys: bool = False) -> np.ndarray:
    """JSON objects from ``,"key":value`` pieces (``""`` leaves a key out), in the given key order (a model's
    field order, as ``to_json`` gives it) or sorted (``canonical_sha256``'s). The first key is never left out."""
    items = sorted(fields, key=lambda item: item[0]) if sort_keys else fields
    return np.array(["{" + "".join(pieces)[1:] + "}" for pieces in zip(*(piece for _, piece in items), strict=True)],
                    dtype=object)


def _ranks(texts: list[str]) -> np.ndarray:
    """Each distinct text's place in Python's order of them (code points, as ``sorted`` compares)."""
    place = np.empty(len(texts), dtype=np.intp)
    place[sorted(range(len(texts)), key=texts.__getitem__)] = np.arange(len(texts))
    return place


def _joined(pieces: np.ndarray, station: np.ndarray) -> np.ndarray:
    """Each station's pieces (grouped by ``station``) joined with ``,`` into one JSON array."""
    starts = np.flatnonzero(np.r_[True, np.diff(station) != 0]).tolist()
    pieces = pieces.tolist()
    return np.array(["[" + ",".join(pieces[a:b]) + "]" for a, b in zip(starts, [*starts[1:], len(pieces)],
                                                                         strict=True)], dtype=object)


def station_objects(frame: pd.DataFrame, station_ids: Iterable[str] | None = None,
                    batch: int = 5000) -> Iterator[StationObjects]:
    """The station objects of the given station ids (all when None), ``batch`` stations at a time, in file order.

    Composed column by column: each distinct cell is converted and encoded once, and only the joining of a
    station's pieces is per station. The objects are not checked here: the sheet validator holds the model's
    rules, so a station it passes makes a valid object (``iter_stations`` reads each through the model; the
    store keeps the texts as they are).
    """
    frame = canonical_frame(frame)
    key_codes, keys = _cells(frame["station_id"])
    chosen = None if station_ids is None else set(station_ids)
    wanted = np.array([key != "" and (chosen is None or key in chosen) for key in keys], dtype=bool)
    kept = np.flatnonzero(wanted[key_codes])
    if not len(kept):
        return
    station_of, _ = pd.factorize(key_codes[kept])  # stations numbered in order of appearance
    firsts = kept[np.unique(station_of, return_index=True)[1]]  # each station's first row
    cells = {name: _cells(frame[name]) for name in frame.columns if name != ROW}

    # Each field as a table of pieces, one per distinct cell, with each station's code into it: the pieces of
    # a batch of stations are looked up, and only a batch's objects are ever joined and held at once.
    def convert(name: str, convert=None, convert_all=None) -> tuple[list, np.ndarray]:  # noqa: ANN001
        codes, texts = cells[name]
        values = convert_all(texts) if convert_all else [convert(t) for t in texts] if convert else texts
        return values, codes[firsts]

    def member(key: str, name: str, convert_one=None, convert_all=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        values, codes = convert(name, convert_one, convert_all)
        return _member(key, values), codes

    operator = {text: text.replace("*", "").upper() for text in cells["cpo_id"][1]}
    operator = {text: f"{op[:2]}*{op[2:]}" for text, op in operator.items()}  # the registry's canonical spelling
    hours_codes, hours_texts = cells["open_hours"]
    notes_of = {text: [OpenHourNote.model_validate(note).to_json() for note in rules.parse_open_hours(text)]
                for text in (hours_texts[code] for code in np.unique(hours_codes[firsts])) if text}
    hours = {sort_keys: (np.array([f',"open-hour-notes":{_dumps(notes_of[t], sort_keys=sort_keys)}'
                                   if notes_of.get(t) else "" for t in hours_texts], dtype=object),
                         hours_codes[firsts]) for sort_keys in (False, True)}
    address_fields = [(key, member(key, name)) for key, name in (
        ("street", "street"), ("street-number", "street_number"), ("city", "city"), ("zip", "zip"))]
    address_fields.append(("country", member("country", "country", str.upper)))
    contact_fields = [("phone", member("phone", "phone"))] + [
        (key, member(key, key, lambda t: t or None)) for key in ("fax", "web", "email")]
    members = {
        "id": member("id", "station_id"),
        "name": member("name", "station_name"),
        "description": member("description", "description", lambda t: t or None),
        "cpo-id": member("cpo-id", "cpo_id", operator.get),
        "is-open-24": member("is-open-24", "is_open_24", _boolean),
        "notes": member("notes", "notes", lambda t: t or None),
        "floor-level": member("floor-level", "floor_level", convert_all=_integers),
        "total-parking": member("total-parking", "total_parking", convert_all=_integers),
    } | {key: member(key, name, _boolean) for name, key in _OPTIONAL_BOOLEANS.items()}
    plain = {name: convert(name, *how) for name, how in (
        ("station_id", ()), ("station_name", ()), ("city", ()), ("cpo_id", (operator.get,)),
        ("latitude", (None, _numbers)), ("longitude", (None, _numbers)))}

    # Connector rows, grouped by station, in the order the object lists them: by (EVSE id, type).
    evse_codes, evse_texts = cells["evse_id"]
    type_codes, type_texts = cells["connector_type"]
    order = np.lexsort((_ranks(type_texts)[type_codes[kept]], _ranks(evse_texts)[evse_codes[kept]], station_of))
    rows, connector_station = kept[order], station_of[order]
    speed_codes, speed_texts = cells["speed_kw"]
    speeds = np.array(_numbers(speed_texts))[speed_codes[rows]]
    evse_json = np.array([_json(t) for t in evse_texts], dtype=object)
    type_json = np.array([_json(t) for t in type_texts], dtype=object)
    # The signature's pairs: each station's distinct (EVSE key, type) pairs, sorted, as canonical_sha256 has them.
    key_of_evse = [normalise_evse_id(t) for t in evse_texts]
    key_codes_, key_texts = pd.factorize(np.array(key_of_evse, dtype=object))
    pair_key = key_codes_[evse_codes[kept]]
    pair_order = np.lexsort((_ranks(type_texts)[type_codes[kept]], _ranks(list(key_texts))[pair_key], station_of))
    pair_station, pair_key, pair_type = station_of[pair_order], pair_key[pair_order], type_codes[kept][pair_order]
    distinct = np.r_[True, (np.diff(pair_station) != 0) | (np.diff(pair_key) != 0) | (np.diff(pair_type) != 0)]
    pair_station, pair_key, pair_type = pair_station[distinct], pair_key[distinct], pair_type[distinct]
    key_json = np.array([_json(t) for t in key_texts], dtype=object)
    evse_keys = np.array(key_of_evse, dtype=object)
    file_rows = frame[ROW].to_numpy()[firsts]

    def values(name: str, lo: int, hi: int) -> list:
        table, codes = plain[name]
        return np.array(table, dtype=object)[codes[lo:hi]].tolist()

    for lo in range(0, len(firsts), batch):
        hi = min(lo + batch, len(firsts))
        a, b = np.searchsorted(connector_station, [lo, hi])
        c, d = np.searchsorted(pair_station, [lo, hi])
        pieces = {key: table[codes[lo:hi]] for key, (table, codes) in members.items()}
        connector_rows = rows[a:b]
        connectors = _joined('{"id":' + evse_json[evse_codes[connector_rows]] + ',"name":'
                             + type_json[type_codes[connector_rows]] + ',"speed":'
                             + np.array([repr(v) for v in speeds[a:b].tolist()], dtype=object) + "}",
                             connector_station[a:b])
        signatures = _joined("[" + key_json[pair_key[c:d]] + "," + type_json[pair_type[c:d]] + "]", pair_station[c:d])
        latitudes, longitudes = values("latitude", lo, hi), values("longitude", lo, hi)
        address = [(key, table[codes[lo:hi]]) for key, (table, codes) in address_fields]
        contact = [(key, table[codes[lo:hi]]) for key, (table, codes) in contact_fields]
        pieces |= {
            # Floats by repr, as json encodes them; not per distinct value, which would read -0.0 as 0.0.
            "latitude": np.array([f',"latitude":{v!r}' for v in latitudes], dtype=object),
            "longitude": np.array([f',"longitude":{v!r}' for v in longitudes], dtype=object),
            "address": ',"address":' + _object(address),
            "contact": ',"contact":' + _object(contact),
            "connectors": ',"connectors":' + connectors,
            "open-hour-notes": hours[False][0][hours[False][1][lo:hi]],
            "deleted": np.full(hi - lo, ',"deleted":false', dtype=object),
        }
        in_order = [(key, pieces[key]) for key in _FIELD_ORDER]
        nested_sorted = {"address": ',"address":' + _object(address, sort_keys=True),
                         "contact": ',"contact":' + _object(contact, sort_keys=True),
                         "open-hour-notes": hours[True][0][hours[True][1][lo:hi]]}
        canonical = _object([(key, nested_sorted.get(key, piece)) for key, piece in in_order], sort_keys=True)
        yield StationObjects(
            ids=values("station_id", lo, hi), rows=file_rows[lo:hi].tolist(), names=values("station_name", lo, hi),
            latitudes=latitudes, longitudes=longitudes, cities=values("city", lo, hi),
            operator_ids=values("cpo_id", lo, hi), texts=_object(in_order).tolist(),
            sha256=[hashlib.sha256(t.encode()).hexdigest() for t in canonical],
            signatures=[hashlib.sha256(t.encode()).hexdigest() for t in signatures],
            connector_station=connector_station[a:b] - lo,
            evse_ids=np.asarray(evse_texts, dtype=object)[evse_codes[connector_rows]].tolist(),
            evse_keys=evse_keys[evse_codes[connector_rows]].tolist(),
            connector_types=np.asarray(type_texts, dtype=object)[type_codes[connector_rows]].tolist(),
            speeds=speeds[a:b].tolist(),
        )


def station_sources(frame: pd.DataFrame, station_ids: Iterable[str] | None = None) -> dict[str, str]:
    """A fingerprint of each station's rows as mapped: every canonical column, the rows in file order.

    Rows with the same fingerprint make the same station object (``iter_stations`` reads nothing
    else), so a re-import of an unchanged station need not build it again. Vectorised: about 0.2 s
    for 150,000 rows, where building the station objects takes a second. Cells are hashed as they are,
    spaces included: a cell that differs only in spaces counts as changed, and the station is built and
    compared as usual. Each distinct cell of a column is hashed once.
    """
    frame = canonical_frame(frame)
    key = frame["station_id"].str.strip()
    keep = key != ""
    if station_ids is not None:
        keep &= key.isin(set(station_ids))
    rows = np.flatnonzero(keep.to_numpy())
    if not len(rows):
        return {}
    key = key.to_numpy(dtype=object)[rows]
    # Each row's cells, column by column, folded into one hash: h * P + cell (wrapping at 2**64; P is odd, so a
    # change in any one cell changes the row's hash).
    hashes = np.zeros(len(rows), dtype=np.uint64)
    for name in frame.columns.drop(ROW):
        codes, distinct = factorize.factorize(frame[name])
        table = np.append(pd.util.hash_array(np.asarray(distinct, dtype=object), categorize=False), np.uint64(0))
        hashes = hashes * np.uint64(0x100000001B3) + table[codes[rows]]  # code -1 (missing): the last
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
