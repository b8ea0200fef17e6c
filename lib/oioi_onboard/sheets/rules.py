"""The validator's rules, their severities and the tables they use.

Every rule has a short stable name: it is what the issue table, the CLI's JSON
and the tests refer to. Adding a rule here without an instance of it in
``sample_data/broken_stations.csv`` fails ``tests/sheets/test_validate.py``.
"""

import re
from dataclasses import dataclass

import pycountry

from ..oioi.vocabulary import TEXT_LIMITS as _WIRE_TEXT_LIMITS
from ..oioi.vocabulary import TIME_PATTERN
from . import languages
from .canonical import STATION_COLUMNS
from .issues import Severity

_COLUMN_OF_FIELD = {c.station_field: c.name for c in STATION_COLUMNS if c.station_field}


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    description: str
    needs_registry: bool = False  # only checked with a RegistryContext (the CPO's operator ids, others' ids)


_E, _W = Severity.ERROR, Severity.WARNING

RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule("required", _E, "a required field is empty"),
        Rule("not_a_number", _E, "latitude, longitude or speed is not a number"),
        Rule("not_a_boolean", _E, "a yes/no field holds something else"),
        Rule("not_an_integer", _E, "floor level or total parking is not a whole number"),
        Rule("negative_parking", _E, "total parking is below zero"),
        Rule("latitude_range", _E, "latitude outside -90..90"),
        Rule("longitude_range", _E, "longitude outside -180..180"),
        Rule("coordinates_swapped", _E, "latitude and longitude look exchanged (the import page swaps them back)"),
        Rule("outside_country", _W, "the point lies outside the address's country"),
        Rule("country_code", _E, "the country is not an ISO 3166-1 alpha-2 code"),
        Rule("evse_id_syntax", _E, "the EVSE id does not have the form CC*XXX*E..."),
        Rule("evse_id_din", _E, "the EVSE id is in the old DIN form (+49*...); its ISO form is offered"),
        Rule("operator_id_syntax", _E, "the station's cpo-id (operator id) does not have the form CC*XXX"),
        Rule("evse_operator_mismatch", _E, "the EVSE id's operator part differs from the station's cpo-id"),
        Rule("operator_not_registered", _E, "the station's cpo-id is not registered to this CPO", True),
        Rule("station_columns_disagree", _E, "rows of one station id hold different station data"),
        Rule("station_id_reused", _E, "one station id is used for two stations (another name at another position)"),
        Rule("connector_duplicate", _E, "the same EVSE id with the same connector type appears twice"),
        Rule("evse_id_in_several_stations", _E, "one EVSE id is used by more than one station"),
        Rule("evse_id_foreign", _E, "the EVSE id is already stored for another CPO", True),
        Rule("station_id_foreign", _E, "the station id is already stored for another CPO", True),
        Rule("connector_type", _E, "the connector type is not one of OIOI's 19 names"),
        Rule("speed_not_positive", _E, "the charging speed is zero or below"),
        Rule("speed_high", _W, "the charging speed is above 400 kW"),
        Rule("open_hours_syntax", _E, "opening hours not of the form 'Mo-Fr 07:30-19:00; Sa 09:00-15:00'"),
        Rule("open_24_with_hours", _E, "a station open 24 hours also has opening hours"),
        Rule("email_syntax", _E, "the e-mail address is not valid"),
        Rule("phone_syntax", _E, "the phone or fax number cannot be one of the address's country"),
        Rule("url_syntax", _E, "the website is not a web address"),
        Rule("text_too_long", _E, "a text is longer than its limit"),
        Rule("control_characters", _W, "a cell holds invisible control characters"),
        Rule("formula_like", _W, "a cell looks like a spreadsheet formula"),
    ]
}

REGISTRY_RULES = [r.name for r in RULES.values() if r.needs_registry]

# Plausibility: values of the right shape that are most likely wrong (a whole address in the
# city, a commune code as postcode). Not rules of station_post.rst, so kept apart from RULES.
PLAUSIBILITY_RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule("city_is_address", _E, "the city holds a number and a street word: it is a whole address"),
        Rule("city_implausible", _W, "the city holds digits or a street word"),
        Rule("zip_format", _W, "the postcode does not have the format of the address's country"),
        Rule("street_number_in_street", _W, "street_number is empty but the street ends or starts with a number"),
        Rule("phone_unassigned", _W, "the phone or fax number is possible, but not in a range its country assigned"),
    ]
}


