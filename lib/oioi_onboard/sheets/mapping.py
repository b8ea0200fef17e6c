"""Mapping a sheet as found onto the canonical one-row-per-connector frame.

A Mapping says, for each canonical field, which column of the file holds it
(or a constant for every row). Two fields mapped to the same column mean the
column holds both and is split ("68159 Mannheim" -> zip and city, "Luisenring
49" -> street and street number, "Luisenring 49, 68159 Mannheim" -> all four,
"[8.466, 49.487]" -> longitude and latitude, "24/7" -> open 24 hours). ``charge_points`` describes wide files (charge
point 1..4 side by side); a cell listing several connector types becomes one
EVSE with several connectors; ``plugs`` are yes/no or count columns per plug
type. Files without ids get deterministic ones (sheets.ids) from the operator
id; the operator id itself may come from the EVSE ids, and the country from the
operator id, the EVSE ids or the phone prefix.

Everything runs over whole columns; values stay strings, and only what mapping
is about is normalised (connector names, yes/no, decimal commas, countries).
"""

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..oioi import ids as oioi_ids
from . import aliases, languages
from . import ids as sheet_ids
from .addresses import parse_address
from .canonical import BOOLEAN_NAMES, NAMES, ROW, STATION_NAMES
from .countries import country_code, infer_country, inside_countries
from .factorize import by_value, factorize
from .hours import osm_to_open_hours, split_hours
from .issues import Severity, concat_issues, empty_issues, make_issues
from .reader import RawSheet

__all__ = [
    "Mapping",
    "apply_mapping",
    "MAPPING_RULES",
    "CONNECTOR_FIELDS",
    "GENERATED_FIELDS",
    "COORDINATE_PAIR",
    "read_cell",
    "read_cells",
]

CONNECTOR_FIELDS = ["evse_id", "connector_type", "speed_kw"]
GENERATED_FIELDS = ["station_id", "evse_id"]  # made from the operator id when the file has none
_STATION_KEY_FIELDS = ["street", "street_number", "zip", "city", "latitude", "longitude"]

# Rules of the issues found while mapping (the validator's are in sheets.rules).
MAPPING_RULES = {
    "operator_unknown": (Severity.ERROR, "the station's operator is not in the operator table"),
    "operator_name_mismatch": (Severity.WARNING, "one operator id (from the EVSE ids) has two operator names"),
    "junk_value": (Severity.WARNING, "a placeholder ('0', '-') where a value belongs; it was left out"),
    "split_failed": (Severity.WARNING, "a combined cell could not be split into its parts"),
    "field_not_mapped": (Severity.ERROR, "a required field has no column, constant or way to generate it"),
    "mapping_unsure": (Severity.WARNING, "a required field was matched to a column by a guess"),
    "address_unsure": (Severity.WARNING, "a one-line address was split by a guess"),
    "coordinates_order_unsure": (Severity.WARNING, "which of two coordinates in one cell is the latitude was guessed"),
    "country_inferred": (Severity.WARNING, "the file has no country: it was taken from the ids or the phone numbers"),
    "plug_unnamed": (Severity.WARNING, "a plug column says yes for a plug OIOI has no name for; it was left out"),
    "zip_is_commune_code": (Severity.ERROR, "the postcode is the commune code (INSEE, Gemeindeschlüssel)"),
}


