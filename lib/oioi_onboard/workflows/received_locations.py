"""Locations a CPO's back end pushes to the OCPI receiver: kept, forwarded as statuses, imported as stations.

Each PUT or PATCH of a Location, an EVSE or a connector (mod_locations.asciidoc, Receiver interface) is
applied to the newest Location held for it (``OcpiLocation``: what a GET answers), then:

- EVSE statuses that changed become connector statuses through ``record_statuses`` (source "ocpi"),
  mapped by ``ocpi.mapping.oioi_status``; PLANNED and REMOVED EVSEs are not pushed;
- when the station the Location maps to changed (a name, an address, an EVSE added, a plug, an EVSE that
  became PLANNED or REMOVED, ...), the Location is a one-station import through the import workflow
  (``full_upload=False``: the CPO's other stations stay as they are), and its station-post is queued under
  the usual guards: changed connectors are a replacement that waits for a confirmation on the push page,
  and a Location that no longer maps to a station (publish: false, no chargeable EVSE with an evse_id)
  is proposed for deletion there, never deleted silently.

A PATCH that only sets an EVSE's status between chargeable ones skips the mapping and the import: the
EVSE's new status is kept in the held Location and forwarded to its OIOI connector id by
``record_statuses``, as a busy back end sends hundreds a second. Inside a ``batched_statuses`` block (the
receiver opens one per transaction) the statuses of all such PATCHes go in one ``record_statuses`` call.

Ids (location_id, EVSE uid, connector id) are CiStrings: ``loc-1`` finds the Location pushed as ``LOC-1``,
and the spelling first pushed is kept (it names the station).

An object whose ``last_updated`` is older than the one held changes nothing; the answer says so. The
country_code and party_id in the URL must be one of the CPO's parties (its operator ids).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ..errors import NotFound, PermissionDenied, UserError
from ..ocpi import models as ocpi
from ..ocpi.files import LocationsFile
from ..ocpi.mapping import NOT_CHARGEABLE, map_locations, oioi_status, operator_id, station_id
from ..oioi.ids import normalise_evse_id
from ..sheets.canonical import ROW
from ..store import queries
from ..store.auth import Actor, require_edit
from ..store.models import Connector, OcpiLocation, utcnow
from ..store.stations import withdraw_station
from ..sync.diff import plan_push
from ..sync.outbox import enqueue_plan
from ..sync.status_ingest import lock_for_ingest, record_statuses
from ..untrusted import parse_utc
from . import imports

__all__ = ["Address", "Received", "Pending", "InvalidObject", "UnknownObject", "ForeignParty", "put_object",
           "patch_object", "get_object", "batched_statuses", "settled", "hold_pulled"]

SOURCE = "ocpi"
_BATCH, _OWNERS = "ocpi.status_batch", "ocpi.party_owners"  # keys of session.info
_STATUS_FIELDS = {"status", "last_updated", "uid"}


class InvalidObject(UserError):
    """The pushed object is not what OCPI describes, or its ids differ from the URL's (OCPI 2001)."""


class UnknownObject(NotFound):
    """The Location, or its EVSE or connector, was never pushed here (OCPI 2003)."""


class ForeignParty(PermissionDenied):
    """The URL's country_code/party_id is none of the token's CPO's parties."""


@dataclass(frozen=True)
class Address:
    """What a receiver URL names: ``{country_code}/{party_id}/{location_id}[/{evse_uid}[/{connector_id}]]``."""

    country_code: str
    party_id: str
    location_id: str
    evse_uid: str | None = None
    connector_id: str | None = None

    @property
    def level(self) -> str:
        return "connector" if self.connector_id else "EVSE" if self.evse_uid else "Location"

    def __str__(self) -> str:
        return "/".join(part for part in (self.country_code, self.party_id, self.location_id, self.evse_uid,
                                          self.connector_id) if part)


@dataclass(frozen=True)
class Received:
    """What a PUT or PATCH did: ``created`` an object new here; ``message`` what a person should know."""

    created: bool = False
    message: str | None = None


