"""CPOs, user accounts and stations written into the store: CPOs registered as the CPO page registers them,
stations stored as an accepted import stores them.

    with session_scope() as session:
        cpo = make_cpo(session, name="Ours", operator_ids="DE*8PS")
        staff = make_user(session, "staff", Role.CPO_STAFF, cpo_names=["Ours"])
        store_stations(session, cpo.id, 100, mixed=True)
        store_status_station(session, cpo.id, 101, acked=True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from ..oioi import messages
from ..oioi.ids import new_partner_identifier, normalise_evse_id
from ..oioi.messages import canonical_sha256
from ..sheets.stations import connectors_signature
from ..store.auth import SYSTEM, Actor, actor_for_user, create_user
from ..store.models import Connector, Cpo, ImportRecord, OperatorId, PartnerIdentifier, Role, Station, utcnow
from ..store.registry import register_cpo
from ..store.secrets import encrypt_api_key, last4
from .stations import OPERATOR, station_payload, status_station

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
    registered: bool = True,
) -> Cpo:
    """A CPO registered the way the CPO page and `cpo add` register one (checks, audit entry and, on the
    sandbox, a generated key and provisioning included).

    ``registered=False`` writes its rows straight into the store instead: no checks, no audit entry,
    nothing generated or provisioned, for tests that count what the library writes. A partner
    identifier is generated unless ``partner_ids`` are given; ``concurrency`` sets the number of
    parallel station-posts of its queue.
    """
    operator_ids, partner_ids = _listed(operator_ids), _listed(partner_ids)
    if registered:
        cpo, _ = register_cpo(session, actor=actor, name=name, endpoint=endpoint, api_key=api_key,
                              operator_ids=operator_ids, partner_identifiers=partner_ids)
    else:
        cpo = Cpo(name=name, endpoint=endpoint, api_key_encrypted=encrypt_api_key(api_key) if api_key else None,
                  api_key_last4=last4(api_key) if api_key else None)
        session.add(cpo)
        session.flush()
        session.add_all([OperatorId(cpo_id=cpo.id, operator_id=operator_id) for operator_id in operator_ids])
        session.add_all([PartnerIdentifier(cpo_id=cpo.id, partner_identifier=partner_id)
                         for partner_id in partner_ids or [new_partner_identifier()]])
    if concurrency is not None:
        cpo.concurrency = concurrency
        session.add(cpo)
    session.flush()
    return cpo


def _listed(values: str | Iterable[str] | None) -> list[str] | None:
    return None if values is None else [values] if isinstance(values, str) else list(values)


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


def store_station(session: Session, cpo_id: int, payload: dict[str, Any], *, import_id: int | None = None,
                  acked: bool = False) -> Station:
    """Insert or update one station (and replace its connectors) the way an accepted import stores it;
    ``acked``: as the endpoint acknowledged it."""
    station = session.execute(select(Station).where(Station.station_id == payload["id"])).scalar()
    if station is None:
        station = Station(cpo_id=cpo_id, import_id=import_id, **_station_fields(payload))
    else:
        for key, value in dict(_station_fields(payload), import_id=import_id).items():
            setattr(station, key, value)
    if acked:
        station.acked_at = utcnow()
        station.acked_sha256 = station.payload_sha256
        station.acked_connectors_signature = station.connectors_signature
    session.add(station)
    session.flush()
    session.execute(delete(Connector).where(Connector.station_pk == station.id))
    session.execute(insert(Connector), _connector_rows(station.id, cpo_id, payload))
    session.flush()
    return station


def store_stations(session: Session, cpo_id: int, count: int, *, start: int = 1, operator_id: str = OPERATOR,
                   prefix: str = "S", connectors: int = 1, mixed: bool = False, batch: int = 5000) -> int:
    """Store ``count`` stations numbered from ``start`` (``station_payload``) fast, one insert per table and
    batch, under one import record; returns the import id."""
    def payload(n: int) -> dict[str, Any]:
        return station_payload(n, operator_id=operator_id, prefix=prefix, connectors=connectors, mixed=mixed)

    messages.Station.model_validate(payload(start))  # shape check
    record = new_import(session, cpo_id, stations=count, connectors=count * len(payload(start)["connectors"]))
    end = start + count
    for first in range(start, end, batch):
        payloads = [payload(n) for n in range(first, min(first + batch, end))]
        rows = [dict(_station_fields(p), cpo_id=cpo_id, import_id=record.id) for p in payloads]
        pks = session.execute(insert(Station).returning(Station.id, sort_by_parameter_order=True), rows).scalars()
        session.execute(insert(Connector), [row for pk, p in zip(pks, payloads, strict=True)
                                            for row in _connector_rows(pk, cpo_id, p)])
    session.flush()
    return record.id


def store_status_station(session: Session, cpo_id: int, n: int, *, shared_evse: bool = False,
                         acked: bool = False) -> Station:
    """``status_station(n)`` of the CPO's first operator id, stored (``acked``: and acknowledged)."""
    operator_id = session.execute(select(OperatorId.operator_id).where(OperatorId.cpo_id == cpo_id)
                                  .order_by(OperatorId.id)).scalars().first() or OPERATOR
    return store_station(session, cpo_id, status_station(n, operator_id=operator_id, shared_evse=shared_evse),
                         acked=acked)


def add_station_row(session: Session, cpo_id: int, *, station_id: str, operator_id: str, connectors: int = 1,
                    evse_ids: Iterable[str] | None = None, deleted: bool = False) -> Station:
    """A bare station row with ``connectors`` Type2 connectors (or one on each of ``evse_ids``) and no real
    payload: for counts, scoping and ids another CPO already holds."""
    station = Station(cpo_id=cpo_id, station_id=station_id, name=station_id, latitude=52.5, longitude=13.4,
                      cpo_operator_id=operator_id, payload={}, payload_sha256="x", connectors_signature="y",
                      deleted=deleted)
    session.add(station)
    session.flush()
    for evse_id in evse_ids or [f"{operator_id}*E{station_id}{index}" for index in range(connectors)]:
        session.add(Connector(station_pk=station.id, cpo_id=cpo_id, evse_id=evse_id,
                              evse_key=evse_id.replace("*", ""), name="Type2", speed=22.0))
    session.flush()
    return station


def wait_statuses_delivered(timeout: float = 300) -> float:
    """Wait until no status change is pending or held (the worker delivered them all); the seconds it took.
    Raises SystemExit naming how many are left after ``timeout`` (the benchmarks' way to stop)."""
    import time

    from sqlalchemy import func

    from ..store.db import session_scope
    from ..store.models import StatusEvent

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with session_scope() as session:
            waiting = session.execute(select(func.count(StatusEvent.id))
                                      .where(StatusEvent.delivery.in_(["pending", "held"]))).scalar_one()
        if not waiting:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"{waiting} status change(s) still not delivered after {timeout} s")
