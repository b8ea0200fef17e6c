"""Small canonical station frames for the validation, station and import tests.

Three stations of operator DE*8PS; the first has one EVSE with a Type2 and a
Schuko socket (two rows, one EVSE id) and a second EVSE. Rows start at 5 and
skip numbers, as a file with a title block and blank lines would: tests can
tell the user's row numbers from the frame's index.
"""

import pandas as pd

from oioi_onboard.sheets.canonical import NAMES, ROW

STATION = {
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

ROWS = [5, 6, 7, 9, 10, 12]


def valid_frame() -> pd.DataFrame:
    records = []
    connectors = [
        ("DE*8PS*S0001", "DE*8PS*E0001*1", "Type2", "22"),
        ("DE*8PS*S0001", "DE*8PS*E0001*1", "Schuko", "3.7"),
        ("DE*8PS*S0001", "DE*8PS*E0001*2", "Combo", "150"),
        ("DE*8PS*S0002", "DE*8PS*E0002*1", "Chademo", "50"),
        ("DE*8PS*S0002", "DE*8PS*E0002*2", "Combo", "50"),
        ("DE*8PS*S0003", "DE8PSE0003", "Type2", "11"),
    ]
    for (station_id, evse_id, connector_type, speed), row in zip(connectors, ROWS):
        record = dict(STATION, station_id=station_id, evse_id=evse_id, connector_type=connector_type, speed_kw=speed)
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
