"""Stations as imported: the registry context for validation, storing an accepted import, map data.

Storing never touches another CPO's stations: a station id, EVSE id or cpo-id
that belongs to someone else is checked again here, at the moment of storing,
whatever the validation said. Stations of this CPO missing from a full upload
stay as they are; the push engine proposes their deletion, and nothing else lists
them (``store.station_list``).
"""

import hashlib
import heapq
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, not_, update
from sqlmodel import Session, select

from ..errors import NotFound
from ..oioi.ids import normalise_evse_id
from ..oioi.messages import canonical_sha256
from ..sheets.stations import StationObjects, station_objects, station_sources
from ..sheets.validate import RegistryContext, Validation
from .auth import Actor, require_edit, visible_cpo_ids
from .db import EncodedJson, insert_rows
from .models import Connector, Cpo, ImportRecord, MappingProfile, OperatorId, Stage, Station, utcnow
from .queries import audit, get_cpo, set_stage
from .station_list import latest_full_import_id, listed

__all__ = ["registry_context", "store_import", "withdraw_station", "station_frame", "import_history",
           "upload_drops", "UploadDrops",
           "STATION_FRAME_COLUMNS"]

STATION_FRAME_COLUMNS = ["station_id", "name", "latitude", "longitude", "city", "cpo_id", "connectors", "deleted"]
_BATCH = 5000


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


class _Stored(NamedTuple):
    """What storing an import needs of a station already stored."""

    id: int
    payload_sha256: str
    deleted: bool
    source_hash: str | None
    cpo_operator_id: str
    import_id: int | None


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
    ``stations_stored`` is how many were blocked. A stored station the file names
    with errors keeps its stored content and counts as part of a full upload.
    """
    require_edit(actor, cpo_id)
    cpo = session.get(Cpo, cpo_id)
    if cpo is None:
        raise NotFound(f"there is no CPO with id {cpo_id}")
    context = registry_context(session, cpo_id=cpo_id)
    previous = latest_full_import_id(session, cpo_id) if full_upload else None
    record = ImportRecord(
        cpo_id=cpo_id, user_name=actor.name, file_name=file_name, file_sha256=file_sha256,
        rows=len(validation.frame), stations=validation.stations, connectors=validation.connectors,
        stations_stored=0, errors=validation.errors, warnings=validation.warnings, full_upload=full_upload,
    )
    session.add(record)
    session.flush()

    # Light rows first (plain tuples from the connection: 50,000 rows of a national file through the session's
    # Row objects took half a second): most stations of a re-import are unchanged and need no ORM object.
    existing = {station_id: _Stored(pk, *rest) for station_id, pk, *rest in session.connection().execute(
        select(Station.station_id, Station.id, Station.payload_sha256, Station.deleted, Station.source_hash,
               Station.cpo_operator_id, Station.import_id).where(Station.cpo_id == cpo_id))}
    # A station whose connectors changed lives on at the platform under the id that replaces it (<id>-N): the
    # file's station is that one, compared and stored under that id.
    carrier = dict(session.connection().execute(select(Station.replaces, Station.station_id).where(
        Station.cpo_id == cpo_id, Station.replaces.is_not(None), not_(Station.deleted))).all())
    valid = validation.valid_station_ids()
    sources = station_sources(validation.frame, valid)
    # A station built from the same rows as its stored payload is kept as it is, without building it again
    # (a re-import of a national file changes a few of 50,000): still live, and of an operator id this
    # CPO still holds. The others are built, checked and compared.
    same = {station_id for station_id, source in sources.items()
            if station_id not in carrier and (known := existing.get(station_id)) is not None and not known.deleted
            and known.source_hash == _source_hash(source, known.payload_sha256)
            and known.cpo_operator_id in context.operator_ids}
    unchanged_pks = [existing[station_id].id for station_id in same]
    stored = len(same)
    # Station objects are composed and written a batch at a time: a national file never holds 50,000 at once.
    changed, sourced = [], []
    now = utcnow()
    for objects in station_objects(validation.frame, [s for s in valid if s not in same] if same else valid,
                                   batch=_BATCH):
        theirs = _not_ours(objects, context)
        new = []  # indexes in this batch
        for i, station_id in enumerate(objects.ids):
            if i in theirs:
                continue
            stored += 1
            sha, payload = objects.sha256[i], None
            if (target := carrier.get(station_id)) is not None:
                payload = dict(json.loads(objects.texts[i]), id=target)
                sha = canonical_sha256(payload)
            known = existing.get(target or station_id)
            if known is None:
                new.append(i)
            elif known.payload_sha256 == sha and not known.deleted:
                # Kept (and its connectors' statuses) as it is; its rows are recorded for the next import.
                unchanged_pks.append(known.id)
                sourced.append({"b_pk": known.id, "b_source": _source_hash(sources[station_id], sha)})
            else:
                changed.append((known.id, {
                    "name": objects.names[i], "latitude": objects.latitudes[i], "longitude": objects.longitudes[i],
                    "city": objects.cities[i], "cpo_operator_id": objects.operator_ids[i],
                    "payload": payload or json.loads(objects.texts[i]), "payload_sha256": sha,
                    "connectors_signature": objects.signatures[i],
                    "source_hash": _source_hash(sources[station_id], sha), "import_id": record.id, "updated_at": now}))
        _insert_new(session, cpo_id, objects, new,
                    [_source_hash(sources[objects.ids[i]], objects.sha256[i]) for i in new], record.id, now)
        if len(changed) >= _BATCH:
            _update_changed(session, changed)
            changed = []
    _update_changed(session, changed)
    # A station the file names but blocks keeps what is stored and is part of this upload all the same: it is
    # not missing from it, so no push proposes to delete it for the errors of one cell.
    held = {target for station_id in validation.blocked_station_ids()
            if (known := existing.get(target := carrier.get(station_id, station_id))) is not None
            and not known.deleted}
    carried = {station_id for station_id, known in existing.items()
               if known.import_id is not None and known.import_id >= previous} if previous is not None else None
    if carried is not None and stored == len(same) and same | held == carried \
            and all(existing[station_id].import_id == previous for station_id in carried):
        # The same stations as the latest full upload, all unchanged (a rerun of the same file): they keep
        # its id, and this record says so, instead of 50,000 rows rewritten only to carry this one's.
        record.same_as = previous
    else:
        _keep_unchanged(session, unchanged_pks + [existing[station_id].id for station_id in held], sourced, record.id)
    record.stations_stored = stored
    _recorded(session, actor, record)
    return record


def _recorded(session: Session, actor: Actor, record: ImportRecord) -> None:
    """An import's stage and audit entry, once its record holds its counts."""
    session.add(record)
    if record.stations_stored:
        set_stage(session, cpo_id=record.cpo_id, stage=Stage.STATIONS_VALIDATED)
    audit(
        session, actor_name=actor.name, action="stations.import", cpo_id=record.cpo_id,
        detail=(f"{record.file_name} (sha256 {record.file_sha256[:12]}): {record.stations_stored} stations stored, "
                f"{record.stations - record.stations_stored} blocked, {record.errors} errors, "
                f"{record.warnings} warnings" + (f", the same as import {record.same_as}" if record.same_as else "")),
    )
    session.flush()


