"""Connector statuses in: one way for every source, coalesced into the outbox.

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
  ``held`` back (shown, not sent) until the station is acknowledged
  (``status_delivery.release_held_statuses``).

What becomes of a queued status once the worker has an answer is
``status_delivery``'s; reading statuses for the live map is ``live``'s.

An endpoint outage needs nothing special: rows stay pending with backoff, and
while they wait every newer status replaces their payload, so the catch-up
sends only what is still newest.

One call is one transaction with a handful of bulk statements, whatever the
number of items, so the relay keeps up with 1,000 changes a second on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session

from ..oioi import ids
from ..oioi.messages import canonical_sha256, connector_post_status_body
from ..oioi.vocabulary import CONNECTOR_POST_STATUS, STATUSES
from ..store.auth import Actor, require_edit
from ..store.models import Connector, Outbox, OutboxState, PartnerIdentifier, Station, StatusEvent, utcnow
from ..store.queries import audit
from ..untrusted import parse_utc
from ..untrusted import shown as _shown

# A back end's clock may run a little ahead; far-future times would block every later status.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# Earlier times come from a clock that was never set (1970, 2000) and say nothing about the connector now.
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
# The longest EVSE id, ISO (2 + 1 + 3 + 1 + 1 + 30) or DIN (+999*XXX*E and 30); longer text is not one.
MAX_EVSE_ID_LENGTH = 40
_BY_LOWER = {status.lower(): status for status in STATUSES}
CHUNK = 500  # keys per IN (...): well under every database's parameter limit
# Queries by EVSE key leave cpo_id out of the WHERE clause on purpose: given both, SQLite's planner
# (without ANALYZE statistics) picks the cpo_id index and reads every row of the CPO. EVSE ids hold
# the operator id, so a key belongs to one CPO; the owner is checked in Python.
_PG_LOCK_CLASS = 0x57A7  # names our per-CPO advisory lock on PostgreSQL
# Core tables for the hot path: plain statements skip the ORM's per-statement bookkeeping.
CONNECTORS, STATIONS, OUTBOX, EVENTS = (Connector.__table__, Station.__table__, Outbox.__table__,
                                        StatusEvent.__table__)
# The hot path's statements, built once: building them per call cost about as much as running them.
_EVSES_BY_KEY = (
    sa_select(CONNECTORS.c.evse_key, CONNECTORS.c.evse_id, CONNECTORS.c.status_at, STATIONS.c.acked_at,
              STATIONS.c.deleted, STATIONS.c.acked_deleted, CONNECTORS.c.cpo_id)
    .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
    .where(CONNECTORS.c.evse_key.in_(bindparam("keys", expanding=True)))
)
_FIRST_PARTNER = (
    sa_select(PartnerIdentifier.__table__.c.partner_identifier)
    .where(PartnerIdentifier.__table__.c.cpo_id == bindparam("cpo_id"))
    .order_by(PartnerIdentifier.__table__.c.id)
    .limit(1)
)
# "Still waiting" as an expression no index serves: given ``state IN (...)`` and more than two keys, SQLite's
# planner reads every pending row through ix_outbox_due (1.9 ms at 2,800 pending) instead of a few by key.
_WAITING = case((OUTBOX.c.state.in_([OutboxState.PENDING, OutboxState.HELD]), True), else_=False)
_WAITING_ROWS = (
    sa_select(OUTBOX.c.id, OUTBOX.c.key, OUTBOX.c.state, OUTBOX.c.cpo_id)
    .where(OUTBOX.c.kind == CONNECTOR_POST_STATUS, OUTBOX.c.key.in_(bindparam("keys", expanding=True)), _WAITING)
    .order_by(OUTBOX.c.id)
    .with_for_update()
)
_REPLACE_PAYLOAD = (
    OUTBOX.update()
    .where(OUTBOX.c.id == bindparam("_id"))
    .values(payload=bindparam("_payload"), payload_sha256=bindparam("_sha"), state=bindparam("_state"),
            # A row leaving "held" is due now; a pending one keeps its backoff (_due None).
            next_attempt_at=func.coalesce(bindparam("_due", type_=OUTBOX.c.next_attempt_at.type),
                                          OUTBOX.c.next_attempt_at))
)
_SUPERSEDE_EVENTS = (
    EVENTS.update()
    .where(EVENTS.c.outbox_id.in_(bindparam("ids", expanding=True)), EVENTS.c.delivery.in_(["pending", "held"]))
    .values(delivery="superseded", reason=None)
)
_INSERT_OUTBOX = OUTBOX.insert().returning(OUTBOX.c.id, OUTBOX.c.key, sort_by_parameter_order=True)
_INSERT_EVENTS = EVENTS.insert()
_SET_STATUS = (
    CONNECTORS.update()
    .where(CONNECTORS.c.cpo_id == bindparam("_cpo_id"), CONNECTORS.c.evse_key == bindparam("_evse_key"))
    .values(status=bindparam("_status"), status_at=bindparam("_status_at"), status_source=bindparam("_source"))
)



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
    """An ISO 8601 time -> aware UTC datetime (``untrusted.parse_utc``: a time without offset is UTC); none
    given is ``now``.

    ValueError, with the reason, if it is not one, cannot be held in UTC, lies more than MAX_CLOCK_AHEAD in
    the future or before EARLIEST.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return now
    if isinstance(value, datetime):  # text only, as it comes over the wire
        raise ValueError(f"timestamp {_shown(value)} is not an ISO 8601 string such as 2024-05-01T12:00:00Z")
    moment = parse_utc(value)
    if moment > now + MAX_CLOCK_AHEAD:
        raise ValueError(f"timestamp {_shown(value)} lies in the future (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    if moment < EARLIEST:
        raise ValueError(f"timestamp {_shown(value)} lies before {EARLIEST:%Y-%m-%d}: the back end's clock is "
                         "not set")
    return moment


def normalise_status(value: Any) -> str:
    """``available`` -> ``Available``; ValueError naming the five statuses otherwise."""
    if isinstance(value, str) and value.strip().lower() in _BY_LOWER:
        return _BY_LOWER[value.strip().lower()]
    raise ValueError(f"status {_shown(value)} is not one of {', '.join(STATUSES)}")


def _read_item(index: int, item: Any, now: datetime) -> _Item | ItemResult:
    if not isinstance(item, dict):
        return ItemResult(index, None, False, "an item must be an object with evse_id, status and timestamp")
    evse_id = item.get("evse_id")
    if not isinstance(evse_id, str) or not evse_id.strip():
        return ItemResult(index, None, False, "evse_id is missing")
    evse_id = evse_id.strip()
    if len(evse_id) > MAX_EVSE_ID_LENGTH:
        return ItemResult(index, None, False, f"evse_id has {len(evse_id):,} characters; an EVSE id has at most "
                                              f"{MAX_EVSE_ID_LENGTH}")
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
    session: Session, *, actor: Actor, cpo_id: int, items: list[dict], source: str, now: datetime | None = None
) -> list[ItemResult]:
    """Record status changes of one CPO's connectors and queue what must be sent.

    ``actor`` must be allowed to change the CPO (PermissionDenied otherwise): a
    person, the system, or the ingest API acting for a token's CPO. Returns one
    result per item, in order. Items with an unknown EVSE id or status, or an
    unreadable timestamp, are refused one by one; the rest are accepted. The
    caller's session commits (one transaction per call).

    No audit entry: every item is logged as a status event with its source and
    what became of it, and the ingest API records thousands a minute. People's
    entries (``set_status``, ``status_files.record_status_file``) are audited.
    """
    require_edit(actor, cpo_id)
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
    lock_for_ingest(session, cpo_id)  # after the parsing: the write lock is held as briefly as possible

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
        session.execute(_INSERT_EVENTS, [{k: v for k, v in e.items() if not k.startswith("_")} for e in events])
    for event in events:
        results[event["_index"]] = ItemResult(event["_index"], event["evse_id"], True, None, event["delivery"],
                                              event["status"])
    session.flush()
    return results  # type: ignore[return-value]