@dataclass
class Mapping:
    """How one file layout maps onto the canonical columns; saved per CPO as a named profile."""

    columns: dict[str, str | None] = field(default_factory=dict)  # canonical name -> source column
    constants: dict[str, str] = field(default_factory=dict)  # canonical name -> value (fills empty cells too)
    operator_id: str | None = None  # for generating ids when the file has none
    operator_column: str | None = None  # a column naming the operator, looked up in ``operators``
    operators: dict[str, str] = field(default_factory=dict)  # operator name -> operator id
    charge_points: list[dict[str, str]] = field(default_factory=list)  # wide files: per charge point {field: column}
    name_from: list[str] = field(default_factory=list)  # columns joined into the station name if none is mapped
    # Per-plug columns (yes/no, or a count) -> the OIOI connector name ("" for a plug OIOI has no name for).
    plugs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Mapping":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        mapping = cls(**known)
        mapping.columns = {k: v for k, v in mapping.columns.items() if k in NAMES}
        mapping.constants = {k: str(v) for k, v in mapping.constants.items() if k in NAMES}
        mapping.charge_points = [dict(cp) for cp in mapping.charge_points]
        mapping.plugs = {str(k): str(v or "") for k, v in (mapping.plugs or {}).items()}
        return mapping

    def source(self, name: str) -> str | None:
        return self.columns.get(name) or None

    @property
    def is_wide(self) -> bool:
        return bool(self.charge_points)

    @property
    def uses_plugs(self) -> bool:
        """Connector types come from per-plug columns (a chosen connector type column wins)."""
        return bool(self.plugs) and not self.source("connector_type") and not self.is_wide

    @property
    def can_infer_country(self) -> bool:
        """No country column or constant, but ids or phone numbers whose prefix names it."""
        if self.source("country") or "country" in self.constants:
            return False
        return bool(self.source("cpo_id") or self.operator_column or self.operator_id or self.evse_column()
                    or self.source("phone") or "phone" in self.constants)

    def evse_column(self) -> str | None:
        return self.source("evse_id") or next((cp["evse_id"] for cp in self.charge_points if cp.get("evse_id")), None)

    def describe(self, reasons: dict[str, str] | None = None) -> list[str]:
        """Lines saying which column went to which field (for the CLI and the page), and why, where
        ``reasons`` (the suggestion's) says it: "evse_id <- 'EVSE' (values look like EVSE ids, 48/48)"."""
        reasons = reasons or {}
        lines = []
        same = [n for n in NAMES if self.source(n) == n]
        if same:
            lines.append(f"{len(same)} column(s) by their template names: {', '.join(same)}")
        for name in NAMES:
            if name in same:
                continue
            if name == "connector_type" and self.uses_plugs:
                named = [f"{c!r} ({t})" for c, t in self.plugs.items() if t]
                unnamed = [repr(c) for c, t in self.plugs.items() if not t]
                lines.append("connector_type <- one connector per plug column that says yes (or counts): "
                             + ", ".join(named) + (f"; no OIOI name for {', '.join(unnamed)}" if unnamed else ""))
                continue
            if name in CONNECTOR_FIELDS and self.is_wide:
                cols = [cp[name] for cp in self.charge_points if cp.get(name)]
                if cols:
                    lines.append(f"{name} <- {', '.join(repr(c) for c in cols)} (one charge point each)")
                    continue
            if self.source(name):
                lines.append(f"{name} <- {self.source(name)!r}" + (f" ({reasons[name]})" if name in reasons else ""))
            elif name in self.constants:
                lines.append(f"{name} = {self.constants[name]!r} (constant)")
            elif name == "cpo_id" and self.operator_column and not self.operators and self.evse_column():
                lines.append(f"cpo_id <- the operator part of the EVSE ids in {self.evse_column()!r}; the names in "
                             f"{self.operator_column!r} are kept as the operators' display names")
            elif name == "cpo_id" and self.operator_column:
                lines.append(f"cpo_id <- operator table by {self.operator_column!r}")
            elif name == "cpo_id" and self.evse_column():
                lines.append(f"cpo_id <- the operator part of the EVSE ids in {self.evse_column()!r}")
            elif name == "country" and self.can_infer_country:
                lines.append("country <- the prefix of the operator ids, EVSE ids or phone numbers (no country column)")
            elif name == "station_name" and self.name_from:
                lines.append(f"station_name <- {' + '.join(repr(c) for c in self.name_from)}")
            elif name in GENERATED_FIELDS:
                lines.append(f"{name}: generated from the operator id")
        return lines


# --- applying ---------------------------------------------------------------------------

_ZIP_CITY = re.compile(r"^\s*(?:[A-Za-z]{1,2}\s*-\s*)?(?P<zip>\d{4,6})\s*,?\s+(?P<city>\S.*?)\s*$")
_CITY_ZIP = re.compile(r"^\s*(?P<city>\D.*?)\s*,?\s+(?P<zip>\d{4,6})\s*$")
_STREET_NUMBER = re.compile(
    r"^\s*(?P<street>.*?\S)\s*,?\s+(?P<number>\d+\s?[A-Za-z]?(?:\s*[-–/+]\s*\d+\s?[A-Za-z]?)?)\s*$"
)
_DECIMAL_COMMA = re.compile(r"^\s*([+-]?\d+),(\d+)\s*$")
_NUMBER = r"[+-]?[0-9]+(?:[.,][0-9]+)?"
# "49.48, 8.46", "[8.46, 49.48]", "49,48; 8,46", "POINT(8.46 49.48)" (WKT: always longitude first).
COORDINATE_PAIR = re.compile(
    rf"^\s*(?:POINT\s*\(\s*(?P<x>{_NUMBER})\s+(?P<y>{_NUMBER})\s*\)"
    rf"|(?P<open>[\[(])?\s*(?P<a>{_NUMBER})\s*(?:[,;]\s*|\s+)(?P<b>{_NUMBER})\s*[\])]?)\s*$",
    re.IGNORECASE,
)

