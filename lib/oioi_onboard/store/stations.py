"""Stations as imported: the registry context for validation, storing an accepted import, map data.

Storing never touches another CPO's stations: a station id, EVSE id or cpo-id
that belongs to someone else is checked again here, at the moment of storing,
whatever the validation said. Stations of this CPO missing from a full upload
stay as they are; the push engine proposes their deletion.
"""

from collections import defaultdict

import pandas as pd
from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, select

from ..errors import NotFound
from ..oioi.ids import normalise_evse_id
from ..oioi.messages import Station as StationModel
from ..oioi.messages import canonical_sha256
from ..sheets.stations import connectors_signature, iter_stations, station_sources
from ..sheets.validate import RegistryContext, Validation
from .auth import Actor, require_edit, visible_cpo_ids
from .models import Connector, Cpo, ImportRecord, OperatorId, Stage, Station, utcnow
from .queries import audit, get_cpo, set_stage

__all__ = ["registry_context", "store_import", "withdraw_station", "station_frame", "import_history",
           "STATION_FRAME_COLUMNS"]

STATION_FRAME_COLUMNS = ["station_id", "name", "latitude", "longitude", "city", "cpo_id", "connectors", "deleted"]
_BATCH = 2000


def registry_context(session: Session, *, cpo_id: int) -> RegistryContext:
    """This CPO's operator ids, and the ids other CPOs hold (deleted ones too: ids stay taken)."""
    operator_ids = session.exec(select(OperatorId.operator_id).where(OperatorId.cpo_id == cpo_id)).all()
    foreign_evse = session.exec(select(Connector.evse_key).where(Connector.cpo_id != cpo_id).distinct()).all()
    foreign_stations = session.exec(select(Station.station_id).where(Station.cpo_id != cpo_id)).all()
    return RegistryContext(
        operator_ids=frozenset(operator_ids),
        foreign_evse_keys=frozenset(foreign_evse),
        foreign_station_ids=frozenset(foreign_stations),
    )


def _connector_rows(station_pk: int, cpo_id: int, payload: dict) -> list[dict]:
    return [
        {"station_pk": station_pk, "cpo_id": cpo_id, "evse_id": c["id"], "evse_key": normalise_evse_id(c["id"]),
         "name": c["name"], "speed": c["speed"]}
        for c in payload["connectors"]
    ]