def severity_of(rule: str) -> Severity:
    """The severity of a validator rule, OIOI's or a plausibility one."""
    return (RULES.get(rule) or PLAUSIBILITY_RULES[rule]).severity

# Text limits per canonical column, made from the wire's (oioi.vocabulary.TEXT_LIMITS, the one
# source): what the sheet lets through, the message models and the sandbox accept.
TEXT_LIMITS = {_COLUMN_OF_FIELD[path]: limit for path, limit in _WIRE_TEXT_LIMITS.items()}
# A station whose connectors change is pushed under a new id, its own with "-2", "-3", ... appended
# (sync.diff.next_station_id): a file's ids leave room for that within the wire's limit.
REPLACEMENT_SUFFIX_ROOM = 4
TEXT_LIMITS["station_id"] -= REPLACEMENT_SUFFIX_ROOM

SPEED_WARNING_KW = 400.0

# Yes and no in the languages of sheets.languages ("sì", "tak", "kyllä", "nej" ...), lower case.
TRUE_WORDS = languages.words("yes")
FALSE_WORDS = languages.words("no")
BOOLEAN_WORDS = TRUE_WORDS | FALSE_WORDS


ISO_COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)

WEEKDAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
_DAY = "(?:" + "|".join(WEEKDAYS) + ")"
# Spaces as [ ] and digits as [0-9], not \s and \d: pandas then runs these
# patterns in pyarrow (RE2) instead of falling back to Python's re row by row.
_TIME = TIME_PATTERN
_RANGE = rf"(?:{_TIME}) *- *(?:{_TIME})"
_PERIOD = rf" *{_DAY}(?: *- *{_DAY})? +{_RANGE}(?: *, *{_RANGE})* *"
# "Mo-Fr 07:30-19:00; Sa 09:00-15:00"; several ranges of a day with commas.
OPEN_HOURS_PATTERN = rf"{_PERIOD}(?:;{_PERIOD})*;? *"
_PERIOD_PARTS = re.compile(
    rf"^ *(?P<first>{_DAY})(?: *- *(?P<last>{_DAY}))? +(?P<ranges>{_RANGE}(?: *, *{_RANGE})*) *$"
)
_RANGE_PARTS = re.compile(rf"(?P<start>{_TIME}) *- *(?P<end>{_TIME})")


def parse_open_hours(text: str) -> list[dict]:
    """'Mo-Fr 07:30-19:00; Sa 09:00-15:00' -> open-hour-notes; raises ValueError if malformed."""
    notes = []
    for period in filter(str.strip, text.split(";")):
        match = _PERIOD_PARTS.match(period)
        if not match:
            raise ValueError(f"opening hours {period.strip()!r} are not of the form 'Mo-Fr 07:30-19:00'")
        first = match["first"]
        last = match["last"] or first
        for times in _RANGE_PARTS.finditer(match["ranges"]):
            notes.append({"times": [times["start"], times["end"]], "days": [first, last]})
    return notes