# --- a push of the same inputs again --------------------------------------------------------------------

# What an import's outcome depends on besides its file, its options and the code: every import, station and
# connector, CPO (operator ids, defaults, key), and mapping profile. Rows are added, changed (``updated_at``)
# or removed (the count); any of it changes the text ``_registry_state`` returns.
_REGISTRY_STATE = (
    select(func.count(), func.max(ImportRecord.id)),
    select(func.count(), func.max(Station.id), func.max(Station.updated_at)),
    select(func.count(), func.max(Connector.id)),
    select(func.count(), func.max(Cpo.id), func.max(Cpo.updated_at)),
    select(func.count(), func.max(OperatorId.id)),
    select(func.count(), func.max(MappingProfile.id), func.max(MappingProfile.updated_at)),
)


def _registry_state(session: Session) -> str:
    return json.dumps([list(session.exec(query).one()) for query in _REGISTRY_STATE], default=str)


def repeat_key(session: Session, inputs: str) -> str:
    """``ImportRecord.input_sha256``: a push's inputs (``workflows.imports.input_fingerprint``) with the
    registry's state now."""
    return hashlib.sha256(f"{inputs}\n{_registry_state(session)}".encode()).hexdigest()


def repeat_of(session: Session, inputs: str) -> ImportRecord | None:
    """The import that a push of these inputs would repeat unchanged: the latest import of all, made from the
    same inputs, with nothing in the registry changed since it was recorded (its key says so)."""
    return session.exec(select(ImportRecord).where(ImportRecord.input_sha256 == repeat_key(session, inputs))
                        .order_by(ImportRecord.id.desc()).limit(1)).first()


def repeat_import(session: Session, *, actor: Actor, of: ImportRecord) -> ImportRecord:
    """Record a full upload that repeats ``of`` (``repeat_of``: the same file, name and options) without reading
    it again: its stations are stored unchanged and keep their import id, as ``store_import`` records a repeat
    it has read."""
    require_edit(actor, of.cpo_id)
    record = ImportRecord(
        cpo_id=of.cpo_id, user_name=actor.name, file_name=of.file_name, file_sha256=of.file_sha256, rows=of.rows,
        stations=of.stations, connectors=of.connectors, stations_stored=of.stations_stored, errors=of.errors,
        warnings=of.warnings, full_upload=True, same_as=of.station_import_id,
    )
    _recorded(session, actor, record)
    return record


