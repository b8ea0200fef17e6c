"""The live read model: connectors, stations and status changes as the live map shows them.

Every function reads for an acting person (``actor``) and shows only the CPOs
that person may see. ``cpo_ids`` narrows to some of them; naming a CPO the
person may not see raises PermissionDenied rather than quietly showing less.
Counting and summing happen in the database: the map needs one row per
station, not 75,000 connector rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import NamedTuple

import pandas as pd
from sqlalchemy import and_, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ..errors import PermissionDenied
from ..oioi import ids
from ..store.auth import Actor
from ..store.models import Connector, Cpo, Station, utcnow
from ..store.queries import get_cpo, visible_cpo_ids
from .status_ingest import CONNECTORS, EVENTS, STATIONS, STATUSES, in_chunks

DELIVERY_LABELS = {
    "pending": "pending",
    "delivered": "delivered",
    "superseded": "superseded",
    "held": "held back",
    "stale": "stale (dropped)",
    "rejected": "rejected",
}  # a status event's delivery, as people read it


def _scope(session: Session, actor: Actor, cpo_ids: Iterable[int] | None) -> list[int]:
    """The CPOs to read: all this person sees, or those of ``cpo_ids``, which must all be visible to them."""
    visible = visible_cpo_ids(session, actor=actor)
    if cpo_ids is None:
        return visible
    wanted = set(cpo_ids)
    _require_sees(actor, wanted)
    return [cpo_id for cpo_id in visible if cpo_id in wanted]


def _require_sees(actor: Actor, cpo_ids: Iterable[int]) -> None:
    hidden = sorted(cpo_id for cpo_id in cpo_ids if not actor.sees(cpo_id))
    if hidden:
        raise PermissionDenied(f"{actor.name} may not see the connectors of CPO {hidden[0]}")


LIVE_COLUMNS = ["station_id", "name", "lat", "lon", "evse_id", "connector_type", "status", "status_at", "cpo",
                "cpo_id"]


def live_connectors(
    session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
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
    session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
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
        matches.append(CONNECTORS.c.status.in_(list(statuses)))
    if connector_types:
        matches.append(CONNECTORS.c.name.in_(list(connector_types)))
    per_status = [func.sum(case((and_(CONNECTORS.c.status == status, *matches), 1), else_=0)) for status in STATUSES]
    query = (
        sa_select(STATIONS.c.station_id, STATIONS.c.name, STATIONS.c.latitude, STATIONS.c.longitude,
                  STATIONS.c.cpo_id, func.count(), *per_status)
        .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
        .where(STATIONS.c.deleted == False)  # noqa: E712
        .group_by(STATIONS.c.id)
        .order_by(STATIONS.c.id)
    )
    if station_ids is None:
        query = query.where(CONNECTORS.c.cpo_id.in_(scope))
    else:
        # "+ 0": start from the named stations, not from the CPOs' every connector (see _in_scope).
        query = query.where((CONNECTORS.c.cpo_id + 0).in_(scope), STATIONS.c.station_id.in_(list(station_ids)))
    rows = session.execute(query).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=LIVE_STATION_COLUMNS)  # tuples: pandas probes Rows slowly


class LiveMapVersion(NamedTuple):
    """``live_map_version``'s fingerprint: the newest status event per CPO, and what stations there are."""

    cpo_ids: tuple[int, ...]
    last_events: tuple[int | None, ...]  # per CPO of cpo_ids
    stations: tuple  # stations' and connectors' counts, newest ids and change time