URL_PATTERN = (
    r"(?:https?://)?"  # the spec's own example has no scheme: www.example.com
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?::[0-9]{1,5})?(?:[/?#][^ \t\r\n]*)?"
)

CONTROL_CHARACTERS_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
# What a spreadsheet would run: '=...', and '+', '-' or '@' followed by a
# function or a DDE call. '+49 621 ...' and '-8.5' are not formulas.
FORMULA_PATTERN = r"^[ \t]*(?:=|[+\-@][ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*[(|!])"

# Coarse boxes (lat_min, lat_max, lon_min, lon_max) per country, a few tenths of
# a degree wide of the border; a country may need several (islands, overseas).
# Countries not listed are not checked.
BOX_MARGIN = 0.3
COUNTRY_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    "DE": [(47.2, 55.1, 5.8, 15.1)],
    "AT": [(46.3, 49.1, 9.5, 17.2)],
    "CH": [(45.8, 47.9, 5.9, 10.5)],
    "LI": [(47.0, 47.3, 9.4, 9.7)],
    "FR": [(41.3, 51.2, -5.2, 9.6), (-21.4, -20.8, 55.2, 55.9), (14.3, 16.6, -61.9, -60.8), (2.1, 5.8, -54.6, -51.6)],
    "BE": [(49.5, 51.6, 2.5, 6.5)],
    "NL": [(50.7, 53.6, 3.3, 7.3)],
    "LU": [(49.4, 50.2, 5.7, 6.6)],
    "DK": [(54.5, 57.8, 8.0, 15.2)],
    "SE": [(55.3, 69.1, 10.9, 24.2)],
    "NO": [(57.9, 71.2, 4.5, 31.2), (76.4, 80.9, 10.0, 33.5)],
    "FI": [(59.7, 70.1, 20.5, 31.6)],
    "IS": [(63.3, 66.6, -24.6, -13.4)],
    "IE": [(51.4, 55.4, -10.5, -5.9)],
    "GB": [(49.8, 60.9, -8.7, 1.8)],
    "ES": [(35.9, 43.8, -9.4, 4.4), (27.6, 29.5, -18.2, -13.4), (35.2, 35.95, -5.4, -2.9)],
    "PT": [(36.9, 42.2, -9.6, -6.2), (32.4, 33.2, -17.3, -16.2), (36.9, 39.8, -31.3, -25.0)],
    "IT": [(35.4, 47.1, 6.6, 18.6)],
    "MT": [(35.8, 36.1, 14.1, 14.6)],
    "SI": [(45.4, 46.9, 13.4, 16.6)],
    "HR": [(42.4, 46.6, 13.5, 19.5)],
    "BA": [(42.5, 45.3, 15.7, 19.7)],
    "RS": [(42.2, 46.2, 18.8, 23.0)],
    "ME": [(41.8, 43.6, 18.4, 20.4)],
    "MK": [(40.8, 42.4, 20.4, 23.1)],
    "AL": [(39.6, 42.7, 19.2, 21.1)],
    "GR": [(34.8, 41.8, 19.3, 29.7)],
    "BG": [(41.2, 44.3, 22.3, 28.7)],
    "RO": [(43.6, 48.3, 20.2, 29.8)],
    "HU": [(45.7, 48.6, 16.1, 22.9)],
    "SK": [(47.7, 49.7, 16.8, 22.6)],
    "CZ": [(48.5, 51.1, 12.0, 18.9)],
    "PL": [(49.0, 54.9, 14.1, 24.2)],
    "LT": [(53.9, 56.5, 20.9, 26.9)],
    "LV": [(55.6, 58.1, 20.9, 28.3)],
    "EE": [(57.5, 59.8, 21.7, 28.3)],
    "UA": [(44.3, 52.4, 22.1, 40.3)],
    "MD": [(45.4, 48.5, 26.6, 30.2)],
    "BY": [(51.2, 56.2, 23.1, 32.8)],
    "CY": [(34.5, 35.7, 32.2, 34.6)],
    "TR": [(35.8, 42.2, 25.6, 44.9)],
    "AD": [(42.4, 42.7, 1.4, 1.8)],
    "MC": [(43.72, 43.76, 7.40, 7.44)],
    "SM": [(43.89, 44.0, 12.4, 12.52)],
    "US": [(24.4, 49.4, -124.9, -66.9), (51.2, 71.5, -180.0, -129.9), (18.9, 22.3, -160.3, -154.8)],
    "CA": [(41.6, 83.2, -141.1, -52.6)],
    "MX": [(14.5, 32.8, -118.5, -86.7)],
    "AU": [(-43.7, -10.6, 113.1, 153.7)],
    "NZ": [(-47.4, -34.3, 166.4, 178.6)],
    "JP": [(24.0, 45.6, 122.9, 145.9)],
    "KR": [(33.1, 38.7, 124.6, 131.9)],
    "CN": [(18.1, 53.6, 73.5, 134.8)],
    "IN": [(6.7, 35.7, 68.1, 97.4)],
    "BR": [(-33.8, 5.3, -74.0, -34.7)],
    "ZA": [(-34.9, -22.1, 16.4, 32.9)],
}
COUNTRY_BOXES = {
    country: [(a - BOX_MARGIN, b + BOX_MARGIN, c - BOX_MARGIN, d + BOX_MARGIN) for a, b, c, d in boxes]
    for country, boxes in COUNTRY_BOXES.items()
}
