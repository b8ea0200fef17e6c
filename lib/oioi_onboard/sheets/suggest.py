"""Suggesting a mapping from a file's headers and a sample of its values.

Each canonical field is matched against the names CPO files use for it in the
languages of ``sheets.languages`` (case, punctuation, accents and bracketed units ignored), scored
0..1; a column holding two fields ("PLZ Ort", "Koordinaten") is offered for both,
wide files (charge point 1..4 side by side) and per-plug columns are recognised,
and a sample of the values settles what headers alone cannot (an id or a name,
an operator id or an operator's name). A layout a built-in profile knows by its
headers (``sheets.profiles.recognised_layout``) is taken whole. ``placement_issues``
is the one rule for accepting a mapping, suggested or chosen.
"""

import difflib
import functools
import re
from dataclasses import dataclass

import pandas as pd

from ..oioi import ids as oioi_ids
from . import aliases, languages, rules
from .addresses import parse_address
from .canonical import NAMES, REQUIRED
from .issues import Severity, concat_issues, make_issues
from .mapping import CONNECTOR_FIELDS, COORDINATE_PAIR, GENERATED_FIELDS, Mapping
from .profiles import recognised_layout
from .reader import RawSheet

__all__ = ["Suggestion", "suggest_mapping", "unplaced_required", "placement_issues", "CONFIDENT"]

CONFIDENT = 0.8  # a suggestion less sure than this is reported as a guess to check


@dataclass
class Suggestion:
    mapping: Mapping
    confidence: dict[str, float]  # canonical name -> 0..1 (0: nothing found)
    unplaced_required: list[str]  # required fields with no column, constant or way to generate them
    layout: str = ""  # a known layout recognised by its headers (e.g. France's IRVE schema), mapped whole


# The header table (sheets.languages): each canonical field's names in every language, folded once.
_FOLDED = {f: tuple(dict.fromkeys(aliases.fold(s) for s in languages.header_synonyms(f))) for f in NAMES}
# Headers that hold two or more fields in one cell, split by apply_mapping.
_FOLDED_COMBINED = {tuple(row.split("+")): tuple(dict.fromkeys(aliases.fold(s) for s in languages.header_synonyms(row)))
                    for row in languages.HEADER_ROWS if "+" in row}
_FOLDED_OPERATOR = tuple(dict.fromkeys(aliases.fold(s) for s in languages.header_synonyms("operator_name")))
# Headers that look like a field but are something else ("Bundesland" ends in "land", a commune code is no postcode).
_FOLDED_NOT = {aliases.fold(s) for row in ("not_a_field", "commune_code") for s in languages.header_synonyms(row)}
_USEFUL = 0.6  # scores below this never place a column


@functools.lru_cache(maxsize=1024)
def _matcher(synonym: str) -> difflib.SequenceMatcher:
    """A matcher against one synonym: difflib indexes its second sequence once, for every header."""
    return difflib.SequenceMatcher(None, "", synonym)


@functools.lru_cache(maxsize=32768)  # the page suggests again on every rerun
def _score(header: str, synonyms: tuple[str, ...]) -> float:
    best = 0.0
    for form in aliases.header_forms(header):
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
                # Upper bounds first (the lengths, then the letters): a full ratio() per header and
                # synonym was most of the suggestion's time, and one below _USEFUL decides nothing.
                floor = max(best, _USEFUL)
                if 1.8 * min(len(form), len(syn)) / (len(form) + len(syn)) <= floor:
                    continue
                matcher = _matcher(syn)
                matcher.set_seq1(form)
                if 0.9 * matcher.quick_ratio() > floor:
                    best = max(best, 0.9 * matcher.ratio())
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


_ID_CELL = re.compile(r"\S*[0-9]\S*")  # one word with a digit: 'DE*8PS*S12', 'S-0042', '10457'


def _looks_like_ids(values: pd.Series) -> bool:
    """Most cells are one word holding a digit: ids, never a name people read ('Ladepark Mannheim')."""
    sample = _sample(values)
    return bool(len(sample)) and sample.map(lambda v: _ID_CELL.fullmatch(v) is not None).mean() >= 0.9


def _sample(values: pd.Series, size: int = 500) -> pd.Series:
    values = values[values != ""]
    return values.head(size)


