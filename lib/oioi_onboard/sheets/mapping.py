"""Mapping a sheet as found onto the canonical one-row-per-connector frame.

A Mapping says, for each canonical field, which column of the file holds it
(or a constant for every row). Two fields mapped to the same column mean the
column holds both and is split ("68159 Mannheim" -> zip and city, "Luisenring
49" -> street and street number). ``charge_points`` describes wide files (charge
point 1..4 side by side); a cell listing several connector types becomes one
EVSE with several connectors. Files without ids get deterministic ones
(sheets.ids) from the operator id.

Everything runs over whole columns; values stay strings, and only what mapping
is about is normalised (connector names, yes/no, decimal commas, countries).
"""

import difflib
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pycountry

from ..oioi import ids as oioi_ids
from . import aliases
from . import ids as sheet_ids
from .canonical import BOOLEAN_NAMES, NAMES, REQUIRED, ROW, STATION_NAMES
from .issues import Severity, concat_issues, empty_issues, make_issues
from .reader import RawSheet

__all__ = [
    "Mapping",
    "Suggestion",
    "suggest_mapping",
    "apply_mapping",
    "placement_issues",
    "MAPPING_RULES",
    "CONFIDENT",
    "CONNECTOR_FIELDS",
    "GENERATED_FIELDS",
]

CONFIDENT = 0.8  # a suggestion less sure than this is reported as a guess to check
CONNECTOR_FIELDS = ["evse_id", "connector_type", "speed_kw"]
GENERATED_FIELDS = ["station_id", "evse_id"]  # made from the operator id when the file has none
_STATION_KEY_FIELDS = ["street", "street_number", "zip", "city", "latitude", "longitude"]

