"""The durable outbox: one row per intended OIOI request, claimed by workers.

Rules that keep a push exactly-once as far as we can make it:

- Rows of one (CPO, kind, key) are sent one at a time and in id order: a row is
  claimable only when no older row of its key is still open and no row of its
  key is in flight.
- A claim is a lease (``claimed_until``); a worker that dies leaves rows whose
  lease runs out and that any worker claims again.
- Right before a row is handed out (in the claim transaction), a station-post
  whose payload the station already has acknowledged is closed without sending,
  and a row with a newer open row for its key is superseded.
- A success is written to the row and to ``Station.acked_*`` in one transaction.

The one window left: a worker killed after the endpoint answered success and
before that transaction committed sends that request once more after its lease
ran out. The worker records results in small batches within milliseconds, so
the window is the rows in flight at the moment of the kill.

Pausing, resuming and the other controls of a CPO's queue are ``sync.queue_control``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, bindparam, case, cast, exists, func, insert, literal, or_, select, text, true, update
from sqlalchemy.orm import defer
from sqlmodel import Session

from ..oioi import codes
from ..oioi.ids import normalise_evse_id
from ..oioi.messages import station_post_json
from ..oioi.vocabulary import OUTBOX_KINDS, STATION_POST
from ..store.auth import Actor, require_edit
from ..store.db import EncodedJson
from ..store.models import OPEN_STATES, Connector, Cpo, Outbox, OutboxState, PushRun, Station, utcnow
from ..store.queries import audit
from ..wording import counted
from . import status_delivery
from .diff import PlanError, PushPlan, mass_replacement, plan_push, planned_requests
from .queue_control import pause

log = logging.getLogger(__name__)

ANALYZE_ABOVE = 1000  # rows queued at once after which PostgreSQL gets fresh statistics
_ENQUEUE_BATCH = 5000


class ConfirmationRequired(PlanError):
    """Deletions or connector changes were not confirmed by the user."""


class MassReplacement(ConfirmationRequired):
    """The push would replace most live stations with new ones (``diff.mass_replacement``): confirming
    deletions is not enough, replacing them all must be asked for. ``reason`` is the rule's own words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- enqueueing ----------------------------------------------------------------------


def _audit(session: Session, actor: Actor, cpo_id: int, action: str, detail: str = "") -> None:
    audit(session, actor_name=actor.name, action=action, cpo_id=cpo_id, detail=detail)


def _examples(plan: PushPlan, kind: str, limit: int = 5) -> str:
    ids = [item.station_id for item in plan.items if item.change == kind]
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def check_confirmations(plan: PushPlan, *, confirm_deletions: bool, confirm_connector_changes: bool,
                        replace_all: bool = False) -> None:
    """Raise ConfirmationRequired naming what the user has not confirmed yet (MassReplacement first)."""
    replacing = None if replace_all else mass_replacement(plan)
    if replacing:
        raise MassReplacement(f"Nothing was sent: {replacing} Check the mapping; to replace them all, ask for "
                              "it (--replace-all, or 'Replace them all' on the push page).", replacing)
    missing = []
    counts = plan.counts
    if counts["deleted"] and not (confirm_deletions or replace_all):
        missing.append(f"{counted(counts['deleted'], 'station')} would be deleted at the endpoint "
                       f"({_examples(plan, 'deleted')})")
    if counts["connectors_changed"] and not confirm_connector_changes:
        missing.append(
            f"{counted(counts['connectors_changed'], 'station')} with changed connectors, which the protocol does not "
            f"allow to change: they would be soft-deleted and pushed under a new station id "
            f"({_examples(plan, 'connectors_changed')})"
        )
    if missing:
        raise ConfirmationRequired("Nothing was sent. Please confirm first: " + "; ".join(missing) + ".")