def store_import(
    session: Session,
    *,
    actor: Actor,
    cpo_id: int,
    file_name: str,
    file_sha256: str,
    validation: Validation,
    full_upload: bool = True,
) -> ImportRecord:
    """Upsert the valid stations of ``validation`` for this CPO and record the import.

    Stations with errors, or whose ids belong to another CPO, or whose cpo-id is
    not registered to this CPO, are not stored; the record's ``stations`` minus
    ``stations_stored`` is how many were blocked.
    """
    require_edit(actor, cpo_id)
    cpo = session.get(Cpo, cpo_id)
    if cpo is None:
        raise NotFound(f"there is no CPO with id {cpo_id}")
    context = registry_context(session, cpo_id=cpo_id)
    record = ImportRecord(
        cpo_id=cpo_id, user_name=actor.name, file_name=file_name, file_sha256=file_sha256,
        rows=len(validation.frame), stations=validation.stations, connectors=validation.connectors,
        stations_stored=0, errors=validation.errors, warnings=validation.warnings, full_upload=full_upload,
    )
    session.add(record)
    session.flush()

    # Light rows first: most stations of a re-import are unchanged and need no ORM object.
    existing = {
        row.station_id: row
        for row in session.execute(
            select(Station.id, Station.station_id, Station.payload_sha256, Station.deleted, Station.source_hash,
                   Station.cpo_operator_id)
            .where(Station.cpo_id == cpo_id)
        ).all()
    }
    valid = validation.valid_station_ids()
    sources = station_sources(validation.frame, valid)
    # A station built from the same rows as its stored payload is kept as it is, without building it again
    # (a re-import of a national file changes a few of 50,000): still live, and of an operator id this
    # CPO still holds. The others are built, checked and compared.
    same = {station_id for station_id, source in sources.items()
            if (known := existing.get(station_id)) is not None and not known.deleted
            and known.source_hash == f"{source}/{known.payload_sha256}"
            and known.cpo_operator_id in context.operator_ids}
    unchanged_pks = [existing[station_id].id for station_id in same]
    stored = len(same)
    # Stations are built and written a batch at a time: a national file never holds 50,000 models at once.
    new, changed, sourced = [], [], []
    now = utcnow()
    for station in iter_stations(validation.frame, [s for s in valid if s not in same] if same else valid):
        if not _ours(station, context):
            continue
        stored += 1
        payload = station.to_json()
        sha = canonical_sha256(payload)
        fields = {"name": station.name, "latitude": station.latitude, "longitude": station.longitude,
                  "city": station.address.city, "cpo_operator_id": station.operator_id, "payload": payload,
                  "payload_sha256": sha, "connectors_signature": connectors_signature(payload),
                  "source_hash": f"{sources[station.id]}/{sha}", "import_id": record.id, "updated_at": now}
        known = existing.get(station.id)
        if known is None:
            new.append({"cpo_id": cpo_id, "station_id": station.id, **fields})
        elif known.payload_sha256 == sha and not known.deleted:
            # Kept (and its connectors' statuses) as it is; its rows are recorded for the next import.
            unchanged_pks.append(known.id)
            sourced.append({"b_pk": known.id, "b_source": fields["source_hash"]})
        else:
            changed.append((known.id, fields))
        if len(new) >= _BATCH:
            _insert_new(session, cpo_id, new)
            new = []
        if len(changed) >= _BATCH:
            _update_changed(session, changed)
            changed = []
    _insert_new(session, cpo_id, new)
    _update_changed(session, changed)
    _keep_unchanged(session, unchanged_pks, sourced, record.id)
    record.stations_stored = stored
    session.add(record)

    if stored:
        set_stage(session, cpo_id=cpo_id, stage=Stage.STATIONS_VALIDATED)
    blocked = validation.stations - stored
    audit(
        session, actor_name=actor.name, action="stations.import", cpo_id=cpo_id,
        detail=(f"{file_name} (sha256 {file_sha256[:12]}): {stored} stations stored, {blocked} blocked, "
                f"{validation.errors} errors, {validation.warnings} warnings"),
    )
    session.flush()
    return record


def _ours(station: StationModel, context: RegistryContext) -> bool:
    """Checked again at the moment of storing: no id of another CPO, and an operator id of this one."""
    if station.operator_id not in context.operator_ids or station.id in context.foreign_station_ids:
        return False
    return not any(normalise_evse_id(c.id) in context.foreign_evse_keys for c in station.connectors)


def _insert_new(session: Session, cpo_id: int, rows: list[dict]) -> None:
    """Core inserts on the session's connection: the ORM's bulk path costs more than the database."""
    if not rows:
        return
    connection = session.connection()
    # One executemany, then the new keys by station id: RETURNING in parameter order is a statement per row
    # on SQLite (it cannot promise the order otherwise), 50,000 statements for a national file.
    connection.execute(insert(Station.__table__), rows)
    pk_of = {station_id: pk for pk, station_id in connection.execute(
        select(Station.id, Station.station_id).where(Station.cpo_id == cpo_id,
                                                     Station.station_id.in_([row["station_id"] for row in rows])))}
    connector_rows = [c for row in rows for c in _connector_rows(pk_of[row["station_id"]], cpo_id, row["payload"])]
    if connector_rows:
        connection.execute(insert(Connector.__table__), connector_rows)


def _update_changed(session: Session, changed: list[tuple[int, dict]]) -> None:
    if not changed:
        return
    pks = [pk for pk, _ in changed]
    rows = {s.id: s for s in session.exec(select(Station).where(Station.id.in_(pks))).all()}
    connectors_of: dict[int, list[Connector]] = defaultdict(list)
    for connector in session.exec(select(Connector).where(Connector.station_pk.in_(pks))).all():
        connectors_of[connector.station_pk].append(connector)
    for pk, fields in changed:
        stored = rows[pk]
        for name, value in fields.items():
            setattr(stored, name, value)
        stored.deleted = False
        _update_connectors(session, stored, connectors_of[pk], fields["payload"])
        session.add(stored)