def _plug_columns(raw: RawSheet, headers: list[str]) -> dict[str, str]:
    """Per-plug columns: a header naming a plug ('Type 2', 'prise_type_combo_ccs') over yes/no or counts."""
    plugs = {}
    for header in headers:
        kind = aliases.plug_type(header)
        if kind is None:
            continue
        sample = _sample(raw.frame[header])
        if len(sample) and sample.map(lambda v: v.lower() in rules.BOOLEAN_WORDS or v.isdigit()).mean() >= 0.9:
            plugs[header] = kind
    return plugs if any(plugs.values()) else {}


def _looks_like_coordinate_pairs(values: pd.Series) -> bool:
    sample = _sample(values)
    return bool(len(sample)) and sample.map(lambda v: COORDINATE_PAIR.match(v) is not None).mean() >= 0.8


def _looks_like_full_addresses(values: pd.Series) -> bool:
    """Most cells name a postcode and a city after the street: 'Luisenring 49, 68159 Mannheim'."""
    sample = _sample(values, 200)
    if not len(sample):
        return False
    parsed = sample.map(lambda v: parse_address(v))
    return bool(parsed.map(lambda a: a is not None and bool(a.zip and a.city)).mean() >= 0.6)


def suggest_mapping(raw: RawSheet) -> Suggestion:
    """A column for each canonical field from the headers, with how sure each guess is."""
    known = recognised_layout(raw)
    if known is not None:
        mapping, layout = known
        confidence = {name: 1.0 if (mapping.source(name) or name in mapping.constants) else 0.0 for name in NAMES}
        confidence["connector_type"] = 1.0
        return Suggestion(mapping=mapping, confidence=confidence, unplaced_required=unplaced_required(mapping),
                          layout=layout)

    headers = raw.columns
    mapping = Mapping(columns={name: None for name in NAMES})
    confidence = {name: 0.0 for name in NAMES}

    charge_points, wide_confidence = _wide_groups(headers)
    used: set[str] = set()
    if charge_points:
        mapping.charge_points = charge_points
        confidence.update(wide_confidence)
        used |= {col for cp in charge_points for col in cp.values()}
    else:
        mapping.plugs = _plug_columns(raw, headers)
        used |= set(mapping.plugs)

    candidates: list[tuple[float, int, str, tuple[str, ...]]] = []
    for position, header in enumerate(headers):
        if set(aliases.header_forms(header)) & _FOLDED_NOT:
            continue
        for name in NAMES:
            if charge_points and name in CONNECTOR_FIELDS:
                continue
            score, field = _score(header, _FOLDED[name]), name
            if score >= 0.6:
                if field == "station_name" and _looks_like_ids(raw.frame[header]):
                    # 'Station' over 'BE*LNK*S00001': the station's id, not its name (ahead of a generated one).
                    score, field = score - 0.01, "station_id"
                candidates.append((score, -position, header, (field,)))
        for pair, synonyms in _FOLDED_COMBINED.items():
            score = _score(header, synonyms)
            if score >= 0.6:
                if pair == ("latitude", "longitude") and not _looks_like_coordinate_pairs(raw.frame[header]):
                    continue
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
        if len(fields) == 4:
            # A full address fills what no other column holds (a separate postcode column wins).
            fields = tuple(f for f in fields if not mapping.columns.get(f))
            if "street" not in fields:
                continue
        elif any(mapping.columns.get(f) or (f in CONNECTOR_FIELDS and charge_points) for f in fields):
            continue
        for f in fields:
            mapping.columns[f] = header
            confidence[f] = score
        used.add(header)

    columns = mapping.columns
    # "Adresse" holding whole addresses ("Luisenring 49, 68159 Mannheim"): postcode and city come from it too.
    street = columns["street"]
    if street and columns["street_number"] == street and not (columns["city"] and columns["zip"]) \
            and _looks_like_full_addresses(raw.frame[street]):
        for name in ("zip", "city"):
            if not columns[name]:
                columns[name], confidence[name] = street, confidence["street"]
    # One column of opening hours says both whether a station is open 24 hours and when it opens.
    hours, always = columns["open_hours"], columns["is_open_24"]
    if hours and not always:
        columns["is_open_24"], confidence["is_open_24"] = hours, confidence["open_hours"]
    elif always and not hours and not _sample(raw.frame[always]).str.lower().isin(rules.BOOLEAN_WORDS).all():
        columns["open_hours"], confidence["open_hours"] = always, confidence["is_open_24"]

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
        if name == "connector_type":
            return mapping.uses_plugs
        if name == "cpo_id":
            return bool(mapping.operator_id or mapping.operator_column or mapping.evse_column())
        if name == "country":
            return mapping.can_infer_country
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
        for row, column, value, message, severity in zip(rows, columns, values, messages, severities, strict=True)
    ]
    return concat_issues(parts)