def enqueue_plan(
    session: Session,
    *,
    actor: Actor,
    plan: PushPlan,
    confirm_deletions: bool = False,
    confirm_connector_changes: bool = False,
    dry_run: bool = False,
    replace_all: bool = False,
) -> PushRun:
    """Turn a plan into outbox rows under a new push run (or only record it, for a dry run).

    The same payload for a station that already has an open row is not queued again;
    a newer payload supersedes a pending older one.
    """
    require_edit(actor, plan.cpo_id)
    check_confirmations(plan, confirm_deletions=confirm_deletions, confirm_connector_changes=confirm_connector_changes,
                        replace_all=replace_all)
    counts = plan.counts
    run = PushRun(
        cpo_id=plan.cpo_id, user_name=actor.name, dry_run=dry_run, partner_identifier=plan.partner_identifier,
        new=counts["new"], changed=counts["changed"], deleted=counts["deleted"],
        replaced=counts["connectors_changed"],
    )
    to_send = plan.to_send
    if dry_run:
        summary: dict[str, list[str]] = {}
        for item in to_send:
            summary.setdefault(item.change, []).append(item.station_id)
        run.summary = summary
        run.total = len(to_send) + counts["connectors_changed"]
        run.finished_at = utcnow()
        session.add(run)
        session.flush()
        _audit(session, actor, plan.cpo_id, "push dry run", f"run {run.id}: {_counts_text(counts)}")
        return run

    session.add(run)
    session.flush()
    open_rows = _open_rows_by_key(session, cpo_id=plan.cpo_id, keys=[item.station_id for item in to_send])
    supersede: list[int] = []
    queued = inserted = 0
    stamp = utcnow()
    # Deletions first: a new station that takes over a deleted one's EVSE ids waits for its soft-delete, or
    # the endpoint may refuse it (230) for EVSE ids another station still holds.
    groups = ([item for item in to_send if item.change == "deleted"],
              [item for item in to_send if item.change != "deleted"])
    deleting: dict[str, int] = {}  # EVSE key -> the outbox row of this run that soft-deletes its station
    if not groups[0]:
        # The bulk of a big push: new and changed stations with nothing open for them (and no deletion to wait
        # for) are queued by the database itself, each body composed from the stored station object.
        in_bulk = [item.change in ("new", "changed") and item.station_id not in open_rows for item in groups[1]]
        inserted += _insert_posts(session, run, plan.partner_identifier,
                                  [item.station_pk for item, bulk in zip(groups[1], in_bulk, strict=True) if bulk],
                                  stamp)
        groups = ([], [item for item, bulk in zip(groups[1], in_bulk, strict=True) if not bulk])
    # A batch at a time: a national push never holds 50,000 stations and request bodies at once.
    for batch in (group[start:start + _ENQUEUE_BATCH] for group in groups
                  for start in range(0, len(group), _ENQUEUE_BATCH)):
        # New and changed stations (nearly all of a big push) are sent as stored: their request bodies are
        # composed as text from the stored station objects, never decoded and encoded again.
        posts = _load_posts(session, [item.station_pk for item in batch if item.change in ("new", "changed")])
        stations = _load_stations(session, [item.station_pk for item in batch if item.station_pk not in posts])
        inserts: list[dict[str, Any]] = []
        for item in batch:
            if item.station_pk in posts:
                light = posts[item.station_pk]
                body: Any = EncodedJson(station_post_json(light.payload, plan.partner_identifier))
                sha, key, signature = light.payload_sha256, light.station_id, light.connectors_signature
                if _already_open(open_rows.get(key, []), sha, supersede):
                    continue
                waits_for = next((deleting[k] for k in _evse_keys(json.loads(body)) if k in deleting), None) \
                    if deleting else None
                inserts.append(_row(run, key, item.change, body, sha, signature, stamp, depends_on=waits_for,
                                    state=OutboxState.HELD if waits_for else OutboxState.PENDING))
                continue
            station = stations[item.station_pk]
            if item.change == "connectors_changed":
                queued += _enqueue_replacement(session, run, plan, item, station, open_rows, supersede)
                continue
            [(body, sha, key)] = planned_requests(session, item, station, plan.partner_identifier)
            if _already_open(open_rows.get(key, []), sha, supersede):
                continue
            signature = (station.acked_connectors_signature if item.change == "deleted"
                         else station.connectors_signature)
            waits_for = None if item.change == "deleted" else next(
                (deleting[k] for k in _evse_keys(body) if k in deleting), None)
            inserts.append(_row(run, key, item.change, body, sha, signature, stamp, depends_on=waits_for,
                                state=OutboxState.HELD if waits_for else OutboxState.PENDING))
        if inserts:
            session.execute(insert(Outbox), inserts)
            inserted += len(inserts)
            deleted_keys = [row["key"] for row in inserts if row["change"] == "deleted"]
            if deleted_keys:
                ids = dict(session.execute(select(Outbox.key, Outbox.id).where(
                    Outbox.run_id == run.id, Outbox.change == "deleted", Outbox.key.in_(deleted_keys))).all())
                for row in inserts:
                    if row["change"] == "deleted":
                        deleting.update(dict.fromkeys(_evse_keys(row["payload"]), ids[row["key"]]))
    if supersede:
        _supersede(session, supersede)
    if inserted >= ANALYZE_ABOVE and session.get_bind().dialect.name == "postgresql":
        # Fresh planner statistics: with stale ones a claim right after a full load takes
        # seconds instead of milliseconds, and the workers idle.
        session.execute(text("ANALYZE outbox"))
    run.total = queued + inserted
    if run.total == 0:
        run.finished_at = utcnow()
    session.add(run)
    session.flush()
    _audit(session, actor, plan.cpo_id, "push",
           f"run {run.id}: {_counts_text(counts)}; {counted(run.total, 'request')} queued")
    return run


