"""The live read model: connectors, stations and status changes as the live map shows them.

Every function reads for an acting person (``actor``) and shows only the CPOs
that person may see. ``cpo_ids`` narrows to some of them; naming a CPO the
person may not see raises PermissionDenied rather than quietly showing less.
Counting and summing happen in the database: the map needs one row per
station, not 75,000 connector rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import pandas as pd
from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ..errors import NotFound, PermissionDenied
from ..oioi import ids
from ..oioi.vocabulary import CONNECTOR_POST_STATUS, STATUSES
from ..sheets.addresses import address_line
from ..store.auth import Actor, require_sees, visible_cpo_ids
from ..store.models import Connector, Cpo, ImportRecord, Station, utcnow
from ..store.queries import get_cpo
from ..store.station_list import listed
from .status_ingest import CONNECTORS, EVENTS, OUTBOX, STATIONS, in_chunks

DELIVERY_LABELS = {
    "pending": "pending",
    "delivered": "delivered",
    "superseded": "superseded",
    "held": "held back",
    "stale": "stale (dropped)",
    "rejected": "rejected",
}  # a status event's delivery, as people read it


LIVE_COLUMNS = ["station_id", "name", "lat", "lon", "evse_id", "connector_type", "status", "status_at",
                "status_source", "cpo", "cpo_id"]


def live_connectors(
    session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
    connector_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per connector of the live stations this person may see, with its current status."""
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
    if not scope:
        return pd.DataFrame(columns=LIVE_COLUMNS)
    query = (
        select(Station.station_id, Station.name, Station.latitude, Station.longitude, Connector.evse_id,
               Connector.name, Connector.status, Connector.status_at, Connector.status_source, Cpo.name, Cpo.id)
        .join(Station, Station.id == Connector.station_pk)
        .join(Cpo, Cpo.id == Connector.cpo_id)
        .where(Connector.cpo_id.in_(scope), listed(session, scope))
        .order_by(Station.id, Connector.id)
    )
    if statuses:
        query = query.where(Connector.status.in_(list(statuses)))
    if connector_types:
        query = query.where(Connector.name.in_(list(connector_types)))
    rows = session.execute(query).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=LIVE_COLUMNS)  # tuples: pandas probes Rows slowly


LIVE_STATION_COLUMNS = ["station_id", "name", "lat", "lon", "cpo_id", "connectors", *STATUSES, "source"]


def live_stations(
    session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None, statuses: Iterable[str] | None = None,
    connector_types: Iterable[str] | None = None, station_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per live station this person may see: its connectors, and per status how many match the filters.

    ``connectors`` counts all of the station's connectors; the status columns
    count only those with one of ``statuses`` and of one of ``connector_types``
    (all when not given), so a station none of whose connectors match has zeros
    there. ``source``: where its connectors' statuses came from (``ocpi``, ``api``, ``file`` ...; the
    greatest name when they differ, "" when none came in yet). Summed in the database: the map needs one
    point per station, not 75,000 connector rows. ``station_ids`` (at most a few hundred) narrows to those.
    """
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
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
                  STATIONS.c.cpo_id, func.count(), *per_status, func.coalesce(func.max(CONNECTORS.c.status_source), ""))
        .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
        .where(listed(session, scope))
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
    adds or deletes a station sets its ``updated_at`` or adds rows, and a full upload adds an import. So a few
    MAX() and COUNT() lookups on indexes (plus one scan of station dates) tell
    whether a cached map is still true, without reading any connector.
    """
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
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
    # A full upload takes the stations it leaves out off the map without writing them.
    latest_import = session.execute(sa_select(func.max(ImportRecord.id)).where(ImportRecord.cpo_id.in_(scope))).scalar()
    return LiveMapVersion(tuple(scope), events,
                          (*stations, station_count, connector_count, connector_max, latest_import))


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
    require_sees(actor, version.cpo_ids)  # before a frame held from earlier is handed out
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
                    sources = frame["source"].to_numpy(dtype="object", copy=True)
                    sources[rows] = fresh["source"].to_numpy(dtype="object")
                    frame["source"] = sources
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


RECENT_COLUMNS = ["received_at", "cpo", "evse_id", "status", "observed_at", "source", "delivery", "reason",
                  "delivered_at", "took_s", "station_id"]


