"""OCPI Locations -> the canonical frame and an issue table, as a spreadsheet's mapping makes them.

One Location is one station; each of its EVSEs with an ``evse_id`` is one OIOI connector id, and the
EVSE's connectors become that id's rows, one per OIOI plug (a socket and a cable of one standard are
one plug to OIOI, with the higher power). What the station columns take is in DESIGN.md section 7:

- the station id is the Location's whole OCPI identity, ``{country_code}*{party_id}*{id}``: a Location
  id is unique only on its CPO's platform, OIOI's station ids across every CPO, and (country_code,
  party_id, id) is what names a Location in OCPI (the receiver sees the same three in its URLs);
- the operator id (cpo-id) is the Location's owner, ``{country_code}*{party_id}``: OCPI's party id follows
  ISO 15118, the operator id EVSE ids begin with, so the validator names an EVSE id of another operator;
- power from ``max_electric_power`` (W), else volts x amperes (x 3 for AC_3_PHASE, whose voltage is
  line to neutral; x 2 for AC_2_PHASE, two of those phases), in kW;
- ``country`` alpha-3 -> alpha-2; the one-line ``address`` split into street and number by
  ``sheets.addresses``; ``postal_code`` -> zip;
- ``opening_times``: is-open-24, and the weekday hours with consecutive days of equal periods grouped
  ("Mo-Fr 08:00-20:00; Sa 09:00-12:00"); exceptional openings and closings have no OIOI field;
- the operator's name when the Location has none, its website as the contact's web; ``directions`` as
  notes; ``energy_mix.is_green_energy`` as is-green-power-available;
- the phone (OCPI has none) and whatever else a Location leaves empty: from the CPO's defaults.

Not pushed, as warnings naming them: Locations with ``publish: false``, EVSEs that are PLANNED or
REMOVED, EVSEs without an ``evse_id``. Errors: a connector standard without an OIOI plug (the station
is blocked: the issue is keyed to the Location's row, like any error of its rows), and a Location that is
not valid OCPI, such as coordinates outside their pattern (it is left out, each problem named).

``ROW``, the row a person is pointed to, is the Location's position in the file (1 for the first); the
messages name the Location id and the EVSE uid, which is how the CPO's back end knows them.
"""

from collections import Counter
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pycountry
from pydantic import ValidationError

from ..oioi.vocabulary import ConnectorStatus, ConnectorType, Weekday
from ..sheets.addresses import parse_address
from ..sheets.canonical import NAMES, ROW
from ..sheets.issues import ISSUE_COLUMNS, Severity, concat_issues
from ..wording import counted
from .models import EVSE, Connector, EvseStatus, Hours, Location, PowerType, RegularHours

__all__ = ["PLUGS", "NO_PLUG", "station_id", "operator_id", "power_kw", "opening_hours", "oioi_status",
           "map_locations"]

# OCPI connector standards -> OIOI connector names.
PLUGS: dict[str, ConnectorType] = {
    "IEC_62196_T2": ConnectorType.TYPE2,
    "IEC_62196_T2_COMBO": ConnectorType.COMBO,
    "CHADEMO": ConnectorType.CHADEMO,
    "DOMESTIC_F": ConnectorType.SCHUKO,
    "DOMESTIC_E": ConnectorType.TYPE_E,
    "IEC_62196_T1": ConnectorType.TYPE1,
    "IEC_62196_T3A": ConnectorType.TYPE3,
    "IEC_62196_T3C": ConnectorType.SCAME,
    "IEC_60309_2_single_16": ConnectorType.CEE_BLUE,
    "IEC_60309_2_three_16": ConnectorType.CEE_RED,
    "IEC_60309_2_three_32": ConnectorType.CEE_RED,
    "IEC_60309_2_three_64": ConnectorType.CEE_RED,
    "DOMESTIC_G": ConnectorType.THREE_PIN_SQUARE,
    "TESLA_R": ConnectorType.TESLA,
    "TESLA_S": ConnectorType.TESLA,
}
# The other standards of OCPI 2.2.1's ConnectorType: OIOI has no plug for them.
NO_PLUG = frozenset({
    "IEC_62196_T1_COMBO", "GBT_AC", "GBT_DC", "CHAOJI", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN",
    "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K",
    "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N", "DOMESTIC_O", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30",
    "NEMA_10_50", "NEMA_14_30", "NEMA_14_50",
})