def _insert_posts(session: Session, run: PushRun, partner_identifier: str, pks: list[int], stamp: datetime) -> int:
    """Queue a station-post of each station ``pks`` with INSERT ... SELECT, a batch of stations a statement:
    the body is the stored station object inside ``station_post_json``'s text, joined by the database."""
    if not pks:
        return 0
    station, outbox = Station.__table__, Outbox.__table__
    prefix, suffix = station_post_json(_STATION_MARK, partner_identifier).split(_STATION_MARK)
    body = literal(prefix, Text) + cast(station.c.payload, Text) + literal(suffix, Text)
    if session.get_bind().dialect.name == "postgresql":
        body = cast(body, outbox.c.payload.type)  # text becomes json only when asked to
    columns = {
        "cpo_id": literal(run.cpo_id), "run_id": literal(run.id), "kind": literal(STATION_POST),
        "key": station.c.station_id, "change": case((station.c.acked_sha256.is_(None), "new"), else_="changed"),
        "payload": body, "payload_sha256": station.c.payload_sha256,
        "connectors_signature": station.c.connectors_signature,
        "state": literal(OutboxState.PENDING, outbox.c.state.type), "attempts": literal(0),
        "created_at": literal(stamp, outbox.c.created_at.type),
        "next_attempt_at": literal(stamp, outbox.c.next_attempt_at.type),
    }
    for start in range(0, len(pks), _ENQUEUE_BATCH):
        rows = select(*columns.values()).where(station.c.id.in_(pks[start:start + _ENQUEUE_BATCH])) \
            .order_by(station.c.id)
        session.execute(insert(outbox).from_select(list(columns), rows))
    # Counted, not taken from rowcount: PostgreSQL's driver leaves it at -1 for INSERT ... SELECT.
    return session.execute(select(func.count()).where(outbox.c.run_id == run.id)).scalar_one()


_STATION_MARK = "\x00station\x00"  # where the station object goes in a station-post body


def _evse_keys(body: dict[str, Any]) -> list[str]:
    return [normalise_evse_id(c["id"]) for c in body[STATION_POST]["station"].get("connectors", [])]


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n and kind != "unchanged") \
        or "nothing to push"


def _row(run: PushRun, key: str, change: str, body: dict, sha: str, signature: str | None, stamp: datetime,
         state: OutboxState = OutboxState.PENDING, depends_on: int | None = None) -> dict[str, Any]:
    return dict(
        cpo_id=run.cpo_id, run_id=run.id, kind=STATION_POST, key=key, change=change, payload=body,
        payload_sha256=sha, connectors_signature=signature, state=state, attempts=0, created_at=stamp,
        next_attempt_at=stamp, depends_on=depends_on,
    )


def _load_posts(session: Session, pks: list[int]) -> dict[int, Any]:
    """What a station-post of each station needs, its station object as stored text: no ORM objects."""
    table = Station.__table__
    found: dict[int, Any] = {}
    for start in range(0, len(pks), 500):
        for row in session.execute(
            select(table.c.id, table.c.station_id, cast(table.c.payload, Text).label("payload"),
                   table.c.payload_sha256, table.c.connectors_signature)
            .where(table.c.id.in_(pks[start:start + 500]))
        ):
            found[row.id] = row
    return found


