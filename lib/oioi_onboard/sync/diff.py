"""What a push would send: the stored stations against what the endpoint acknowledged.

Kinds of change, in the protocol's terms:

- ``new``: never acknowledged;
- ``changed``: acknowledged, fields differ, connectors (EVSE ids and types) equal;
- ``connectors_changed``: the spec forbids changing the connectors of a station,
  so the acknowledged station is soft-deleted and the current one pushed under a
  new station id (``<old>-2``, ``<old>-3``, ...); needs the user's confirmation;
- ``deleted``: removed here, or missing from the latest full upload; pushed as the
  acknowledged payload with ``"deleted": true``; needs the user's confirmation;
- ``unchanged``: not sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlmodel import Session

from ..errors import Conflict
from ..oioi.messages import canonical_sha256, station_post_body
from ..oioi.vocabulary import STATION_POST
from ..store.auth import Actor
from ..store.models import OPEN_STATES, Outbox, OutboxState, PartnerIdentifier, Station
from ..store.queries import get_cpo
from ..store.station_list import latest_full_import_ids, missing_from_upload

KINDS = ("new", "changed", "connectors_changed", "deleted", "unchanged")
NEEDS_CONFIRMATION = ("connectors_changed", "deleted")


class PlanError(Conflict):
    """The plan cannot be made; the message says why."""


@dataclass(frozen=True)
class PlanItem:
    station_pk: int
    station_id: str
    change: str  # one of KINDS
    payload_sha256: str  # of the station object that will be sent
    new_station_id: str | None = None  # connectors_changed: the id it is pushed under
    reason: str = ""


@dataclass
class PushPlan:
    cpo_id: int
    partner_identifier: str
    items: list[PlanItem] = field(default_factory=list)
    _session: Session | None = field(default=None, repr=False, compare=False)
    # Stations the database already showed unchanged (acknowledged as stored): counted, not listed,
    # so a CPO whose 25,000 stations are all pushed does not cost 25,000 items per page rerun.
    unchanged_unlisted: int = 0
    # Station ids whose planned request already waits in the outbox (queued, not acknowledged yet).
    queued: frozenset[str] = frozenset()

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(item.change for item in self.items)
        counted["unchanged"] += self.unchanged_unlisted
        return {kind: counted.get(kind, 0) for kind in KINDS}

    @property
    def to_send(self) -> list[PlanItem]:
        return [item for item in self.items if item.change != "unchanged"]

    @property
    def waiting(self) -> list[PlanItem]:
        """What a push would queue now: to_send without what the outbox already holds."""
        return [item for item in self.items if item.change != "unchanged" and item.station_id not in self.queued]

    @property
    def queued_counts(self) -> dict[str, int]:
        """Of each kind to send, how many are already queued (the worker is sending them)."""
        counted = Counter(item.change for item in self.items if item.station_id in self.queued)
        return {kind: counted.get(kind, 0) for kind in KINDS}

    @property
    def needs_confirmation(self) -> dict[str, int]:
        """Kinds that the user must confirm before anything is enqueued, with their counts."""
        counts = self.counts
        return {kind: counts[kind] for kind in NEEDS_CONFIRMATION if counts[kind]}

    def item(self, station_id: str) -> PlanItem:
        for item in self.items:
            if item.station_id == station_id:
                return item
        raise KeyError(f"station {station_id} is not part of this plan")

    def requests(self, session: Session, station_id: str) -> list[dict[str, Any]]:
        """The exact request bodies this plan sends for one station (two for a connector change)."""
        item = self.item(station_id)
        station = session.get(Station, item.station_pk)
        return [body for body, _sha, _key in planned_requests(session, item, station, self.partner_identifier)]


def mass_replacement(plan: PushPlan) -> str | None:
    """Why this push looks like swapping a CPO's live stations for new ones (None when it does not).

    Deleting most of the stations the endpoint holds while adding about as many new ones is what a
    file mapped with other station ids does (their column not mapped, so ids were generated): every
    station would be deleted and pushed again under a new id. It needs its own confirmation.
    """
    counts = plan.counts
    deleted, new = counts["deleted"], counts["new"]
    live = deleted + counts["changed"] + counts["connectors_changed"] + counts["unchanged"]
    if not deleted or deleted * 2 <= live or not deleted / 2 <= new <= deleted * 2:
        return None
    return (f"{deleted} of the {live} stations the endpoint holds would be deleted and {new} new ones pushed: "
            "station ids differ: is the station id column mapped?")


def _acked_payload(session: Session, station: Station) -> dict[str, Any] | None:
    """The station object the endpoint last acknowledged, from the outbox."""
    row = session.exec(
        select(Outbox.payload)
        .where(Outbox.kind == STATION_POST, Outbox.key == station.station_id, Outbox.state == OutboxState.ACKED)
        .order_by(Outbox.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0][STATION_POST]["station"]


def deletion_payload(session: Session, station: Station) -> dict[str, Any]:
    """The acknowledged station object with ``"deleted": true`` (the current one if none is on record)."""
    acked = _acked_payload(session, station)
    payload = dict(acked if acked is not None else station.payload)
    payload["deleted"] = True
    return payload


def planned_requests(
    session: Session, item: PlanItem, station: Station, partner_identifier: str
) -> list[tuple[dict[str, Any], str, str]]:
    """(request body, station-object hash, key) for each request of a plan item, in sending order."""
    if item.change in ("new", "changed"):
        return [(station_post_body(station.payload, partner_identifier), station.payload_sha256, station.station_id)]
    if item.change == "deleted":
        payload = deletion_payload(session, station)
        return [(station_post_body(payload, partner_identifier), canonical_sha256(payload), station.station_id)]
    if item.change == "connectors_changed":
        old = deletion_payload(session, station)
        new = dict(station.payload, id=item.new_station_id, deleted=False)
        return [
            (station_post_body(old, partner_identifier), canonical_sha256(old), station.station_id),
            (station_post_body(new, partner_identifier), canonical_sha256(new), item.new_station_id),
        ]
    return []


def _default_partner_identifier(session: Session, cpo_id: int) -> str:
    row = session.exec(
        select(PartnerIdentifier.partner_identifier)
        .where(PartnerIdentifier.cpo_id == cpo_id)
        .order_by(PartnerIdentifier.id)
        .limit(1)
    ).first()
    if row is None:
        raise PlanError(f"CPO {cpo_id} has no partner identifier yet: register one on the CPOs page first")
    return row[0]


def next_station_id(old_id: str, taken: set[str]) -> str:
    """The deterministic replacement id of a station whose connectors changed: <old>-2, <old>-3, ..."""
    n = 2
    while f"{old_id}-{n}" in taken:
        n += 1
    return f"{old_id}-{n}"


def _pushed_as(session: Session, pk: int, station_id: str,
               cache: dict[str, list[tuple[int, str, str]]]) -> str | None:
    """The replacement id (``<id>-N``) that already carries this station's current content, if any.

    After a connector change the old id is soft-deleted and the station lives on under
    ``<id>-N``; a later upload of the same file brings the old id back with that content.
    """
    if "" not in cache:
        cache[""] = []
        for rpk, rid, rsha, replaced in session.exec(
            select(Station.id, Station.station_id, Station.acked_sha256, Station.replaces)
            .where(Station.replaces.is_not(None), Station.acked_sha256.is_not(None))
        ).all():
            cache.setdefault(replaced, []).append((rpk, rid, rsha))
    candidates = cache.get(station_id)
    if not candidates:
        return None
    payload = session.get(Station, pk).payload
    for _rpk, rid, rsha in candidates:
        if canonical_sha256(dict(payload, id=rid, deleted=False)) == rsha:
            return rid
    return None


def _queued(session: Session, cpo_id: int, items: list[PlanItem]) -> frozenset[str]:
    """Station ids of items whose request already waits in the outbox, as enqueue_plan would find it."""
    to_send = {item.station_id: item for item in items if item.change in ("new", "changed", "deleted")}
    if not to_send:
        return frozenset()
    found = set()
    for key, change, sha in session.connection().execute(  # Core rows: the ORM costs 5x per row here
        select(Outbox.key, Outbox.change, Outbox.payload_sha256)
        .where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST, Outbox.state.in_(OPEN_STATES))
    ).all():
        item = to_send.get(key)
        if item is None:
            continue
        # A deletion's body is the acknowledged payload marked deleted: any open deletion of the id carries it.
        if (change == "deleted") if item.change == "deleted" else sha == item.payload_sha256:
            found.add(key)
    return frozenset(found)


def plan_push(session: Session, *, actor: Actor, cpo_id: int, partner_identifier: str | None = None) -> PushPlan:
    """Compare each stored station of a CPO with what the endpoint acknowledged (for a person who sees the CPO)."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    partner_identifier = partner_identifier or _default_partner_identifier(session, cpo_id)
    missing = missing_from_upload(latest_full_import_ids(session, [cpo_id]))
    gone = or_(Station.deleted, missing)
    # Settled by the database: unchanged (acknowledged as stored and listed), and no longer listed with nothing
    # to send (never acknowledged, or its deletion acknowledged), which the plan leaves out. The rest is
    # classified below.
    unchanged = and_(not_(gone), Station.acked_sha256.is_not(None), Station.acked_sha256 == Station.payload_sha256)
    dropped = and_(gone, or_(Station.acked_sha256.is_(None), Station.acked_deleted))
    count = session.exec(select(func.count()).where(Station.cpo_id == cpo_id, unchanged)).one()[0]
    columns = (
        Station.id, Station.station_id, Station.payload_sha256, Station.connectors_signature, Station.deleted,
        missing, Station.acked_sha256, Station.acked_connectors_signature, Station.acked_deleted, Station.replaces,
    )
    rows = session.connection().execute(  # Core rows: the ORM costs 5x per row here
        select(*columns).where(Station.cpo_id == cpo_id, not_(unchanged), not_(dropped)).order_by(Station.id)
    ).all()
    taken: set[str] | None = None
    replacements: dict[str, list[tuple[int, str, str]]] = {}
    plan = PushPlan(cpo_id=cpo_id, partner_identifier=partner_identifier, unchanged_unlisted=count)
    for pk, station_id, sha, signature, deleted, left_out, acked_sha, acked_signature, acked_deleted, replaces in rows:
        acked = acked_sha is not None
        if deleted or left_out:  # and the endpoint holds it (the others were left out of the plan above)
            why = "removed here" if deleted else "missing from the latest full upload"
            plan.items.append(PlanItem(pk, station_id, "deleted", "", reason=why))
        elif not acked:
            plan.items.append(PlanItem(pk, station_id, "new", sha))
        elif acked_sha == sha:
            plan.items.append(PlanItem(pk, station_id, "unchanged", sha))
        elif acked_deleted and (replacement := _pushed_as(session, pk, station_id, replacements)):
            # A soft-deleted id back in an upload, with the content already pushed under its new id.
            plan.items.append(PlanItem(pk, station_id, "unchanged", sha, reason=f"already pushed as {replacement}"))
        elif acked_signature is not None and acked_signature != signature:
            if taken is None:
                taken = set(session.exec(select(Station.station_id)).scalars().all())
            new_id = next_station_id(replaces or station_id, taken)  # <id>-3 after <id>-2, not <id>-2-2
            taken.add(new_id)
            plan.items.append(PlanItem(
                pk, station_id, "connectors_changed", sha, new_station_id=new_id,
                reason=f"connectors changed: soft-delete {station_id} and push it as {new_id}",
            ))
        else:
            plan.items.append(PlanItem(pk, station_id, "changed", sha))
    plan.queued = _queued(session, cpo_id, plan.items)
    return plan
