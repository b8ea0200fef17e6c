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
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..oioi import ids as oioi_ids
from . import aliases, languages, rules
from .canonical import NAMES, REQUIRED
from .issues import Severity, concat_issues, make_issues
from .mapping import CONNECTOR_FIELDS, COORDINATE_PAIR, GENERATED_FIELDS, Mapping
from .profile_values import Evidence, profile_columns
from .profiles import recognised_layout
from .reader import RawSheet

__all__ = ["Suggestion", "suggest_mapping", "unplaced_required", "placement_issues", "separator_hint",
           "CONFIDENT"]

CONFIDENT = 0.8  # a suggestion less sure than this is reported as a guess to check


@dataclass
class Suggestion:
    mapping: Mapping
    confidence: dict[str, float]  # canonical name -> 0..1 (0: nothing found)
    unplaced_required: list[str]  # required fields with no column, constant or way to generate them
    layout: str = ""  # a known layout recognised by its headers (e.g. France's IRVE schema), mapped whole
    reasons: dict[str, str] = field(default_factory=dict)  # canonical name -> why its column was chosen


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


def _letters(text: str) -> np.ndarray:
    """How often each ASCII character occurs in ``text`` (folded texts are ASCII letters and digits)."""
    return np.bincount(np.frombuffer(text.encode("ascii"), dtype=np.uint8), minlength=128)


@functools.lru_cache(maxsize=256)
def _letter_table(synonyms: tuple[str, ...]) -> np.ndarray:
    """One row of character counts per synonym: the letters a header shares with each, in one step."""
    return np.stack([_letters(s) for s in synonyms]) if synonyms else np.zeros((0, 128), dtype=np.int64)


@functools.lru_cache(maxsize=32768)  # the page suggests again on every rerun
def _score(header: str, synonyms: tuple[str, ...]) -> float:
    best = 0.0
    for form in aliases.header_forms(header):
        # Characters in common with every synonym at once: difflib's quick_ratio() is 2 * this / both lengths,
        # and asking it per synonym was most of the time of a new file's suggestion.
        shared = np.minimum(_letter_table(synonyms), _letters(form)).sum(axis=1).tolist()
        for syn, common in zip(synonyms, shared, strict=True):
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
                # synonym would be most of the suggestion's time, and one below _USEFUL decides nothing.
                floor = max(best, _USEFUL)
                if 1.8 * min(len(form), len(syn)) / (len(form) + len(syn)) <= floor:
                    continue
                if 0.9 * (2.0 * common / (len(form) + len(syn))) > floor:
                    matcher = _matcher(syn)
                    matcher.set_seq1(form)
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


# What the values of a field look like (sheets.profile_values): a column whose header names the field and
# whose values are of one of these kinds is sure; one whose values are of none of them, when the check is
# one a real column of the field passes, is not that field whatever its header says.
_CONFIRMED_BY = {
    "station_id": ("station_code", "row_code"), "station_name": ("text",), "street": ("text", "address"),
    "latitude": ("latitude", "coordinate", "decimal"), "longitude": ("longitude", "coordinate", "decimal"),
    "street_number": ("house_number",), "city": ("text",), "zip": ("zip",), "country": ("country",),
    "phone": ("phone",), "fax": ("phone",), "web": ("web",), "email": ("email",), "cpo_id": ("operator_id",),
    "is_open_24": ("yes_no", "hours"), "open_hours": ("hours",), "evse_id": ("evse_id",),
    "connector_type": ("plug",), "speed_kw": ("power",), "floor_level": ("whole_number",),
    "total_parking": ("whole_number",),
    **{name: ("yes_no",) for name in NAMES if name.startswith("is_") and name != "is_open_24"},
}
_REFUTABLE = {"latitude", "longitude", "zip", "phone", "fax", "web", "email", "evse_id", "connector_type",
              "speed_kw", "floor_level", "total_parking", *(n for n in NAMES if n.startswith("is_"))}
# A field found by its values alone, where the header says nothing: the kind of nine in ten of a column's
# filled cells -> the fields it fills, and how sure that makes the suggestion.
_BY_VALUES: dict[str, tuple[tuple[str, ...], float]] = {
    "evse_id": (("evse_id",), 0.9), "operator_id": (("cpo_id",), 0.9), "email": (("email",), 0.9),
    "web": (("web",), 0.9), "plug": (("connector_type",), 0.9), "phone": (("phone",), 0.85),
    "latitude": (("latitude",), 0.85), "longitude": (("longitude",), 0.85),
    "coordinates": (("latitude", "longitude"), 0.85), "address": (("street", "street_number", "zip", "city"), 0.85),
    "station_code": (("station_id",), 0.85), "country": (("country",), 0.85), "hours": (("open_hours",), 0.8),
    "power": (("speed_kw",), 0.75), "yes_no": (("is_open_24",), 0.7), "zip": (("zip",), 0.7),
    "row_code": (("station_id",), 0.65), "text": (("station_name",), 0.62),
}
_MIN_SAMPLE = 3  # filled cells below which the values decide nothing