def _load_stations(session: Session, pks: list[int]) -> dict[int, Station]:
    found: dict[int, Station] = {}
    for start in range(0, len(pks), 500):
        chunk = pks[start:start + 500]
        for station in session.exec(select(Station).where(Station.id.in_(chunk))).scalars():
            found[station.id] = station
    return found


def _open_rows_by_key(session: Session, *, cpo_id: int, keys: list[str]) -> dict[str, list[tuple[int, str, str]]]:
    """(id, state, payload hash) of the open station-post rows of a CPO, by station id."""
    wanted = set(keys)
    rows = session.exec(
        select(Outbox.id, Outbox.key, Outbox.state, Outbox.payload_sha256)
        .where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST, Outbox.state.in_(OPEN_STATES))
        .order_by(Outbox.id)
    ).all()
    found: dict[str, list[tuple[int, str, str]]] = {}
    for row_id, key, state, sha in rows:
        if key in wanted:
            found.setdefault(key, []).append((row_id, state, sha))
    return found


def _already_open(rows: list[tuple[int, str, str]], sha: str, supersede: list[int]) -> bool:
    """True when an open row already carries this payload; otherwise mark pending older ones superseded."""
    if any(row_sha == sha for _id, _state, row_sha in rows):
        return True
    supersede.extend(row_id for row_id, state, _sha in rows if state in (OutboxState.PENDING, OutboxState.HELD))
    return False


def _supersede(session: Session, ids: list[int]) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), Outbox.state.in_((OutboxState.PENDING, OutboxState.HELD)))
        .values(state=OutboxState.SUPERSEDED, last_error="replaced by a newer request for this station",
                claimed_by=None, claimed_until=None)
    )


def _enqueue_replacement(session: Session, run: PushRun, plan: PushPlan, item, station: Station,
                         open_rows: dict, supersede: list[int]) -> int:
    """Soft-delete the old station id, then (once that is acknowledged) push the station under its new id.

    The stored station moves to the new id with its connectors; the old id stays as a deleted station.
    """
    [(old_body, old_sha, old_key), (new_body, new_sha, new_key)] = planned_requests(
        session, item, station, plan.partner_identifier)
    stamp = utcnow()
    _already_open(open_rows.get(old_key, []), "", supersede)  # anything still queued for the old id is moot
    if supersede:
        _supersede(session, supersede)
        supersede.clear()
    deletion = Outbox(**_row(run, old_key, "deleted", old_body, old_sha, station.acked_connectors_signature, stamp))
    session.add(deletion)
    session.flush()
    replacement_payload = new_body[STATION_POST]["station"]
    replacement = Station(
        cpo_id=station.cpo_id, station_id=new_key, name=station.name, latitude=station.latitude,
        longitude=station.longitude, city=station.city, cpo_operator_id=station.cpo_operator_id,
        payload=replacement_payload, payload_sha256=new_sha, connectors_signature=station.connectors_signature,
        import_id=station.import_id, replaces=station.replaces or station.station_id,
    )
    session.add(replacement)
    session.flush()
    session.execute(update(Connector).where(Connector.station_pk == station.id).values(station_pk=replacement.id))
    old_payload = old_body[STATION_POST]["station"]
    station.payload = old_payload
    station.payload_sha256 = old_sha
    station.connectors_signature = station.acked_connectors_signature or station.connectors_signature
    station.deleted = True
    station.updated_at = stamp
    session.add(station)
    session.add(Outbox(**_row(run, new_key, "replaced", new_body, new_sha, replacement.connectors_signature, stamp,
                              state=OutboxState.HELD, depends_on=deletion.id)))
    session.flush()
    return 2