def recent_changes(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None,
                   limit: int = 200) -> pd.DataFrame:
    """The newest status changes received, with what became of each.

    ``delivery`` as people read it (pending, delivered, superseded, held back,
    stale, rejected) with its ``reason``; for a delivered change the moment the
    endpoint acknowledged it (``delivered_at``) and the seconds from receiving the
    change to that acknowledgement (``took_s``); ``station_id``: the station the
    connector belongs to (for opening the station view). Times are aware UTC.
    """
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
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
                      EVENTS.c.observed_at, EVENTS.c.source, EVENTS.c.delivery, EVENTS.c.reason, EVENTS.c.outbox_id)
            .where(EVENTS.c.cpo_id == cpo_id).order_by(EVENTS.c.id.desc()).limit(limit)
        ).all()
    rows.sort(key=lambda row: row[0], reverse=True)
    rows = rows[:limit]
    frame = pd.DataFrame([row[1:9] for row in rows], columns=RECENT_COLUMNS[:8])
    frame["cpo"] = frame["cpo"].map(names)
    acked = _acked_at(session, {row[9] for row in rows if row[7] == "delivered" and row[9] is not None})
    delivered_at = pd.Series([acked.get(row[9]) if row[7] == "delivered" else None for row in rows],
                             dtype="object")
    frame["received_at"] = _utc(frame["received_at"])
    frame["observed_at"] = _utc(frame["observed_at"])
    frame["delivered_at"] = _utc(delivered_at)
    frame["took_s"] = (frame["delivered_at"] - frame["received_at"]).dt.total_seconds().round(1)
    stations = _stations_of(session, set(frame["evse_id"]), set(scope))
    frame["station_id"] = frame["evse_id"].map(lambda evse_id: stations.get(evse_id, ""))
    frame["delivery"] = frame["delivery"].map(lambda value: DELIVERY_LABELS.get(value, value))
    frame["reason"] = frame["reason"].fillna("")
    return frame[RECENT_COLUMNS]


def _utc(values: pd.Series) -> pd.Series:
    """Datetimes as aware UTC (SQLite hands back naive ones, PostgreSQL aware ones); missing ones NaT."""
    return pd.to_datetime(values, utc=True)


def _acked_at(session: Session, outbox_ids: set[int]) -> dict[int, object]:
    found: dict[int, object] = {}
    ids_ = sorted(outbox_ids)
    for start in range(0, len(ids_), 500):
        found.update(session.execute(sa_select(OUTBOX.c.id, OUTBOX.c.acked_at)
                                     .where(OUTBOX.c.id.in_(ids_[start:start + 500]))).all())
    return found


def _stations_of(session: Session, evse_ids: set[str], cpo_ids: set[int]) -> dict[str, str]:
    """EVSE id -> the live station holding it, among the CPOs of ``cpo_ids`` (checked by the caller)."""
    found: dict[str, str] = {}
    for chunk in in_chunks(evse_ids):
        for evse_id, station_id, owner, deleted in session.execute(
            sa_select(CONNECTORS.c.evse_id, STATIONS.c.station_id, CONNECTORS.c.cpo_id, STATIONS.c.deleted)
            .join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
            .where(CONNECTORS.c.evse_id.in_(chunk))
        ).all():
            if owner in cpo_ids and (not deleted or evse_id not in found):
                found[evse_id] = station_id
    return found


# --- one station: its connectors, their history, the requests that went out ---------------------------------

CHANGE_COLUMNS = ["received_at", "evse_id", "status", "observed_at", "source", "delivery", "reason",
                  "delivered_at", "took_s"]
REQUEST_COLUMNS = ["outbox_id", "evse_id", "status", "state", "created_at", "sent_at", "acked_at", "attempts",
                   "result_code", "answer"]


@dataclass
class StationView:
    """What the live page shows of one station (``station_view``)."""

    station_id: str
    name: str
    cpo_id: int
    cpo: str
    address: str
    latitude: float
    longitude: float
    acknowledged_at: datetime | None  # when the endpoint last acknowledged its station-post; None: never
    listed: bool  # on its CPO's station list (store.station_list)
    deleted_at_endpoint: bool  # the endpoint acknowledged its deletion
    connectors: pd.DataFrame  # evse_id, connector_type, speed, status, status_at, source
    changes: pd.DataFrame  # CHANGE_COLUMNS: its connectors' last status changes, newest first
    requests: pd.DataFrame  # REQUEST_COLUMNS: the connector-post-status requests for them, newest first
    payloads: dict[int, dict] = field(default_factory=dict)  # outbox id -> the exact request body