# --- the one entry per method ----------------------------------------------------------------


def get_object(session: Session, *, actor: Actor, cpo_id: int, address: Address) -> dict[str, Any]:
    """The Location, EVSE or connector as held: as pushed, with every later change applied."""
    queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    _check_party(session, cpo_id, address)
    held = _held(session, cpo_id, address, lock=False)
    if held is None:
        raise UnknownObject(f"Location {address.location_id} was never pushed here")
    return _target(held.data, address)


def put_object(session: Session, *, actor: Actor, cpo_id: int, address: Address, body: Any) -> Received:
    """A new or replaced Location, EVSE or connector (the whole object)."""
    require_edit(actor, cpo_id)
    _check_party(session, cpo_id, address)
    held = _held(session, cpo_id, address)
    if address.level == "Location":
        location = _validated(ocpi.Location, body, address)
        _same_ids(address, body)
        if held is not None and location.last_updated < held.last_updated:
            return _stale(address, location.last_updated, held.last_updated)
        if held is not None:
            body = {**body, "id": held.data["id"]}  # the spelling first pushed names the station
        return _apply(session, actor, cpo_id, address, held, body, created=held is None)
    if held is None:
        raise UnknownObject(f"Location {address.location_id} was never pushed here: PUT the Location first")
    moment = _validated(ocpi.EVSE if address.level == "EVSE" else ocpi.Connector, body, address).last_updated
    _same_ids(address, body)
    data = copy.deepcopy(held.data)
    if address.level == "EVSE":
        siblings, key, wanted = data.setdefault("evses", []), "uid", address.evse_uid
    else:
        siblings, key, wanted = _evse(data, address).setdefault("connectors", []), "id", address.connector_id
    index = next((i for i, item in enumerate(siblings) if _same(item.get(key), wanted)), None)
    if index is not None and moment < _moment(siblings[index]["last_updated"]):
        return _stale(address, moment, _moment(siblings[index]["last_updated"]))
    if index is None:
        siblings.append(body)
    else:
        siblings[index] = {**body, key: siblings[index][key]}  # the spelling first pushed
    _bump_parents(data, address, body["last_updated"])
    return _apply(session, actor, cpo_id, address, held, data, created=index is None)


def patch_object(session: Session, *, actor: Actor, cpo_id: int, address: Address, body: Any
                 ) -> Received | Pending:
    """Changed fields of a Location, EVSE or connector, with the ``last_updated`` every PATCH carries.

    ``Pending`` only inside a ``batched_statuses`` block, for a status-only PATCH of an EVSE."""
    require_edit(actor, cpo_id)
    _check_party(session, cpo_id, address)
    if not isinstance(body, dict):
        raise InvalidObject(f"a PATCH of a {address.level} is a JSON object of the fields that changed, "
                            "with last_updated")
    if "last_updated" not in body:
        raise InvalidObject("last_updated is missing: every PATCH carries it")
    model = {"Location": ocpi.LocationPatch, "EVSE": ocpi.EvsePatch, "connector": ocpi.ConnectorPatch}[address.level]
    patch = _validated(model, body, address)
    _same_ids(address, body)
    held = _held(session, cpo_id, address)
    if held is None:
        raise UnknownObject(f"Location {address.location_id} was never pushed here: PUT it before patching it")
    data = copy.deepcopy(held.data)
    target = _target(data, address)
    if "last_updated" in target and patch.last_updated < _moment(target["last_updated"]):
        return _stale(address, patch.last_updated, _moment(target["last_updated"]))
    if address.level == "EVSE" and set(body) <= _STATUS_FIELDS and "status" in body \
            and ocpi.EvseStatus(target["status"]) not in NOT_CHARGEABLE and patch.status not in NOT_CHARGEABLE:
        return _status_only(session, actor, cpo_id, address, held, data, target, body)
    target.update(body)
    _bump_parents(data, address, body["last_updated"])
    _validated(ocpi.Location, data, address, merged=True)
    return _apply(session, actor, cpo_id, address, held, data, created=False)