def enqueue_deletion(session: Session, *, actor: Actor, cpo_id: int, station_id: str) -> PushRun:
    """Mark one station deleted here and queue its soft-delete (the user confirmed it in the UI)."""
    require_edit(actor, cpo_id)
    station = session.exec(select(Station).where(Station.cpo_id == cpo_id, Station.station_id == station_id)).scalar()
    if station is None:
        raise PlanError(f"station {station_id} is not one of this CPO's stations")
    station.deleted = True
    session.add(station)
    session.flush()
    plan = plan_push(session, actor=actor, cpo_id=cpo_id)
    plan.items = [i for i in plan.items if i.station_id == station_id]
    return enqueue_plan(session, actor=actor, plan=plan, confirm_deletions=True)


# --- claiming ------------------------------------------------------------------------


def claim(session: Session, *, worker_id: str, limit: int, cpo_id: int | None = None,
          kinds: tuple[str, ...] | None = None, lease_seconds: float = 30.0, any_time: bool = False,
          other_than: tuple[str, ...] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due rows to this worker, oldest first, and return them.

    ``kinds``: only rows of these kinds (None: any); ``other_than``: no rows of these kinds. The
    worker claims statuses and station-posts separately, so a status never waits behind a push.

    ``any_time``: pending rows whose retry is not due yet count as due (the probe of an
    endpoint that was unreachable: whichever row goes first, it tells whether it answers).

    Runs in its own transaction (it commits whatever the session held before): on
    PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED``; on
    SQLite ``BEGIN IMMEDIATE`` makes claims one writer at a time.
    """
    if limit <= 0:
        return []
    session.commit()
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    stamp = utcnow()
    wanted = tuple(kind for kind in kinds or OUTBOX_KINDS if kind not in other_than)
    floor = min((first for first in session.execute(_first_open(wanted)).one() if first is not None),
                default=None) if wanted else None
    if floor is None:
        session.commit()
        return []
    candidates = _candidates(kinds, other_than, any_time, cpo_id is not None, dialect == "postgresql")
    ids = list(session.execute(candidates, {"floor": floor, "stamp": stamp, "limit": limit, "cpo": cpo_id}).scalars())
    if not ids:
        session.commit()
        return []
    # One statement claims and returns what sending needs, the body as stored (no decode and encode again).
    returned = session.execute(_CLAIM, {"ids": ids, "worker": worker_id, "stamp": stamp,
                                        "until": stamp + timedelta(seconds=lease_seconds)}).all()
    rows = sorted((Claimed(*row[:6], row[6].encode()) for row in returned), key=lambda row: row.id)
    rows = _drop_already_acked(session, rows, stamp)
    session.commit()
    return rows


# The statements of the hot paths (a claim, a batch of answers) are built once: building and keying
# them again for every batch cost more than running them.
_OUTBOX = Outbox.__table__
_STATIONS = Station.__table__


@lru_cache
def _first_open(kinds: tuple[str, ...]):  # noqa: ANN202
    """The oldest open row of each state and kind: one min() each, a lookup in ix_outbox_open (a min() over
    several states or kinds at once walks every open row: 50,000 at each claim of a national push)."""
    return select(*(
        select(func.min(_OUTBOX.c.id)).where(_OUTBOX.c.state == state, _OUTBOX.c.kind == kind).scalar_subquery()
        for state in (OutboxState.PENDING, OutboxState.SENDING) for kind in kinds
    ))


@lru_cache
def _candidates(kinds: tuple[str, ...] | None, other_than: tuple[str, ...], any_time: bool, one_cpo: bool,
                skip_locked: bool):  # noqa: ANN202
    """Due rows from the oldest open one on (``floor``), in id order, whose key has no older open row and
    none in flight elsewhere; parameters floor, stamp, limit and (``one_cpo``) cpo."""
    row, other = _OUTBOX.c, _OUTBOX.alias("other").c
    stamp = bindparam("stamp")
    query = (
        select(row.id)
        .where(
            row.id >= bindparam("floor"),
            or_(
                and_(row.state == OutboxState.PENDING, true() if any_time else row.next_attempt_at <= stamp),
                and_(row.state == OutboxState.SENDING, row.claimed_until < stamp),
            ),
            row.cpo_id.not_in(select(Cpo.__table__.c.id).where(Cpo.__table__.c.paused_reason.is_not(None))),
            ~exists().where(
                other.cpo_id == row.cpo_id, other.kind == row.kind, other.key == row.key,
                or_(
                    and_(other.id < row.id, other.state.in_(OPEN_STATES)),
                    and_(other.id != row.id, other.state == OutboxState.SENDING, other.claimed_until >= stamp),
                ),
            ),
        )
        .order_by(row.id)
        .limit(bindparam("limit"))
    )
    if one_cpo:
        query = query.where(row.cpo_id == bindparam("cpo"))
    if kinds:
        query = query.where(row.kind.in_(kinds))
    if other_than:
        query = query.where(row.kind.not_in(other_than))
    return query.with_for_update(skip_locked=True) if skip_locked else query


_CLAIM = (
    update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(
        state=OutboxState.SENDING, claimed_by=bindparam("worker"), claimed_until=bindparam("until"),
        attempts=_OUTBOX.c.attempts + 1, sent_at=bindparam("stamp"))
    .returning(_OUTBOX.c.id, _OUTBOX.c.cpo_id, _OUTBOX.c.kind, _OUTBOX.c.key, _OUTBOX.c.attempts,
               _OUTBOX.c.payload_sha256, cast(_OUTBOX.c.payload, Text))
)
_ACKED_SHAS = select(_STATIONS.c.station_id, _STATIONS.c.acked_sha256).where(
    _STATIONS.c.station_id.in_(bindparam("keys", expanding=True)))


class Claimed(NamedTuple):
    """A claimed outbox row: what sending it and recording its answer need."""

    id: int
    cpo_id: int
    kind: str
    key: str
    attempts: int  # counting this one
    payload_sha256: str
    body: bytes  # the request body, encoded as stored

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


def _drop_already_acked(session: Session, rows: list[Claimed], stamp: datetime) -> list[Claimed]:
    """Close station-posts whose payload the station already acknowledged: they are never sent twice."""
    posts = [row for row in rows if row.kind == STATION_POST]
    if not posts:
        return rows
    acked = dict(session.execute(_ACKED_SHAS, {"keys": [r.key for r in posts]}).all())
    closed = [row.id for row in posts if acked.get(row.key) == row.payload_sha256]
    if not closed:
        return rows
    session.execute(
        update(Outbox).where(Outbox.id.in_(closed)).values(
            state=OutboxState.ACKED, acked_at=func.coalesce(Outbox.acked_at, stamp),
            last_error="already acknowledged: not sent again", claimed_by=None, claimed_until=None,
            attempts=Outbox.attempts - 1),
        execution_options={"synchronize_session": False},
    )
    closed_ids = set(closed)
    return [row for row in rows if row.id not in closed_ids]


def renew_leases(session: Session, *, worker_id: str, lease_seconds: float) -> int:
    """Extend the lease of every row this worker still holds (a heartbeat)."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.claimed_by == worker_id, Outbox.state == OutboxState.SENDING)
        .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds)),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount or 0