def _keep_unchanged(session: Session, pks: list[int], sourced: list[dict], import_id: int) -> None:
    """Unchanged stations now belong to this import; ``sourced``: those whose rows were not recorded yet."""
    table = Station.__table__
    for start in range(0, len(pks), _BATCH):
        session.execute(update(table).where(table.c.id.in_(pks[start:start + _BATCH])).values(import_id=import_id))
    if sourced:
        session.execute(update(table).where(table.c.id == bindparam("b_pk")).values(source_hash=bindparam("b_source")),
                        sourced)


def _update_connectors(session: Session, stored: Station, current: list[Connector], payload: dict) -> None:
    """Keep connectors (and their statuses) whose EVSE id and type stay; replace the rest."""
    by_key = {(c.evse_id, c.name): c for c in current}
    wanted = {(c["id"], c["name"]): c for c in payload["connectors"]}
    for key, connector in by_key.items():
        if key not in wanted:
            session.delete(connector)
    for key, c in wanted.items():
        connector = by_key.get(key)
        if connector is None:
            session.add(Connector(**_connector_rows(stored.id, stored.cpo_id, {"connectors": [c]})[0]))
        elif connector.speed != c["speed"]:
            connector.speed = c["speed"]
            session.add(connector)


def withdraw_station(session: Session, *, actor: Actor, cpo_id: int, station_id: str, reason: str) -> bool:
    """Mark one of the CPO's stations removed here, as its source says: the next push proposes its deletion,
    which someone must confirm. False when it is not a live station of this CPO."""
    require_edit(actor, cpo_id)
    station = session.exec(
        select(Station).where(Station.cpo_id == cpo_id, Station.station_id == station_id, Station.deleted == False)  # noqa: E712
    ).first()
    if station is None:
        return False
    station.deleted, station.updated_at = True, utcnow()
    session.add(station)
    audit(session, actor_name=actor.name, action="station removed", cpo_id=cpo_id, detail=f"{station_id}: {reason}")
    session.flush()
    return True


def station_frame(session: Session, *, actor: Actor, cpo_ids: list[int] | None = None) -> pd.DataFrame:
    """Stored stations for maps and lists (one row per station): of ``cpo_ids``, or of every CPO the person sees.

    Asking for a CPO the person may not see is refused, not answered with less.
    """
    visible = visible_cpo_ids(session, actor=actor)
    if cpo_ids is None:
        wanted = visible
    else:
        for cpo_id in cpo_ids:
            get_cpo(session, actor=actor, cpo_id=cpo_id)
        wanted = list(cpo_ids)
    if not wanted:
        return pd.DataFrame({name: [] for name in STATION_FRAME_COLUMNS})
    counts = (
        select(Connector.station_pk, func.count(Connector.id).label("n"))
        .group_by(Connector.station_pk)
        .subquery()
    )
    query = (
        select(Station.station_id, Station.name, Station.latitude, Station.longitude, Station.city,
               Station.cpo_id, func.coalesce(counts.c.n, 0), Station.deleted)
        .outerjoin(counts, counts.c.station_pk == Station.id)
        .where(Station.cpo_id.in_(wanted))
        .order_by(Station.id)
    )
    rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=STATION_FRAME_COLUMNS)
    return frame.astype({"latitude": "float64", "longitude": "float64", "connectors": "int64", "deleted": "bool"})


def import_history(session: Session, *, actor: Actor, cpo_id: int, limit: int = 20) -> list[ImportRecord]:
    """The newest imports of a CPO the person may see."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    query = select(ImportRecord).where(ImportRecord.cpo_id == cpo_id).order_by(ImportRecord.id.desc()).limit(limit)
    return list(session.exec(query).all())
