"""Connector statuses: one way in for every source, coalesced into the outbox.

Every source (a change in the UI, a status file, the HTTP ingest API, the
simulator) calls ``record_statuses``. It keeps the protocol's rules:

- only a connector's newest status matters: a status older than the one
  already known for that connector is recorded as ``stale`` and dropped;
- a burst is coalesced: while a status row for the same EVSE id still waits in
  the outbox (not yet claimed by a worker) its payload is replaced in place,
  and the status it carried is marked ``superseded``; a row already being sent
  is left alone and a new one queued behind it, so order per connector is kept;
- connectors sharing one EVSE id share one status and one request;
- a status for a connector whose station the endpoint has not acknowledged is
  ``held`` back (shown, not sent) until ``on_station_acked`` releases it;
- the worker reports each answer through ``on_outbox_result``.

An endpoint outage needs nothing special: rows stay pending with backoff, and
while they wait every newer status replaces their payload, so the catch-up
sends only what is still newest.

One call is one transaction with a handful of bulk statements, whatever the
number of items, so the relay keeps up with 1,000 changes a second on SQLite.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, NamedTuple

import pandas as pd
from sqlalchemy import and_, bindparam, case, func, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ..oioi import ids
from ..oioi.messages import ConnectorStatus
from ..store.models import (
    Connector,
    Cpo,
    Outbox,
    OutboxState,
    PartnerIdentifier,
    Station,
    StatusEvent,
    utcnow,
)
from ..errors import UserError

KIND = "connector-post-status"
STATUSES = [status.value for status in ConnectorStatus]
DELIVERY_LABELS = {
    "pending": "pending",
    "delivered": "delivered",
    "superseded": "superseded",
    "held": "held back",
    "stale": "stale (dropped)",
    "rejected": "rejected",
}
# A back end's clock may run a little ahead; far-future times would block every later status.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
_BY_LOWER = {status.lower(): status for status in STATUSES}
_CHUNK = 500  # keys per IN (...): well under every database's parameter limit
# Queries by EVSE key leave cpo_id out of the WHERE clause on purpose: given both, SQLite's planner
# (without ANALYZE statistics) picks the cpo_id index and reads every row of the CPO. EVSE ids hold
# the operator id, so a key belongs to one CPO; the owner is checked in Python.
_PG_LOCK_CLASS = 0x57A7  # names our per-CPO advisory lock on PostgreSQL
# Core tables for the hot path: plain statements skip the ORM's per-statement bookkeeping.
_CONNECTORS, _STATIONS, _OUTBOX, _EVENTS = (Connector.__table__, Station.__table__, Outbox.__table__,
                                            StatusEvent.__table__)


@dataclass
class ItemResult:
    """What became of one submitted item. ``delivery`` is set for accepted items."""

    index: int
    evse_id: str | None
    ok: bool
    error: str | None = None
    delivery: str | None = None  # pending, held, superseded, stale
    status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "evse_id": self.evse_id, "ok": self.ok, "error": self.error,
                "delivery": self.delivery}


@dataclass
class _Item:
    index: int
    evse_id: str
    key: str
    status: str
    observed_at: datetime


@dataclass
class _Evse:
    """What we hold about one EVSE id of a CPO (all connectors sharing it)."""

    evse_id: str  # as pushed with the station: the spelling the endpoint knows
    status_at: datetime | None
    sendable: bool  # some live station holding it was acknowledged


# --- reading the input -----------------------------------------------------------------


def parse_timestamp(value: Any, *, now: datetime) -> datetime:
    """An ISO 8601 time -> aware UTC datetime; a time without offset is taken as UTC. ValueError if not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return now
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not an ISO 8601 string such as 2024-05-01T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"timestamp {value!r} is not ISO 8601, e.g. 2024-05-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    if moment > now + MAX_CLOCK_AHEAD:
        raise ValueError(f"timestamp {value!r} lies in the future (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    return moment


def normalise_status(value: Any) -> str:
    """``available`` -> ``Available``; ValueError naming the five statuses otherwise."""
    if isinstance(value, str) and value.strip().lower() in _BY_LOWER:
        return _BY_LOWER[value.strip().lower()]
    raise ValueError(f"status {value!r} is not one of {', '.join(STATUSES)}")


def _read_item(index: int, item: Any, now: datetime) -> _Item | ItemResult:
    if not isinstance(item, dict):
        return ItemResult(index, None, False, "an item must be an object with evse_id, status and timestamp")
    evse_id = item.get("evse_id")
    if not isinstance(evse_id, str) or not evse_id.strip():
        return ItemResult(index, None, False, "evse_id is missing")
    evse_id = evse_id.strip()
    if not ids.is_evse_id(evse_id):
        try:
            ids.parse_evse_id(evse_id)
        except ids.IdError as error:
            return ItemResult(index, evse_id, False, str(error))
    try:
        status = normalise_status(item.get("status"))
        observed_at = parse_timestamp(item.get("timestamp"), now=now)
    except ValueError as error:
        return ItemResult(index, evse_id, False, str(error))
    return _Item(index, evse_id, ids.normalise_evse_id(evse_id), status, observed_at)


# --- the one entry ---------------------------------------------------------------------


def record_statuses(
    session: Session, *, cpo_id: int, items: list[dict], source: str, now: datetime | None = None
) -> list[ItemResult]:
    """Record status changes of one CPO's connectors and queue what must be sent.

    Returns one result per item, in order. Items with an unknown EVSE id or
    status, or an unreadable timestamp, are refused one by one; the rest are
    accepted. The caller's session commits (one transaction per call).
    """
    now = now or utcnow()
    if not items:
        return []
    results: list[ItemResult | None] = [None] * len(items)
    read: list[_Item] = []
    for index, item in enumerate(items):
        outcome = _read_item(index, item, now)
        if isinstance(outcome, ItemResult):
            results[index] = outcome
        else:
            read.append(outcome)
    _lock_for_ingest(session, cpo_id)  # after the parsing: the write lock is held as briefly as possible

    known = _evses(session, cpo_id, {item.key for item in read})
    valid: list[_Item] = []
    for item in read:
        if item.key in known:
            valid.append(item)
        else:
            results[item.index] = ItemResult(item.index, item.evse_id, False,
                                             f"unknown EVSE id {item.evse_id!r}: no connector of this CPO has it")
    partner = _partner_identifier(session, cpo_id) if valid else None
    if valid and partner is None:
        for item in valid:
            results[item.index] = ItemResult(item.index, item.evse_id, False,
                                             "this CPO has no partner identifier yet; register one first")
        valid = []

    # Newest wins, per EVSE id, in the order the items came.
    latest_at = {key: evse.status_at for key, evse in known.items()}
    winner: dict[str, int] = {}  # EVSE key -> index into events
    events: list[dict[str, Any]] = []
    for item in valid:
        evse = known[item.key]
        event = {"cpo_id": cpo_id, "evse_id": evse.evse_id, "status": item.status, "observed_at": item.observed_at,
                 "received_at": now, "source": source, "reason": None, "outbox_id": None, "_key": item.key,
                 "_index": item.index}
        previous = latest_at.get(item.key)
        if previous is not None and item.observed_at < previous:
            event["delivery"] = "stale"
            event["reason"] = f"older than the status known since {previous:%Y-%m-%d %H:%M:%S}Z"
        else:
            latest_at[item.key] = item.observed_at
            if item.key in winner:
                events[winner[item.key]].update(delivery="superseded", reason=None)
            winner[item.key] = len(events)
            event["delivery"] = "pending" if evse.sendable else "held"
            if not evse.sendable:
                event["reason"] = "the station is not acknowledged by the endpoint yet"
        events.append(event)

    if winner:
        outbox_ids = _queue(session, cpo_id=cpo_id, partner=partner, known=known,
                            newest={key: events[i] for key, i in winner.items()}, now=now)
        for event in events:
            if event["delivery"] != "stale":
                event["outbox_id"] = outbox_ids[event["_key"]]
        _set_connector_statuses(session, cpo_id, {key: events[i] for key, i in winner.items()})
    if events:
        session.execute(_EVENTS.insert(), [{k: v for k, v in e.items() if not k.startswith("_")} for e in events])
    for event in events:
        results[event["_index"]] = ItemResult(event["_index"], event["evse_id"], True, None, event["delivery"],
                                              event["status"])
    session.flush()
    return results  # type: ignore[return-value]


def _set_connector_statuses(session: Session, cpo_id: int, newest: dict[str, dict[str, Any]]) -> None:
    table = Connector.__table__
    statement = (
        table.update()
        .where(table.c.cpo_id == cpo_id, table.c.evse_key == bindparam("_evse_key"))
        .values(status=bindparam("_status"), status_at=bindparam("_status_at"))
    )
    session.execute(statement, [
        {"_evse_key": key, "_status": event["status"], "_status_at": event["observed_at"]}
        for key, event in newest.items()
    ])


def _lock_for_ingest(session: Session, cpo_id: int) -> None:
    """Serialise ingest calls, so that "newest wins" compares against committed truth.

    SQLite: take the write lock before the first read (BEGIN IMMEDIATE), which
    also keeps a worker from claiming a row between our read and our update.
    PostgreSQL: a per-CPO advisory lock; outbox rows are read FOR UPDATE.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        if not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _PG_LOCK_CLASS, "b": cpo_id})


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    values = sorted(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _evses(session: Session, cpo_id: int, keys: set[str]) -> dict[str, _Evse]:
    found: dict[str, _Evse] = {}
    for chunk in _chunks(keys):
        rows = session.execute(
            sa_select(_CONNECTORS.c.evse_key, _CONNECTORS.c.evse_id, _CONNECTORS.c.status_at, _STATIONS.c.acked_at,
                      _STATIONS.c.deleted, _STATIONS.c.acked_deleted, _CONNECTORS.c.cpo_id)
            .join_from(_CONNECTORS, _STATIONS, _STATIONS.c.id == _CONNECTORS.c.station_pk)
            .where(_CONNECTORS.c.evse_key.in_(chunk))
        ).all()
        for key, evse_id, status_at, acked_at, deleted, acked_deleted, owner in rows:
            if owner != cpo_id:
                continue
            live_and_acked = acked_at is not None and not deleted and not acked_deleted
            evse = found.get(key)
            if evse is None:
                found[key] = _Evse(evse_id, status_at, live_and_acked)
                continue
            if status_at is not None and (evse.status_at is None or status_at > evse.status_at):
                evse.status_at = status_at
            if live_and_acked and not evse.sendable:
                evse.evse_id, evse.sendable = evse_id, True
    return found


def _partner_identifier(session: Session, cpo_id: int) -> str | None:
    # The first registered one: the push engine pushes stations with it by default.
    return session.exec(
        select(PartnerIdentifier.partner_identifier)
        .where(PartnerIdentifier.cpo_id == cpo_id)
        .order_by(PartnerIdentifier.id)
        .limit(1)
    ).first()


def status_body(evse_id: str, status: str, partner_identifier: str) -> dict[str, Any]:
    """The full request body of one connector-post-status."""
    return {KIND: {"connector-id": evse_id, "partner-identifier": partner_identifier, "status": status}}


def _sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _queue(
    session: Session, *, cpo_id: int, partner: str, known: dict[str, _Evse], newest: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, int]:
    """Put each EVSE id's newest status into a waiting outbox row (replacing its payload) or a new one."""
    waiting: dict[str, tuple[int, OutboxState]] = {}
    for chunk in _chunks(newest):
        rows = session.execute(
            sa_select(_OUTBOX.c.id, _OUTBOX.c.key, _OUTBOX.c.state, _OUTBOX.c.cpo_id)
            .where(_OUTBOX.c.kind == KIND, _OUTBOX.c.key.in_(chunk),
                   _OUTBOX.c.state.in_([OutboxState.PENDING, OutboxState.HELD]))
            .order_by(_OUTBOX.c.id)
            .with_for_update()
        ).all()
        for row_id, key, state, owner in rows:
            if owner != cpo_id:
                continue
            waiting[key] = (row_id, OutboxState(state))  # the newest waiting row, if ever more than one

    outbox_ids: dict[str, int] = {}
    replaced: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    for key, event in newest.items():
        body = status_body(known[key].evse_id, event["status"], partner)
        state = OutboxState.PENDING if event["delivery"] == "pending" else OutboxState.HELD
        if key in waiting:
            row_id, old_state = waiting[key]
            outbox_ids[key] = row_id
            values = {"_id": row_id, "_payload": body, "_sha": _sha256(body), "_state": state,
                      # A row leaving "held" is due now; a pending one keeps its backoff.
                      "_due": now if old_state != OutboxState.PENDING else None}
            replaced.append(values)
        else:
            new_rows.append({"cpo_id": cpo_id, "kind": KIND, "key": key, "change": "status", "payload": body,
                             "payload_sha256": _sha256(body), "state": state, "attempts": 0, "created_at": now,
                             "next_attempt_at": now})

    if replaced:
        table = Outbox.__table__
        session.execute(
            table.update()
            .where(table.c.id == bindparam("_id"))
            .values(payload=bindparam("_payload"), payload_sha256=bindparam("_sha"), state=bindparam("_state"),
                    next_attempt_at=func.coalesce(bindparam("_due", type_=table.c.next_attempt_at.type),
                                                  table.c.next_attempt_at)),
            replaced,
        )
        ids_replaced = [values["_id"] for values in replaced]
        for start in range(0, len(ids_replaced), _CHUNK):
            session.execute(
                _EVENTS.update()
                .where(_EVENTS.c.outbox_id.in_(ids_replaced[start:start + _CHUNK]),
                       _EVENTS.c.delivery.in_(["pending", "held"]))
                .values(delivery="superseded", reason=None)
            )
    if new_rows:
        inserted = session.execute(
            _OUTBOX.insert().returning(_OUTBOX.c.id, _OUTBOX.c.key, sort_by_parameter_order=True), new_rows
        ).all()
        for row_id, key in inserted:
            outbox_ids[key] = row_id
    return outbox_ids


# --- hooks the worker calls ------------------------------------------------------------


def on_outbox_result(session: Session, row: Outbox) -> None:
    """The worker recorded an answer for ``row``: carry it over to the statuses it carried."""
    on_outbox_results(session, [row])


def on_outbox_results(session: Session, rows: Iterable[Outbox]) -> None:
    """``on_outbox_result`` for a batch of rows: one statement for all the delivered ones."""
    delivered: list[int] = []
    live_cpos: set[int] = set()
    for row in rows:
        if row.kind != KIND:
            continue
        state = OutboxState(row.state)
        if state == OutboxState.PENDING and _newer_row_waits(session, row):
            # A status that came in while this one was in flight waits behind it: sending this
            # older one again after the failure would only be overwritten a moment later.
            row.state = state = OutboxState.SUPERSEDED
            row.last_error = "superseded by a newer status for the same EVSE id"
            session.add(row)
        if state == OutboxState.ACKED:
            delivered.append(row.id)
            live_cpos.add(row.cpo_id)
        elif state in (OutboxState.FAILED, OutboxState.SUPERSEDED):
            delivery = "rejected" if state == OutboxState.FAILED else "superseded"
            reason = _rejection_reason(row) if state == OutboxState.FAILED else None
            session.execute(_EVENTS.update()
                            .where(_EVENTS.c.outbox_id == row.id, _EVENTS.c.delivery.in_(["pending", "held"]))
                            .values(delivery=delivery, reason=reason))
        elif row.last_error:
            # Still to be retried: stays pending; say why it waits.
            session.execute(_EVENTS.update()
                            .where(_EVENTS.c.outbox_id == row.id, _EVENTS.c.delivery == "pending")
                            .values(reason=f"retrying: {row.last_error}"[:500]))
    for start in range(0, len(delivered), _CHUNK):
        session.execute(_EVENTS.update()
                        .where(_EVENTS.c.outbox_id.in_(delivered[start:start + _CHUNK]),
                               _EVENTS.c.delivery.in_(["pending", "held"]))
                        .values(delivery="delivered", reason=None))
    if live_cpos:
        from ..store.models import Stage
        from ..store.queries import set_stage

        for cpo_id in live_cpos:  # the first delivered status: step 3 of onboarding is running
            set_stage(session, cpo_id=cpo_id, stage=Stage.STATUSES_LIVE)


def _newer_row_waits(session: Session, row: Outbox) -> bool:
    return session.execute(
        sa_select(_OUTBOX.c.cpo_id).where(_OUTBOX.c.kind == KIND, _OUTBOX.c.key == row.key, _OUTBOX.c.id > row.id,
                                          _OUTBOX.c.state.in_([OutboxState.PENDING, OutboxState.HELD]))
    ).scalars().first() == row.cpo_id


def _rejection_reason(row: Outbox) -> str:
    error = (row.last_error or "").strip()
    if row.result_code is not None and str(row.result_code) not in error:
        error = f"code {row.result_code}: {error}" if error else f"code {row.result_code}"
    return (error or "refused by the endpoint")[:500]


def on_station_acked(session: Session, station: Station) -> int:
    """The endpoint acknowledged ``station``: send the statuses held back for its connectors.

    Returns how many outbox rows were released.
    """
    if station.acked_at is None or station.deleted or station.acked_deleted:
        return 0
    keys = list(session.exec(select(Connector.evse_key).where(Connector.station_pk == station.id).distinct()).all())
    return _release(session, cpo_id=station.cpo_id, keys=keys)


def on_stations_acked(session: Session, stations: Iterable[Station]) -> int:
    """``on_station_acked`` for a batch of stations: one lookup of their EVSE ids."""
    live = {station.id: station.cpo_id for station in stations
            if station.acked_at is not None and not station.deleted and not station.acked_deleted}
    keys_by_cpo: dict[int, set[str]] = {}
    pks = sorted(live)
    for start in range(0, len(pks), _CHUNK):
        for station_pk, key in session.execute(
            sa_select(_CONNECTORS.c.station_pk, _CONNECTORS.c.evse_key)
            .where(_CONNECTORS.c.station_pk.in_(pks[start:start + _CHUNK]))
        ).all():
            keys_by_cpo.setdefault(live[station_pk], set()).add(key)
    return sum(_release(session, cpo_id=cpo_id, keys=sorted(keys)) for cpo_id, keys in keys_by_cpo.items())


def release_held(session: Session, *, cpo_id: int) -> int:
    """Release every held status of a CPO whose station is acknowledged by now (a catch-all)."""
    keys = list(session.exec(
        select(Connector.evse_key).join(Station, Station.id == Connector.station_pk)
        .where(Connector.cpo_id == cpo_id, Station.acked_at.is_not(None), Station.deleted == False,  # noqa: E712
               Station.acked_deleted == False).distinct()  # noqa: E712
    ).all())
    return _release(session, cpo_id=cpo_id, keys=keys)


def _release(session: Session, *, cpo_id: int, keys: list[str]) -> int:
    released: list[int] = []
    for chunk in _chunks(keys):
        released += [row_id for row_id, owner in session.execute(
            sa_select(_OUTBOX.c.id, _OUTBOX.c.cpo_id).where(_OUTBOX.c.kind == KIND, _OUTBOX.c.key.in_(chunk),
                                                            _OUTBOX.c.state == OutboxState.HELD)
        ).all() if owner == cpo_id]
    now = utcnow()
    for start in range(0, len(released), _CHUNK):
        chunk_ids = released[start:start + _CHUNK]
        session.execute(update(Outbox).where(Outbox.id.in_(chunk_ids), Outbox.state == OutboxState.HELD)
                        .values(state=OutboxState.PENDING, next_attempt_at=now))
        session.execute(update(StatusEvent).where(StatusEvent.outbox_id.in_(chunk_ids),
                                                  StatusEvent.delivery == "held")
                        .values(delivery="pending", reason=None))
    return len(released)


# --- status files ----------------------------------------------------------------------


class StatusFileError(UserError):
    """A status file that cannot be read at all; the message says where and what."""


@dataclass
class StatusFile:
    items: list[dict[str, Any]]
    errors: list[str]  # "line 4: ..." for lines that could not be read
    lines: list[int]  # the line (CSV) or position (JSON, 1-based) of each item, for messages


def parse_status_file(data: bytes, file_name: str) -> StatusFile:
    """A CSV (``evse_id,status[,timestamp]`` with a header row) or JSON list of status items."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StatusFileError(f"{file_name}: not UTF-8 text (byte {error.start})") from None
    if file_name.lower().endswith(".json") or content.lstrip().startswith(("[", "{")):
        return _parse_json(content, file_name)
    return _parse_csv(content, file_name)


def _parse_json(content: str, file_name: str) -> StatusFile:
    try:
        body = json.loads(content)
    except ValueError as error:
        raise StatusFileError(f"{file_name}: not valid JSON ({error})") from None
    if not isinstance(body, list):
        raise StatusFileError(f"{file_name}: expected a JSON list of {{evse_id, status, timestamp}} objects")
    items, errors, lines = [], [], []
    for position, entry in enumerate(body, start=1):
        if not isinstance(entry, dict):
            errors.append(f"item {position}: not an object with evse_id and status")
            continue
        items.append({k: entry.get(k) for k in ("evse_id", "status", "timestamp")})
        lines.append(position)
    return StatusFile(items, errors, lines)


def _parse_csv(content: str, file_name: str) -> StatusFile:
    # The header names the columns, so its most frequent separator is the file's (Excel in Germany writes ';').
    first_line = content.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(content), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise StatusFileError(f"{file_name}: the file is empty; expected a header evse_id,status[,timestamp]")
    columns = [name.strip().lower().replace("-", "_").replace(" ", "_") for name in header]
    missing = [name for name in ("evse_id", "status") if name not in columns]
    if missing:
        raise StatusFileError(
            f"{file_name}: line 1 must name the columns evse_id,status[,timestamp]; missing {', '.join(missing)}"
        )
    position = {name: columns.index(name) for name in ("evse_id", "status", "timestamp") if name in columns}
    items, errors, lines = [], [], []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(columns):
            row = row + [""] * (len(columns) - len(row))
        if len(row) > len(columns):
            errors.append(f"line {line}: {len(row)} cells, the header has {len(columns)}")
            continue
        items.append({name: (row[i].strip() or None) for name, i in position.items()})
        lines.append(line)
    return StatusFile(items, errors, lines)


# --- reading for the live page ---------------------------------------------------------


def _scope(session: Session, actor: Any, cpo_ids: Iterable[int] | None) -> list[int]:
    from ..store.queries import visible_cpo_ids

    visible = visible_cpo_ids(session, actor=actor)
    if cpo_ids is None:
        return visible
    wanted = set(cpo_ids)
    return [cpo_id for cpo_id in visible if cpo_id in wanted]


LIVE_COLUMNS = ["station_id", "name", "lat", "lon", "evse_id", "connector_type", "status", "status_at", "cpo",
                "cpo_id"]


def live_connectors(
    session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
    connector_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per connector of the live stations this person may see, with its current status."""
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return pd.DataFrame(columns=LIVE_COLUMNS)
    query = (
        select(Station.station_id, Station.name, Station.latitude, Station.longitude, Connector.evse_id,
               Connector.name, Connector.status, Connector.status_at, Cpo.name, Cpo.id)
        .join(Station, Station.id == Connector.station_pk)
        .join(Cpo, Cpo.id == Connector.cpo_id)
        .where(Connector.cpo_id.in_(scope), Station.deleted == False)  # noqa: E712
        .order_by(Station.id, Connector.id)
    )
    if statuses:
        query = query.where(Connector.status.in_(list(statuses)))
    if connector_types:
        query = query.where(Connector.name.in_(list(connector_types)))
    rows = session.execute(query).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=LIVE_COLUMNS)  # tuples: pandas probes Rows slowly