# --- what a change does ----------------------------------------------------------------------


def _apply(session: Session, actor: Actor, cpo_id: int, address: Address, held: OcpiLocation | None,
           data: dict[str, Any], *, created: bool) -> Received:
    """Keep the new Location, import its station when that changed, and forward the statuses that changed."""
    before = held.data if held is not None else None
    _keep(session, cpo_id, address, held, data)
    notes, imported = [], False
    if before is None or _station_of(before) != _station_of(data):
        notes, imported = _import_station(session, actor, cpo_id, address, data)
    items = _status_items(before, data)
    if imported:  # EVSEs of a station stored only now: their statuses were refused before
        items += _never_forwarded(session, cpo_id, _status_items(None, data), items)
    notes += _forward_statuses(session, actor, cpo_id, items)
    return Received(created=created, message="; ".join(notes) or None)


def _status_only(session: Session, actor: Actor, cpo_id: int, address: Address, held: OcpiLocation,
                 data: dict[str, Any], evse: dict[str, Any], body: dict[str, Any]) -> Received | Pending:
    """The fast path of a busy back end: the EVSE's new status kept, and forwarded to its OIOI connector id
    through ``record_statuses``; in a ``batched_statuses`` block, together with the block's other ones."""
    changed = oioi_status(evse["status"]) != oioi_status(body["status"])
    evse.update(body)
    _bump_parents(data, address, body["last_updated"])
    _keep(session, cpo_id, address, held, data)
    items = _status_items(None, {"evses": [evse]}) if changed else []
    batch = session.info.get(_BATCH)
    if batch is None or not items:
        return Received(message="; ".join(_forward_statuses(session, actor, cpo_id, items)) or None)
    pending = Pending()
    batch.append((actor, cpo_id, items, pending))
    return pending


class Pending:
    """The answer to a status-only PATCH in a ``batched_statuses`` block, known once the block ends."""

    def __init__(self) -> None:
        self.notes: list[str] | None = None

    def received(self) -> Received:
        if self.notes is None:
            raise RuntimeError("the statuses of a batched_statuses block are forwarded when the block ends")
        return Received(message="; ".join(self.notes) or None)


@contextmanager
def batched_statuses(session: Session) -> Iterator[None]:
    """Within this block, status-only EVSE PATCHes (``patch_object``) queue their statuses, and its end
    forwards them all: one ``record_statuses`` per CPO instead of one per PATCH, in the order they came (so
    the newest still wins). Their answers are ``Pending`` until then (``settled`` turns one into Received).
    Close it before the transaction commits; an error in it takes the transaction down."""
    batch: list[tuple[Actor, int, list[dict[str, Any]], Pending]] = []
    session.info[_BATCH] = batch
    try:
        yield
    finally:
        del session.info[_BATCH]
    by_cpo: dict[int, list[tuple[Actor, int, list[dict[str, Any]], Pending]]] = {}
    for entry in batch:
        by_cpo.setdefault(entry[1], []).append(entry)
    for cpo_id, entries in by_cpo.items():
        items = [item for entry in entries for item in entry[2]]
        results = iter(record_statuses(session, actor=entries[0][0], cpo_id=cpo_id, items=items, source=SOURCE))
        for _, _, mine, pending in entries:
            pending.notes = [f"the status of {result.evse_id} is not forwarded: {result.error}"
                             for result in (next(results) for _ in mine) if not result.ok]


def settled(outcome: Any) -> Any:
    """What ``patch_object`` answered, with a ``Pending`` of a ``batched_statuses`` block made Received."""
    return outcome.received() if isinstance(outcome, Pending) else outcome


