"""Pulling a CPO's Locations from its OCPI back end: one more source for the one import pipeline.

    fetch_locations -> imports.map_sheet -> imports.check -> store_pulled [-> push.queue_push -> push.follow_push]

``pull_locations`` chains them for the CLI and the worker; the import page runs them one by one
(a person looks at the issues and the map before accepting), ``run_pull`` is the whole
``oioi-onboard ocpi pull`` job. What is pulled is read like a file of Locations (``ocpi.files``,
``ocpi.mapping``) and stored as one import whose source is "OCPI <Locations endpoint>".

- The first pull, and ``full``, asks for every Location: the list is the new truth, so a stored
  station missing from it is proposed for deletion, which a person confirms before it is pushed
  (``--yes``, or the push page), never silently. Every other pull asks only for what changed since
  the start of the last successful pull (``date_from``) and is stored as a partial upload: what it
  does not hold stays as it is.
- EVSE statuses that differ from what we hold, and are newer, become connector-post-status
  (``record_statuses``, source ``ocpi``), mapped by ``ocpi.mapping.oioi_status``.
- The pulled Locations are held as the receiver holds pushed ones (``received_locations.hold_pulled``), so
  that the back end's status PATCHes for them apply without a PUT first.
- Which encoding of the token the peer took, and when the pull started, are kept on the CPO
  (``store.ocpi_connection``); a failed pull leaves its message there and changes nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ..errors import Conflict, UserError
from ..ocpi.client import OcpiClient, ocpi_datetime
from ..ocpi.errors import OcpiError
from ..ocpi.files import LocationsFile
from ..ocpi.mapping import oioi_status
from ..ocpi.models import location_from_211
from ..oioi.ids import normalise_evse_id, parse_operator_id
from ..sheets.validate import Validation
from ..store import queries
from ..store.auth import SYSTEM, Actor, require_edit
from ..store.db import migrate, session_scope
from ..store.models import Connector, Cpo, ImportRecord, PushRun, Station, utcnow
from ..store.ocpi_connection import ocpi_connection, record_pull, record_pull_failure, remember_token_encoding
from ..store.registry import endpoint_label
from ..sync.diff import NEEDS_CONFIRMATION, plan_push
from ..sync.outbox import enqueue_plan
from ..sync.status_ingest import record_statuses
from ..untrusted import parse_utc
from ..wording import counted
from . import imports
from .push import PushSummary, follow_push, queue_push
from .received_locations import hold_pulled

__all__ = ["Pulled", "PullResult", "fetch_locations", "store_pulled", "pull_locations", "run_pull",
           "queue_pulled_changes", "STATUS_SOURCE"]

STATUS_SOURCE = "ocpi"


@dataclass
class Pulled:
    """What one pull brought, read as a file of Locations (``file``; ``data`` is its bytes, for the import page)."""

    cpo_id: int
    file: LocationsFile
    data: bytes
    full: bool
    started_at: datetime
    version: str
    endpoint: str
    pages: int
    warnings: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.file.file_name


@dataclass
class PullResult:
    """One pull as the CLI reports it."""

    cpo: str
    source: str
    full: bool
    version: str
    pages: int
    locations: int
    pull_warnings: list[str]
    stations: int = 0
    stations_stored: int = 0
    errors: int = 0
    warnings: int = 0
    statuses: int = 0  # EVSE statuses that changed, recorded for connector-post-status
    import_id: int | None = None
    push: PushSummary | None = None
    validation: Validation | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and (self.push is None or self.push.ok)

    def to_json(self) -> dict[str, Any]:
        # Field by field: asdict would copy the validation's frames too.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("validation", "push")}
        data["push"] = self.push.to_json() if self.push is not None else None
        issues = self.validation.issues if self.validation is not None else None
        data["issues"] = [] if issues is None else [
            {"row": int(r.row), "column": str(r.column), "value": str(r.value), "rule": str(r.rule),
             "message": str(r.message), "severity": str(r.severity)} for r in issues.itertuples()]
        data["ok"] = self.ok
        return data


# --- the steps ----------------------------------------------------------------------------------------


def _remember_failure(session: Session, cpo_id: int, message: str) -> None:
    """Keep why the pull failed, in a transaction of its own: the caller's rolls back with the error."""
    with Session(session.get_bind()) as own:
        record_pull_failure(own, cpo_id=cpo_id, message=message)
        own.commit()


def _as_221(items: list[Any], operator_ids: list[str]) -> list[Any]:
    """2.1.1 Locations in 2.2.1's shape, their party taken from the CPO's first operator id."""
    operator = parse_operator_id(operator_ids[0])
    return [location_from_211(item, country_code=operator.country, party_id=operator.operator) for item in items]


