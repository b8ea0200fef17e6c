"""Test data, built in one place: CPOs, users and actors, station objects, stored stations, station frames.

The shared fixtures built from these (a registered CPO, an actor per role, two
CPOs with a user of every role, the sandbox process) live in tests/conftest.py.

    with db() as session:
        cpo = make_cpo(session, name="Ours", operator_ids="DE*8PS")
        staff = make_user(session, "staff", Role.CPO_STAFF, cpo_names=["Ours"])
        store_stations(session, cpo_id=cpo.id, count=100)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlmodel import Session

from oioi_onboard.oioi import messages
from oioi_onboard.oioi.ids import normalise_evse_id
from oioi_onboard.oioi.messages import canonical_sha256
from oioi_onboard.sheets.canonical import NAMES, ROW
from oioi_onboard.sheets.stations import connectors_signature
from oioi_onboard.store.auth import SYSTEM, Actor, actor_for_user, create_user
from oioi_onboard.store.models import Connector, Cpo, ImportRecord, Role, Station
from oioi_onboard.store.registry import register_cpo

OPERATOR = "DE*8PS"  # the operator id of the sample files and the hostile corpus

# --------------------------------------------------------------------------- CPOs, users, actors


def make_cpo(
    session: Session,
    *,
    name: str = "Demo CPO",
    operator_ids: str | Iterable[str] = OPERATOR,
    endpoint: str = "sandbox",
    api_key: str | None = None,
    partner_ids: str | Iterable[str] | None = None,
    concurrency: int | None = None,
    actor: Actor = SYSTEM,
) -> Cpo:
    """A CPO registered the way the CPO page and `cpo add` register one (checks and audit entry included).

    A partner identifier is generated unless ``partner_ids`` are given; ``concurrency`` sets the
    number of parallel station-posts of its queue.
    """
    cpo, _ = register_cpo(
        session, actor=actor, name=name, endpoint=endpoint, api_key=api_key,
        operator_ids=[operator_ids] if isinstance(operator_ids, str) else list(operator_ids),
        partner_identifiers=None if partner_ids is None
        else [partner_ids] if isinstance(partner_ids, str) else list(partner_ids),
    )
    if concurrency is not None:
        cpo.concurrency = concurrency
        session.add(cpo)
        session.flush()
    return cpo


def password_of(name: str) -> str:
    """The password ``make_user`` gives a user unless told otherwise."""
    return f"{name}-password-1"


def make_user(
    session: Session,
    name: str,
    role: Role,
    *,
    cpo_names: Iterable[str] = (),
    password: str | None = None,
    email: str | None = None,
) -> Actor:
    """A user account (password ``password_of(name)`` unless given); returns the actor it signs in as."""
    create_user(session, actor=SYSTEM, name=name, role=role, password=password or password_of(name),
                cpo_names=list(cpo_names), email=email)
    return actor_for_user(session, name=name)


def actor(name: str, role: Role, *cpo_ids: int) -> Actor:
    """An actor without an account, for calls into the library (``actor("eve", Role.CPO_STAFF, 2)``)."""
    return Actor(name=name, role=role, cpo_ids=frozenset(cpo_ids))


# --------------------------------------------------------------------------- station objects

CONNECTOR_TYPES = [t.value for t in messages.ConnectorType]
CITIES = [  # (city, zip, latitude, longitude)
    ("Mannheim", "68159", 49.4875, 8.4660), ("Berlin", "10117", 52.5200, 13.4050),
    ("Hamburg", "20095", 53.5511, 9.9937), ("München", "80331", 48.1374, 11.5755),
    ("Köln", "50667", 50.9375, 6.9603), ("Leipzig", "04109", 51.3397, 12.3731),
]


def station_payload(n: int, *, operator_id: str = OPERATOR, prefix: str = "S",
                    connectors: int | None = None) -> dict[str, Any]:
    """The station-post ``station`` object of station number ``n``, valid OIOI.

    Station id ``{operator_id}*{prefix}{n:06d}``, EVSE ids ``{operator_id}*E{prefix}{n:06d}*{k}``.
    By default two EVSEs and three connectors (EVSE 1 has two sockets, EVSE 2 a Combo);
    ``connectors=k`` gives k EVSEs with one Type2 each instead. Stations lie on a spiral
    around one of six German cities, so maps have something to show.
    """
    city, zip_code, lat, lon = CITIES[n % len(CITIES)]
    angle, radius = n * 2.39996, 0.002 * math.sqrt(n / len(CITIES))
    evse = f"{operator_id}*E{prefix}{n:06d}"
    if connectors is None:
        sockets = [
            {"id": f"{evse}*1", "name": CONNECTOR_TYPES[n % len(CONNECTOR_TYPES)], "speed": 22.0},
            {"id": f"{evse}*1", "name": "Schuko" if n % len(CONNECTOR_TYPES) != 3 else "Type2", "speed": 3.7},
            {"id": f"{evse}*2", "name": "Combo", "speed": 150.0},
        ]
    else:
        sockets = [{"id": f"{evse}*{k + 1}", "name": "Type2", "speed": 22.0} for k in range(connectors)]
    return {
        "id": f"{operator_id}*{prefix}{n:06d}",
        "name": f"{city} Ladepunkt {n}",
        "latitude": round(lat + radius * math.sin(angle), 6),
        "longitude": round(lon + radius * math.cos(angle), 6),
        "address": {"street": "Hauptstraße", "street-number": str(n % 300 + 1), "city": city, "zip": zip_code,
                    "country": "DE"},
        "contact": {"phone": "+49 621 1234567", "web": "https://example.com"},
        "cpo-id": operator_id,
        "is-open-24": True,
        "connectors": sockets,
        "deleted": False,
    }


# --------------------------------------------------------------------------- stations in the store


def new_import(session: Session, cpo_id: int, *, stations: int = 0, connectors: int = 0,
               full_upload: bool = True) -> ImportRecord:
    """An import record, as an accepted file (one row per connector) leaves one."""
    record = ImportRecord(cpo_id=cpo_id, user_name="test", file_name="stations.csv", file_sha256="0" * 64,
                          rows=connectors, stations=stations, connectors=connectors, stations_stored=stations,
                          full_upload=full_upload)
    session.add(record)
    session.flush()
    return record


def _station_fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {"station_id": payload["id"], "name": payload["name"], "latitude": payload["latitude"],
            "longitude": payload["longitude"], "city": payload["address"]["city"],
            "cpo_operator_id": payload["cpo-id"], "payload": payload, "payload_sha256": canonical_sha256(payload),
            "connectors_signature": connectors_signature(payload), "deleted": False}


def _connector_rows(station_pk: int, cpo_id: int, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"station_pk": station_pk, "cpo_id": cpo_id, "evse_id": c["id"], "evse_key": normalise_evse_id(c["id"]),
             "name": c["name"], "speed": c["speed"]} for c in payload["connectors"]]


def store_station(session: Session, *, cpo_id: int, payload: dict[str, Any],
                  import_id: int | None = None) -> Station:
    """Insert or update one station (and replace its connectors) the way an accepted import stores it."""
    station = session.execute(select(Station).where(Station.station_id == payload["id"])).scalar()
    if station is None:
        station = Station(cpo_id=cpo_id, import_id=import_id, **_station_fields(payload))
    else:
        for key, value in dict(_station_fields(payload), import_id=import_id).items():
            setattr(station, key, value)
    session.add(station)
    session.flush()
    session.execute(delete(Connector).where(Connector.station_pk == station.id))
    session.execute(insert(Connector), _connector_rows(station.id, cpo_id, payload))
    session.flush()
    return station


def store_stations(session: Session, *, cpo_id: int, count: int, operator_id: str = OPERATOR, prefix: str = "S",
                   batch: int = 5000) -> int:
    """Store stations 0 .. count-1 (``station_payload``) fast, one insert per table and batch,
    under one import record; returns the import id. For scale tests and benchmarks."""
    messages.Station.model_validate(station_payload(0, operator_id=operator_id, prefix=prefix))  # shape check
    record = new_import(session, cpo_id, stations=count, connectors=count * 3)
    for start in range(0, count, batch):
        payloads = [station_payload(n, operator_id=operator_id, prefix=prefix)
                    for n in range(start, min(start + batch, count))]
        rows = [dict(_station_fields(p), cpo_id=cpo_id, import_id=record.id) for p in payloads]
        pks = session.execute(insert(Station).returning(Station.id, sort_by_parameter_order=True), rows).scalars()
        session.execute(insert(Connector), [row for pk, p in zip(pks, payloads, strict=True)
                                            for row in _connector_rows(pk, cpo_id, p)])
    session.flush()
    return record.id


def add_station_row(session: Session, *, cpo_id: int, station_id: str, operator_id: str, connectors: int = 1,
                    evse_ids: Iterable[str] | None = None, deleted: bool = False) -> Station:
    """A bare station row with ``connectors`` Type2 connectors (or one on each of ``evse_ids``) and no real
    payload: for counts, scoping and ids another CPO already holds."""
    station = Station(cpo_id=cpo_id, station_id=station_id, name=station_id, latitude=52.5, longitude=13.4,
                      cpo_operator_id=operator_id, payload={}, payload_sha256="x", connectors_signature="y",
                      deleted=deleted)
    session.add(station)
    session.flush()
    for evse in evse_ids or [f"{operator_id}*E{station_id}{index}" for index in range(connectors)]:
        session.add(Connector(station_pk=station.id, cpo_id=cpo_id, evse_id=evse, evse_key=evse.replace("*", ""),
                              name="Type2", speed=22.0))
    session.flush()
    return station


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
