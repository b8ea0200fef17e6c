"""CPOs and stations written straight into the store, for the push tests and the benchmark.

The spreadsheet import builds the same rows from a file; these tests are about
what happens after, so they skip the file.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from oioi_onboard.oioi import messages
from oioi_onboard.oioi.messages import canonical_sha256
from oioi_onboard.sheets.stations import connectors_signature
from oioi_onboard.store.models import Connector, Cpo, ImportRecord, OperatorId, PartnerIdentifier, Station
from oioi_onboard.store.secrets import encrypt_api_key, last4

OPERATOR = "DE*8PS"


def sha(value: Any) -> str:
    return canonical_sha256(value)  # the import's own hash


def signature(payload: dict) -> str:
    return connectors_signature(payload)


def make_cpo(session: Session, *, name: str = "Demo CPO", endpoint: str, api_key: str, partner_id: str,
             operator_id: str = OPERATOR, concurrency: int = 16) -> Cpo:
    cpo = Cpo(name=name, endpoint=endpoint, api_key_encrypted=encrypt_api_key(api_key), api_key_last4=last4(api_key),
              concurrency=concurrency)
    session.add(cpo)
    session.flush()
    session.add(OperatorId(cpo_id=cpo.id, operator_id=operator_id))
    session.add(PartnerIdentifier(cpo_id=cpo.id, partner_identifier=partner_id))
    session.flush()
    return cpo


def station_payload(n: int, *, operator: str = OPERATOR, connectors: int = 1, name: str | None = None,
                    evse_prefix: str | None = None) -> dict:
    """A valid station-post ``station`` object; coordinates differ per station."""
    prefix = evse_prefix or f"{operator}*E{n:06d}"
    station = messages.Station.model_validate({
        "id": f"{operator}*S{n:06d}",
        "name": name or f"Station {n}",
        "latitude": 48.0 + n * 0.0001,
        "longitude": 11.0 + n * 0.0001,
        "address": {"street": "Hauptstraße", "street-number": str(n), "city": "München", "zip": "80331",
                    "country": "DE"},
        "contact": {"phone": "+49 89 1234567"},
        "cpo-id": operator,
        "is-open-24": True,
        "connectors": [{"id": f"{prefix}*{k + 1}", "name": "Type2", "speed": 22.0} for k in range(connectors)],
    })
    return station.to_json()


def new_import(session: Session, cpo: Cpo, *, full_upload: bool = True) -> ImportRecord:
    record = ImportRecord(cpo_id=cpo.id, user_name="test", file_name="stations.csv", file_sha256="0" * 64,
                          full_upload=full_upload)
    session.add(record)
    session.flush()
    return record


def store_station(session: Session, cpo: Cpo, payload: dict, *, import_id: int | None = None) -> Station:
    """Insert or update a station the way an import does."""
    from sqlalchemy import delete, select

    station = session.exec(select(Station).where(Station.station_id == payload["id"])).scalar()
    fields = dict(name=payload["name"], latitude=payload["latitude"], longitude=payload["longitude"],
                  city=payload["address"]["city"], cpo_operator_id=payload["cpo-id"], payload=payload,
                  payload_sha256=sha(payload), connectors_signature=signature(payload), import_id=import_id,
                  deleted=False)
    if station is None:
        station = Station(cpo_id=cpo.id, station_id=payload["id"], **fields)
        session.add(station)
        session.flush()
    else:
        for key, value in fields.items():
            setattr(station, key, value)
        session.add(station)
        session.flush()
        session.execute(delete(Connector).where(Connector.station_pk == station.id))
    for connector in payload["connectors"]:
        session.add(Connector(station_pk=station.id, cpo_id=cpo.id, evse_id=connector["id"],
                              evse_key=connector["id"].replace("*", "").upper(), name=connector["name"],
                              speed=connector["speed"]))
    session.flush()
    return station


def add_stations(session: Session, cpo: Cpo, count: int, *, start: int = 1, import_id: int | None = None,
                 connectors: int = 1) -> list[Station]:
    if import_id is None:
        import_id = new_import(session, cpo).id
    return [store_station(session, cpo, station_payload(n, connectors=connectors), import_id=import_id)
            for n in range(start, start + count)]


def bulk_add_stations(session: Session, cpo: Cpo, count: int) -> None:
    """Many stations fast (the benchmark): one insert per table."""
    from sqlalchemy import insert

    record = new_import(session, cpo)
    rows = []
    for n in range(1, count + 1):
        payload = station_payload(n)
        rows.append(dict(cpo_id=cpo.id, station_id=payload["id"], name=payload["name"], latitude=payload["latitude"],
                         longitude=payload["longitude"], city="München", cpo_operator_id=OPERATOR, payload=payload,
                         payload_sha256=sha(payload), connectors_signature=signature(payload),
                         import_id=record.id, deleted=False, updated_at=record.at))
    session.execute(insert(Station), rows)
    session.flush()