_STATUSES = {
    EvseStatus.AVAILABLE: ConnectorStatus.AVAILABLE,
    EvseStatus.CHARGING: ConnectorStatus.OCCUPIED,
    EvseStatus.BLOCKED: ConnectorStatus.OCCUPIED,
    EvseStatus.RESERVED: ConnectorStatus.RESERVED,
    EvseStatus.INOPERATIVE: ConnectorStatus.OFFLINE,
    EvseStatus.OUTOFORDER: ConnectorStatus.OFFLINE,
    EvseStatus.UNKNOWN: ConnectorStatus.UNKNOWN,
}
NOT_CHARGEABLE = frozenset({EvseStatus.PLANNED, EvseStatus.REMOVED})
_DAYS = [day.value for day in Weekday]  # OCPI weekday 1 is Monday

# Where a problem of an unreadable Location shows in the issue table.
_LISTS = {"evses": ("EVSE", "uid"), "connectors": ("connector", "id")}
_COLUMN_OF_FIELD = {"address": "street", "city": "city", "postal_code": "zip", "country": "country",
                    "name": "station_name", "operator": "station_name", "opening_times": "open_hours",
                    "evses": "evse_id"}


def station_id(country_code: str, party_id: str, location_id: str) -> str:
    """The OIOI station id of a Location: its OCPI identity, unique across CPOs."""
    return f"{operator_id(country_code, party_id)}*{location_id}"


def operator_id(country_code: str, party_id: str) -> str:
    return f"{country_code.upper()}*{party_id.upper()}"


def oioi_status(status: EvseStatus | str) -> ConnectorStatus | None:
    """The OIOI connector status of an EVSE status; None for PLANNED and REMOVED, which are not pushed."""
    return _STATUSES.get(EvseStatus(status))


# Phases that each carry max_amperage at max_voltage. OCPI gives the voltage of AC_3_PHASE line to neutral;
# AC_2_PHASE is two of those three phases connected, at the same voltage per phase: 230 V x 16 A x 2 is
# 7.36 kW. AC_2_PHASE_SPLIT (split phase, 120/240 V) states the voltage across its two legs: one product.
_PHASES = {PowerType.AC_3_PHASE: 3, PowerType.AC_2_PHASE: 2}


def power_kw(connector: Connector) -> float:
    """The connector's power in kW: max_electric_power (W) when given, else volts x amperes x the phases
    that carry them (3 for AC_3_PHASE, 2 for AC_2_PHASE, whose voltage is line to neutral; 1 otherwise)."""
    if connector.max_electric_power is not None:
        return connector.max_electric_power / 1000
    return connector.max_voltage * connector.max_amperage * _PHASES.get(connector.power_type, 1) / 1000


def _kw_text(kw: float) -> str:
    return f"{kw:.3f}".rstrip("0").rstrip(".")


def opening_hours(hours: Hours | None) -> tuple[str, str]:
    """(is_open_24, open_hours) in the canonical columns' form; ('', '') when the Location gives none."""
    if hours is None:
        return "", ""
    if hours.twentyfourseven:
        return "true", ""
    return "false", _weekday_hours(hours.regular_hours)


def _weekday_hours(regular: list[RegularHours]) -> str:
    """'Mo-Fr 08:00-12:00, 14:00-18:00; Sa 09:00-12:00': consecutive days with the same periods in one group."""
    periods = {day: sorted({f"{r.period_begin}-{r.period_end}" for r in regular if r.weekday == day})
               for day in range(1, 8)}
    groups: list[list] = []  # [first day, last day, periods]
    for day, ranges in periods.items():
        if not ranges:
            continue  # closed that day
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == ranges:
            groups[-1][1] = day
        else:
            groups.append([day, day, ranges])
    return "; ".join(
        f"{_DAYS[first - 1]}{'' if first == last else '-' + _DAYS[last - 1]} {', '.join(ranges)}"
        for first, last, ranges in groups
    )


