"""What a column's values look like: the evidence the suggestion weighs beside the column's header.

Every column is profiled from the file's first ``SAMPLE_ROWS`` rows (a block,
so a station's connector rows stay together): for each kind of value (EVSE
ids, operator ids, coordinates, one-line addresses, postcodes, phone numbers,
e-mail and web addresses, plug names, power in kW, yes/no words, opening
hours, station codes, ...) how many of its filled cells are of that kind.
Each check runs once per distinct value, and the expensive ones (addresses,
phone numbers, plug names) only on columns a cheap pattern lets through.

Two columns of bare numbers are told apart as latitude and longitude by where
their points land: in which order the pairs fall inside a European country.
A column of short codes whose every value fills one block of rows is a
station's code, repeated on its connector rows.
"""

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import phonenumbers

from ..oioi import ids as oioi_ids
from . import aliases, rules
from .addresses import ZIP_PATTERNS, parse_address
from .countries import country_code, inside_countries
from .hours import split_hours
from .mapping import COORDINATE_PAIR
from .reader import RawSheet

__all__ = ["Evidence", "ColumnProfile", "profile_columns", "SAMPLE_ROWS", "KIND_LABELS"]

SAMPLE_ROWS = 300
_MOST_DISTINCT = 80  # distinct values an expensive check looks at, at most

KIND_LABELS = {
    "evse_id": "EVSE ids", "operator_id": "operator ids", "coordinate": "coordinates",
    "latitude": "latitudes", "longitude": "longitudes", "coordinates": "pairs of coordinates",
    "address": "one-line addresses", "zip": "postcodes", "phone": "phone numbers", "email": "e-mail addresses",
    "web": "web addresses", "plug": "plug names", "power": "power in kW", "yes_no": "yes/no words",
    "hours": "opening hours", "station_code": "station codes, one per station", "row_code": "codes, one per row",
    "house_number": "house numbers", "country": "countries", "whole_number": "whole numbers", "text": "names",
    "decimal": "decimal numbers",
}


@dataclass(frozen=True)
class Evidence:
    """``hits`` of the column's ``sample`` filled cells are of ``kind``; ``detail`` says more (where points land)."""

    kind: str
    hits: int
    sample: int
    detail: str = ""

    @property
    def share(self) -> float:
        return self.hits / self.sample if self.sample else 0.0

    def reason(self) -> str:
        """'values look like EVSE ids, 48/48'."""
        return f"values look like {KIND_LABELS[self.kind]}, {self.hits}/{self.sample}" + (
            f"; {self.detail}" if self.detail else "")


@dataclass
class ColumnProfile:
    """What one column's sample holds: how many cells are filled, and the evidence per kind with hits."""

    filled: int
    kinds: dict[str, Evidence]