def station_view(session: Session, *, actor: Actor, station_id: str, limit: int = 20) -> StationView:
    """One station as the live page shows it; NotFound for an unknown id, PermissionDenied for another's CPO
    (both "not found or not yours" to a person who sees only some CPOs).

    ``station_id`` may also be one of its connectors' EVSE ids. ``requests``
    are the ``connector-post-status`` requests queued for its EVSE ids: the
    exact body (``payloads``; for a person who may only look, the partner
    identifier shortened to its last four characters), whether and when it was
    sent and acknowledged, and the endpoint's answer as recorded (result code, error).
    """
    wanted = station_id.strip()
    # A file's own station id finds the station that carries it at the platform: after a connector change the
    # id is soft-deleted and a live <id>-N replaces it.
    row = session.execute(
        sa_select(STATIONS).where(or_(STATIONS.c.station_id == wanted, STATIONS.c.replaces == wanted))
        .order_by(STATIONS.c.deleted, STATIONS.c.station_id != wanted, STATIONS.c.id.desc())
    ).first()
    if row is None:
        key = ids.normalise_evse_id(wanted)
        row = session.execute(
            sa_select(STATIONS).join_from(CONNECTORS, STATIONS, STATIONS.c.id == CONNECTORS.c.station_pk)
            .where(CONNECTORS.c.evse_key == key).order_by(STATIONS.c.deleted, STATIONS.c.id.desc())
        ).first()
    # To someone who sees only some CPOs, another CPO's station reads like one that does not exist: neither
    # its CPO's name nor whether it exists is said.
    hidden = f"station or EVSE id {wanted!r}: not found or not yours"
    if row is None:
        raise NotFound(f"no station or EVSE id {wanted!r} is stored" if actor.sees_all else hidden)
    station = row._mapping
    if not actor.sees(station["cpo_id"]):
        raise PermissionDenied(hidden)
    cpo = get_cpo(session, actor=actor, cpo_id=station["cpo_id"])

    connectors = pd.DataFrame(
        [tuple(r) for r in session.execute(
            sa_select(CONNECTORS.c.evse_id, CONNECTORS.c.name, CONNECTORS.c.speed, CONNECTORS.c.status,
                      CONNECTORS.c.status_at, CONNECTORS.c.status_source, CONNECTORS.c.evse_key)
            .where(CONNECTORS.c.station_pk == station["id"]).order_by(CONNECTORS.c.id)
        ).all()],
        columns=["evse_id", "connector_type", "speed", "status", "status_at", "source", "evse_key"],
    )
    connectors["status_at"] = _utc(connectors["status_at"])
    connectors["source"] = connectors["source"].fillna("")
    evse_ids = sorted(set(connectors["evse_id"]))
    keys = sorted(set(connectors["evse_key"]))

    events = session.execute(
        sa_select(EVENTS.c.received_at, EVENTS.c.evse_id, EVENTS.c.status, EVENTS.c.observed_at, EVENTS.c.source,
                  EVENTS.c.delivery, EVENTS.c.reason, EVENTS.c.outbox_id)
        .where(EVENTS.c.evse_id.in_(evse_ids), EVENTS.c.cpo_id == cpo.id)
        .order_by(EVENTS.c.id.desc()).limit(limit)
    ).all() if evse_ids else []
    acked = _acked_at(session, {e[7] for e in events if e[5] == "delivered" and e[7] is not None})
    changes = pd.DataFrame([tuple(e[:7]) for e in events], columns=CHANGE_COLUMNS[:7])
    changes["received_at"] = _utc(changes["received_at"])
    changes["observed_at"] = _utc(changes["observed_at"])
    changes["delivered_at"] = _utc(pd.Series([acked.get(e[7]) if e[5] == "delivered" else None for e in events],
                                             dtype="object"))
    changes["took_s"] = (changes["delivered_at"] - changes["received_at"]).dt.total_seconds().round(1)
    changes["delivery"] = changes["delivery"].map(lambda value: DELIVERY_LABELS.get(value, value))
    changes["reason"] = changes["reason"].fillna("")

    outbox = session.execute(
        sa_select(OUTBOX.c.id, OUTBOX.c.payload, OUTBOX.c.state, OUTBOX.c.created_at, OUTBOX.c.sent_at,
                  OUTBOX.c.acked_at, OUTBOX.c.attempts, OUTBOX.c.result_code, OUTBOX.c.last_error, OUTBOX.c.cpo_id)
        .where(OUTBOX.c.kind == CONNECTOR_POST_STATUS, OUTBOX.c.key.in_(keys))
        .order_by(OUTBOX.c.id.desc()).limit(limit)
    ).all() if keys else []
    outbox = [r for r in outbox if r[9] == cpo.id]  # by key alone (see status_ingest.CHUNK), owner checked here
    payloads = {r[0]: r[1] if actor.can_edit(cpo.id) else _masked(r[1]) for r in outbox}
    requests = pd.DataFrame([_request_row(*r[:9]) for r in outbox], columns=REQUEST_COLUMNS)
    for column in ("created_at", "sent_at", "acked_at"):
        requests[column] = _utc(requests[column])
    payload = station["payload"] or {}
    address = payload.get("address") or {}
    return StationView(
        station_id=station["station_id"], name=station["name"], cpo_id=cpo.id, cpo=cpo.name,
        address=address_line(*(str(address.get(part) or "") for part in ("street", "street-number", "zip", "city"))),
        latitude=station["latitude"], longitude=station["longitude"],
        acknowledged_at=station["acked_at"],
        listed=bool(session.execute(sa_select(listed(session, [cpo.id])).where(STATIONS.c.id == station["id"]))
                    .scalar()),
        deleted_at_endpoint=bool(station["acked_deleted"]),
        connectors=connectors.drop(columns=["evse_key"]), changes=changes, requests=requests, payloads=payloads,
    )