def _alpha_2(country: str) -> str:
    """'BEL' -> 'BE'; anything else as given, for the validator to name."""
    found = pycountry.countries.get(alpha_3=country.upper()) if len(country) == 3 else None
    return found.alpha_2 if found else country


def _directions(location: Location) -> str:
    english = [d.text for d in location.directions if d.language.lower() == "en"]
    return (english or [d.text for d in location.directions] or [""])[0]


def _station_columns(location: Location) -> dict[str, str]:
    country = _alpha_2(location.country)
    address = parse_address(location.address, country)
    operator = location.operator
    is_open_24, open_hours = opening_hours(location.opening_times)
    green = location.energy_mix.is_green_energy if location.energy_mix else None
    columns = dict.fromkeys(NAMES, "")
    columns.update({
        "station_id": station_id(location.country_code, location.party_id, location.id),
        "station_name": location.name or (operator.name if operator else ""),
        "latitude": location.coordinates.latitude,
        "longitude": location.coordinates.longitude,
        "street": address.street if address else location.address,
        "street_number": address.number if address else "",
        "city": location.city,
        "zip": location.postal_code or "",
        "country": country,
        "web": (operator.website if operator else None) or "",
        "cpo_id": operator_id(location.country_code, location.party_id),
        "is_open_24": is_open_24,
        "open_hours": open_hours,
        "notes": _directions(location),
        "is_green_power_available": "" if green is None else str(green).lower(),
    })
    return columns


class _Issues:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def add(self, row: int, column: str, value: Any, rule: str, message: str, severity: Severity) -> None:
        self.records.append({"row": row, "column": column, "value": "" if value is None else str(value),
                             "rule": rule, "message": message, "severity": severity.value})

    def frame(self) -> pd.DataFrame:
        return concat_issues([pd.DataFrame(self.records, columns=ISSUE_COLUMNS).astype({"row": "int64"})])


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _field_path(raw: Any, loc: tuple) -> str:
    """('evses', 0, 'connectors', 1, 'max_voltage') -> "EVSE '3256', connector '2', max_voltage"."""
    segments: list[str] = []
    labelled = False  # the last segment names an EVSE or a connector
    node, parent = raw, None
    for key in loc:
        child = _child(node, key)
        if isinstance(key, int) and parent in _LISTS:
            label, id_field = _LISTS[parent]
            name = child.get(id_field) if isinstance(child, dict) else None
            segments[-1] = f"{label} {name!r}" if isinstance(name, str) else f"{label} {key + 1}"
            labelled = True
        elif segments and not labelled:
            segments[-1] += f".{key}"
        else:
            segments.append(str(key))
            labelled = False
        node, parent = child, key
    return ", ".join(segments) or "the Location"


def _unreadable(issues: _Issues, row: int, raw: Any, error: ValidationError) -> None:
    if not isinstance(raw, dict):
        issues.add(row, "station_id", raw if isinstance(raw, str | int | float | bool) else "", "ocpi_location_invalid",
                   f"item {row} of the file is not a JSON object, as a Location is; it was left out", Severity.ERROR)
        return
    name = raw.get("id")
    who = f"Location {name!r}" if isinstance(name, str) else f"Location {row} of the file"
    for item in error.errors():
        loc = tuple(item["loc"])
        column = _COLUMN_OF_FIELD.get(loc[0], "station_id") if loc else "station_id"
        if loc[:1] == ("coordinates",):
            column = loc[1] if len(loc) > 1 and loc[1] in ("latitude", "longitude") else "latitude"
        value = item.get("input")
        value = value if isinstance(value, str | int | float | bool) else ""
        problem = item["msg"].removeprefix("Value error, ")
        issues.add(row, column, value, "ocpi_location_invalid",
                   f"{who} is not valid OCPI and was left out: {_field_path(raw, loc)}: {problem}", Severity.ERROR)


