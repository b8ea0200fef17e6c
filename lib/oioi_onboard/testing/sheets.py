"""Station sheets: canonical frames to validate, a generated network of rows, operator tables, a CSV of
the stations ``store_stations`` stores.

    frame = set_row(valid_frame(), 6, speed_kw="fast")   # the user's row 6
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable

import pandas as pd

from ..sheets.canonical import NAMES, ROW
from .stations import CONNECTOR_TYPES, station_payload

# --------------------------------------------------------------------------- canonical station frames
# Three stations of operator DE*8PS; the first has one EVSE with a Type2 and a Schuko socket (two
# rows, one EVSE id) and a second EVSE. Rows start at 5 and skip numbers, as a file with a title
# block and blank lines would: tests can tell the user's row numbers from the frame's index.

FRAME_STATION = {
    "station_name": "Marktplatz",
    "description": "Two chargers behind the town hall",
    "latitude": "49.4875",
    "longitude": "8.4660",
    "street": "Luisenring",
    "street_number": "49a",
    "city": "Mannheim",
    "zip": "68159",
    "country": "DE",
    "phone": "+49 621 1234567",
    "fax": "",
    "web": "https://example.com",
    "email": "service@example.com",
    "cpo_id": "DE*8PS",
    "is_open_24": "false",
    "open_hours": "Mo-Fr 07:30-19:00; Sa 09:00-15:00",
    "notes": "Level -1, bay 12",
    "is_reservable": "false",
    "floor_level": "-1",
    "is_free_charge": "false",
    "total_parking": "4",
    "is_green_power_available": "true",
    "is_plugin_charge": "false",
    "is_roofed": "true",
    "is_private": "false",
}

FRAME_ROWS = [5, 6, 7, 9, 10, 12]


def valid_frame() -> pd.DataFrame:
    """The three valid stations as a canonical frame, one row per connector."""
    records = []
    connectors = [
        ("DE*8PS*S0001", "DE*8PS*E0001*1", "Type2", "22"),
        ("DE*8PS*S0001", "DE*8PS*E0001*1", "Schuko", "3.7"),
        ("DE*8PS*S0001", "DE*8PS*E0001*2", "Combo", "150"),
        ("DE*8PS*S0002", "DE*8PS*E0002*1", "Chademo", "50"),
        ("DE*8PS*S0002", "DE*8PS*E0002*2", "Combo", "50"),
        ("DE*8PS*S0003", "DE8PSE0003", "Type2", "11"),
    ]
    for (station_id, evse_id, connector_type, speed), row in zip(connectors, FRAME_ROWS, strict=True):
        record = dict(FRAME_STATION, station_id=station_id, evse_id=evse_id, connector_type=connector_type,
                      speed_kw=speed)
        if station_id == "DE*8PS*S0002":
            record.update(station_name="Hauptbahnhof", latitude="52.5251", longitude="13.3694", city="Berlin",
                          zip="10557", street="Europaplatz", street_number="1", phone="+49 30 8122321",
                          is_open_24="true", open_hours="")
        if station_id == "DE*8PS*S0003":
            record.update(station_name="Wien Mitte", latitude="48.2065", longitude="16.3840", city="Wien",
                          zip="1030", country="AT", phone="+43 1 5123456", street="Landstraßer Hauptstraße",
                          street_number="1a")
        record[ROW] = row
        records.append(record)
    return pd.DataFrame.from_records(records, columns=NAMES + [ROW])


def set_station(frame: pd.DataFrame, which: str, **values: str) -> pd.DataFrame:
    """Set station columns on every row of station ``which`` (so its rows still agree)."""
    frame = frame.copy()
    rows = frame["station_id"] == which
    for column, value in values.items():
        frame.loc[rows, column] = value
    return frame


def set_row(frame: pd.DataFrame, user_row: int, **values: str) -> pd.DataFrame:
    """Set cells of the row the user sees as ``user_row``."""
    frame = frame.copy()
    for column, value in values.items():
        frame.loc[frame[ROW] == user_row, column] = value
    return frame


# --------------------------------------------------------------------------- a generated network

NETWORK_CITIES = [  # (country, city, zip, latitude, longitude, phone)
    ("DE", "Mannheim", "68159", 49.487, 8.466, "+49 621 1234567"),
    ("DE", "Berlin", "10243", 52.512, 13.454, "+49 30 8122321"),
    ("DE", "München", "80331", 48.137, 11.575, "+49 89 2123456"),
    ("AT", "Wien", "1010", 48.208, 16.373, "+43 1 5123456"),
    ("NL", "Utrecht", "3511 AB", 52.090, 5.121, "+31 30 2345678"),
    ("FR", "Strasbourg", "67000", 48.573, 7.752, "+33 3 88 12 34 56"),
]
NETWORK_OPERATORS = [f"DE*{chr(65 + i // 26)}{chr(65 + i % 26)}{i % 10}" for i in range(40)]


def network_frame(n_rows: int, seed: int = 7) -> pd.DataFrame:
    """A realistic network: ~2.5 connectors a station, 40 operators, 1% broken cells."""
    rng = random.Random(seed)
    records = []
    station = 0
    while len(records) < n_rows:
        station += 1
        country, city, zip_code, lat, lon, phone = rng.choice(NETWORK_CITIES)
        operator = rng.choice(NETWORK_OPERATORS)
        common = {
            "station_id": f"{operator}*S{station:07d}",
            "station_name": f"{city} Ladepark {station}",
            "description": "" if station % 3 else "Behind the town hall",
            "latitude": f"{lat + rng.uniform(-0.2, 0.2):.5f}",
            "longitude": f"{lon + rng.uniform(-0.2, 0.2):.5f}",
            "street": "Luisenring",
            "street_number": str(station % 200 + 1),
            "city": city,
            "zip": zip_code,
            "country": country,
            "phone": phone,
            "fax": "",
            "web": f"https://{operator[3:].lower()}.example.com",
            "email": f"service@{operator[3:].lower()}.example.com",
            "cpo_id": operator,
            "is_open_24": "true" if station % 4 else "false",
            "open_hours": "" if station % 4 else "Mo-Fr 07:30-19:00; Sa 09:00-15:00",
            "notes": "",
            "is_reservable": "false",
            "floor_level": "" if station % 5 else "-1",
            "is_free_charge": "false",
            "total_parking": str(station % 8 + 1),
            "is_green_power_available": "true",
            "is_plugin_charge": "false",
            "is_roofed": "false",
            "is_private": "false",
        }
        for evse in range(rng.choice((1, 2, 2, 3))):
            types = ["Type2", "Schuko"] if evse == 0 and station % 7 == 0 else [rng.choice(CONNECTOR_TYPES)]
            for connector_type in types:
                row = dict(common, evse_id=f"{operator}*E{station:07d}*{evse + 1}",
                           connector_type=connector_type, speed_kw=rng.choice(("11", "22", "50", "150")))
                records.append(row)
    frame = pd.DataFrame.from_records(records[:n_rows], columns=NAMES)
    # About 1% broken cells of kinds users really send.
    broken = rng.sample(range(n_rows), n_rows // 100)
    for i, position in enumerate(broken):
        column, value = [
            ("latitude", "49,5x"), ("connector_type", "Typ 2"), ("email", "service@"), ("speed_kw", "0"),
            ("evse_id", "+49*8PS*E1"), ("country", "Germany"), ("open_hours", "always"), ("phone", "12"),
        ][i % 8]
        frame.iat[position, frame.columns.get_loc(column)] = value
    return frame


# --------------------------------------------------------------------------- operator tables


def operator_table(names: Iterable[str]) -> dict[str, str]:
    """An operator id for every operator name (what a CPO's operator table would say), in name order."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {name: f"DE*{digits[k // 1296 % 36]}{digits[k // 36 % 36]}{digits[k % 36]}"
            for k, name in enumerate(sorted(set(names)))}


def operator_table_csv(table: dict[str, str]) -> bytes:
    """The table as the file ``--operators`` and the import page read."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(["operator name", "operator id"])
    writer.writerows(table.items())
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- stations as a file


def stations_csv(count: int) -> bytes:
    """Stations 1 .. count of ``store_stations(..., mixed=True)`` as a canonical CSV, as the CPO would upload
    them again."""
    out = io.StringIO()
    header = ["station_id", "station_name", "latitude", "longitude", "street", "street_number", "city", "zip",
              "country", "phone", "web", "cpo_id", "is_open_24", "evse_id", "connector_type", "speed_kw"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for n in range(1, count + 1):
        p = station_payload(n, mixed=True)
        a = p["address"]
        for c in p["connectors"]:
            writer.writerow([p["id"], p["name"], p["latitude"], p["longitude"], a["street"], a["street-number"],
                             a["city"], a["zip"], a["country"], p["contact"]["phone"], p["contact"]["web"],
                             p["cpo-id"], "yes", c["id"], c["name"], c["speed"]])
    return out.getvalue().encode()