def _masked(body: dict) -> dict:
    """The request for someone who may only look (a viewer): the partner identifier, which the platform
    treats as hard to guess, shortened to its last four characters."""
    inner = dict((body or {}).get(CONNECTOR_POST_STATUS) or {})
    partner = str(inner.get("partner-identifier") or "")
    if partner:
        inner["partner-identifier"] = "…" + partner[-4:]
    return {CONNECTOR_POST_STATUS: inner}


def _request_row(outbox_id: int, payload: dict, state: object, created_at: object, sent_at: object,
                 acked_at: object, attempts: int, result_code: int | None, last_error: str | None) -> tuple:
    body = (payload or {}).get(CONNECTOR_POST_STATUS) or {}
    state = str(getattr(state, "value", state))
    return (outbox_id, body.get("connector-id", ""), body.get("status", ""), REQUEST_STATES.get(state, state),
            created_at, sent_at, acked_at, attempts, result_code, request_answer(state, result_code, last_error))


REQUEST_STATES = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "acked": "acknowledged",
    "failed": "refused",
    "superseded": "replaced before it was sent",
    "held": "held back",
}


def request_answer(state: str, result_code: int | None, last_error: str | None) -> str:
    """The endpoint's answer to one queued request, as recorded, in words."""
    state = str(getattr(state, "value", state))
    if state == "acked":
        code = 0 if result_code is None else result_code
        return f"success (result code {code})" if code == 0 else f"accepted with result code {code}"
    if state == "failed":
        return ("refused: " + (f"code {result_code}: " if result_code is not None else "")
                + (last_error or "no reason given"))
    if state == "superseded":
        return "not sent: " + (last_error or "a newer status for the same EVSE id replaced it")
    if state == "held":
        return "not sent yet: the station is not acknowledged by the endpoint"
    if last_error:
        return f"no answer yet; retrying after: {last_error}"
    return "no answer yet"


def _last_minutes(minutes: int) -> tuple[datetime, pd.DatetimeIndex]:
    """The start of the last ``minutes`` whole minutes (the current one included) and their index."""
    end = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    return start, pd.date_range(start, end - timedelta(minutes=1), freq="min", name="minute")


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
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
    start, index = _last_minutes(minutes)
    if not scope:
        return pd.DataFrame(0, index=index, columns=STATUSES)
    live = listed(session, scope)
    # Counted in the database: reading 75,000 connectors into pandas takes half a second.
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
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
    start, index = _last_minutes(minutes)
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
    scope = visible_cpo_ids(session, actor=actor, cpo_ids=cpo_ids)
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
        .where(Connector.cpo_id == cpo_id, listed(session, [cpo_id]))
        .distinct().order_by(Connector.evse_id).limit(limit)
    ).all())