def _set_connector_statuses(session: Session, cpo_id: int, newest: dict[str, dict[str, Any]]) -> None:
    session.execute(_SET_STATUS, [
        {"_cpo_id": cpo_id, "_evse_key": key, "_status": event["status"], "_status_at": event["observed_at"],
         "_source": event["source"]}
        for key, event in newest.items()
    ])


def lock_for_ingest(session: Session, cpo_id: int) -> None:
    """Serialise ingest calls, so that "newest wins" compares against committed truth.

    For the transaction's remaining life; taken again in the same transaction, it is already held.

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


def in_chunks(values: Iterable[str]) -> Iterable[list[str]]:
    """``values`` sorted, in lists of at most CHUNK (for ``IN (...)``)."""
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _evses(session: Session, cpo_id: int, keys: set[str]) -> dict[str, _Evse]:
    found: dict[str, _Evse] = {}
    for chunk in in_chunks(keys):
        rows = session.execute(_EVSES_BY_KEY, {"keys": chunk}).all()
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
    return session.execute(_FIRST_PARTNER, {"cpo_id": cpo_id}).scalar()


def _queue(
    session: Session, *, cpo_id: int, partner: str, known: dict[str, _Evse], newest: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, int]:
    """Put each EVSE id's newest status into a waiting outbox row (replacing its payload) or a new one."""
    waiting: dict[str, tuple[int, OutboxState]] = {}
    for chunk in in_chunks(newest):
        rows = session.execute(_WAITING_ROWS, {"keys": chunk}).all()
        for row_id, key, state, owner in rows:
            if owner != cpo_id:
                continue
            waiting[key] = (row_id, OutboxState(state))  # the newest waiting row, if ever more than one

    outbox_ids: dict[str, int] = {}
    replaced: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    for key, event in newest.items():
        body = connector_post_status_body(known[key].evse_id, event["status"], partner)
        state = OutboxState.PENDING if event["delivery"] == "pending" else OutboxState.HELD
        if key in waiting:
            row_id, old_state = waiting[key]
            outbox_ids[key] = row_id
            values = {"_id": row_id, "_payload": body, "_sha": canonical_sha256(body), "_state": state,
                      # A row leaving "held" is due now; a pending one keeps its backoff.
                      "_due": now if old_state != OutboxState.PENDING else None}
            replaced.append(values)
        else:
            new_rows.append({"cpo_id": cpo_id, "kind": CONNECTOR_POST_STATUS, "key": key, "change": "status",
                             "payload": body, "payload_sha256": canonical_sha256(body), "state": state, "attempts": 0,
                             "created_at": now, "next_attempt_at": now})

    if replaced:
        session.execute(_REPLACE_PAYLOAD, replaced)
        ids_replaced = [values["_id"] for values in replaced]
        for start in range(0, len(ids_replaced), CHUNK):
            session.execute(_SUPERSEDE_EVENTS, {"ids": ids_replaced[start:start + CHUNK]})
    if new_rows:
        inserted = session.execute(_INSERT_OUTBOX, new_rows).all()
        for row_id, key in inserted:
            outbox_ids[key] = row_id
    return outbox_ids


# --- changes made by people (the live page) ----------------------------------------------


def set_status(session: Session, *, actor: Actor, cpo_id: int, evse_id: str, status: str) -> ItemResult:
    """One connector's status set by CPO staff in the UI (source "ui")."""
    [result] = record_statuses(session, actor=actor, cpo_id=cpo_id, items=[{"evse_id": evse_id, "status": status}],
                               source="ui")
    if result.ok:
        audit(session, actor_name=actor.name, action="status set", cpo_id=cpo_id,
              detail=f"{result.evse_id}: {result.status}")
    return result