def _weigh(name: str, header: str, score: float, evidence: dict[str, Evidence], sample: int) -> tuple[float, str]:
    """A header's score for a field, with what the column's values say: (score, why)."""
    kinds = [evidence[k] for k in _CONFIRMED_BY.get(name, ()) if k in evidence]
    best = max(kinds, key=lambda e: e.share, default=None)
    if sample >= _MIN_SAMPLE and best is not None and best.share >= 0.8:
        return max(score, 0.95 if score >= CONFIDENT else 0.9), f"its header; {best.reason()}"
    if sample >= _MIN_SAMPLE and name in _REFUTABLE and (best is None or best.share < 0.2):
        return score / 2, ""  # the values are not of this field, whatever the header says
    return score, "its header"


def _value_candidates(position: int, header: str, evidence: dict[str, Evidence], sample: int) -> list[tuple]:
    """Fields the values alone point to: (score, -position, header, fields, why) per kind."""
    found = []
    if sample < _MIN_SAMPLE:
        return found
    for kind, item in evidence.items():
        if kind not in _BY_VALUES or item.share < 0.9:
            continue
        fields, sure = _BY_VALUES[kind]
        if kind == "text" and len(evidence) > 1 and max(e.share for e in evidence.values() if e.kind != "text") >= 0.5:
            continue  # names only where the values are nothing else
        # Below the header matches of the same strength; the leftmost column first among equals.
        found.append((sure - 0.001, -position, header, fields, item.reason()))
    return found