def fetch_locations(session: Session, *, actor: Actor, cpo_id: int, full: bool = False,
                    **client_options: Any) -> Pulled:
    """Pull the CPO's Locations: all of them (``full``, or no pull succeeded yet), else what changed since the
    last successful pull started. ``client_options`` go to ``OcpiClient`` (timeout, retries, transport ...).

    Raises ``ocpi.errors.OcpiError`` (its message kept on the CPO) and UserError without a connection.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    connection = ocpi_connection(session, actor=actor, cpo_id=cpo_id)
    if connection is None:
        raise UserError(f"CPO {cpo.name!r} has no OCPI connection: set its versions URL and token on the CPOs page "
                        "or with oioi-onboard cpo edit NAME --ocpi-versions-url URL --ocpi-token-env VAR")
    full = full or connection.last_pull_started_at is None
    since = None if full else connection.last_pull_started_at
    started_at = utcnow()
    try:
        with OcpiClient(connection.versions_url, connection.token, token_plain=connection.token_plain,
                        **client_options) as client:
            pulled = client.pull_locations(date_from=since)
            token_plain = client.token_plain
    except OcpiError as error:
        _remember_failure(session, cpo_id, f"the pull of {started_at:%Y-%m-%d %H:%M} UTC failed: {error}")
        raise
    if token_plain != connection.token_plain:
        remember_token_encoding(session, cpo_id=cpo_id, plain=token_plain)

    items = pulled.locations
    if pulled.version == "2.1.1":
        items = _as_221(items, queries.cpo_operator_ids(session, cpo_id=cpo_id))
    data = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    what = "every Location" if full else f"what changed since {ocpi_datetime(since)}"
    notes = [f"OCPI Locations: {len(items):,} pulled in {counted(pulled.pages, 'page')}, OCPI {pulled.version}, {what}",
             *pulled.warnings]
    file = LocationsFile(locations=list(enumerate(items, start=1)), file_name=f"OCPI {endpoint_label(pulled.endpoint)}",
                         sha256=hashlib.sha256(data).hexdigest(), notes=notes)
    return Pulled(cpo_id=cpo_id, file=file, data=data, full=full, started_at=started_at, version=pulled.version,
                  endpoint=pulled.endpoint, pages=pulled.pages, warnings=list(pulled.warnings))


def _changed_statuses(session: Session, cpo_id: int, locations: list[tuple[int, Any]]) -> list[dict[str, str]]:
    """The EVSE statuses of the pulled Locations that differ from the ones held and are newer, as status items."""
    found: dict[str, dict[str, str]] = {}
    for _, location in locations:
        if not isinstance(location, dict) or location.get("publish") is False:
            continue
        for evse in location.get("evses") or []:
            if not isinstance(evse, dict) or not isinstance(evse.get("evse_id"), str):
                continue
            try:
                status = oioi_status(evse.get("status"))
            except ValueError:
                continue  # not an OCPI status: the mapping names it
            if status is not None:
                found[normalise_evse_id(evse["evse_id"])] = {
                    "evse_id": evse["evse_id"], "status": status.value,
                    "timestamp": evse.get("last_updated") or location.get("last_updated")}
    if not found:
        return []
    held = {key: (status, at) for key, status, at in session.execute(
        select(Connector.evse_key, Connector.status, Connector.status_at).where(Connector.cpo_id == cpo_id)).all()}
    changed = []
    for key, item in found.items():
        if key not in held:
            continue  # a station that was not stored (blocked, or not published)
        status, at = held[key]
        if status == item["status"]:
            continue
        try:
            moment = parse_utc(item["timestamp"])
        except ValueError:
            moment = None
        if at is None or moment is None or moment > at:
            changed.append(item)
    return changed


def store_pulled(session: Session, *, actor: Actor, cpo_id: int, pulled: Pulled, validation: Validation | None
                 ) -> tuple[ImportRecord | None, int]:
    """Store a checked pull as one import (a full upload only for a full pull), record the EVSE statuses that
    changed, and remember the pull: (the import record, None when nothing changed; statuses recorded).

    Refused (Conflict) when a newer pull was stored since this one was made: its stations are older.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    if pulled.cpo_id != cpo.id:
        raise UserError(f"these Locations were pulled for another CPO, not {cpo.name}: pull them for it")
    if cpo.ocpi_last_pull_started_at is not None and cpo.ocpi_last_pull_started_at > pulled.started_at:
        raise Conflict(f"a newer pull of {cpo.name} (started {cpo.ocpi_last_pull_started_at:%Y-%m-%d %H:%M:%S} UTC) "
                       "was stored since this one was made; pull again")
    record = None
    if pulled.file.locations or pulled.full:
        record = imports.store(session, actor=actor, cpo_id=cpo_id, raw=pulled.file, validation=validation,
                               full_upload=pulled.full)
    items = _changed_statuses(session, cpo_id, pulled.file.locations)
    # Held as the receiver holds pushed ones: the back end's status PATCHes for them then apply.
    hold_pulled(session, cpo_id=cpo_id, locations=pulled.file.locations)
    results = record_statuses(session, actor=actor, cpo_id=cpo_id, items=items, source=STATUS_SOURCE) if items else []
    statuses = sum(result.ok for result in results)
    stored = f"{counted(record.stations_stored, 'station')} stored" if record is not None else "nothing changed"
    record_pull(session, cpo_id=cpo_id, started_at=pulled.started_at, full=pulled.full,
                message=f"{'full' if pulled.full else 'incremental'} pull of {pulled.started_at:%Y-%m-%d %H:%M} UTC: "
                        f"{counted(len(pulled.file.locations), 'Location')}, {stored}, "
                        f"{counted(statuses, 'status change')}")
    return record, statuses


