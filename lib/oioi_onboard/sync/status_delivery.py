"""What becomes of a queued status: the endpoint's answer, and release once its station is acknowledged.

The outbox calls in here when it records results (``outbox.record_results``):

- ``record_answers``: a connector-post-status row was answered (or given up):
  the statuses it carried become ``delivered``, ``rejected`` (with the reason)
  or ``superseded``; a retry says why it waits. The first delivered status
  moves the CPO to the onboarding stage "statuses live";
- ``release_held_statuses``: station-posts were acknowledged: statuses held
  back for their connectors are due now;
- ``station_acked_at``: when the station of a connector was acknowledged. A
  status refused with 181 (EVSE not found) within a grace period after that is
  retried, not rejected: the platform may publish new stations by hand first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from ..oioi.vocabulary import CONNECTOR_POST_STATUS
from ..store.models import Outbox, OutboxState, Stage, Station, StatusEvent, utcnow
from ..store.queries import set_stage
from .status_ingest import CHUNK, CONNECTORS, EVENTS, OUTBOX, STATIONS, in_chunks


def record_answers(session: Session, rows: Iterable[Outbox]) -> None:
    """Carry the recorded answers of outbox rows over to the statuses they carried (other kinds are skipped).

    ``rows`` are Outbox rows or anything with their id, cpo_id, kind, key and
    state (the outbox passes plain tuples for acknowledged rows); only a row that
    goes back to pending needs to be an Outbox row.
    """
    delivered: list[int] = []
    live_cpos: set[int] = set()
    for row in rows:
        if row.kind != CONNECTOR_POST_STATUS:
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
            session.execute(EVENTS.update()
                            .where(EVENTS.c.outbox_id == row.id, EVENTS.c.delivery.in_(["pending", "held"]))
                            .values(delivery=delivery, reason=reason))
        elif row.last_error:
            # Still to be retried: stays pending; say why it waits.
            session.execute(EVENTS.update()
                            .where(EVENTS.c.outbox_id == row.id, EVENTS.c.delivery == "pending")
                            .values(reason=f"retrying: {row.last_error}"[:500]))
    for start in range(0, len(delivered), CHUNK):
        session.execute(EVENTS.update()
                        .where(EVENTS.c.outbox_id.in_(delivered[start:start + CHUNK]),
                               EVENTS.c.delivery.in_(["pending", "held"]))
                        .values(delivery="delivered", reason=None))
    for cpo_id in live_cpos:  # the first delivered status: step 3 of onboarding is running
        set_stage(session, cpo_id=cpo_id, stage=Stage.STATUSES_LIVE)


def _newer_row_waits(session: Session, row: Outbox) -> bool:
    return session.execute(
        sa_select(OUTBOX.c.cpo_id).where(OUTBOX.c.kind == CONNECTOR_POST_STATUS, OUTBOX.c.key == row.key,
                                         OUTBOX.c.id > row.id,
                                         OUTBOX.c.state.in_([OutboxState.PENDING, OutboxState.HELD]))
    ).scalars().first() == row.cpo_id


def _rejection_reason(row: Outbox) -> str:
    error = (row.last_error or "").strip()
    if row.result_code is not None and str(row.result_code) not in error:
        error = f"code {row.result_code}: {error}" if error else f"code {row.result_code}"
    return (error or "refused by the endpoint")[:500]


def station_acked_at(session: Session, *, cpo_id: int, evse_key: str) -> datetime | None:
    """When the endpoint last acknowledged a station of this CPO holding the EVSE id, live here and there (None:
    never; a station whose deletion it acknowledged is no longer there to publish)."""
    newest = session.execute(
        sa_select(func.max(STATIONS.c.acked_at))
        .select_from(CONNECTORS.join(STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk))
        .where(CONNECTORS.c.evse_key == evse_key, STATIONS.c.cpo_id == cpo_id, STATIONS.c.deleted == False,  # noqa: E712
               STATIONS.c.acked_deleted == False)  # noqa: E712
    ).scalar()
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return newest


def release_held_statuses(session: Session, station_ids: list[str]) -> int:
    """The endpoint acknowledged these stations: the statuses held back for their connectors are due now.

    Returns how many outbox rows were released. Stations acknowledged as deleted
    release nothing.
    """
    stations = _stations_with_held_statuses(session, station_ids)
    live = {station.id: station.cpo_id for station in stations
            if station.acked_at is not None and not station.deleted and not station.acked_deleted}
    keys_by_cpo: dict[int, set[str]] = {}
    pks = sorted(live)
    for start in range(0, len(pks), CHUNK):
        for station_pk, key in session.execute(
            sa_select(CONNECTORS.c.station_pk, CONNECTORS.c.evse_key)
            .where(CONNECTORS.c.station_pk.in_(pks[start:start + CHUNK]))
        ).all():
            keys_by_cpo.setdefault(live[station_pk], set()).add(key)
    return sum(_release(session, cpo_id=cpo_id, keys=sorted(keys)) for cpo_id, keys in keys_by_cpo.items())


_HELD_CPOS = sa_select(Outbox.__table__.c.cpo_id).where(
    Outbox.__table__.c.state == OutboxState.HELD, Outbox.__table__.c.kind == CONNECTOR_POST_STATUS).distinct()


def _stations_with_held_statuses(session: Session, station_ids: list[str]) -> list[Station]:
    """Of these stations, those of CPOs that have statuses held back (only those can release any)."""
    if not station_ids:
        return []
    # Cheap first: are statuses held back at all (an index lookup on state)?
    held = set(session.execute(_HELD_CPOS).scalars())
    if not held:
        return []
    found: list[Station] = []
    for chunk in in_chunks(station_ids):
        found += session.exec(
            select(Station).options(defer(Station.payload))
            .where(Station.station_id.in_(chunk), Station.cpo_id.in_(held))
            .execution_options(populate_existing=True)
        ).all()
    return found


def _release(session: Session, *, cpo_id: int, keys: list[str]) -> int:
    released: list[int] = []
    for chunk in in_chunks(keys):
        released += [row_id for row_id, owner in session.execute(
            sa_select(OUTBOX.c.id, OUTBOX.c.cpo_id).where(OUTBOX.c.kind == CONNECTOR_POST_STATUS,
                                                          OUTBOX.c.key.in_(chunk),
                                                          OUTBOX.c.state == OutboxState.HELD)
        ).all() if owner == cpo_id]
    now = utcnow()
    for start in range(0, len(released), CHUNK):
        chunk_ids = released[start:start + CHUNK]
        session.execute(update(Outbox).where(Outbox.id.in_(chunk_ids), Outbox.state == OutboxState.HELD)
                        .values(state=OutboxState.PENDING, next_attempt_at=now))
        session.execute(update(StatusEvent).where(StatusEvent.outbox_id.in_(chunk_ids),
                                                  StatusEvent.delivery == "held")
                        .values(delivery="pending", reason=None))
    return len(released)