def live_map_version(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None) -> LiveMapVersion:
    """A cheap fingerprint of what the live map shows: it changes whenever a station or status does.

    A status change always writes a status event; an import or push that changes,
    adds or deletes a station sets its ``updated_at`` or adds rows. So a few
    MAX() and COUNT() lookups on indexes (plus one scan of station dates) tell
    whether a cached map is still true, without reading any connector.
    """
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return LiveMapVersion((), (), ())
    events = tuple(session.execute(sa_select(func.max(EVENTS.c.id)).where(EVENTS.c.cpo_id == cpo_id)).scalar()
                   for cpo_id in scope)  # one index lookup per CPO
    stations = session.execute(sa_select(func.max(STATIONS.c.id), func.max(STATIONS.c.updated_at))).one()
    station_count = session.execute(sa_select(func.count()).select_from(STATIONS)
                                    .where(STATIONS.c.cpo_id.in_(scope))).scalar()
    connector_count = session.execute(sa_select(func.count()).select_from(CONNECTORS)
                                      .where(CONNECTORS.c.cpo_id.in_(scope))).scalar()
    connector_max = session.execute(sa_select(func.max(CONNECTORS.c.id))).scalar()
    return LiveMapVersion(tuple(scope), events, (*stations, station_count, connector_count, connector_max))


INCREMENTAL_UP_TO = 400  # changed stations; beyond, counting every station again is as quick