def _keep(session: Session, cpo_id: int, address: Address, held: OcpiLocation | None, data: dict[str, Any]) -> None:
    moment = _moment(data["last_updated"])
    if held is None:
        held = OcpiLocation(cpo_id=cpo_id, country_code=address.country_code.upper(),
                            party_id=address.party_id.upper(), location_id=address.location_id, data=data,
                            last_updated=moment)
    else:
        held.data, held.last_updated, held.received_at = data, moment, utcnow()
    session.add(held)
    if held.id is None or session.info.get(_BATCH) is None:
        session.flush()
    # else: written when the transaction commits, once for all the PATCHes of a Location in it; ``_held``
    # finds the changed object meanwhile (the session's identity map), without writing it first.


def hold_pulled(session: Session, *, cpo_id: int, locations: list[tuple[int, Any]]) -> int:
    """Pulled Locations (``workflows.ocpi``) held as if pushed, where newer than what is held: a back end that is
    pulled and then PATCHes what changed (EVSE statuses, mostly) finds its Locations here. Only Locations of
    the CPO's own parties with their ids and a readable ``last_updated``; returns how many were kept.

    Core statements, a few in all: a full pull holds thousands of Locations, and ORM objects per Location
    cost more than the pull's own import.
    """
    table = OcpiLocation.__table__
    owned: dict[tuple[str, str], bool] = {}
    # Location ids are case-insensitive (CiString): held by their lower case, stored as first spelled.
    held = {(cc, party, location_id.lower()): (row_id, last_updated)
            for row_id, cc, party, location_id, last_updated in
            session.execute(sa_select(table.c.id, table.c.country_code, table.c.party_id, table.c.location_id,
                                      table.c.last_updated).where(table.c.cpo_id == cpo_id)).all()}
    new: dict[tuple[str, str, str], dict[str, Any]] = {}
    changed: dict[int, dict[str, Any]] = {}
    now = utcnow()
    for _, data in locations:
        if not isinstance(data, dict) or not all(isinstance(data.get(key), str) and data.get(key)
                                                 for key in ("country_code", "party_id", "id", "last_updated")):
            continue
        key = (data["country_code"].upper(), data["party_id"].upper(), data["id"].lower())
        if key[:2] not in owned:
            owned[key[:2]] = queries.operator_id_owner(session, operator_id=operator_id(*key[:2])) == cpo_id
        try:
            moment = _moment(data["last_updated"])
        except ValueError:
            continue
        if not owned[key[:2]]:
            continue
        found = held.get(key)
        if found is not None:
            if _moment(found[1]) >= moment:
                continue
            changed[found[0]] = {"_id": found[0], "data": data, "last_updated": moment, "received_at": now}
        else:  # the newest of a Location listed twice wins
            if key not in new or new[key]["last_updated"] < moment:
                new[key] = {"cpo_id": cpo_id, "country_code": key[0], "party_id": key[1], "location_id": data["id"],
                            "data": data, "last_updated": moment, "received_at": now}
    if new:
        session.execute(table.insert(), list(new.values()))
    if changed:
        session.execute(table.update().where(table.c.id == bindparam("_id"))
                        .values(data=bindparam("data"), last_updated=bindparam("last_updated"),
                                received_at=bindparam("received_at")), list(changed.values()))
    return len(new) + len(changed)


def _station_of(data: dict[str, Any]) -> tuple:
    """What the station-post of a Location depends on: its mapped rows and the errors that block them."""
    frame, issues, _ = map_locations([(1, data)])
    errors = issues.loc[issues["severity"] == "error", "message"].tolist()
    return frame.drop(columns=[ROW]).to_dict("records"), errors


