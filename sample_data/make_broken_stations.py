"""Writes ``broken_stations.csv``: a few good stations and one broken station per validation rule.

Each broken station says in its description which rule it breaks. The rules
that need the registry assume the importing CPO owns operator id ``DE*8PS``
and another CPO already stored station ``DE*8PS*S9`` and EVSE ``DE*8PS*E9``
(as tests/sheets/test_validate.py sets up).

Run: ``.venv/bin/python sample_data/make_broken_stations.py``
"""

import csv
from pathlib import Path

from oioi_onboard.sheets.canonical import NAMES

OUT = Path(__file__).with_name("broken_stations.csv")

BASE = {
    "station_name": "Marktplatz", "description": "", "latitude": "49.4875", "longitude": "8.4660",
    "street": "Luisenring", "street_number": "49a", "city": "Mannheim", "zip": "68159", "country": "DE",
    "phone": "+49 621 1234567", "fax": "", "web": "https://example.com", "email": "service@example.com",
    "cpo_id": "DE*8PS", "is_open_24": "no", "open_hours": "Mo-Fr 07:30-19:00; Sa 09:00-15:00", "notes": "",
    "is_reservable": "no", "floor_level": "0", "is_free_charge": "no", "total_parking": "2",
    "is_green_power_available": "yes", "is_plugin_charge": "no", "is_roofed": "no", "is_private": "no",
}

# rule -> (station columns to change, connector rows as (evse suffix, type, speed, changes))
BROKEN = {
    "required": ({"street": ""}, None),
    "not_a_number": ({"latitude": "49.48.75"}, None),
    "not_a_boolean": ({"is_roofed": "maybe"}, None),
    "not_an_integer": ({"floor_level": "first"}, None),
    "negative_parking": ({"total_parking": "-3"}, None),
    "latitude_range": ({"latitude": "149.4875"}, None),
    "longitude_range": ({"longitude": "188.466"}, None),
    "coordinates_swapped": ({"latitude": "8.4660", "longitude": "49.4875"}, None),
    "outside_country": ({"latitude": "48.8566", "longitude": "2.3522"}, None),
    "country_code": ({"country": "Atlantis"}, None),
    "evse_id_syntax": ({}, [("DE-8PS-0001", "Type2", "22", {})]),
    "evse_id_din": ({}, [("+49*8PS*E{n}*1", "Type2", "22", {})]),
    "operator_id_syntax": ({"cpo_id": "8PS"}, None),
    "evse_operator_mismatch": ({}, [("DE*ABC*E{n}*1", "Type2", "22", {})]),
    "operator_not_registered": ({"cpo_id": "DE*XYZ"}, [("DE*XYZ*E{n}*1", "Type2", "22", {})]),
    "station_columns_disagree": (
        {}, [("DE*8PS*E{n}*1", "Type2", "22", {}), ("DE*8PS*E{n}*2", "Type2", "22", {"station_name": "Markt"})]
    ),
    "connector_duplicate": ({}, [("DE*8PS*E{n}*1", "Type2", "22", {}), ("DE*8PS*E{n}*1", "Type2", "11", {})]),
    "evse_id_in_several_stations": (
        {}, [("DE*8PS*E{n}*1", "Type2", "22", {}), ("DE*8PS*E{n}*1", "Schuko", "3.7", {"station_id": "DE*8PS*S{n}B"})]
    ),
    "evse_id_foreign": ({}, [("DE*8PS*E9", "Type2", "22", {})]),
    "station_id_foreign": ({"station_id": "DE*8PS*S9"}, None),
    "connector_type": ({}, [("DE*8PS*E{n}*1", "Pantograph", "22", {})]),
    "speed_not_positive": ({}, [("DE*8PS*E{n}*1", "Type2", "0", {})]),
    "speed_high": ({}, [("DE*8PS*E{n}*1", "Combo", "22000", {})]),
    "open_hours_syntax": ({"open_hours": "weekdays 8 to 6"}, None),
    "open_24_with_hours": ({"is_open_24": "yes"}, None),
    "email_syntax": ({"email": "service(at)example.com"}, None),
    "phone_syntax": ({"phone": "12"}, None),
    "url_syntax": ({"web": "see our website"}, None),
    "text_too_long": ({"station_name": "Ladepark " + "sehr " * 30 + "lang"}, None),
    "control_characters": ({"notes": "Gate code\x0b 1234"}, None),
    "formula_like": ({"notes": "=HYPERLINK(\"http://evil.example\",\"click\")"}, None),
    "station_id_reused": (
        {}, [("DE*8PS*E{n}*1", "Type2", "22", {}),
             ("DE*8PS*E{n}*2", "Type2", "22", {"station_name": "Bahnhof", "latitude": "49.5478"})]
    ),
}


def rows() -> list[dict]:
    out = []
    for n in range(1, 4):  # good stations
        station = dict(BASE, station_id=f"DE*8PS*S{n:04d}", station_name=f"Marktplatz {n}", description="valid")
        out.append(dict(station, evse_id=f"DE*8PS*E{n:04d}*1", connector_type="Type2", speed_kw="22"))
        out.append(dict(station, evse_id=f"DE*8PS*E{n:04d}*1", connector_type="Schuko", speed_kw="3.7"))
    for n, (rule, (changes, connectors)) in enumerate(BROKEN.items(), start=100):
        station = dict(BASE, station_id=f"DE*8PS*S{n:04d}", description=f"Breaks: {rule}")
        station.update(changes)
        for suffix, connector_type, speed, row_changes in connectors or [("DE*8PS*E{n}*1", "Type2", "22", {})]:
            changed = {column: value.format(n=n) for column, value in row_changes.items()}
            out.append(dict(station, evse_id=suffix.format(n=n), connector_type=connector_type, speed_kw=speed,
                            **changed))
    return out


def main() -> None:
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=NAMES)
        writer.writeheader()
        writer.writerows(rows())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