LIVE_STATION_COLUMNS = ["station_id", "name", "lat", "lon", "cpo_id", "connectors", *STATUSES]


def live_stations(
    session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
    connector_types: Iterable[str] | None = None, station_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per live station this person may see: its connectors, and per status how many match the filters.

    ``connectors`` counts all of the station's connectors; the status columns
    count only those with one of ``statuses`` and of one of ``connector_types``
    (all when not given), so a station none of whose connectors match has zeros
    there. Summed in the database: the map needs one point per station, not
    75,000 connector rows. ``station_ids`` (at most a few hundred) narrows to those.
    """
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return pd.DataFrame(columns=LIVE_STATION_COLUMNS)
    matches = []
    if statuses:
        matches.append(_CONNECTORS.c.status.in_(list(statuses)))
    if connector_types:
        matches.append(_CONNECTORS.c.name.in_(list(connector_types)))
    per_status = [func.sum(case((and_(_CONNECTORS.c.status == status, *matches), 1), else_=0)) for status in STATUSES]
    query = (
        sa_select(_STATIONS.c.station_id, _STATIONS.c.name, _STATIONS.c.latitude, _STATIONS.c.longitude,
                  _STATIONS.c.cpo_id, func.count(), *per_status)
        .join_from(_CONNECTORS, _STATIONS, _STATIONS.c.id == _CONNECTORS.c.station_pk)
        .where(_STATIONS.c.deleted == False)  # noqa: E712
        .group_by(_STATIONS.c.id)
        .order_by(_STATIONS.c.id)
    )
    if station_ids is None:
        query = query.where(_CONNECTORS.c.cpo_id.in_(scope))
    else:
        # "+ 0": start from the named stations, not from the CPOs' every connector (see _in_scope).
        query = query.where((_CONNECTORS.c.cpo_id + 0).in_(scope), _STATIONS.c.station_id.in_(list(station_ids)))
    rows = session.execute(query).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=LIVE_STATION_COLUMNS)  # tuples: pandas probes Rows slowly


class LiveMapVersion(NamedTuple):
    """``live_map_version``'s fingerprint: the newest status event per CPO, and what stations there are."""

    cpo_ids: tuple[int, ...]
    last_events: tuple[int | None, ...]  # per CPO of cpo_ids
    stations: tuple  # stations' and connectors' counts, newest ids and change time


def live_map_version(session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None) -> LiveMapVersion:
    """A cheap fingerprint of what the live map shows: it changes whenever a station or status does.

    A status change always writes a status event; an import or push that changes,
    adds or deletes a station sets its ``updated_at`` or adds rows. So a few
    MAX() and COUNT() lookups on indexes (plus one scan of station dates) tell
    whether a cached map is still true, without reading any connector.
    """
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return LiveMapVersion((), (), ())
    events = tuple(session.execute(sa_select(func.max(_EVENTS.c.id)).where(_EVENTS.c.cpo_id == cpo_id)).scalar()
                   for cpo_id in scope)  # one index lookup per CPO
    stations = session.execute(sa_select(func.max(_STATIONS.c.id), func.max(_STATIONS.c.updated_at))).one()
    station_count = session.execute(sa_select(func.count()).select_from(_STATIONS)
                                    .where(_STATIONS.c.cpo_id.in_(scope))).scalar()
    connector_count = session.execute(sa_select(func.count()).select_from(_CONNECTORS)
                                      .where(_CONNECTORS.c.cpo_id.in_(scope))).scalar()
    connector_max = session.execute(sa_select(func.max(_CONNECTORS.c.id))).scalar()
    return LiveMapVersion(tuple(scope), events, (*stations, station_count, connector_count, connector_max))


INCREMENTAL_UP_TO = 400  # changed stations; beyond, counting every station again is as quick


def live_stations_since(
    session: Session, *, actor: Any, version: LiveMapVersion, previous: tuple[LiveMapVersion, pd.DataFrame] | None,
    statuses: Iterable[str] | None = None, connector_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """``live_stations`` at ``version``, reusing ``previous`` (an earlier version and its frame, same filters).

    When only statuses changed since ``previous``, only the stations whose
    connectors had a status event since then are counted again: a live feed
    changes a few stations per refresh, not 25,000. Anything else (stations
    added, changed or deleted, another scope, many changes) counts every station.
    """
    scope = list(version.cpo_ids)
    if previous is not None:
        old_version, old_frame = previous
        if old_version == version:
            return old_frame
        if old_version.cpo_ids == version.cpo_ids and old_version.stations == version.stations:
            changed = _stations_with_events_after(session, dict(zip(old_version.cpo_ids, old_version.last_events)),
                                                  version)
            if changed is not None and len(changed) <= INCREMENTAL_UP_TO:
                fresh = live_stations(session, actor=actor, cpo_ids=scope, statuses=statuses,
                                      connector_types=connector_types, station_ids=changed) if changed else None
                if fresh is None or fresh.empty:
                    return old_frame
                rows = pd.Index(old_frame["station_id"]).get_indexer(fresh["station_id"])
                if (rows >= 0).all():
                    # Only counts change with statuses (names and places come with a station version).
                    frame = old_frame.copy()
                    for column in ["connectors", *STATUSES]:
                        values = frame[column].to_numpy(dtype="int64", copy=True)
                        values[rows] = fresh[column].to_numpy(dtype="int64")
                        frame[column] = values
                    return frame
    return live_stations(session, actor=actor, cpo_ids=scope, statuses=statuses, connector_types=connector_types)


def _stations_with_events_after(session: Session, after: dict[int, int | None],
                                version: LiveMapVersion) -> set[str] | None:
    """Station ids whose connectors had a status event after ``after`` (per CPO); None when too many."""
    changed: set[str] = set()
    for cpo_id, newest in zip(version.cpo_ids, version.last_events):
        since = after.get(cpo_id)
        if newest is None or newest == since:
            continue
        query = sa_select(_EVENTS.c.evse_id).where(_EVENTS.c.cpo_id == cpo_id).distinct()
        if since is not None:
            query = query.where(_EVENTS.c.id > since)
        evse_ids = session.execute(query.limit(INCREMENTAL_UP_TO * 4 + 1)).scalars().all()
        if len(evse_ids) > INCREMENTAL_UP_TO * 4:
            return None
        for chunk in _chunks({ids.normalise_evse_id(evse_id) for evse_id in evse_ids}):
            # By EVSE key alone (as statuses are set), owner checked here: see the note at _CHUNK.
            for station_id, owner in session.execute(
                sa_select(_STATIONS.c.station_id, _CONNECTORS.c.cpo_id)
                .join_from(_CONNECTORS, _STATIONS, _STATIONS.c.id == _CONNECTORS.c.station_pk)
                .where(_CONNECTORS.c.evse_key.in_(chunk))
            ).all():
                if owner == cpo_id:
                    changed.add(station_id)
        if len(changed) > INCREMENTAL_UP_TO:
            return None
    return changed


RECENT_COLUMNS = ["received_at", "cpo", "evse_id", "status", "observed_at", "source", "delivery", "reason"]


def recent_changes(session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None,
                   limit: int = 200) -> pd.DataFrame:
    """The newest status changes received, with what became of each (delivery, reason)."""
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return pd.DataFrame(columns=RECENT_COLUMNS)
    names = dict(session.execute(sa_select(Cpo.__table__.c.id, Cpo.__table__.c.name)
                                 .where(Cpo.__table__.c.id.in_(scope))).all())
    rows = []
    for cpo_id in scope:
        # One CPO at a time: "cpo_id = ? ORDER BY id DESC LIMIT n" walks the cpo_id index backwards and stops,
        # where "cpo_id IN (...)" would sort the CPOs' whole history first.
        rows += session.execute(
            sa_select(_EVENTS.c.id, _EVENTS.c.received_at, _EVENTS.c.cpo_id, _EVENTS.c.evse_id, _EVENTS.c.status,
                      _EVENTS.c.observed_at, _EVENTS.c.source, _EVENTS.c.delivery, _EVENTS.c.reason)
            .where(_EVENTS.c.cpo_id == cpo_id).order_by(_EVENTS.c.id.desc()).limit(limit)
        ).all()
    rows.sort(key=lambda row: row[0], reverse=True)
    frame = pd.DataFrame([row[1:] for row in rows[:limit]], columns=RECENT_COLUMNS)
    frame["cpo"] = frame["cpo"].map(names)
    frame["delivery"] = frame["delivery"].map(lambda value: DELIVERY_LABELS.get(value, value))
    frame["reason"] = frame["reason"].fillna("")
    return frame


def _in_scope(scope: list[int]):  # noqa: ANN202
    # "cpo_id + 0" keeps the planner on the received_at index for a time window: the cpo_id index
    # would read the CPOs' whole history to find the last hour.
    return (_EVENTS.c.cpo_id + 0).in_(scope)


def status_counts_over_time(session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None,
                            minutes: int = 60) -> pd.DataFrame:
    """How many connectors were in each status at the end of each of the last ``minutes``.

    Worked backwards from the connectors' current statuses through the status log
    (by time received; stale changes never changed a connector). Connectors sharing
    an EVSE id count one each, as on the map.
    """
    scope = _scope(session, actor, cpo_ids)
    end = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    index = pd.date_range(start, end - timedelta(minutes=1), freq="min", name="minute")
    if not scope:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    live = _STATIONS.c.deleted == False  # noqa: E712
    # Counted in the database: reading 75,000 connectors into pandas took half a second.
    now_counts = pd.Series(dict(session.execute(
        sa_select(_CONNECTORS.c.status, func.count())
        .join_from(_CONNECTORS, _STATIONS, _STATIONS.c.id == _CONNECTORS.c.station_pk)
        .where(_CONNECTORS.c.cpo_id.in_(scope), live)
        .group_by(_CONNECTORS.c.status)
    ).all()), dtype="int64").reindex(STATUSES, fill_value=0)

    events = pd.DataFrame(session.execute(
        sa_select(_EVENTS.c.id, _EVENTS.c.evse_id, _EVENTS.c.status, _EVENTS.c.received_at)
        .where(_in_scope(scope), _EVENTS.c.received_at >= start, _EVENTS.c.delivery != "stale")
    ).all(), columns=["id", "evse_id", "status", "received_at"]).sort_values("id")  # sorted here: see _in_scope
    # Connectors per EVSE id, for the EVSE ids that changed only (by EVSE id alone: see _CHUNK's note).
    weight_of: dict[str, int] = {}
    wanted = set(scope)
    for chunk in _chunks(set(events["evse_id"])):
        for evse_id, owner, count in session.execute(
            sa_select(_CONNECTORS.c.evse_id, _CONNECTORS.c.cpo_id, func.count())
            .join_from(_CONNECTORS, _STATIONS, _STATIONS.c.id == _CONNECTORS.c.station_pk)
            .where(_CONNECTORS.c.evse_id.in_(chunk), live)
            .group_by(_CONNECTORS.c.evse_id, _CONNECTORS.c.cpo_id)
        ).all():
            if owner in wanted:
                weight_of[evse_id] = weight_of.get(evse_id, 0) + count
    weight = pd.Series(weight_of, dtype="int64")
    events = events[events["evse_id"].isin(weight.index)]
    if events.empty:
        return pd.DataFrame([now_counts.to_numpy()] * len(index), index=index, columns=STATUSES)

    # What each change replaced: the change before it, or the last one before the window, or Unknown.
    before: dict[str, str] = {}
    first_ids = events.groupby("evse_id")["id"].min()
    for chunk in _chunks(first_ids.index):
        latest = (sa_select(func.max(_EVENTS.c.id))
                  .where(_EVENTS.c.evse_id.in_(chunk), _EVENTS.c.received_at < start, _EVENTS.c.delivery != "stale")
                  .group_by(_EVENTS.c.evse_id))
        before.update(session.execute(sa_select(_EVENTS.c.evse_id, _EVENTS.c.status)
                                      .where(_EVENTS.c.id.in_(latest))).all())
    previous = events.groupby("evse_id")["status"].shift()
    first = previous.isna()
    previous[first] = events.loc[first, "evse_id"].map(lambda evse_id: before.get(evse_id, "Unknown"))
    events["previous"] = previous
    events["weight"] = events["evse_id"].map(weight)
    events["minute"] = pd.to_datetime(events["received_at"], utc=True).dt.floor("min").dt.tz_localize(None)

    gained = events.pivot_table(index="minute", columns="status", values="weight", aggfunc="sum")
    lost = events.pivot_table(index="minute", columns="previous", values="weight", aggfunc="sum")
    change = (gained.reindex(index=index.tz_localize(None), columns=STATUSES).fillna(0)
              - lost.reindex(index=index.tz_localize(None), columns=STATUSES).fillna(0))
    # Counts at the end of minute m = now - every change received after m.
    after = change[::-1].cumsum()[::-1].shift(-1, fill_value=0)
    counts = (now_counts.to_numpy() - after).astype(int)
    counts.index = index
    return counts


def status_changes_per_minute(session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None,
                              minutes: int = 60) -> pd.DataFrame:
    """Status changes received per minute over the last ``minutes``, one column per new status (stale left out)."""
    scope = _scope(session, actor, cpo_ids)
    end = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    index = pd.date_range(start, end - timedelta(minutes=1), freq="min", name="minute")
    if not scope:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    rows = session.execute(
        sa_select(_EVENTS.c.received_at, _EVENTS.c.status)
        .where(_in_scope(scope), _EVENTS.c.received_at >= start, _EVENTS.c.delivery != "stale")
    ).all()
    frame = pd.DataFrame(rows, columns=["received_at", "status"])
    if frame.empty:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    frame["minute"] = pd.to_datetime(frame["received_at"], utc=True).dt.floor("min")
    counts = frame.groupby(["minute", "status"]).size().unstack(fill_value=0)
    return counts.reindex(index=index, columns=STATUSES, fill_value=0)


def connector_types(session: Session, *, actor: Any, cpo_ids: Iterable[int] | None = None) -> list[str]:
    """The connector types present among the connectors this person may see (for a filter)."""
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return []
    return sorted(session.exec(select(Connector.name).where(Connector.cpo_id.in_(scope)).distinct()).all())


def connector_count(session: Session, *, cpo_id: int) -> int:
    """How many connectors a CPO has stored (an index count: cheap enough to tell whether a list is stale)."""
    return session.execute(sa_select(func.count()).select_from(_CONNECTORS)
                           .where(_CONNECTORS.c.cpo_id == cpo_id)).scalar() or 0


def evse_ids(session: Session, *, cpo_id: int, limit: int = 5000) -> list[str]:
    """The distinct EVSE ids of a CPO's live stations (for the UI's pick list)."""
    return list(session.exec(
        select(Connector.evse_id).join(Station, Station.id == Connector.station_pk)
        .where(Connector.cpo_id == cpo_id, Station.deleted == False)  # noqa: E712
        .distinct().order_by(Connector.evse_id).limit(limit)
    ).all())


# --- changes made by people (the live page) ----------------------------------------------


def set_status(session: Session, *, actor: Any, cpo_id: int, evse_id: str, status: str) -> ItemResult:
    """One connector's status set by CPO staff in the UI (source "ui")."""
    from ..store.queries import audit, require_edit

    require_edit(actor, cpo_id)
    [result] = record_statuses(session, cpo_id=cpo_id, items=[{"evse_id": evse_id, "status": status}], source="ui")
    if result.ok:
        audit(session, actor_name=actor.name, action="status set", cpo_id=cpo_id,
              detail=f"{result.evse_id}: {result.status}")
    return result


@dataclass
class FileOutcome:
    accepted: int
    refused: pd.DataFrame  # line, evse_id, error: every line or item that was not taken
    deliveries: dict[str, int]  # pending / held / superseded / stale -> count


def record_status_file(session: Session, *, actor: Any, cpo_id: int, data: bytes, file_name: str) -> FileOutcome:
    """An uploaded status file (source "file"); StatusFileError if it cannot be read at all."""
    from ..store.queries import audit, require_edit

    require_edit(actor, cpo_id)
    parsed = parse_status_file(data, file_name)
    results = record_statuses(session, cpo_id=cpo_id, items=parsed.items, source="file") if parsed.items else []
    refused = [{"line": _line_of(error), "evse_id": "", "error": error} for error in parsed.errors]
    refused += [{"line": parsed.lines[r.index], "evse_id": r.evse_id, "error": r.error} for r in results if not r.ok]
    deliveries: dict[str, int] = {}
    for result in results:
        if result.ok:
            deliveries[result.delivery or "pending"] = deliveries.get(result.delivery or "pending", 0) + 1
    accepted = sum(deliveries.values())
    audit(session, actor_name=actor.name, action="status file", cpo_id=cpo_id,
          detail=f"{file_name}: {accepted} accepted, {len(refused)} refused")
    frame = pd.DataFrame(refused, columns=["line", "evse_id", "error"]).sort_values("line", kind="stable")
    return FileOutcome(accepted=accepted, refused=frame.reset_index(drop=True), deliveries=deliveries)


def _line_of(error: str) -> int:
    # "line 5: ..." / "item 2: ..."
    head = error.split(":", 1)[0].split()
    return int(head[-1]) if head and head[-1].isdigit() else 0
