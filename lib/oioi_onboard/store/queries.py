"""Queries scoped by role: CPOs, their identifiers and credentials, the audit log, the overview.

The queries a page starts from (``list_cpos``, ``get_cpo``, ``cpo_credentials``,
``audit_log``, ``overview``) take the acting person (``auth.Actor``) and ask
``auth`` who may see what, so a page that forgets to hide a widget still cannot
show another CPO's data. The lookups by CPO id (``cpo_operator_ids``,
``cpo_partner_identifiers``, ``operator_id_owner``) and the two writes
(``audit``, ``set_stage``) check no one: they serve library code that already
has the CPO from ``get_cpo``.
"""

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, select

from ..errors import NotFound, PermissionDenied
from ..settings import get_settings
from .auth import Actor, seen_by
from .models import (
    AuditLog,
    Connector,
    Cpo,
    ImportRecord,
    OperatorId,
    Outbox,
    OutboxState,
    PartnerIdentifier,
    Stage,
    Station,
    StatusEvent,
)
from .station_list import listed as listed_stations

STAGING_URL = "https://dev-api.plugsurfing.com/api/v4/request"
PRODUCTION_URL = "https://api.plugsurfing.com/api/v4/request"
NAMED_ENDPOINTS = ("sandbox", "staging", "production")

STAGE_ORDER = [Stage.REGISTERED, Stage.STATIONS_VALIDATED, Stage.FULL_LOAD_PUSHED, Stage.STATUSES_LIVE]
STAGE_LABELS = {
    Stage.REGISTERED: "registered",
    Stage.STATIONS_VALIDATED: "stations validated",
    Stage.FULL_LOAD_PUSHED: "full load pushed",
    Stage.STATUSES_LIVE: "statuses live",
}


def resolve_endpoint(endpoint: str) -> str:
    """"sandbox", "staging", "production" or a custom URL -> the URL to post to."""
    if endpoint == "sandbox":
        return get_settings().sandbox_url
    if endpoint == "staging":
        return STAGING_URL
    if endpoint == "production":
        return PRODUCTION_URL
    return endpoint


def list_cpos(session: Session, *, actor: Actor, include_inactive: bool = False) -> list[Cpo]:
    query = select(Cpo).where(seen_by(actor, Cpo.id)).order_by(Cpo.name)
    if not include_inactive:
        query = query.where(Cpo.active == True)  # noqa: E712
    return list(session.exec(query).all())


def get_cpo(session: Session, *, actor: Actor, cpo_id: int | None = None, name: str | None = None) -> Cpo:
    """One CPO by id or name; NotFound if there is none, PermissionDenied if not this person's."""
    if (cpo_id is None) == (name is None):
        raise ValueError("get_cpo needs exactly one of cpo_id and name")
    if cpo_id is not None:
        cpo = session.get(Cpo, cpo_id)
        missing = f"there is no CPO with id {cpo_id}"
    else:
        cpo = session.exec(select(Cpo).where(Cpo.name == name)).first()
        missing = f"no registered CPO named {name!r}"
    if cpo is None:
        raise NotFound(missing)
    if not actor.sees(cpo.id):
        # Same wording whether or not it exists would hide more, but a user
        # who typed a name deserves to know why it failed.
        raise PermissionDenied(f"{actor.name} may not see CPO {cpo.name!r}")
    return cpo


def cpo_operator_ids(session: Session, *, cpo_id: int) -> list[str]:
    query = select(OperatorId.operator_id).where(OperatorId.cpo_id == cpo_id).order_by(OperatorId.id)
    return list(session.exec(query).all())


def cpo_partner_identifiers(session: Session, *, cpo_id: int) -> list[str]:
    query = (
        select(PartnerIdentifier.partner_identifier)
        .where(PartnerIdentifier.cpo_id == cpo_id)
        .order_by(PartnerIdentifier.id)
    )
    return list(session.exec(query).all())


def cpo_credentials(session: Session, *, actor: Actor, cpo_id: int) -> tuple[str, str, str]:
    """(endpoint URL, API key in clear, first partner identifier) for sending; never for display.

    Raises NotFound when the CPO has no API key or partner identifier yet.
    """
    from .secrets import decrypt_api_key

    cpo = get_cpo(session, actor=actor, cpo_id=cpo_id)
    if not cpo.api_key_encrypted:
        raise NotFound(f"CPO {cpo.name!r} has no API key yet")
    partner_ids = cpo_partner_identifiers(session, cpo_id=cpo_id)
    if not partner_ids:
        raise NotFound(f"CPO {cpo.name!r} has no partner identifier yet")
    return resolve_endpoint(cpo.endpoint), decrypt_api_key(cpo.api_key_encrypted), partner_ids[0]


def operator_id_owner(session: Session, *, operator_id: str) -> int | None:
    """The id of the CPO that registered this operator id (any spelling: ``DE*8PS``, ``de8ps``)."""
    from ..oioi.ids import IdError, parse_operator_id

    try:
        canonical = str(parse_operator_id(operator_id))
    except IdError:
        return None
    return session.exec(select(OperatorId.cpo_id).where(OperatorId.operator_id == canonical)).first()