# --- the kinds of a value ------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?[0-9]{1,3}(?:[.,][0-9]+)?")
_DECIMAL = re.compile(r"[+-]?[0-9]{1,3}[.,][0-9]+")
_COORDINATE = re.compile(r"[+-]?[0-9]{1,3}[.,][0-9]{3,}")  # decimal degrees placed by value have three decimals
_EVSE_ID = re.compile(oioi_ids.EVSE_ID_PATTERN)
_OPERATOR_ID = re.compile(r"[A-Za-z]{2}\*[A-Za-z0-9]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_WEB = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_PHONE = re.compile(r"(?:\+|00|0)[0-9][0-9 ()/.\-]{5,19}")
_HOUSE_NUMBER = re.compile(r"[0-9]{1,4} ?[A-Za-z]{0,3}(?: ?[-/] ?[0-9]{1,4} ?[A-Za-z]?)?|s/?n", re.IGNORECASE)
_WHOLE = re.compile(r"[+-]?[0-9]{1,5}")
_CODE = re.compile(r"(?=[^ ]*[0-9])(?=[^ ]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_./:#*-]{0,23}")
_ANY_ZIP = re.compile("|".join(f"(?:{pattern})" for pattern in ZIP_PATTERNS.values()))
_TWO_COORDINATES = re.compile(r"[0-9][.,][0-9]{3,}.*[0-9][.,][0-9]{3,}")
_TIME = re.compile(r"[0-9]{1,2}[:.h][0-9]{2}")
_LETTERS = re.compile(r"[^\W\d_]{3,}")
_TWO_LETTERS = re.compile(r"[^\W\d_]{2,}")
_DIGIT = re.compile(r"[0-9]")
_LONGEST = 200  # characters: a longer cell is no id, number, address or name, and is not looked at
_PLUG_NAMES = frozenset(str(c.value) for c in aliases.ConnectorType)


def _cheap_kinds(value: str) -> list[str]:
    """The kinds a pattern alone tells (every distinct value is looked at)."""
    kinds = []
    if _EVSE_ID.fullmatch(value) and ("*" in value or value.isupper()) and value[:2].upper() in rules.ISO_COUNTRIES:
        kinds.append("evse_id")
    elif _OPERATOR_ID.fullmatch(value) and value[:2].upper() in rules.ISO_COUNTRIES:
        kinds.append("operator_id")
    if _DECIMAL.fullmatch(value):
        kinds.append("decimal")
    if _COORDINATE.fullmatch(value):
        kinds.append("coordinate")
    elif _TWO_COORDINATES.search(value) and _pair_in_range(value):
        kinds.append("coordinates")
    if "@" in value:
        if _EMAIL.fullmatch(value):
            kinds.append("email")
        return kinds
    if _WEB.fullmatch(value):
        return [*kinds, "web"]
    if _PHONE.fullmatch(value) and not _COORDINATE.fullmatch(value):
        kinds.append("phone")
    if _HOUSE_NUMBER.fullmatch(value):
        kinds.append("house_number")
    if _WHOLE.fullmatch(value):
        kinds.append("whole_number")
    if _NUMBER.fullmatch(value) and not _COORDINATE.fullmatch(value) and 1 <= float(value.replace(",", ".")) <= 400:
        kinds.append("power")
    if value.lower() in rules.BOOLEAN_WORDS:
        kinds.append("yes_no")
    if _ANY_ZIP.fullmatch(value.upper()):
        kinds.append("zip")
    if _CODE.fullmatch(value) and "evse_id" not in kinds and "operator_id" not in kinds:
        kinds.append("code")
    elif _LETTERS.search(value) and len(value) <= 80 and _mostly_letters(value):
        kinds.append("text")
    return kinds


def _mostly_letters(value: str) -> bool:
    """Words people read ('Parcheggio Centrale', 'Via Roma 12'), not keys or hashes ('MFkwEwYHKoZIzj0C...')."""
    solid = value.replace(" ", "")
    return sum(c.isalpha() for c in solid) >= 0.6 * len(solid) and (" " in value or len(value) <= 30)


def _is_plug(value: str) -> bool:
    pieces = [p for p in aliases.split_types(value) if not aliases.is_junk(p)]
    return bool(pieces) and all(aliases.connector_type(p) in _PLUG_NAMES for p in pieces)


def _is_hours(value: str) -> bool:
    if aliases.boolean_text(value) in ("true", "false"):
        return False
    always, hours = split_hours(value)
    return always == "true" or (hours != value and bool(hours))


def _is_possible_phone(value: str) -> bool:
    if not value.startswith(("+", "00")):
        return True  # a national number: its pattern is all there is to check without the country
    try:
        number = phonenumbers.parse("+" + value[2:] if value.startswith("00") else value, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


def _is_address(value: str) -> bool:
    found = parse_address(value)
    return found is not None and bool(found.street and found.zip and found.city) and bool(_LETTERS.search(found.city))


def _is_country(value: str) -> bool:
    return len(value) <= 40 and country_code(value) in rules.ISO_COUNTRIES


def _column_kinds(values: list[str]) -> tuple[dict[str, Evidence], int]:
    """A column's sample cells -> evidence per kind with at least one hit, and how many cells are filled.

    Plain Python over the distinct values: a few hundred short strings cost less this way than through
    pandas' string methods, whose every call has a fixed cost of its own.
    """
    counts = Counter(value for value in values if value)
    n = sum(counts.values())
    hits: Counter[str] = Counter()
    distinct = [value for value, _ in counts.most_common() if len(value) <= _LONGEST]
    for value in distinct:
        for kind in _cheap_kinds(value):
            hits[kind] += counts[value]
    if hits["phone"]:
        hits["phone"] = sum(counts[v] for v in distinct[:_MOST_DISTINCT]
                            if _PHONE.fullmatch(v) and _is_possible_phone(v))
    if any(v.startswith("+") for v in distinct[:_MOST_DISTINCT]):
        hits["evse_id"] += sum(counts[v] for v in distinct[:_MOST_DISTINCT] if oioi_ids.is_din_evse_id(v))
    few = distinct[:_MOST_DISTINCT]
    if len(distinct) <= _MOST_DISTINCT and hits["text"] + hits["code"]:
        hits["plug"] = sum(counts[v] for v in few if len(v) <= 40 and _is_plug(v))
    if len(distinct) <= 30:
        hits["country"] = sum(counts[v] for v in few if not v[:1].isdigit() and _is_country(v))
    if len(distinct) <= 10 or any(_TIME.search(v) for v in few):
        hits["hours"] = sum(counts[v] for v in few if _is_hours(v))
    if hits["yes_no"] and set(distinct) <= {"0", "1"}:
        hits["yes_no"] = 0  # ones and zeros are as likely counts
    if sum(counts[v] for v in few if _DIGIT.search(v) and _TWO_LETTERS.search(v)) * 2 >= n:
        hits["address"] = sum(counts[v] for v in distinct[:60] if ("," in v or " " in v) and _is_address(v))
    return {kind: Evidence(kind, count, n) for kind, count in hits.items() if count > 0}, n


def _pair_in_range(value: str) -> bool:
    match = COORDINATE_PAIR.match(value)
    if not match:
        return False
    first, second = (match["x"], match["y"]) if match["x"] is not None else (match["a"], match["b"])
    try:
        a, b = float(first.replace(",", ".")), float(second.replace(",", "."))
    except ValueError:
        return False
    return min(abs(a), abs(b)) <= 90 and max(abs(a), abs(b)) <= 180


def _numbers(values: list[str]) -> np.ndarray:
    return np.array([float(v.replace(",", ".")) if _COORDINATE.fullmatch(v) else np.nan for v in values])


# European countries: those whose first (mainland) box lies west of the Urals and north of Africa; Spain,
# France and Portugal with their islands and overseas parts.
_EUROPE = [code for code, boxes in rules.COUNTRY_BOXES.items()
           if 34 <= boxes[0][0] and boxes[0][1] <= 82 and -32 <= boxes[0][2] and boxes[0][3] <= 45]
_AREA = {code: sum((n - s) * (e - w) for s, n, w, e in rules.COUNTRY_BOXES[code]) for code in _EUROPE}


def _inside_core(lat: np.ndarray, lon: np.ndarray, code: str) -> np.ndarray:
    """Inside the country's boxes less the margin the rules give them (the Vatican's is then not all of Rome)."""
    m = rules.BOX_MARGIN
    inside = np.zeros(len(lat), dtype=bool)
    with np.errstate(invalid="ignore"):
        for south, north, west, east in rules.COUNTRY_BOXES[code]:
            inside |= (lat >= south + m) & (lat <= north - m) & (lon >= west + m) & (lon <= east - m)
    return inside


def _landing(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Per point, the European country whose boxes it lies in ('' for none).

    Boxes overlap (Norway's reaches round Finland, Denmark's over Malmö): the country whose boxes hold most of
    the points still unnamed names them first (then the one holding most without the margin, then the smaller
    box), so a Finnish file's points land in FI, an Austrian one's in AT, not in NO or HU.
    """
    found = np.full(len(lat), "", dtype=object)
    inside = {code: inside_countries(lat, lon, np.full(len(lat), code, dtype=object)) for code in _EUROPE}
    inside = {code: held for code, held in inside.items() if held.any()}
    core = {code: _inside_core(lat, lon, code) for code in inside}
    while inside:
        free = found == ""
        code = max(inside, key=lambda c: (int((inside[c] & free).sum()), int((core[c] & free).sum()), -_AREA[c]))
        named = inside.pop(code) & free
        if not named.any():
            break
        found[named] = code
    return found


def _coordinate_pair(block: dict[str, list[str]], columns: list[str]) -> dict[str, Evidence]:
    """Of columns of bare coordinates, the latitude and longitude: the order in which most points land in Europe."""
    best: tuple[int, str, str, np.ndarray] | None = None
    numbers = {column: _numbers(block[column]) for column in columns}
    for lat_column in columns:
        for lon_column in columns:
            if lat_column == lon_column:
                continue
            landed = _landing(numbers[lat_column], numbers[lon_column])
            count = int((landed != "").sum())
            if count and (best is None or count > best[0]):
                best = (count, lat_column, lon_column, landed)
    if best is None:
        return {}
    count, lat_column, lon_column, landed = best
    n = int((np.isfinite(numbers[lat_column]) & np.isfinite(numbers[lon_column])).sum())
    where = pd.Series(landed[landed != ""]).value_counts()
    land = ", ".join(f"{code}" for code in where.index[:3])
    return {lat_column: Evidence("latitude", count, n, f"with {lon_column!r} as longitude the points land in {land}"),
            lon_column: Evidence("longitude", count, n, f"with {lat_column!r} as latitude the points land in {land}")}


def _station_codes(values: list[str], n: int) -> Evidence | None:
    """Codes that each fill one block of rows, some more than one row: a station's code on its connector rows."""
    filled = [value for value in values if value]
    if len(filled) < 2:
        return None
    runs = 1 + sum(a != b for a, b in zip(filled, filled[1:], strict=False))
    distinct = len(set(filled))
    if runs == distinct and distinct < len(filled):
        return Evidence("station_code", len(filled), n, f"{distinct} codes on {len(filled)} rows")
    if distinct == len(filled):
        return Evidence("row_code", len(filled), n)
    return None


def profile_columns(raw: RawSheet) -> dict[str, ColumnProfile]:
    """Column -> its profile (evidence per kind of value with hits), from the first SAMPLE_ROWS rows."""
    head = raw.frame.head(SAMPLE_ROWS)
    block = {column: [str(v) for v in head[column].tolist()] for column in raw.columns}
    found: dict[str, ColumnProfile] = {}
    bare_coordinates = []
    for column in raw.columns:
        values = block[column]
        kinds, n = _column_kinds(values)
        if "code" in kinds:
            code = kinds.pop("code")
            if code.share >= 0.9:
                station = _station_codes(values, n)
                if station is not None:
                    kinds[station.kind] = station
        if kinds.get("coordinate") and kinds["coordinate"].share >= 0.9:
            bare_coordinates.append(column)
        found[column] = ColumnProfile(n, kinds)
    for column, evidence in _coordinate_pair(block, bare_coordinates).items():
        found[column].kinds[evidence.kind] = evidence
    return found