# Rules of the issues found while mapping (the validator's are in sheets.rules).
MAPPING_RULES = {
    "operator_unknown": (Severity.ERROR, "the station's operator is not in the operator table"),
    "junk_value": (Severity.WARNING, "a placeholder ('0', '-') where a value belongs; it was left out"),
    "split_failed": (Severity.WARNING, "a combined cell could not be split into its parts"),
    "field_not_mapped": (Severity.ERROR, "a required field has no column, constant or way to generate it"),
    "mapping_unsure": (Severity.WARNING, "a required field was matched to a column by a guess"),
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Mapping":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        mapping = cls(**known)
        mapping.columns = {k: v for k, v in mapping.columns.items() if k in NAMES}
        mapping.constants = {k: str(v) for k, v in mapping.constants.items() if k in NAMES}
        mapping.charge_points = [dict(cp) for cp in mapping.charge_points]
        return mapping

    def source(self, name: str) -> str | None:
        return self.columns.get(name) or None

    @property
    def is_wide(self) -> bool:
        return bool(self.charge_points)

    def describe(self) -> list[str]:
        """Lines saying which column went to which field (for the CLI and the page)."""
        lines = []
        same = [n for n in NAMES if self.source(n) == n]
        if same:
            lines.append(f"{len(same)} column(s) by their template names: {', '.join(same)}")
        for name in NAMES:
            if name in same:
                continue
            if name in CONNECTOR_FIELDS and self.is_wide:
                cols = [cp[name] for cp in self.charge_points if cp.get(name)]
                if cols:
                    lines.append(f"{name} <- {', '.join(repr(c) for c in cols)} (one charge point each)")
                    continue
            if self.source(name):
                lines.append(f"{name} <- {self.source(name)!r}")
            elif name in self.constants:
                lines.append(f"{name} = {self.constants[name]!r} (constant)")
            elif name == "cpo_id" and self.operator_column:
                lines.append(f"cpo_id <- operator table by {self.operator_column!r}")
            elif name == "station_name" and self.name_from:
                lines.append(f"station_name <- {' + '.join(repr(c) for c in self.name_from)}")
            elif name in GENERATED_FIELDS:
                lines.append(f"{name}: generated from the operator id")
        return lines


@dataclass
class Suggestion:
    mapping: Mapping
    confidence: dict[str, float]  # canonical name -> 0..1 (0: nothing found)
    unplaced_required: list[str]  # required fields with no column, constant or way to generate them


# --- suggestions ----------------------------------------------------------------------

# English and German names seen in CPO files, in any case and punctuation.
SYNONYMS: dict[str, list[str]] = {
    "station_id": ["station id", "station_id", "stationid", "ladestation id", "standort id", "location id",
                   "site id", "charging station id", "stations id", "ladesaeulen id", "ladesaeule id"],
    "station_name": ["station name", "name", "standortname", "standort name", "bezeichnung", "stationsname",
                     "location name", "site name", "title", "titel", "ladestation", "station"],
    "description": ["description", "beschreibung", "details", "info", "information"],
    "latitude": ["latitude", "lat", "breitengrad", "breite", "geo lat", "y", "koordinate lat", "gps lat"],
    "longitude": ["longitude", "lon", "lng", "long", "laengengrad", "laenge", "geo lon", "x", "gps lon"],
    "street": ["street", "strasse", "str", "strassenname", "street name", "address line 1"],
    "street_number": ["street number", "street_number", "house number", "hausnummer", "hausnr", "nr", "number",
                      "haus nr", "no", "street no"],
    "city": ["city", "ort", "stadt", "town", "gemeinde", "ortschaft", "place", "municipality", "wohnort"],
    "zip": ["zip", "zip code", "postal code", "postcode", "post code", "plz", "postleitzahl"],
    "country": ["country", "land", "country code", "laendercode", "staat", "countrycode"],
    "phone": ["phone", "telephone", "telefon", "tel", "hotline", "phone number", "telefonnummer", "service hotline",
              "contact phone"],
    "fax": ["fax", "telefax", "fax number", "faxnummer"],
    "web": ["web", "website", "webseite", "url", "homepage", "internet", "web address", "internetseite"],
    "email": ["email", "e mail", "mail", "e mail address", "email address", "e mail adresse"],
    "cpo_id": ["cpo id", "cpo_id", "operator id", "betreiber id", "evse operator id", "betreiberkennung",
               "operator code", "cpoid", "betreiber kennung"],
    "is_open_24": ["is open 24", "open 24", "24h", "24 7", "open 24h", "24 stunden", "rund um die uhr",
                   "durchgehend geoeffnet", "always open", "24 std", "24 h geoeffnet", "is open 24 hours"],
    "open_hours": ["open hours", "opening hours", "oeffnungszeiten", "hours", "open hour notes", "zeiten"],
    "notes": ["notes", "hinweise", "hinweis", "anmerkungen", "bemerkung", "bemerkungen", "remarks", "comment",
              "kommentar", "directions", "anfahrt"],
    "is_reservable": ["is reservable", "reservable", "reservierbar", "reservation"],
    "floor_level": ["floor level", "floor", "etage", "stockwerk", "ebene", "level", "geschoss"],
    "is_free_charge": ["is free charge", "free charge", "free", "kostenlos", "gratis", "kostenfrei"],
    "total_parking": ["total parking", "parking spots", "parking", "stellplaetze", "parkplaetze",
                      "anzahl stellplaetze", "parking spaces"],
    "is_green_power_available": ["is green power available", "green power", "oekostrom", "gruener strom",
                                 "renewable", "green energy"],
    "is_plugin_charge": ["is plugin charge", "plugin charge", "plug and charge", "plug charge"],
    "is_roofed": ["is roofed", "roofed", "ueberdacht", "covered", "dach"],
    "is_private": ["is private", "private", "privat", "nicht oeffentlich"],
    "evse_id": ["evse id", "evse_id", "evseid", "connector id", "ladepunkt id", "ladepunktnummer", "evse",
                "charge point id", "chargepoint id", "ladepunkt kennung"],
    "connector_type": ["connector type", "connector", "steckertyp", "steckertypen", "stecker", "plug type",
                       "plug", "socket", "anschlusstyp", "type", "typ", "steckdose", "connector types"],
    "speed_kw": ["speed kw", "speed", "power", "power kw", "leistung", "leistung kw", "ladeleistung", "kw", "p",
                 "p kw", "max power", "nennleistung", "charging power", "max kw"],
}

# Headers that hold two fields in one cell, split by apply_mapping.
COMBINED: dict[tuple[str, str], list[str]] = {
    ("zip", "city"): ["plz ort", "postleitzahl ort", "zip city", "postcode city", "postal code city", "plz stadt",
                      "plz und ort", "postleitzahl und ort", "zip code city"],
    ("street", "street_number"): ["adresse", "address", "strasse und hausnummer", "strasse hausnummer",
                                  "strasse nr", "street address", "anschrift", "street and number",
                                  "strasse und nr", "str nr", "street number and name"],
}

OPERATOR_NAME_SYNONYMS = ["betreiber", "operator", "operator name", "cpo", "cpo name", "betreibername",
                          "betreiber name", "company", "firma", "anbieter", "unternehmen", "charge point operator"]

# Headers that look like a field but are something else ("Bundesland" ends in "land").
NOT_FIELDS = ["bundesland", "state", "region", "landkreis", "kreis", "county", "province", "provinz",
              "anschlussleistung", "anzahl ladepunkte", "number of charge points", "public key",
              "inbetriebnahmedatum", "art der ladeeinrichtung"]

_FOLDED = {f: [aliases.fold(s) for s in syns] for f, syns in SYNONYMS.items()}
_FOLDED_NOT = {aliases.fold(s) for s in NOT_FIELDS}
_FOLDED_COMBINED = {pair: [aliases.fold(s) for s in syns] for pair, syns in COMBINED.items()}
_FOLDED_OPERATOR = [aliases.fold(s) for s in OPERATOR_NAME_SYNONYMS]


def _header_forms(header: str) -> list[str]:
    """The folded header, and folded without bracketed units: 'Längengrad [DG]' -> 'laengengrad'."""
    forms = [aliases.fold(header)]
    bare = re.sub(r"[\[(][^\])]*[\])]", " ", header)
    if bare != header:
        forms.append(aliases.fold(bare))
    return [f for f in forms if f]


def _score(header: str, synonyms: list[str]) -> float:
    best = 0.0
    for form in _header_forms(header):
        for syn in synonyms:
            if not syn:
                continue
            if form == syn:
                return 1.0
            if len(syn) >= 4 and (form.startswith(syn) or form.endswith(syn)):
                best = max(best, 0.85)
            elif len(syn) >= 5 and syn in form:
                best = max(best, 0.8)
            elif len(form) >= 4 and len(syn) >= 4:
                best = max(best, 0.9 * difflib.SequenceMatcher(None, form, syn).ratio())
    return round(best, 3)


_SLOT_NUMBER = re.compile(r"(?<![0-9])([1-9])(?![0-9])")


def _wide_groups(headers: list[str]) -> tuple[list[dict[str, str]], dict[str, float]]:
    """Charge point columns side by side: 'Steckertypen1', 'P1 [kW]', 'Stecker 2', 'Connector 3 type'."""
    found: dict[int, dict[str, tuple[str, float]]] = {}
    for header in headers:
        for match in _SLOT_NUMBER.finditer(header):
            stem = header[: match.start()] + " " + header[match.end():]
            slot = int(match.group(1))
            for name in CONNECTOR_FIELDS:
                score = _score(stem, _FOLDED[name])
                if score >= CONFIDENT:
                    current = found.setdefault(slot, {}).get(name)
                    if current is None or score > current[1]:
                        found[slot][name] = (header, score)
    slots = sorted(s for s, fields in found.items() if "connector_type" in fields)
    if len(slots) < 2:
        return [], {}
    charge_points = [{name: col for name, (col, _) in found[s].items()} for s in slots]
    confidence = {
        name: min(found[s][name][1] for s in slots if name in found[s])
        for name in CONNECTOR_FIELDS
        if any(name in found[s] for s in slots)
    }
    return charge_points, confidence


def _looks_like_operator_ids(values: pd.Series) -> bool:
    values = values[values.str.strip() != ""]
    if not len(values):
        return False
    sample = values.head(500)
    return bool(sample.str.fullmatch(oioi_ids.OPERATOR_ID_PATTERN).mean() >= 0.9)


def suggest_mapping(raw: RawSheet) -> Suggestion:
    """A column for each canonical field from the headers, with how sure each guess is."""
    headers = raw.columns
    mapping = Mapping(columns={name: None for name in NAMES})
    confidence = {name: 0.0 for name in NAMES}

    charge_points, wide_confidence = _wide_groups(headers)
    used: set[str] = set()
    if charge_points:
        mapping.charge_points = charge_points
        confidence.update(wide_confidence)
        used |= {col for cp in charge_points for col in cp.values()}

    candidates: list[tuple[float, int, str, tuple[str, ...]]] = []
    for position, header in enumerate(headers):
        if set(_header_forms(header)) & _FOLDED_NOT:
            continue
        for name in NAMES:
            if charge_points and name in CONNECTOR_FIELDS:
                continue
            score = _score(header, _FOLDED[name])
            if score >= 0.6:
                candidates.append((score, -position, header, (name,)))
        for pair, synonyms in _FOLDED_COMBINED.items():
            score = _score(header, synonyms)
            if score >= 0.6:
                # A combined column loses to a column that holds exactly the field.
                candidates.append((score - 0.01, -position, header, pair))
        if _score(header, _FOLDED_OPERATOR) >= CONFIDENT:
            candidates.append((_score(header, _FOLDED_OPERATOR) - 0.02, -position, header, ("operator",)))

    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    for score, _, header, fields in candidates:
        if header in used:
            continue
        if fields == ("operator",):
            if mapping.columns["cpo_id"] or mapping.operator_column:
                continue
            if _looks_like_operator_ids(raw.frame[header]):
                mapping.columns["cpo_id"] = header
                confidence["cpo_id"] = score
            else:
                mapping.operator_column = header
                confidence["cpo_id"] = score
            used.add(header)
            continue
        if any(mapping.columns.get(f) or (f in CONNECTOR_FIELDS and charge_points) for f in fields):
            continue
        for f in fields:
            mapping.columns[f] = header
            confidence[f] = score
        used.add(header)

    if not mapping.columns["station_name"]:
        parts = [mapping.columns.get("street"), mapping.columns.get("city")]
        parts = list(dict.fromkeys(p for p in parts if p))
        if parts:
            mapping.name_from = parts
            confidence["station_name"] = 0.5

    return Suggestion(mapping=mapping, confidence=confidence, unplaced_required=unplaced_required(mapping))


def unplaced_required(mapping: Mapping) -> list[str]:
    """Required fields the mapping neither reads, sets, nor can generate."""
    def placed(name: str) -> bool:
        if mapping.source(name) or name in mapping.constants:
            return True
        if name in CONNECTOR_FIELDS and any(cp.get(name) for cp in mapping.charge_points):
            return True
        if name == "cpo_id":
            return bool(mapping.operator_id or mapping.operator_column)
        if name == "station_name":
            return bool(mapping.name_from)
        if name in GENERATED_FIELDS:
            return placed("cpo_id")
        return False

    return [name for name in REQUIRED if not placed(name)]


def placement_issues(raw: RawSheet, mapping: Mapping, confidence: dict[str, float] | None = None) -> pd.DataFrame:
    """The one rule for accepting a mapping, wherever the file is checked (page, CLI, bootstrap).

    A mapping is always applied. A required field it cannot fill is an error on
    the header row; one filled from a column guessed with less than CONFIDENT
    certainty is a warning naming that column. ``confidence`` is the
    suggestion's; fields a person chose (or a profile names) are certain.
    """
    confidence = confidence or {}
    rows, columns, values, messages, severities = [], [], [], [], []
    for name in unplaced_required(mapping):
        rows.append(raw.header_row)
        columns.append(name)
        values.append("")
        messages.append(f"no column of the file holds {name}: choose one under Columns, or use a profile")
        severities.append(Severity.ERROR)
    for name in REQUIRED:
        sure = confidence.get(name, 1.0)
        if mapping.source(name) and sure < CONFIDENT:
            rows.append(raw.header_row)
            columns.append(name)
            values.append(mapping.source(name))
            messages.append(f"{name} is read from the column {mapping.source(name)!r} by a guess "
                            f"({sure:.0%} sure): check it")
            severities.append(Severity.WARNING)
    parts = [
        make_issues([row], column, [value], "field_not_mapped" if severity == Severity.ERROR else "mapping_unsure",
                    message, severity)
        for row, column, value, message, severity in zip(rows, columns, values, messages, severities)
    ]
    return concat_issues(parts)


# --- applying ---------------------------------------------------------------------------

_ZIP_CITY = re.compile(r"^\s*(?:[A-Za-z]{1,2}\s*-\s*)?(?P<zip>\d{4,6})\s*,?\s+(?P<city>\S.*?)\s*$")
_CITY_ZIP = re.compile(r"^\s*(?P<city>\D.*?)\s*,?\s+(?P<zip>\d{4,6})\s*$")
_STREET_NUMBER = re.compile(
    r"^\s*(?P<street>.*?\S)\s*,?\s+(?P<number>\d+\s?[A-Za-z]?(?:\s*[-–/+]\s*\d+\s?[A-Za-z]?)?)\s*$"
)
_DECIMAL_COMMA = re.compile(r"^\s*([+-]?\d+),(\d+)\s*$")

_GERMAN_COUNTRIES = {
    "deutschland": "DE", "oesterreich": "AT", "schweiz": "CH", "frankreich": "FR", "niederlande": "NL",
    "belgien": "BE", "daenemark": "DK", "italien": "IT", "spanien": "ES", "polen": "PL", "tschechien": "CZ",
    "luxemburg": "LU", "schweden": "SE", "norwegen": "NO", "grossbritannien": "GB", "vereinigtes koenigreich": "GB",
    "ungarn": "HU", "slowenien": "SI", "kroatien": "HR", "finnland": "FI", "irland": "IE", "portugal": "PT",
    "deu": "DE", "d": "DE",
}


def _text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column and column in frame.columns:
        return frame[column].astype("object").fillna("").astype(str).str.strip()
    return pd.Series("", index=frame.index, dtype="object")


def _country(value: str) -> str:
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    if not text:
        return ""
    folded = " ".join(aliases._words(text))
    if folded in _GERMAN_COUNTRIES:
        return _GERMAN_COUNTRIES[folded]
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return text


def by_value(values: pd.Series, function) -> pd.Series:
    """``function`` over each distinct value once, spread back to the rows.

    Station columns repeat on every connector row and operators share
    addresses and hotlines, so this does a fraction of the per-row work.
    """
    codes, uniques = pd.factorize(values.astype("object"), use_na_sentinel=False)
    table = np.empty(len(uniques), dtype=object)
    table[:] = [function(u) for u in uniques]
    return pd.Series(table[codes], index=values.index, dtype=object)


def _decimal(values: pd.Series) -> pd.Series:
    return by_value(values, lambda v: _DECIMAL_COMMA.sub(r"\1.\2", v))


def _split(values: pd.Series, pattern: re.Pattern, first: str, second: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    def parts(value: str):
        match = pattern.match(value)
        return (match[first], match[second]) if match else None

    found = by_value(values, parts)
    ok = found.notna()
    return (
        found.map(lambda p: p[0] if p else "").astype(object),
        found.map(lambda p: p[1] if p else "").astype(object),
        ok,
    )


def _station_part(raw: RawSheet, mapping: Mapping, issues: list[pd.DataFrame]) -> pd.DataFrame:
    src = raw.frame
    rows = src[ROW]
    out = pd.DataFrame(index=src.index)
    for name in STATION_NAMES:
        out[name] = _text(src, mapping.source(name))

    # Combined cells: two fields mapped to one column.
    zip_col, city_col = mapping.source("zip"), mapping.source("city")
    if zip_col and zip_col == city_col:
        values = _text(src, zip_col)
        zip_a, city_a, ok_a = _split(values, _ZIP_CITY, "zip", "city")
        zip_b, city_b, ok_b = _split(values, _CITY_ZIP, "zip", "city")
        out["zip"] = zip_a.where(ok_a, zip_b)
        out["city"] = city_a.where(ok_a, city_b.where(ok_b, values))
        failed = ~(ok_a | ok_b) & (values != "")
        issues.append(make_issues(rows[failed], "zip", values[failed], "split_failed",
                                  f"no postcode found in this {zip_col!r} cell; it was taken as the city",
                                  Severity.WARNING))
    street_col, number_col = mapping.source("street"), mapping.source("street_number")
    if street_col and street_col == number_col:
        values = _text(src, street_col)
        street, number, ok = _split(values, _STREET_NUMBER, "street", "number")
        out["street"] = street.where(ok, values)
        out["street_number"] = number.str.replace(r"\s+", "", regex=True).where(ok, "")

    # Constants fill what the file leaves empty (or the whole column when none is mapped).
    for name, value in mapping.constants.items():
        if name in out.columns:
            out[name] = out[name].where(out[name] != "", str(value))

    if not mapping.source("station_name") and mapping.name_from:
        joined = pd.Series("", index=src.index, dtype="object")
        for column in mapping.name_from:
            part = _text(src, column)
            joined = joined.where(part == "", joined.where(joined == "", joined + ", ") + part)
        out["station_name"] = out["station_name"].where(out["station_name"] != "", joined)

    if not mapping.source("cpo_id"):
        if mapping.operator_column:
            names = _text(src, mapping.operator_column)
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
        elif mapping.operator_id:
            # Not a fallback for unknown operators in the table: that would hand their stations to this one.
            out["cpo_id"] = out["cpo_id"].where(out["cpo_id"] != "", mapping.operator_id)

    for name in ("latitude", "longitude"):
        out[name] = _decimal(out[name])
    for name in BOOLEAN_NAMES:
        out[name] = by_value(out[name], aliases.boolean_text)
    out["country"] = by_value(out["country"], _country)
    return out


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
        frame = pd.DataFrame({name: _text(src, mapping.source(name)) for name in CONNECTOR_FIELDS}, index=src.index)
        frame["_src"] = src.index
        frame["_slot"] = 0
    for name in CONNECTOR_FIELDS:
        if name in mapping.constants and not (mapping.is_wide and any(cp.get(name) for cp in mapping.charge_points)):
            frame[name] = frame[name].where(frame[name] != "", str(mapping.constants[name]))
    frame = frame.reset_index(drop=True)
    frame["_cell"] = frame["connector_type"]  # as found, before splitting: part of a generated EVSE id's key

    # A cell listing several types: one EVSE (one charge point), several connectors.
    pieces = by_value(frame["connector_type"], aliases.split_types)
    several = pieces.map(len) > 1
    if several.any():
        junk_pieces = pieces[several].map(lambda p: [x for x in p if aliases.is_junk(x)])
        kept = pieces[several].map(lambda p: [x for x in p if not aliases.is_junk(x)] or p)
        has_junk = junk_pieces.map(len) > 0
        if has_junk.any():
            where = frame.loc[junk_pieces[has_junk].index]
            issues.append(make_issues(
                src.loc[where["_src"], ROW], "connector_type", where["connector_type"], "junk_value",
                "the connector types list " + junk_pieces[has_junk].map(lambda j: ", ".join(map(repr, j)))
                + ", which is not a connector type; it was left out",
                Severity.WARNING,
            ))
        pieces = pieces.where(~several, kept)
        frame["connector_type"] = pieces.where(several, frame["connector_type"])
        frame = frame.explode("connector_type", ignore_index=True)
        frame["connector_type"] = frame["connector_type"].fillna("").astype(str)
    frame["connector_type"] = aliases.connector_types(frame["connector_type"])
    if several.any():
        # "AC Steckdose Typ 2, AC Kupplung Typ 2" (a socket and a cable) is one
        # Type2 connector to OIOI, which has no word for the difference.
        frame = frame.drop_duplicates(["_src", "_slot", "connector_type"]).reset_index(drop=True)
    frame["speed_kw"] = _decimal(frame["speed_kw"])
    return frame


def apply_mapping(raw: RawSheet, mapping: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical frame (canonical.NAMES + ROW, all str) and the issues found while mapping."""
    issues: list[pd.DataFrame] = []
    if not len(raw.frame):
        return pd.DataFrame({name: pd.Series(dtype="object") for name in NAMES + [ROW]}), empty_issues()
    stations = _station_part(raw, mapping, issues)
    connectors = _connector_part(raw, mapping, issues)

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
    if not mapping.source("station_id") and "station_id" not in mapping.constants:
        generated = sheet_ids.station_ids(stations["cpo_id"], station_key)
        stations["station_id"] = stations["station_id"].where(has_station_id, generated)

    frame = stations.loc[connectors["_src"]].reset_index(drop=True)
    frame[ROW] = raw.frame[ROW].loc[connectors["_src"]].to_numpy()
    for name in CONNECTOR_FIELDS:
        frame[name] = connectors[name].to_numpy()

    evse_mapped = bool(mapping.source("evse_id")) or any(cp.get("evse_id") for cp in mapping.charge_points)
    if not evse_mapped and "evse_id" not in mapping.constants:
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
        frame["evse_id"] = sheet_ids.evse_ids(frame["cpo_id"], keys, number)

    frame = frame[NAMES + [ROW]].astype({name: "object" for name in NAMES})
    frame[ROW] = frame[ROW].astype("int64")
    return frame, concat_issues(issues)