def suggest_mapping(raw: RawSheet) -> Suggestion:
    """A column for each canonical field from the headers and what the values look like, with how sure each
    guess is and why it was made."""
    known = recognised_layout(raw)
    if known is not None:
        mapping, layout = known
        confidence = {name: 1.0 if (mapping.source(name) or name in mapping.constants) else 0.0 for name in NAMES}
        confidence["connector_type"] = 1.0
        return Suggestion(mapping=mapping, confidence=confidence, unplaced_required=unplaced_required(mapping),
                          layout=layout, reasons={name: layout for name in NAMES if confidence[name]})

    headers = raw.columns
    mapping = Mapping(columns={name: None for name in NAMES})
    confidence = {name: 0.0 for name in NAMES}
    reasons: dict[str, str] = {}
    profile = profile_columns(raw)

    charge_points, wide_confidence = _wide_groups(headers)
    used: set[str] = set()
    if charge_points:
        mapping.charge_points = charge_points
        confidence.update(wide_confidence)
        used |= {col for cp in charge_points for col in cp.values()}
        reasons.update({name: f"{len(charge_points)} charge points side by side" for name in wide_confidence})
    else:
        mapping.plugs = _plug_columns(raw, headers)
        used |= set(mapping.plugs)
        if mapping.plugs:
            reasons["connector_type"] = f"one yes/no or count column per plug ({len(mapping.plugs)})"

    candidates: list[tuple[float, int, str, tuple[str, ...], str]] = []
    for position, header in enumerate(headers):
        if (set(aliases.header_forms(header)) | set(aliases.header_forms(_SLOT_NUMBER.sub(" ", header)))) \
                & _FOLDED_NOT:
            continue
        evidence, sample = profile[header].kinds, profile[header].filled
        for name in NAMES:
            if charge_points and name in CONNECTOR_FIELDS:
                continue
            score, field = _score(header, _FOLDED[name]), name
            if score >= 0.6:
                if field == "station_name" and _looks_like_ids(raw.frame[header]):
                    # 'Station' over 'BE*LNK*S00001': the station's id, not its name (ahead of a generated one).
                    score, field = score - 0.01, "station_id"
                score, why = _weigh(field, header, score, evidence, sample)
                candidates.append((score, -position, header, (field,), why))
        for pair, synonyms in _FOLDED_COMBINED.items():
            score = _score(header, synonyms)
            if score >= 0.6:
                if pair == ("latitude", "longitude") and not _looks_like_coordinate_pairs(raw.frame[header]):
                    continue
                # A combined column loses to a column that holds exactly the field.
                seen = evidence.get("coordinates" if pair == ("latitude", "longitude") else "address")
                why = "its header" + (f"; {seen.reason()}" if seen and seen.share >= 0.6 else "")
                candidates.append((score - 0.01, -position, header, pair, why))
        if _score(header, _FOLDED_OPERATOR) >= CONFIDENT:
            candidates.append((_score(header, _FOLDED_OPERATOR) - 0.02, -position, header, ("operator",),
                               "its header"))
        candidates.extend(_value_candidates(position, header, evidence, sample))

    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    for score, _, header, fields, why in candidates:
        if header in used or score < _USEFUL:
            continue
        if fields == ("operator",):
            if mapping.columns["cpo_id"] or mapping.operator_column:
                continue
            if _looks_like_operator_ids(raw.frame[header]):
                mapping.columns["cpo_id"] = header
            else:
                mapping.operator_column = header
                why += " (operator names)"
            confidence["cpo_id"], reasons["cpo_id"] = score, why
            used.add(header)
            continue
        if "street" in fields:
            # An address column fills what no other column holds (a separate number or postcode column wins):
            # 'dirección' beside 'número' is the street.
            fields = tuple(f for f in fields if not mapping.columns.get(f))
            if "street" not in fields:
                continue
        elif any(mapping.columns.get(f) or (f in CONNECTOR_FIELDS and charge_points) for f in fields):
            continue
        for f in fields:
            mapping.columns[f] = header
            confidence[f], reasons[f] = score, why
        used.add(header)

    columns = mapping.columns
    # A street column holding whole addresses ("Via Roma 12, 20121 Milano"): number, postcode and city come
    # from it too, whatever its header says.
    street = columns["street"]
    address = profile[street].kinds.get("address") if street in profile else None
    if address is not None and address.share >= 0.6 and not (columns["city"] and columns["zip"]):
        for name in ("street_number", "zip", "city"):
            if not columns[name] or (name == "street_number" and columns[name] != street):
                columns[name], confidence[name] = street, max(confidence["street"], 0.9)
                reasons[name] = address.reason()
    # One column of opening hours says both whether a station is open 24 hours and when it opens.
    hours, always = columns["open_hours"], columns["is_open_24"]
    if hours and not always:
        columns["is_open_24"], confidence["is_open_24"] = hours, confidence["open_hours"]
        reasons["is_open_24"] = "opening hours say it"
    elif always and not hours and not _sample(raw.frame[always]).str.lower().isin(rules.BOOLEAN_WORDS).all():
        columns["open_hours"], confidence["open_hours"] = always, confidence["is_open_24"]
        reasons["open_hours"] = "opening hours beside 'open 24 hours'"

    if not mapping.columns["station_name"]:
        parts = [mapping.columns.get("street"), mapping.columns.get("city")]
        parts = list(dict.fromkeys(p for p in parts if p))
        if parts:
            mapping.name_from = parts
            confidence["station_name"] = 0.5
            reasons["station_name"] = "no column of names: the address stands for it"

    return Suggestion(mapping=mapping, confidence=confidence, unplaced_required=unplaced_required(mapping),
                      reasons=reasons)


# Characters that may separate a file's columns: anything but letters, digits, spaces and what headers hold.
_SEPARATOR = re.compile(r"[^\w \"'().*\[\]-]")
_KNOWN_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}


def separator_hint(raw: RawSheet) -> str | None:
    """For a file that reads as one column, the separator its first line's characters suggest (None otherwise)."""
    if len(raw.columns) != 1:
        return None
    found = Counter(_SEPARATOR.findall(raw.columns[0])).most_common(1)
    if not found or found[0][1] < 2:
        return None
    sign, count = found[0]
    start = f"{raw.file_name} reads as one column, though its first line holds {count} {sign!r}"
    if sign in _KNOWN_SEPARATORS:
        return (f"{start}: its lines seem to be quoted whole. Save it again without quotes around each line, "
                f"with {_KNOWN_SEPARATORS[sign]} between the columns.")
    return (f"{start}: its separator is probably {sign!r}. Save it again with commas or semicolons between the "
            "columns (commas, semicolons, tabs and pipes are read).")


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
    suggestion's; fields a person chose (or a profile names) are certain. The
    messages are the same wherever the file is checked, so they name no page
    widget and no command-line option.
    """
    confidence = confidence or {}
    rows, columns, values, messages, severities = [], [], [], [], []
    for name in unplaced_required(mapping):
        rows.append(raw.header_row)
        columns.append(name)
        values.append("")
        messages.append(f"no column of the file holds {name}: choose the column that does, or give the value "
                        "every station shares as the CPO's default")
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