def pull_locations(session: Session, *, actor: Actor, cpo_id: int, full: bool = False, push: bool = False,
                   yes: bool = False, replace_all: bool = False, say: Callable[[str], None] = print,
                   **client_options: Any) -> PullResult:
    """Pull, check and store the CPO's Locations; with ``push``, queue what the endpoint lacks as
    ``oioi-onboard push`` does (``yes`` confirms deletions and connector changes; ``replace_all`` lets
    through a push that replaces most live stations, which the mass-replacement guard refuses otherwise)
    for ``follow_push``."""
    pulled = fetch_locations(session, actor=actor, cpo_id=cpo_id, full=full, **client_options)
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    result = PullResult(cpo=cpo.name, source=pulled.source, full=pulled.full, version=pulled.version,
                        pages=pulled.pages, locations=len(pulled.file.locations), pull_warnings=pulled.warnings)
    for note in pulled.file.notes:
        say(note)
    validation = None
    if pulled.file.locations or pulled.full:
        mapped = imports.map_sheet(session, actor=actor, cpo_id=cpo_id, raw=pulled.file)
        validation = imports.check(session, actor=actor, cpo_id=cpo_id, frame=mapped.frame,
                                   mapping_issues=mapped.issues)
        result.validation, result.stations = validation, validation.stations
        result.errors, result.warnings = validation.errors, validation.warnings
    record, result.statuses = store_pulled(session, actor=actor, cpo_id=cpo_id, pulled=pulled,
                                           validation=validation)
    if record is not None:
        result.import_id, result.stations_stored = record.id, record.stations_stored
    if push and record is not None:
        partner = queries.cpo_partner_identifiers(session, cpo_id=cpo_id)[0]
        result.push = queue_push(session, actor=actor, cpo=cpo, partner=partner, record=record,
                                 validation=validation, yes=yes, replace_all=replace_all, say=say)
    return result


def run_pull(*, cpo_name: str, full: bool = False, push: bool = False, yes: bool = False,
             replace_all: bool = False, actor: Actor = SYSTEM, db_url: str | None = None,
             say: Callable[[str], None] = print, client_options: dict[str, Any] | None = None,
             **follow_options: Any) -> PullResult:
    """The whole ``oioi-onboard ocpi pull`` job: pull and store, then with ``push`` send and follow as
    ``oioi-onboard push`` does (``follow_options`` go to ``follow_push``: progress, backoff, worker options).
    The import, the push run and the audit entries name ``actor`` (the command line's: ``cli:<login>``)."""
    migrate(db_url)
    with session_scope(db_url) as session:
        cpo_id = queries.get_cpo(session, actor=actor, name=cpo_name).id
        result = pull_locations(session, actor=actor, cpo_id=cpo_id, full=full, push=push, yes=yes,
                                replace_all=replace_all, say=say, **(client_options or {}))
        partner = queries.cpo_partner_identifiers(session, cpo_id=cpo_id)[0]
    if result.push is not None:
        result.push = follow_push(result.push, db_url=db_url, cpo_id=cpo_id, import_id=result.import_id,
                                  partner=partner, say=say, **follow_options)
    return result


def queue_pulled_changes(session: Session, *, cpo_id: int) -> PushRun | None:
    """Queue what a pull changed for a CPO that has pushed before (the endpoint acknowledged a station of it):
    new and changed stations; deletions and connector changes wait for a person's confirmation on the push
    page. The first push is a person's to start. None when nothing is queued."""
    cpo = session.get(Cpo, cpo_id)
    if cpo is None or not cpo.api_key_encrypted or cpo.paused_reason:
        return None
    pushed_before = session.execute(
        select(Station.id).where(Station.cpo_id == cpo_id, Station.acked_sha256.is_not(None)).limit(1)).first()
    if pushed_before is None:
        return None
    plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
    plan = replace(plan, items=[item for item in plan.items if item.change not in NEEDS_CONFIRMATION])
    if not plan.waiting:
        return None
    return enqueue_plan(session, actor=SYSTEM, plan=plan)