def _source_hash(source: str, payload_sha256: str) -> str:
    """``station.source_hash``: the file rows' fingerprint with the payload hash it produced (any other writer of
    the payload changes the second half, so the pair no longer matches)."""
    return f"{source}/{payload_sha256}"


def _not_ours(objects: StationObjects, context: RegistryContext) -> set[int]:
    """Checked again at the moment of storing: stations (indexes in ``objects``) with an id of another CPO,
    or whose cpo-id is not one of this CPO's."""
    theirs = {i for i, (station_id, operator) in enumerate(zip(objects.ids, objects.operator_ids, strict=True))
              if operator not in context.operator_ids or station_id in context.foreign_station_ids}
    if context.foreign_evse_keys:
        theirs |= {int(objects.connector_station[j]) for j, key in enumerate(objects.evse_keys)
                   if key in context.foreign_evse_keys}
    return theirs


def _insert_new(session: Session, cpo_id: int, objects: StationObjects, new: list[int], source_hashes: list[str],
                import_id: int, now: datetime) -> None:
    """The stations ``new`` (indexes in ``objects``) and their connectors, a column at a time."""
    if not new:
        return
    connection = session.connection()
    before = connection.execute(select(func.max(Station.id))).scalar() or 0
    ids = [objects.ids[i] for i in new]
    sha256 = [objects.sha256[i] for i in new]
    insert_rows(connection, Station.__table__, {
        "cpo_id": [cpo_id] * len(new), "station_id": ids, "name": [objects.names[i] for i in new],
        "latitude": [objects.latitudes[i] for i in new], "longitude": [objects.longitudes[i] for i in new],
        "city": [objects.cities[i] for i in new], "cpo_operator_id": [objects.operator_ids[i] for i in new],
        "payload": [EncodedJson(objects.texts[i]) for i in new], "payload_sha256": sha256,
        "connectors_signature": [objects.signatures[i] for i in new], "source_hash": source_hashes,
        "import_id": [import_id] * len(new), "updated_at": [now] * len(new),
    })
    # The new keys: above every key before the insert (keys only grow), read back without a list of 5,000 ids.
    wanted = set(ids)
    pk_of = {station_id: pk for station_id, pk in connection.execute(
        select(Station.station_id, Station.id).where(Station.id > before, Station.cpo_id == cpo_id))
        if station_id in wanted}
    pks = np.zeros(len(objects.ids), dtype=np.int64)
    pks[new] = [pk_of[station_id] for station_id in ids]
    rows = np.flatnonzero(pks[objects.connector_station] > 0).tolist()
    insert_rows(connection, Connector.__table__, {
        "station_pk": pks[objects.connector_station[rows]].tolist(), "cpo_id": [cpo_id] * len(rows),
        "evse_id": [objects.evse_ids[j] for j in rows], "evse_key": [objects.evse_keys[j] for j in rows],
        "name": [objects.connector_types[j] for j in rows], "speed": [objects.speeds[j] for j in rows],
    })


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


NAMED_DROPS = 5  # station ids an upload's drops are named by


class UploadDrops(NamedTuple):
    """What storing a file as a full upload takes off its CPO's list."""

    stations: int  # listed now, not named in the file
    held_by_endpoint: int  # of them, acknowledged by the endpoint: the next push proposes their deletion
    first_ids: tuple[str, ...] = ()  # the first few of their station ids, in order: to name them


def upload_drops(session: Session, *, actor: Actor, cpo_id: int, station_ids: Iterable[str]) -> UploadDrops:
    """The CPO's listed stations a full upload naming ``station_ids`` leaves out (for a person who sees it)."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    named = set(station_ids)
    held = Station.acked_sha256.is_not(None) & (Station.acked_deleted == False)  # noqa: E712
    dropped = {station_id: acked for station_id, replaces, acked in session.connection().execute(
        select(Station.station_id, Station.replaces, held).where(Station.cpo_id == cpo_id, listed(session, [cpo_id])))
        if station_id not in named and replaces not in named}  # a replacement stays with the station it replaces
    return UploadDrops(len(dropped), sum(dropped.values()), tuple(heapq.nsmallest(NAMED_DROPS, dropped)))


def import_history(session: Session, *, actor: Actor, cpo_id: int, limit: int = 20) -> list[ImportRecord]:
    """The newest imports of a CPO the person may see."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    query = select(ImportRecord).where(ImportRecord.cpo_id == cpo_id).order_by(ImportRecord.id.desc()).limit(limit)
    return list(session.exec(query).all())