def _import_station(session: Session, actor: Actor, cpo_id: int, address: Address, data: dict[str, Any]
                    ) -> tuple[list[str], bool]:
    """The Location as a one-station import; its station-post queued when allowed. (notes, stored)."""
    station = station_id(data["country_code"], data["party_id"], data["id"])  # as the mapping names it
    sha256 = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    raw = LocationsFile(locations=[(1, data)], file_name=f"OCPI push {address}", sha256=sha256)
    mapped = imports.map_sheet(session, actor=actor, cpo_id=cpo_id, raw=raw)
    validation = imports.check(session, actor=actor, cpo_id=cpo_id, frame=mapped.frame, mapping_issues=mapped.issues)
    record = imports.store(session, actor=actor, cpo_id=cpo_id, raw=raw, validation=validation, full_upload=False)
    if record.stations_stored:
        return _queue_station_post(session, actor, cpo_id, station), True
    if validation.errors:
        errors = validation.issues.loc[validation.issues["severity"] == "error", "message"].head(3).tolist()
        return [f"station {station} has errors, so it is not pushed: {'; '.join(errors)}"], False
    why = "it has publish: false" if data.get("publish") is False else "it has no chargeable EVSE with an evse_id"
    if withdraw_station(session, actor=actor, cpo_id=cpo_id, station_id=station, reason=f"OCPI push: {why}"):
        return [f"station {station} is no longer shown ({why}): its deletion waits for a confirmation on the "
                "push page"], False
    return [f"nothing of Location {address.location_id} is pushed: {why}"], False


def _queue_station_post(session: Session, actor: Actor, cpo_id: int, station: str) -> list[str]:
    plan = plan_push(session, actor=actor, cpo_id=cpo_id)
    items = [item for item in plan.items if item.station_id == station]
    if any(item.change == "connectors_changed" for item in items):
        return [f"the connectors of station {station} changed, which OIOI takes only as a replacement (the "
                "station deleted and pushed under a new id): it waits for a confirmation on the push page"]
    waiting = [item for item in items if item.change in ("new", "changed") and item.station_id not in plan.queued]
    if waiting:
        plan.items = waiting
        enqueue_plan(session, actor=actor, plan=plan)
    return []