def audit(session: Session, *, actor_name: str, action: str, cpo_id: int | None = None, detail: str = "") -> None:
    """Record who did what to which CPO. Callers pass no secrets; ``detail`` is plain text."""
    session.add(AuditLog(user_name=actor_name, action=action, cpo_id=cpo_id, detail=detail))


def audit_log(session: Session, *, actor: Actor, cpo_id: int | None = None, limit: int = 200) -> list[AuditLog]:
    """Newest entries first; CPO staff see only entries of their CPOs."""
    query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    if cpo_id is not None:
        get_cpo(session, actor=actor, cpo_id=cpo_id)
        query = query.where(AuditLog.cpo_id == cpo_id)
    else:
        query = query.where(seen_by(actor, AuditLog.cpo_id))
    return list(session.exec(query).all())


def set_stage(session: Session, *, cpo_id: int, stage: Stage | str) -> bool:
    """Move a CPO to ``stage`` if that is further along; never back. Returns whether it moved."""
    stage = Stage(stage)
    cpo = session.get(Cpo, cpo_id)
    if cpo is None:
        raise NotFound(f"there is no CPO with id {cpo_id}")
    if STAGE_ORDER.index(stage) <= STAGE_ORDER.index(Stage(cpo.stage)):
        return False
    cpo.stage = stage
    session.add(cpo)
    session.flush()
    return True


def _per_cpo(session: Session, query, ids: Iterable[int]) -> dict[int, object]:  # noqa: ANN001
    return {cpo_id: value for cpo_id, value in session.exec(query).all() if cpo_id in ids}


def _latest_per_cpo(session: Session, cpo_id, at, ids: set[int]) -> dict[int, object]:  # noqa: ANN001
    """The newest ``at`` of each CPO of ``ids`` (``cpo_id`` and ``at``: two columns of one table)."""
    return _per_cpo(session, select(cpo_id, func.max(at)).where(cpo_id.in_(sorted(ids))).group_by(cpo_id), ids)


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


OVERVIEW_COLUMNS = ["CPO", "stage", "stations", "connectors", "last activity", "open problems", "active", "cpo_id"]


def overview(session: Session, *, actor: Actor, include_inactive: bool = False) -> pd.DataFrame:
    """One row per visible CPO: stage, counts, last activity and open problems.

    Open problems are the failed outbox rows plus the errors of the latest import.
    A handful of grouped queries, not one per CPO, so it stays quick with many CPOs.
    """
    cpos = list_cpos(session, actor=actor, include_inactive=include_inactive)
    if not cpos:
        return pd.DataFrame(columns=OVERVIEW_COLUMNS)
    ids = {cpo.id for cpo in cpos}
    id_list = sorted(ids)
    listed = listed_stations(session, id_list)

    stations = _per_cpo(
        session,
        select(Station.cpo_id, func.count()).where(Station.cpo_id.in_(id_list), listed)
        .group_by(Station.cpo_id),
        ids,
    )
    connectors = _per_cpo(
        session,
        select(Connector.cpo_id, func.count())
        .join(Station, Station.id == Connector.station_pk)
        .where(Connector.cpo_id.in_(id_list), listed)
        .group_by(Connector.cpo_id),
        ids,
    )
    failed = _per_cpo(
        session,
        select(Outbox.cpo_id, func.count())
        .where(Outbox.cpo_id.in_(id_list), Outbox.state == OutboxState.FAILED)
        .group_by(Outbox.cpo_id),
        ids,
    )
    latest_import_id = (
        select(ImportRecord.cpo_id, func.max(ImportRecord.id).label("last_id"))
        .where(ImportRecord.cpo_id.in_(id_list))
        .group_by(ImportRecord.cpo_id)
        .subquery()
    )
    import_errors = _per_cpo(
        session,
        select(ImportRecord.cpo_id, ImportRecord.errors).join(
            latest_import_id, ImportRecord.id == latest_import_id.c.last_id
        ),
        ids,
    )
    last_import = _latest_per_cpo(session, ImportRecord.cpo_id, ImportRecord.at, ids)
    last_push = _latest_per_cpo(session, Outbox.cpo_id, Outbox.sent_at, ids)
    last_status = _latest_per_cpo(session, StatusEvent.cpo_id, StatusEvent.received_at, ids)
    last_audit = _latest_per_cpo(session, AuditLog.cpo_id, AuditLog.at, ids)

    rows = []
    for cpo in cpos:
        rows.append(
            {
                "CPO": cpo.name,
                "stage": STAGE_LABELS[Stage(cpo.stage)],
                "stations": int(stations.get(cpo.id, 0)),
                "connectors": int(connectors.get(cpo.id, 0)),
                "last activity": _latest(
                    cpo.updated_at,
                    last_import.get(cpo.id),
                    last_push.get(cpo.id),
                    last_status.get(cpo.id),
                    last_audit.get(cpo.id),
                ),
                "open problems": int(failed.get(cpo.id, 0)) + int(import_errors.get(cpo.id, 0) or 0),
                "active": cpo.active,
                "cpo_id": cpo.id,
            }
        )
    frame = pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)
    frame["last activity"] = pd.to_datetime(frame["last activity"])
    return frame