# Headers of a commune code column (sheets.languages), compared with the postcodes by the mapping.
_FOLDED_COMMUNE = {aliases.fold(s) for s in languages.header_synonyms("commune_code")}
# Fields a combined column fills; constants fill them only after the split.
_SPLIT_FIELDS = {"street", "street_number", "zip", "city", "latitude", "longitude", "is_open_24", "open_hours"}


def _text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """A column of the file as stripped Python strings (the reader made them so), or '' everywhere."""
    if column and column in frame.columns:
        values = frame[column]
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
            return values
        return by_value(values.astype(object).fillna(""), lambda v: str(v).strip())
    return pd.Series("", index=frame.index, dtype="object")


def _parts(values: pd.Series, function, width: int) -> list[pd.Series]:
    """``function`` (value -> tuple of ``width`` parts, or None) per distinct value -> one Series per part."""
    codes, uniques = factorize(values.astype("object"))
    table = np.empty((len(uniques) + 1, width), dtype=object)  # the last row: missing values (code -1)
    table[:] = ""
    for i, value in enumerate([*uniques, ""]):
        found = function(value)
        if found is not None:
            for k, part in enumerate(found):  # one by one: a part may be a list, which numpy would spread
                table[i, k] = part
    return [pd.Series(table[codes, k], index=values.index, dtype=object) for k in range(width)]


def _decimal_text(value: str) -> str:
    return _DECIMAL_COMMA.sub(r"\1.\2", value) if "," in value else value