def release(session: Session, *, worker_id: str) -> int:
    """Put back every row this worker holds (a graceful stop): due again at once, attempt not counted."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.claimed_by == worker_id, Outbox.state == OutboxState.SENDING)
        .values(state=OutboxState.PENDING, claimed_by=None, claimed_until=None, attempts=Outbox.attempts - 1),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount or 0


# --- recording results ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row.

    ``outcome``: acked; retry (at ``retry_at``); failed (permanent); paused (the CPO's
    queue stops, e.g. the API key was rejected); release (put back unsent).
    """

    outbox_id: int
    outcome: str
    code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None
    pause_reason: str | None = None
    # "failed" for a status whose connector the endpoint does not know (181): retried at ``retry_at``
    # instead while its station was acknowledged less than this long ago (the platform may curate new
    # stations by hand before their connectors take statuses).
    grace: timedelta | None = None


class Recorded(NamedTuple):
    """A row whose result was written."""

    id: int
    cpo_id: int
    run_id: int | None
    kind: str
    key: str
    state: OutboxState


def record_results(session: Session, results: list[Outcome], *, finish_runs: bool = True) -> list[Recorded]:
    """Write a batch of results in the caller's transaction; returns the rows changed.

    The common case, a station-post acknowledged, takes a few set-based statements
    for the whole batch; every other outcome goes row by row. ``finish_runs``: mark the runs
    of these rows finished if none of their rows is open any more (a worker with more of
    them on the wire asks now and then, not at every batch: ``finish_runs`` below).
    """
    if not results:
        return []
    by_id = {result.outbox_id: result for result in results}
    stamp = utcnow()
    # Acks (the common case, of every kind) are set-based: one UPDATE ... RETURNING per result code, no ORM
    # objects. A row acknowledged already (its lease ran out and another worker recorded it) is left alone.
    by_code: dict[int, list[int]] = {}
    for result in results:
        if result.outcome == "acked":
            by_code.setdefault(codes.SUCCESS if result.code is None else result.code, []).append(result.outbox_id)
    fast = [m for code, ids in by_code.items()
            for m in session.execute(_ACK, {"ids": ids, "at": stamp, "code": code}).all()]
    slow_ids = [result.outbox_id for result in results if result.outcome != "acked"]
    recorded = [Recorded(m.id, m.cpo_id, m.run_id, m.kind, m.key, OutboxState.ACKED) for m in fast]
    posts = [m for m in fast if m.kind == STATION_POST]
    if posts:
        _apply_acks_fast(session, posts, stamp)
    _acked, failed, changed = _record_rows(session, slow_ids, by_id, stamp) if slow_ids else ([], [], [])
    recorded += [Recorded(r.id, r.cpo_id, r.run_id, r.kind, r.key, r.state) for r in changed]
    # Only a soft-delete has a row waiting for its ack (the replacement station): skip the lookup otherwise.
    _release_dependents(session, [m.id for m in posts if m.change == "deleted"], failed)
    # Statuses: acked rows go as Recorded tuples (id, cpo_id, kind, key, state: all an ack needs),
    # the others as the rows themselves; acknowledged stations release the statuses held back for them.
    status_rows = [r for r in recorded[:len(fast)] if r.kind != STATION_POST]
    status_rows += [row for row in changed if row.kind != STATION_POST]
    if status_rows:
        status_delivery.record_answers(session, status_rows)
    status_delivery.release_held_statuses(session, [m.key for m in posts])
    if finish_runs:
        finish_open_runs(session, {r.run_id for r in recorded if r.run_id is not None})
    return recorded