def live_stations_since(
    session: Session, *, actor: Actor, version: LiveMapVersion, previous: tuple[LiveMapVersion, pd.DataFrame] | None,
    statuses: Iterable[str] | None = None, connector_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """``live_stations`` at ``version``, reusing ``previous`` (an earlier version and its frame, same filters).

    When only statuses changed since ``previous``, only the stations whose
    connectors had a status event since then are counted again: a live feed
    changes a few stations per refresh, not 25,000. Anything else (stations
    added, changed or deleted, another scope, many changes) counts every station.
    """
    _require_sees(actor, version.cpo_ids)  # before a frame held from earlier is handed out
    scope = list(version.cpo_ids)
    if previous is not None:
        old_version, old_frame = previous
        if old_version == version:
            return old_frame
        if old_version.cpo_ids == version.cpo_ids and old_version.stations == version.stations:
            seen = dict(zip(old_version.cpo_ids, old_version.last_events, strict=True))
            changed = _stations_with_events_after(session, seen, version)
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
    for cpo_id, newest in zip(version.cpo_ids, version.last_events, strict=True):
        since = after.get(cpo_id)
        if newest is None or newest == since:
            continue
        query = sa_select(EVENTS.c.evse_id).where(EVENTS.c.cpo_id == cpo_id).distinct()
        if since is not None:
            query = query.where(EVENTS.c.id > since)
        evse_ids = session.execute(query.limit(INCREMENTAL_UP_TO * 4 + 1)).scalars().all()
        if len(evse_ids) > INCREMENTAL_UP_TO * 4:
            return None
        for chunk in in_chunks({ids.normalise_evse_id(evse_id) for evse_id in evse_ids}):
            # By EVSE key alone (as statuses are set), owner checked here: see the note at status_ingest.CHUNK.
            for station_id, owner in session.execute(
                sa_select(STATIONS.c.station_id, CONNECTORS.c.cpo_id)
                .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
                .where(CONNECTORS.c.evse_key.in_(chunk))
            ).all():
                if owner == cpo_id:
                    changed.add(station_id)
        if len(changed) > INCREMENTAL_UP_TO:
            return None
    return changed


RECENT_COLUMNS = ["received_at", "cpo", "evse_id", "status", "observed_at", "source", "delivery", "reason"]


def recent_changes(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None,
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
            sa_select(EVENTS.c.id, EVENTS.c.received_at, EVENTS.c.cpo_id, EVENTS.c.evse_id, EVENTS.c.status,
                      EVENTS.c.observed_at, EVENTS.c.source, EVENTS.c.delivery, EVENTS.c.reason)
            .where(EVENTS.c.cpo_id == cpo_id).order_by(EVENTS.c.id.desc()).limit(limit)
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
    return (EVENTS.c.cpo_id + 0).in_(scope)


def status_counts_over_time(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None,
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
    live = STATIONS.c.deleted == False  # noqa: E712
    # Counted in the database: reading 75,000 connectors into pandas took half a second.
    now_counts = pd.Series(dict(session.execute(
        sa_select(CONNECTORS.c.status, func.count())
        .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
        .where(CONNECTORS.c.cpo_id.in_(scope), live)
        .group_by(CONNECTORS.c.status)
    ).all()), dtype="int64").reindex(STATUSES, fill_value=0)

    events = pd.DataFrame(session.execute(
        sa_select(EVENTS.c.id, EVENTS.c.evse_id, EVENTS.c.status, EVENTS.c.received_at)
        .where(_in_scope(scope), EVENTS.c.received_at >= start, EVENTS.c.delivery != "stale")
    ).all(), columns=["id", "evse_id", "status", "received_at"]).sort_values("id")  # sorted here: see _in_scope
    # Connectors per EVSE id, for the EVSE ids that changed only (by EVSE id alone: see status_ingest.CHUNK).
    weight_of: dict[str, int] = {}
    wanted = set(scope)
    for chunk in in_chunks(set(events["evse_id"])):
        for evse_id, owner, count in session.execute(
            sa_select(CONNECTORS.c.evse_id, CONNECTORS.c.cpo_id, func.count())
            .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
            .where(CONNECTORS.c.evse_id.in_(chunk), live)
            .group_by(CONNECTORS.c.evse_id, CONNECTORS.c.cpo_id)
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
    for chunk in in_chunks(first_ids.index):
        latest = (sa_select(func.max(EVENTS.c.id))
                  .where(EVENTS.c.evse_id.in_(chunk), EVENTS.c.received_at < start, EVENTS.c.delivery != "stale")
                  .group_by(EVENTS.c.evse_id))
        before.update(session.execute(sa_select(EVENTS.c.evse_id, EVENTS.c.status)
                                      .where(EVENTS.c.id.in_(latest))).all())
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


def status_changes_per_minute(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None,
                              minutes: int = 60) -> pd.DataFrame:
    """Status changes received per minute over the last ``minutes``, one column per new status (stale left out)."""
    scope = _scope(session, actor, cpo_ids)
    end = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    index = pd.date_range(start, end - timedelta(minutes=1), freq="min", name="minute")
    if not scope:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    rows = session.execute(
        sa_select(EVENTS.c.received_at, EVENTS.c.status)
        .where(_in_scope(scope), EVENTS.c.received_at >= start, EVENTS.c.delivery != "stale")
    ).all()
    frame = pd.DataFrame(rows, columns=["received_at", "status"])
    if frame.empty:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    frame["minute"] = pd.to_datetime(frame["received_at"], utc=True).dt.floor("min")
    counts = frame.groupby(["minute", "status"]).size().unstack(fill_value=0)
    return counts.reindex(index=index, columns=STATUSES, fill_value=0)


def connector_types(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None) -> list[str]:
    """The connector types present among the connectors this person may see (for a filter)."""
    scope = _scope(session, actor, cpo_ids)
    if not scope:
        return []
    return sorted(session.exec(select(Connector.name).where(Connector.cpo_id.in_(scope)).distinct()).all())


def connector_count(session: Session, *, actor: Actor, cpo_id: int) -> int:
    """How many connectors a CPO has stored (an index count: cheap enough to tell whether a list is stale)."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    return session.execute(sa_select(func.count()).select_from(CONNECTORS)
                           .where(CONNECTORS.c.cpo_id == cpo_id)).scalar() or 0


def evse_ids(session: Session, *, actor: Actor, cpo_id: int, limit: int = 5000) -> list[str]:
    """The distinct EVSE ids of a CPO's live stations (for the UI's pick list)."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    return list(session.exec(
        select(Connector.evse_id).join(Station, Station.id == Connector.station_pk)
        .where(Connector.cpo_id == cpo_id, Station.deleted == False)  # noqa: E712
        .distinct().order_by(Connector.evse_id).limit(limit)
    ).all())