def _status_items(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """A status item per chargeable EVSE with an evse_id whose OIOI status is new or changed."""
    known = {_ci(evse.get("uid")): evse for evse in (before or {}).get("evses") or []}
    items = []
    for evse in after.get("evses") or []:
        status = oioi_status(evse["status"])
        if status is None or not evse.get("evse_id"):
            continue
        previous = known.get(_ci(evse.get("uid")))
        if previous and (oioi_status(previous["status"]), previous.get("evse_id")) == (status, evse["evse_id"]):
            continue
        items.append({"evse_id": evse["evse_id"], "status": status.value, "timestamp": evse["last_updated"]})
    return items


def _never_forwarded(session: Session, cpo_id: int, items: list[dict[str, Any]], chosen: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """Of ``items``, those not ``chosen`` already whose connectors have had no status yet."""
    left = {normalise_evse_id(item["evse_id"]): item for item in items if item not in chosen}
    if not left:
        return []
    known = set(session.exec(select(Connector.evse_key).where(
        Connector.cpo_id == cpo_id, Connector.evse_key.in_(list(left)), Connector.status_at.is_not(None))).all())
    return [item for key, item in left.items() if key not in known]


def _forward_statuses(session: Session, actor: Actor, cpo_id: int, items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return []
    results = record_statuses(session, actor=actor, cpo_id=cpo_id, items=items, source=SOURCE)
    return [f"the status of {result.evse_id} is not forwarded: {result.error}" for result in results if not result.ok]


# --- the held Location -----------------------------------------------------------------------


def _check_party(session: Session, cpo_id: int, address: Address) -> None:
    party = operator_id(address.country_code, address.party_id)
    owners = session.info.setdefault(_OWNERS, {})  # for this transaction: a back end sends for few parties
    if party not in owners:
        owners[party] = queries.operator_id_owner(session, operator_id=party)
    if owners[party] != cpo_id:
        raise ForeignParty(f"{address.country_code}/{address.party_id} is not a party this token registered: a "
                           f"token pushes only for its CPO's operator ids ({party} is not one), to which the "
                           "credentials handshake adds the parties of its roles CPO")


def _held(session: Session, cpo_id: int, address: Address, *, lock: bool = True) -> OcpiLocation | None:
    """The Location held at ``address``; with ``lock``, no other process changes the CPO's Locations or statuses
    until this transaction ends (two relays patching one Location lose nothing)."""
    if lock:
        lock_for_ingest(session, cpo_id)
    party = (OcpiLocation.country_code == address.country_code.upper(),
             OcpiLocation.party_id == address.party_id.upper())
    # Ids are CiStrings: case does not matter. The spelling as pushed is kept, so the exact one is asked
    # first (by the unique index); only another spelling looks through the party's Locations.
    with session.no_autoflush:  # a Location changed in this transaction is the object held in the session
        return session.exec(select(OcpiLocation).where(*party, OcpiLocation.location_id == address.location_id)
                            ).first() or session.exec(select(OcpiLocation).where(
                                *party, func.upper(OcpiLocation.location_id) == address.location_id.upper())).first()


def _ci(value: Any) -> Any:
    """A CiString's key: ids differing only in case are the same id."""
    return value.upper() if isinstance(value, str) else value


def _same(value: Any, wanted: str | None) -> bool:
    return _ci(value) == _ci(wanted)


def _evse(data: dict[str, Any], address: Address) -> dict[str, Any]:
    for evse in data.get("evses") or []:
        if _same(evse.get("uid"), address.evse_uid):
            return evse
    raise UnknownObject(f"Location {address.location_id} has no EVSE with uid {address.evse_uid}: "
                        "PUT the EVSE before patching it")


def _target(data: dict[str, Any], address: Address) -> dict[str, Any]:
    """The object the address names inside a held Location (the Location itself, an EVSE or a connector)."""
    if address.level == "Location":
        return data
    evse = _evse(data, address)
    if address.level == "EVSE":
        return evse
    for connector in evse.get("connectors") or []:
        if _same(connector.get("id"), address.connector_id):
            return connector
    raise UnknownObject(f"EVSE {address.evse_uid} of Location {address.location_id} has no connector with id "
                        f"{address.connector_id}: PUT the connector before patching it")


def _bump_parents(data: dict[str, Any], address: Address, last_updated: str) -> None:
    """A child's change is its parents' change too: their last_updated becomes the child's when that is later."""
    parents = [data] if address.level == "EVSE" else [data, _evse(data, address)] \
        if address.level == "connector" else []
    for parent in parents:
        if _moment(last_updated) > _moment(parent["last_updated"]):
            parent["last_updated"] = last_updated


def _moment(value: str | datetime) -> datetime:
    return parse_utc(value, what="last_updated")  # held data was read by the same parser when it came


def _stale(address: Address, given: datetime, held: datetime) -> Received:
    return Received(message=f"last_updated {given:%Y-%m-%dT%H:%M:%SZ} is older than that of the {address.level} "
                            f"held here ({held:%Y-%m-%dT%H:%M:%SZ}): nothing changed")


def _validated(model: type[BaseModel], body: Any, address: Address, *, merged: bool = False) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'the body'}: "
                             f"{item['msg'].removeprefix('Value error, ')}" for item in error.errors()[:5])
        what = f"with this PATCH, Location {address.location_id}" if merged else f"the {address.level} {address}"
        raise InvalidObject(f"{what} is not valid OCPI {model.__name__.removesuffix('Patch')}: {problems}") from None


def _same_ids(address: Address, body: Any) -> None:
    """Ids in the body must be those of the URL (CiString: case does not matter)."""
    if address.level == "Location":
        expected = {"country_code": address.country_code, "party_id": address.party_id, "id": address.location_id}
    else:
        expected = {"uid": address.evse_uid} if address.level == "EVSE" else {"id": address.connector_id}
    for field, wanted in expected.items():
        given = body.get(field) if isinstance(body, dict) else None
        if given is not None and str(given).casefold() != wanted.casefold():
            raise InvalidObject(f"the {address.level}'s {field} {given!r} is not the one in the URL ({wanted!r})")