def _connector_rows(location: Location, evse: EVSE, row: int, station: dict[str, str], issues: _Issues
                    ) -> list[dict]:
    """One row per OIOI plug of the EVSE; an error for each connector whose standard has none."""
    power: dict[ConnectorType, float] = {}
    for connector in evse.connectors:
        plug = PLUGS.get(connector.standard)
        if plug is None:
            why = "OIOI has no plug for it" if connector.standard in NO_PLUG else \
                "it is not a connector standard of OCPI 2.2.1"
            issues.add(row, "connector_type", connector.standard, "ocpi_connector_standard",
                       f"Location {location.id!r}, EVSE {evse.uid!r} ({evse.evse_id}), connector {connector.id!r}: "
                       f"standard {connector.standard!r}: {why}, so the station cannot be pushed", Severity.ERROR)
            continue
        power[plug] = max(power.get(plug, 0.0), power_kw(connector))
    return [{**station, "evse_id": evse.evse_id, "connector_type": plug.value, "speed_kw": _kw_text(kw), ROW: row}
            for plug, kw in power.items()]


def _not_pushed_message(location: Location, evses: list[EVSE]) -> str:
    named = [f"{evse.uid!r} ({evse.status.value})" if evse.status in NOT_CHARGEABLE else f"{evse.uid!r} (no evse_id)"
             for evse in evses]
    return (f"Location {location.id!r}: {counted(len(evses), 'EVSE')} not pushed: {', '.join(named)}. "
            "PLANNED and REMOVED EVSEs are not chargeable, and OIOI names a connector by its evse_id")


def map_locations(items: Iterable[tuple[int, Any]], *, constants: dict[str, str] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(canonical frame, issues, a summary for a person) of Locations given as (position in the file, JSON).

    ``constants`` fill the cells the Locations leave empty (the CPO's defaults, ``--set``), as for a file.
    """
    issues = _Issues()
    rows: list[dict] = []
    counts: Counter[str] = Counter()
    for row, raw in items:
        counts["locations"] += 1
        try:
            location = Location.model_validate(raw)
        except ValidationError as error:
            _unreadable(issues, row, raw, error)
            counts["unreadable"] += 1
            continue
        if not location.publish:
            issues.add(row, "station_id", location.id, "ocpi_not_published",
                       f"Location {location.id!r} has publish: false: it is not pushed, as it may not be shown "
                       "to the public", Severity.WARNING)
            counts["unpublished"] += 1
            continue
        station = _station_columns(location)
        skipped = []
        for evse in location.evses:
            if evse.status in NOT_CHARGEABLE or not evse.evse_id:
                skipped.append(evse)
                continue
            rows.extend(_connector_rows(location, evse, row, station, issues))
            counts["evses"] += 1
        if skipped:
            issues.add(row, "evse_id", ", ".join(e.uid for e in skipped), "ocpi_evse_not_pushed",
                       _not_pushed_message(location, skipped), Severity.WARNING)
            counts["not_chargeable"] += sum(e.status in NOT_CHARGEABLE for e in skipped)
            counts["without_evse_id"] += sum(e.status not in NOT_CHARGEABLE for e in skipped)
        if not location.evses:
            issues.add(row, "evse_id", "", "ocpi_no_evses", f"Location {location.id!r} has no EVSE: it is not pushed",
                       Severity.WARNING)

    frame = pd.DataFrame(rows, columns=[*NAMES, ROW], dtype=object)
    frame[ROW] = frame[ROW].astype("int64")
    for name, value in (constants or {}).items():
        if name in NAMES:
            frame[name] = frame[name].where(frame[name] != "", str(value))
    return frame, issues.frame(), _summary(counts, frame)


def _summary(counts: Counter, frame: pd.DataFrame) -> list[str]:
    lines = [f"read as OCPI 2.2.1 Locations, no column mapping needed: {counted(counts['locations'], 'Location')}, "
             f"{counted(counts['evses'], 'EVSE')} -> {counted(frame['station_id'].nunique(), 'station')}, "
             f"{counted(len(frame), 'connector row')}"]
    not_pushed = [f"{counted(counts[key], noun)} {label}" for key, noun, label in (
        ("unpublished", "Location", "with publish: false"), ("not_chargeable", "EVSE", "PLANNED or REMOVED"),
        ("without_evse_id", "EVSE", "without evse_id")) if counts[key]]
    if not_pushed:
        lines.append("not pushed: " + ", ".join(not_pushed))
    if counts["unreadable"]:
        unreadable = counts["unreadable"]
        lines.append(f"left out: {counted(unreadable, 'Location')} that {'is' if unreadable == 1 else 'are'} "
                     "not valid OCPI")
    return lines