def _split(values: pd.Series, pattern: re.Pattern, first: str, second: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    def parts(value: str):
        match = pattern.match(value)
        return (match[first], match[second], True) if match else ("", "", False)

    one, two, ok = _parts(values, parts, 3)
    return one, two, ok.astype(bool)


def _first_rows(rows: pd.Series, values: pd.Series, mask: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Rows and values of ``mask``, once per distinct value (its first row): one issue per problem, not per row."""
    picked = mask & ~values.duplicated()
    return rows[picked], values[picked]


# --- the operator id from what the file says ---------------------------------------------

def _operator_name_issues(names: pd.Series, operator_ids: pd.Series, rows: pd.Series, column: str) -> pd.DataFrame:
    """Rows whose operator name differs from the name the file gives their operator id elsewhere: a warning
    (one operator may hold ids in several countries; one id has one operator)."""
    pairs = pd.DataFrame({"name": names, "key": names.map(aliases.fold), "id": operator_ids})
    pairs = pairs[(pairs["key"] != "") & (pairs["id"] != "")]
    usual = pairs.groupby("id")["key"].agg(lambda keys: keys.value_counts().index[0])
    odd = pairs["key"] != pairs["id"].map(usual)
    if not odd.any():
        return empty_issues()
    named = pairs.loc[~odd].drop_duplicates("id").set_index("id")["name"]
    where = pairs[odd]
    return make_issues(rows[where.index], "cpo_id", where["name"], "operator_name_mismatch",
                       "operator " + where["name"].map(repr) + f" (column {column!r}) has the operator id "
                       + where["id"] + ", which the file names " + where["id"].map(named).map(repr)
                       + " elsewhere: check it", Severity.WARNING)


def _operator_from_evse(evse: pd.Series) -> pd.Series:
    """'DE*8PS*E123' -> 'DE*8PS': an EVSE id holds its operator id."""
    return by_value(evse, lambda v: oioi_ids.evse_operator_id(v) or "")


# --- combined cells -----------------------------------------------------------------------

def _coordinates(values: pd.Series, countries: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, str]:
    """One column with both coordinates -> (latitude, longitude, parsed, how the order was decided or '').

    WKT says longitude first. Otherwise the whole column is read in one order:
    the one a value above 90 proves, else the one that puts more points inside
    their country, else the convention ([lon, lat] in brackets as in GeoJSON,
    "lat, lon" without, as map apps copy them), which is reported as a guess.
    """
    def parse(value: str):
        match = COORDINATE_PAIR.match(value)
        if not match:
            return None
        if match["x"] is not None:
            return match["x"], match["y"], "wkt"
        return match["a"], match["b"], "bracket" if match["open"] else "plain"

    first, second, kind = _parts(values, parse, 3)
    parsed = kind != ""
    p = pd.to_numeric(first.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
    q = pd.to_numeric(second.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
    free = (parsed & (kind != "wkt")).to_numpy()
    guess = ""
    with np.errstate(invalid="ignore"):
        first_is_lon = bool((free & (np.abs(p) > 90)).any())
        second_is_lon = bool((free & (np.abs(q) > 90)).any())
    if first_is_lon == second_is_lon:
        codes = countries.to_numpy(dtype=object)
        as_lat_lon = int((free & inside_countries(p, q, codes)).sum())
        as_lon_lat = int((free & inside_countries(q, p, codes)).sum())
        if as_lat_lon != as_lon_lat:
            first_is_lon = as_lon_lat > as_lat_lon
        elif free.any():
            first_is_lon = bool((kind[free] == "bracket").mean() >= 0.5)
            guess = "[longitude, latitude]" if first_is_lon else "latitude, longitude"
    lon_first = (kind == "wkt") | (free & first_is_lon)
    latitude = second.where(lon_first, first).where(parsed, values)
    longitude = first.where(lon_first, second).where(parsed, "")
    return latitude, longitude, parsed, guess


def _address_parts(values: pd.Series, countries: pd.Series) -> list[pd.Series]:
    """One-line addresses -> street, number, zip, city and whether each reading was sure."""
    def parse(key: str):
        text, _, country = key.partition("\x1f")
        found = parse_address(text, country)
        return None if found is None else (found.street, found.number, found.zip, found.city, found.sure)

    street, number, zip_code, city, sure = _parts(values + "\x1f" + countries, parse, 5)
    return [street, number, zip_code, city, sure.astype(bool) | (values == "")]


def _whole_addresses(values: pd.Series, sample: int = 200) -> bool:
    """Most of a column's first distinct values hold a postcode and a city after the street."""
    distinct = [v for v in pd.unique(values.to_numpy(dtype=object)[: sample * 20]) if v and len(v) <= 200][:sample]
    found = [parse_address(v) for v in distinct]
    return bool(distinct) and sum(a is not None and bool(a.zip and a.city) for a in found) >= 0.6 * len(distinct)


def _fill_constants(out: pd.DataFrame, mapping: Mapping, names) -> None:
    """Constants fill what the file leaves empty (or the whole column when none is mapped)."""
    for name, value in mapping.constants.items():
        if name in out.columns and name in names:
            out[name] = out[name].where(out[name] != "", str(value))


def _station_part(raw: RawSheet, mapping: Mapping, issues: list[pd.DataFrame]) -> pd.DataFrame:
    src = raw.frame
    rows = src[ROW]
    # One frame from all columns at once: inserting them one by one cost more than mapping a small file.
    out = pd.DataFrame({name: _text(src, mapping.source(name)) for name in STATION_NAMES}, index=src.index,
                       copy=False)
    out["station_id"] = _without_placeholders(out["station_id"], rows, "station_id", issues)
    _fill_constants(out, mapping, set(STATION_NAMES) - _SPLIT_FIELDS)

    # The operator id: a column, else the operator table, else the EVSE ids, else the CPO's own.
    evse = _text(src, mapping.evse_column())
    names = _text(src, mapping.operator_column) if mapping.operator_column else None
    # Without an operator table, EVSE ids say the operator id; the names stay the operators' display names.
    names_only = names is not None and not mapping.operators and bool(mapping.evse_column())
    if not mapping.source("cpo_id"):
        if names is not None and not names_only:
            table = {aliases.fold(k): v.strip() for k, v in mapping.operators.items()}
            found = by_value(names, lambda n: table.get(aliases.fold(n), ""))
            out["cpo_id"] = out["cpo_id"].where(out["cpo_id"] != "", found)
            unknown = (found == "") & (out["cpo_id"] == "")
            message = (
                "operator " + names[unknown].map(repr) + f" (column {mapping.operator_column!r}) is not in the "
                "operator table: add it with its operator id, e.g. 'DE*ABC'"
            )
            issues.append(make_issues(rows[unknown], "cpo_id", names[unknown], "operator_unknown", message,
                                      Severity.ERROR))
        else:
            if mapping.evse_column():
                out["cpo_id"] = out["cpo_id"].where(out["cpo_id"] != "", _operator_from_evse(evse))
            if mapping.operator_id:
                # Not a fallback for unknown operators in the table: that would hand their stations to this one.
                out["cpo_id"] = out["cpo_id"].where(out["cpo_id"] != "", mapping.operator_id)
    if names_only:
        issues.append(_operator_name_issues(names, out["cpo_id"], rows, mapping.operator_column))

    out["country"] = read_cells("country", out["country"])
    if mapping.can_infer_country:
        out["country"] = infer_country(out, evse, raw.header_row, issues)

    columns = {name: mapping.source(name) for name in _SPLIT_FIELDS}
    # A one-line address: "Luisenring 49, 68159 Mannheim", "12 rue X 75001 Paris", "12 High St, London SW1A 1AA",
    # split whether it was mapped to all its parts or to the street alone.
    street = columns["street"]
    address_col = street if street and (street == columns["city"] or _whole_addresses(_text(src, street))) else None
    if address_col:
        values = _text(src, address_col)
        *parts, sure = _address_parts(values, out["country"])
        for name, part in zip(("street", "street_number", "zip", "city"), parts, strict=True):
            # Fields with a column of their own keep it; the address fills what that column leaves empty.
            out[name] = part if columns[name] == address_col else out[name].where(out[name] != "", part)
        where, value = _first_rows(rows, values, ~sure)
        read = out.loc[where.index, ["street", "street_number", "zip", "city"]]
        issues.append(make_issues(
            where, "street", value, "address_unsure",
            "the address " + value.map(repr) + " was read by a guess as street " + read["street"].map(repr)
            + ", number " + read["street_number"].map(repr) + ", postcode " + read["zip"].map(repr) + ", city "
            + read["city"].map(repr) + ": check them",
            Severity.WARNING))
    if columns["zip"] and columns["zip"] == columns["city"] and columns["zip"] != address_col:
        values = _text(src, columns["zip"])
        zip_a, city_a, ok_a = _split(values, _ZIP_CITY, "zip", "city")
        zip_b, city_b, ok_b = _split(values, _CITY_ZIP, "zip", "city")
        out["zip"] = zip_a.where(ok_a, zip_b)
        out["city"] = city_a.where(ok_a, city_b.where(ok_b, values))
        failed = ~(ok_a | ok_b) & (values != "")
        issues.append(make_issues(rows[failed], "zip", values[failed], "split_failed",
                                  f"no postcode found in this {columns['zip']!r} cell; it was taken as the city",
                                  Severity.WARNING))
    if columns["street"] and columns["street"] == columns["street_number"] and columns["street"] != address_col:
        values = _text(src, columns["street"])
        street, number, ok = _split(values, _STREET_NUMBER, "street", "number")
        out["street"] = street.where(ok, values)
        out["street_number"] = number.str.replace(r"\s+", "", regex=True).where(ok, "")

    if columns["latitude"] and columns["latitude"] == columns["longitude"]:
        values = _text(src, columns["latitude"])
        out["latitude"], out["longitude"], parsed, guess = _coordinates(values, out["country"])
        failed = ~parsed & (values != "")
        issues.append(make_issues(rows[failed], "latitude", values[failed], "split_failed",
                                  f"this {columns['latitude']!r} cell holds no pair of coordinates",
                                  Severity.WARNING))
        if guess:
            issues.append(make_issues(
                [raw.header_row], "latitude", [columns["latitude"]], "coordinates_order_unsure",
                f"the column {columns['latitude']!r} was read as {guess}, by convention: nothing in the file "
                "proves the order. Check a station on the map", Severity.WARNING))

    if columns["is_open_24"] and columns["is_open_24"] == columns["open_hours"]:
        always, hours = _parts(_text(src, columns["is_open_24"]), split_hours, 2)
        out["is_open_24"], out["open_hours"] = always, hours
    elif columns["open_hours"]:
        # Hours of their own in OSM's or a language's words ("Lu-Vi 08:00-20:00") -> the template's form.
        out["open_hours"] = by_value(out["open_hours"], lambda text: osm_to_open_hours(text) or text)
    _fill_constants(out, mapping, _SPLIT_FIELDS)

    if not mapping.source("station_name") and mapping.name_from:
        joined = pd.Series("", index=src.index, dtype="object")
        for column in mapping.name_from:
            part = _text(src, column)
            joined = joined.where(part == "", joined.where(joined == "", joined + ", ") + part)
        out["station_name"] = out["station_name"].where(out["station_name"] != "", joined)

    if names_only:
        out["station_name"] = out["station_name"].where(out["station_name"] != "", names)
    for name in ("latitude", "longitude", *BOOLEAN_NAMES):
        out[name] = read_cells(name, out[name])
    return out


def _without_placeholders(ids: pd.Series, rows: pd.Series, name: str, issues: list[pd.DataFrame]) -> pd.Series:
    """Ids such as 'Non concerné' or 'n/a' are no ids: left empty (the validator then asks for one)."""
    codes, uniques = factorize(ids)
    # Arrow strings: lower-casing 100,000 distinct EVSE ids is one vectorised call, not a Python loop.
    junk_u = pd.Series(uniques, dtype="str").str.lower().isin(aliases.PLACEHOLDERS).to_numpy(dtype=bool)
    junk_u = np.append(junk_u, False)  # a missing id (code -1) is no placeholder
    if not junk_u.any():
        return ids
    junk = pd.Series(junk_u[codes], index=ids.index)
    where, value = _first_rows(rows, ids, junk)
    issues.append(make_issues(where, name, value, "junk_value",
                              f"{value.iloc[0]!r} is no id: the {name} was left empty", Severity.WARNING))
    return ids.where(~junk, "")


def _open_24_text(value: str) -> str:
    """'24/7', '24h', 'rund um die Uhr' in a yes/no column mean yes."""
    return aliases.boolean_text("true" if value and split_hours(value) == ("true", "") else value)


# How the mapping reads one cell of a field whose values it normalises; fields not named are read as found.
_CELL_READERS = {
    "latitude": _decimal_text, "longitude": _decimal_text, "speed_kw": _decimal_text,
    "country": country_code, "connector_type": aliases.connector_type,
    **{name: aliases.boolean_text for name in BOOLEAN_NAMES}, "is_open_24": _open_24_text,
}


def read_cell(name: str, value: str) -> str:
    """One value of the field ``name`` as the mapping reads the file's own: 'Typ 2' is Type2, 'tak' is true,
    '49,48' is 49.48, so a value a person types in a fix counts as the same words in the file would."""
    reader = _CELL_READERS.get(name)
    return reader(value) if reader else value


def read_cells(name: str, values: pd.Series) -> pd.Series:
    """``read_cell`` over a column (each distinct value read once)."""
    reader = _CELL_READERS.get(name)
    return by_value(values, reader) if reader else values


# --- connectors ---------------------------------------------------------------------------

def _plug_counts(values: pd.Series) -> pd.Series:
    """A plug column's cells -> how many plugs of its kind: yes 1, no 0, a count as is; -1 for anything else."""
    def count(value: str) -> int:
        word = aliases.boolean_text(value)
        if word in ("true", "false", ""):
            return int(word == "true")
        return int(value) if value.isdigit() else -1

    return by_value(values, count).astype("int64")


def _expand_plugs(raw: RawSheet, mapping: Mapping, issues: list[pd.DataFrame]) -> tuple[RawSheet, Mapping]:
    """Per-plug columns -> the connector cells the rest of the mapping knows.

    Yes/no columns describe one charge point per row (an IRVE point de charge,
    a row of a per-EVSE file): its plugs become one cell listing their types,
    "Type2, TypeE", which makes one EVSE with several connectors. Counts ("Anzahl
    Typ 2: 2") in a file without EVSE ids describe a station's charge points:
    each counted plug becomes a charge point of its own, as in a wide file.
    """
    src = raw.frame
    rows = src[ROW]
    names = list(mapping.plugs)
    counts = pd.DataFrame({name: _plug_counts(_text(src, name)) for name in names}, index=src.index)
    for name in names:
        bad = counts[name] < 0
        issues.append(make_issues(rows[bad], "connector_type", src.loc[bad, name], "junk_value",
                                  f"the plug column {name!r} should say yes, no or a number; it was read as no",
                                  Severity.WARNING))
        unnamed = (counts[name] > 0) & (mapping.plugs[name] == "")
        issues.append(make_issues(rows[unnamed], "connector_type", src.loc[unnamed, name], "plug_unnamed",
                                  f"the plug column {name!r} says yes, but OIOI has no connector name for that "
                                  "plug: it was left out", Severity.WARNING))
    counts = counts.clip(lower=0)
    named = [name for name in names if mapping.plugs[name]]
    frame = src.copy()
    mapping = Mapping.from_dict(mapping.to_dict())
    counting = (any(aliases.is_count_header(n) for n in named) or bool((counts[named] > 1).any().any())) \
        and not mapping.evse_column()
    if not counting:
        cell = pd.Series("", index=src.index, dtype=object)
        for name in named:
            has = counts[name] > 0
            cell = cell.where(~has, cell.where(cell == "", cell + ", ") + mapping.plugs[name])
        frame["\x1fplugs"] = cell
        mapping.columns["connector_type"] = "\x1fplugs"
    else:
        # The k-th counted plug of a row: the first plug column whose running total reaches k.
        matrix = counts[named].to_numpy()
        running = matrix.cumsum(axis=1)
        total = running[:, -1] if len(named) else np.zeros(len(src), dtype=int)
        types = np.array([mapping.plugs[name] for name in named], dtype=object)
        speed = _text(src, mapping.source("speed_kw"))
        mapping.charge_points = []
        for k in range(1, int(total.max(initial=0)) + 1):
            present = total >= k
            kind = types[np.argmax(running >= k, axis=1)] if len(named) else np.array([], dtype=object)
            frame[f"\x1fplug {k}"] = np.where(present, kind, "").astype(object)
            frame[f"\x1fplug {k} kW"] = speed.where(present, "")
            mapping.charge_points.append({"connector_type": f"\x1fplug {k}", "speed_kw": f"\x1fplug {k} kW"})
    return RawSheet(frame=frame, header_row=raw.header_row, file_name=raw.file_name, sha256=raw.sha256,
                    notes=raw.notes), mapping


def _connector_part(raw: RawSheet, mapping: Mapping, issues: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per charge point: _src (raw index), _slot (charge point number or 0) and the connector fields."""
    src = raw.frame
    if mapping.is_wide:
        parts = []
        for slot, cp in enumerate(mapping.charge_points, start=1):
            part = pd.DataFrame({name: _text(src, cp.get(name)) for name in CONNECTOR_FIELDS}, index=src.index)
            part["_src"] = src.index
            part["_slot"] = slot
            filled = (part[CONNECTOR_FIELDS] != "").any(axis=1)
            part = part[filled]
            no_type = (part["connector_type"] == "") | by_value(part["connector_type"], aliases.is_junk).astype(bool)
            if no_type.any():
                junk = part[no_type]
                described = junk["connector_type"].map(lambda v: f"{v!r}" if v else "no connector type")
                column = cp.get("connector_type") or "connector type"
                message = (
                    f"charge point {slot} (column {column!r}) has " + described
                    + junk["speed_kw"].map(lambda v: f" but a power of {v} kW" if v else "")
                    + "; it was left out"
                )
                issues.append(make_issues(src.loc[junk.index, ROW], "connector_type", junk["connector_type"],
                                          "junk_value", message, Severity.WARNING))
            parts.append(part[~no_type])
        frame = pd.concat(parts) if parts else pd.DataFrame(columns=CONNECTOR_FIELDS + ["_src", "_slot"])
        frame = frame.sort_values(["_src", "_slot"], kind="stable")
    else:
        frame = pd.DataFrame({name: _text(src, mapping.source(name)) for name in CONNECTOR_FIELDS}, index=src.index,
                             copy=False)
        frame["evse_id"] = _without_placeholders(frame["evse_id"], src[ROW], "evse_id", issues)
        frame["_src"] = src.index
        frame["_slot"] = 0
    for name in CONNECTOR_FIELDS:
        if name in mapping.constants and not (mapping.is_wide and any(cp.get(name) for cp in mapping.charge_points)):
            frame[name] = frame[name].where(frame[name] != "", str(mapping.constants[name]))
    frame = frame.reset_index(drop=True)
    frame["_cell"] = frame["connector_type"]  # as found, before splitting: part of a generated EVSE id's key

    # A cell listing several types: one EVSE (one charge point), several connectors.
    # Split, junk and kept pieces per distinct cell: the register repeats its few spellings 20,000 times.
    def split(cell: str):
        pieces = aliases.split_types(cell)
        junk = [x for x in pieces if aliases.is_junk(x)]
        return len(pieces) > 1, junk, [x for x in pieces if not aliases.is_junk(x)] or pieces

    several, junk_pieces, kept = _parts(frame["connector_type"], split, 3)
    several = several.astype(bool)
    if several.any():
        junk_pieces, kept = junk_pieces[several], kept[several]
        has_junk = junk_pieces.map(len) > 0
        if has_junk.any():
            where = frame.loc[junk_pieces[has_junk].index]
            issues.append(make_issues(
                src.loc[where["_src"], ROW], "connector_type", where["connector_type"], "junk_value",
                "the connector types list " + junk_pieces[has_junk].map(lambda j: ", ".join(map(repr, j)))
                + ", which is not a connector type; it was left out",
                Severity.WARNING,
            ))
        frame["connector_type"] = kept.reindex(frame.index).where(several, frame["connector_type"])
        frame = frame.explode("connector_type", ignore_index=True)
        frame["connector_type"] = frame["connector_type"].fillna("").astype(object)
    frame["connector_type"] = aliases.connector_types(frame["connector_type"])
    if several.any():
        # "AC Steckdose Typ 2, AC Kupplung Typ 2" (a socket and a cable) is one
        # Type2 connector to OIOI, which has no word for the difference.
        frame = frame.drop_duplicates(["_src", "_slot", "connector_type"]).reset_index(drop=True)
    frame["speed_kw"] = read_cells("speed_kw", frame["speed_kw"])
    return frame


def _commune_code_issues(raw: RawSheet, mapping: Mapping, zips: pd.Series) -> pd.DataFrame:
    """Postcodes that are commune codes (France's INSEE code, Germany's Gemeindeschlüssel).

    An error when the postcode column is a commune code column, or when every
    postcode equals the row's commune code: a single coincidence is possible,
    a whole column of them is a wrong mapping.
    """
    communes = [h for h in raw.columns if set(aliases.header_forms(h)) & _FOLDED_COMMUNE]
    source = mapping.source("zip")
    rows, filled = raw.frame[ROW], zips != ""
    if source in communes:
        same = filled
        why = f"the postcode is read from {source!r}, a commune code column, not a postcode"
    elif communes:
        code = _text(raw.frame, communes[0])
        both = filled & (code != "")
        same = both & (zips == code)
        if not (same.any() and same.sum() == both.sum() and zips[same].nunique() > 1):
            return empty_issues()
        why = f"every postcode equals the commune code in {communes[0]!r}: it is not a postcode"
    else:
        return empty_issues()
    return make_issues(rows[same], "zip", zips[same], "zip_is_commune_code",
                       why + ". Map the postcode column (or the address) to zip", Severity.ERROR)


def _canonical(stations: pd.DataFrame, connectors: pd.DataFrame, raw: RawSheet) -> pd.DataFrame:
    """NAMES + ROW: the station columns once per connector row, the connector columns, the file's row numbers.

    Built from the columns' own arrays, not copies: the codes remembered for
    them (sheets.factorize) stay valid, so the validator does not hash them again.
    """
    sources = connectors["_src"].to_numpy()
    if len(sources) == len(stations) and (sources == stations.index.to_numpy()).all():
        per_connector = stations  # one connector per row: nothing to repeat
    else:
        per_connector = stations.loc[sources]
    data = {name: pd.Series((per_connector if name in STATION_NAMES else connectors)[name].to_numpy(dtype=object),
                            dtype=object, copy=False)
            for name in NAMES}
    data[ROW] = pd.Series(raw.frame[ROW].loc[sources].to_numpy(dtype="int64"))
    return pd.DataFrame(data, copy=False)


def apply_mapping(raw: RawSheet, mapping: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical frame (canonical.NAMES + ROW, all str) and the issues found while mapping."""
    issues: list[pd.DataFrame] = []
    if not len(raw.frame):
        return pd.DataFrame({name: pd.Series(dtype="object") for name in NAMES + [ROW]}), empty_issues()
    stations = _station_part(raw, mapping, issues)
    issues.append(_commune_code_issues(raw, mapping, stations["zip"]))
    if mapping.uses_plugs:
        raw, mapping = _expand_plugs(raw, mapping, issues)
    connectors = _connector_part(raw, mapping, issues)
    evse_mapped = bool(mapping.evse_column()) or "evse_id" in mapping.constants
    station_mapped = bool(mapping.source("station_id")) or "station_id" in mapping.constants
    if evse_mapped and station_mapped:
        # Nothing to generate: no station identity to compute.
        return _canonical(stations, connectors, raw), concat_issues(issues)

    # Station identity for generated ids: its address and position. In a long
    # file rows with the same address and position are the connectors of one
    # station. In a wide file every row is its own station (one charging device
    # per row): its charge points are part of its identity (OIOI wants a new
    # station id when connectors change anyway), and rows identical in all of
    # that are told apart by occurrence, where their order cannot matter.
    station_key = sheet_ids.content_key(stations, _STATION_KEY_FIELDS)
    if mapping.is_wide:
        slot_columns = [c for cp in mapping.charge_points for c in cp.values() if c]
        station_key = station_key + "\x1f" + sheet_ids.content_key(raw.frame, slot_columns)
        # Rows alike in all that are numbered in the order of their other cells, not of the file.
        everything = sheet_ids.exact_key(raw.frame, raw.columns)
        station_key = station_key + "\x1f" + sheet_ids.occurrence(station_key, order=everything).astype(str)
    has_station_id = stations["station_id"] != ""
    station_key = station_key.where(~has_station_id, "id\x1f" + stations["station_id"].str.casefold())
    if not station_mapped:
        generated = sheet_ids.station_ids(stations["cpo_id"], station_key)
        stations["station_id"] = stations["station_id"].where(has_station_id, generated)

    frame = _canonical(stations, connectors, raw)
    if not evse_mapped:
        keys = station_key.loc[connectors["_src"]].reset_index(drop=True)
        if mapping.is_wide:
            number = connectors["_slot"].reset_index(drop=True)
        else:
            # One raw row is one charge point. Its key is its station and its
            # connector cell, numbered among rows identical in both, so rows of
            # other types moving around do not change its id.
            cell = sheet_ids.content_key(connectors.reset_index(drop=True), ["_cell"])
            keys = keys + "\x1f" + cell
            first_piece = ~connectors["_src"].duplicated().reset_index(drop=True)
            per_row = sheet_ids.occurrence(keys[first_piece])
            number = per_row.reindex(keys.index).ffill().astype("int64")
        frame["evse_id"] = sheet_ids.evse_ids(frame["cpo_id"], keys, number).astype(object)
    return frame, concat_issues(issues)