_ACK = update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
                             _OUTBOX.c.state != OutboxState.ACKED).values(
    state=OutboxState.ACKED, acked_at=bindparam("at"), result_code=bindparam("code"), last_error=None,
    claimed_by=None, claimed_until=None).returning(
    _OUTBOX.c.id, _OUTBOX.c.kind, _OUTBOX.c.cpo_id, _OUTBOX.c.run_id, _OUTBOX.c.key, _OUTBOX.c.payload_sha256,
    _OUTBOX.c.connectors_signature, _OUTBOX.c.change)
_COPY_ACK = update(_STATIONS).where(_STATIONS.c.station_id == bindparam("b_key")).values(
    acked_sha256=bindparam("b_sha"),
    acked_connectors_signature=func.coalesce(bindparam("b_signature"), _STATIONS.c.connectors_signature),
    acked_deleted=bindparam("b_deleted"), acked_at=bindparam("b_at"))
# A run is finished when none of its rows is open any more: one statement per run and batch.
_RUN_DONE = update(PushRun.__table__).where(
    PushRun.__table__.c.id == bindparam("run"), PushRun.__table__.c.finished_at.is_(None),
    ~exists().where(_OUTBOX.c.run_id == bindparam("run"), _OUTBOX.c.state.in_(OPEN_STATES)),
).values(finished_at=bindparam("at"))


def _record_rows(session: Session, ids: list[int], by_id: dict[int, Outcome], stamp: datetime):  # noqa: ANN202
    """Every outcome other than a station-post's ack, row by row; (acked, failed, changed) rows."""
    # The payload (the whole request) is not needed to record an answer: leave it unread.
    rows = list(session.exec(select(Outbox).options(defer(Outbox.payload)).where(Outbox.id.in_(ids))).scalars())
    acked: list[Outbox] = []
    failed: list[Outbox] = []
    changed: list[Outbox] = []
    for row in rows:
        result = by_id[row.id]
        if result.outcome == "acked":
            if row.state == OutboxState.ACKED:
                continue
            row.state = OutboxState.ACKED
            row.acked_at = stamp
            row.result_code = result.code if result.code is not None else codes.SUCCESS
            row.last_error = None
            acked.append(row)
        else:
            if row.state != OutboxState.SENDING:
                continue  # the lease ran out and someone else took the row over
            row.result_code = result.code
            row.last_error = result.error
            retry_until = _in_grace(session, row, result, stamp) if result.outcome == "failed" else None
            if retry_until is not None:
                row.state = OutboxState.PENDING
                row.next_attempt_at = min(result.retry_at or stamp, retry_until)
                row.last_error = (f"{result.error}; the station was acknowledged moments ago and may not be "
                                  f"published yet: retrying until {retry_until:%H:%M:%S} UTC")
            elif result.outcome == "failed":
                row.state = OutboxState.FAILED
                failed.append(row)
            elif result.outcome in ("paused", "release"):
                # Not the row's fault: back to the queue, the attempt not counted.
                row.state = OutboxState.PENDING
                row.attempts = max(0, row.attempts - 1)
                row.next_attempt_at = stamp
                if result.outcome == "paused":
                    pause(session, row.cpo_id, result.pause_reason or result.error or "paused")
            else:
                row.state = OutboxState.PENDING
                row.next_attempt_at = result.retry_at or stamp
        row.claimed_by = None
        row.claimed_until = None
        session.add(row)
        changed.append(row)
    session.flush()
    _apply_acks(session, [row for row in acked if row.kind == STATION_POST])
    return acked, failed, changed


def _in_grace(session: Session, row: Outbox, result: Outcome, stamp: datetime) -> datetime | None:
    """Until when a refused status is retried rather than rejected (None: reject it now)."""
    if result.grace is None or row.kind == STATION_POST:
        return None
    acked_at = status_delivery.station_acked_at(session, cpo_id=row.cpo_id, evse_key=row.key)
    if acked_at is None:
        return None
    until = acked_at + result.grace
    return until if stamp < until else None


def _apply_acks_fast(session: Session, rows: list, stamp: datetime) -> None:
    """Copy what the endpoint acknowledged onto the stations: one executemany for the batch."""
    session.execute(_COPY_ACK, [{"b_key": m.key, "b_sha": m.payload_sha256, "b_signature": m.connectors_signature,
                                 "b_deleted": m.change == "deleted", "b_at": stamp}
                                for m in sorted(rows, key=lambda m: m.id)])


def _apply_acks(session: Session, rows: list[Outbox]) -> list[Station]:
    """Copy what the endpoint acknowledged onto the stations."""
    if not rows:
        return []
    stations = {
        s.station_id: s
        for s in session.exec(
            select(Station).options(defer(Station.payload)).where(Station.station_id.in_([r.key for r in rows]))
        ).scalars()
    }
    done = []
    for row in sorted(rows, key=lambda r: r.id):
        station = stations.get(row.key)
        if station is None:
            continue
        station.acked_sha256 = row.payload_sha256
        station.acked_connectors_signature = row.connectors_signature or station.connectors_signature
        station.acked_deleted = row.change == "deleted"  # only soft-deletes carry "deleted": true
        station.acked_at = row.acked_at
        session.add(station)
        done.append(station)
    session.flush()
    return done


def _release_dependents(session: Session, acked_ids: list[int], failed: list[Outbox]) -> None:
    if acked_ids:
        session.execute(
            update(Outbox)
            .where(Outbox.depends_on.in_(acked_ids), Outbox.state == OutboxState.HELD)
            .values(state=OutboxState.PENDING, next_attempt_at=utcnow(), last_error=None),
            execution_options={"synchronize_session": False},
        )
    for row in failed:
        session.execute(
            update(Outbox)
            .where(Outbox.depends_on == row.id, Outbox.state == OutboxState.HELD)
            .values(state=OutboxState.FAILED,
                    last_error=f"not sent: the soft-delete of station {row.key} failed ({row.last_error})"),
            execution_options={"synchronize_session": False},
        )


def finish_open_runs(session: Session, run_ids: set[int]) -> None:
    """Mark finished those of these runs that have no open row left."""
    for run_id in run_ids:
        session.execute(_RUN_DONE, {"run": run_id, "at": utcnow()})
