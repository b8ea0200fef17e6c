"""Step 1 of onboarding: registering a CPO's identifiers with the platform.

A CPO has a display name, one or more operator ids (``DE*8PS``), one or more
partner identifiers (random, generated here unless the platform issued them),
an endpoint and an API key (stored encrypted; only its last 4 characters are
ever shown). Every change is written to the audit log, never with a secret.

A CPO on the embedded sandbox is provisioned there after every change, and one
registered on it without a key gets one generated (``store.connection``). A new key,
endpoint or partner identifiers forget the last connection test.
"""

import csv
import io
import json
from urllib.parse import urlsplit

from sqlmodel import Session, select

from ..errors import UserError
from ..oioi import ids
from . import onboarding, queries
from .auth import Actor, require_edit, require_manage
from .connection import SANDBOX, connection_label, forget_connection_test, new_sandbox_key, provision_cpo, store_api_key
from .models import Cpo, OperatorId, PartnerIdentifier, Station, utcnow


class RegistrationError(UserError):
    """Registration data that cannot be stored; ``errors`` maps a field to what is wrong with it.

    Fields: ``name``, ``operator_ids``, ``endpoint``, ``api_key``, ``partner_identifiers``, ``concurrency``,
    ``defaults``; ``ocpi_versions_url`` and ``ocpi_token`` (``store.ocpi_connection``).
    """

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


# --- validation ------------------------------------------------------------------------------


def _split(values: list[str] | str | None) -> list[str]:
    """A list, or one text with values separated by commas, spaces or new lines."""
    if values is None:
        return []
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    return [value.strip() for value in values if value and value.strip()]


def check_endpoint(endpoint: str) -> str:
    """"sandbox", "staging", "production" or an http(s) URL; raises ValueError otherwise."""
    endpoint = (endpoint or "").strip()
    if endpoint.lower() in queries.NAMED_ENDPOINTS:
        return endpoint.lower()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"endpoint {endpoint!r} is neither sandbox, staging, production nor an http(s) URL "
            "such as https://api.example.com/api/v4/request"
        )
    return endpoint


def _check_api_key(api_key: str) -> str:
    api_key = api_key.strip()
    if any(ch.isspace() for ch in api_key):
        raise ValueError("the API key holds spaces or line breaks; paste it again without them")
    if len(api_key) < 8:
        raise ValueError("the API key is too short to be real (fewer than 8 characters)")
    return api_key


def _check_operator_ids(session: Session, values: list[str], *, cpo_id: int | None) -> tuple[list[str], str | None]:
    """Canonical operator ids and one message about what is wrong (or None)."""
    if not values:
        return [], "at least one operator id is needed, of the form CC*XXX, e.g. DE*8PS"
    canonical: list[str] = []
    problems: list[str] = []
    for value in values:
        try:
            operator_id = str(ids.parse_operator_id(value))
        except ids.IdError as error:
            problems.append(str(error))
            continue
        if operator_id in canonical:
            problems.append(f"operator id {operator_id} is listed twice")
            continue
        owner = queries.operator_id_owner(session, operator_id=operator_id)
        if owner is not None and owner != cpo_id:
            owner_name = session.get(Cpo, owner).name
            problems.append(f"operator id {operator_id} is already registered to CPO {owner_name!r}")
            continue
        canonical.append(operator_id)
    return canonical, "; ".join(problems) or None


def _check_partner_identifiers(
    session: Session, values: list[str], *, cpo_id: int | None
) -> tuple[list[str], str | None]:
    checked: list[str] = []
    problems: list[str] = []
    for value in values:
        try:
            ids.check_partner_identifier(value)
        except ids.IdError as error:
            problems.append(f"{_short(value)}: {error}")
            continue
        if value in checked:
            problems.append(f"{_short(value)} is listed twice")
            continue
        owner = session.exec(
            select(PartnerIdentifier.cpo_id).where(PartnerIdentifier.partner_identifier == value)
        ).first()
        if owner is not None and owner != cpo_id:
            problems.append(f"{_short(value)} is already used by another CPO")
            continue
        checked.append(value)
    return checked, "; ".join(problems) or None


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


# Template fields a CPO may give once for all its stations, when its files lack them.
DEFAULT_FIELDS = ("phone", "country", "is_open_24", "open_hours", "web", "email", "fax", "is_reservable",
                  "is_free_charge", "is_green_power_available", "is_plugin_charge", "is_roofed", "is_private")


def _check_defaults(values: dict[str, str] | None) -> tuple[dict[str, str], str | None]:
    """The defaults as stored ({field: value}, empty values dropped) and what is wrong with them.

    Only the field names and the country are checked here; every value goes through the
    validator with the file's rows, like a value from the file itself.
    """
    checked: dict[str, str] = {}
    problems: list[str] = []
    for field, value in (values or {}).items():
        field, value = str(field).strip(), " ".join(str(value or "").split())
        if field not in DEFAULT_FIELDS:
            problems.append(f"{field!r} cannot have a default (one of: {', '.join(DEFAULT_FIELDS)})")
        elif len(value) > 200:
            problems.append(f"the default {field} is longer than 200 characters")
        elif field == "country" and value and not ids.is_iso_country(value.upper()):
            problems.append(f"the default country {value!r} is not an ISO 3166-1 alpha-2 code such as DE")
        elif value:
            checked[field] = value.upper() if field == "country" else value
    return checked, "; ".join(problems) or None


def _check_name(session: Session, name: str, *, cpo_id: int | None) -> tuple[str, str | None]:
    name = " ".join((name or "").split())
    if not name:
        return name, "a CPO needs a name"
    if len(name) > 120:
        return name, "the name is longer than 120 characters"
    for other in session.exec(select(Cpo)).all():
        if other.id != cpo_id and other.name.casefold() == name.casefold():
            return name, f"a CPO named {other.name!r} already exists"
    return name, None


# --- changes --------------------------------------------------------------------------------


def register_cpo(
    session: Session,
    *,
    actor: Actor,
    name: str,
    operator_ids: list[str] | str,
    endpoint: str,
    api_key: str | None,
    partner_identifiers: list[str] | str | None = None,
    defaults: dict[str, str] | None = None,
) -> tuple[Cpo, list[str]]:
    """Register a CPO; returns it and its partner identifiers (one is generated if none given).

    On the sandbox, the key (generated if none is given) and partner identifiers are
    provisioned there; ``cpo.sandbox_pending`` says why not when that failed.
    Raises RegistrationError with every problem at once, so a form can show them all inline.
    """
    require_manage(actor)
    errors: dict[str, str] = {}
    name, problem = _check_name(session, name, cpo_id=None)
    if problem:
        errors["name"] = problem
    canonical_ids, problem = _check_operator_ids(session, _split(operator_ids), cpo_id=None)
    if problem:
        errors["operator_ids"] = problem
    try:
        endpoint = check_endpoint(endpoint)
    except ValueError as error:
        errors["endpoint"] = str(error)
    if api_key:
        try:
            api_key = _check_api_key(api_key)
        except ValueError as error:
            errors["api_key"] = str(error)
    given = _split(partner_identifiers)
    partner_ids, problem = _check_partner_identifiers(session, given, cpo_id=None)
    if problem:
        errors["partner_identifiers"] = problem
    defaults, problem = _check_defaults(defaults)
    if problem:
        errors["defaults"] = problem
    if errors:
        raise RegistrationError(errors)
    if not partner_ids:
        partner_ids = [ids.new_partner_identifier()]
    key_note = "set" if api_key else "not set"
    if endpoint == SANDBOX and not api_key:
        api_key, key_note = new_sandbox_key(), "generated for the sandbox"

    cpo = Cpo(name=name, endpoint=endpoint, defaults=defaults or None)
    if api_key:
        store_api_key(cpo, api_key)
    session.add(cpo)
    session.flush()
    for operator_id in canonical_ids:
        session.add(OperatorId(cpo_id=cpo.id, operator_id=operator_id))
    for partner_id in partner_ids:
        session.add(PartnerIdentifier(cpo_id=cpo.id, partner_identifier=partner_id))
    queries.audit(
        session,
        actor_name=actor.name,
        action="cpo registered",
        cpo_id=cpo.id,
        detail=f"name {name!r}; operator ids {', '.join(canonical_ids)}; endpoint {endpoint_label(endpoint)}; "
        f"{len(partner_ids)} partner identifier(s); API key {key_note}"
        + (f"; defaults for {', '.join(defaults)}" if defaults else ""),
    )
    session.flush()
    if endpoint == SANDBOX:
        provision_cpo(session, cpo, actor_name=actor.name)
    return cpo, partner_ids


def update_cpo(
    session: Session,
    *,
    actor: Actor,
    cpo_id: int,
    name: str | None = None,
    operator_ids: list[str] | str | None = None,
    endpoint: str | None = None,
    partner_identifiers: list[str] | str | None = None,
    concurrency: int | None = None,
    defaults: dict[str, str] | None = None,
) -> Cpo:
    """Change what is given (None leaves a field alone). The API key has its own ``set_api_key``.

    A new endpoint or new partner identifiers forget the last connection test; a CPO on
    the sandbox is provisioned there again after any change.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    errors: dict[str, str] = {}
    changes: list[str] = []

    if name is not None:
        name, problem = _check_name(session, name, cpo_id=cpo.id)
        if problem:
            errors["name"] = problem
        elif name != cpo.name:
            changes.append(f"name {cpo.name!r} -> {name!r}")

    new_operator_ids = None
    if operator_ids is not None:
        new_operator_ids, problem = _check_operator_ids(session, _split(operator_ids), cpo_id=cpo.id)
        if problem:
            errors["operator_ids"] = problem
        else:
            current = queries.cpo_operator_ids(session, cpo_id=cpo.id)
            removed = [op for op in current if op not in new_operator_ids]
            in_use = _operator_ids_in_use(session, cpo.id, removed)
            if in_use:
                errors["operator_ids"] = (
                    f"operator id(s) {', '.join(in_use)} still have stations; delete or move those stations first"
                )
            elif set(current) != set(new_operator_ids):
                changes.append(f"operator ids {', '.join(current)} -> {', '.join(new_operator_ids)}")

    endpoint_changed = False
    if endpoint is not None:
        try:
            endpoint = check_endpoint(endpoint)
            if endpoint != cpo.endpoint:
                changes.append(f"endpoint {endpoint_label(cpo.endpoint)} -> {endpoint_label(endpoint)}")
                endpoint_changed = True
        except ValueError as error:
            errors["endpoint"] = str(error)

    new_partner_ids = None
    partners_changed = False
    if partner_identifiers is not None:
        new_partner_ids, problem = _check_partner_identifiers(session, _split(partner_identifiers), cpo_id=cpo.id)
        if problem:
            errors["partner_identifiers"] = problem
        elif not new_partner_ids:
            errors["partner_identifiers"] = "a CPO needs at least one partner identifier"
        elif set(new_partner_ids) != set(queries.cpo_partner_identifiers(session, cpo_id=cpo.id)):
            changes.append(f"partner identifiers changed ({len(new_partner_ids)} now)")
            partners_changed = True

    if concurrency is not None:
        if not 1 <= int(concurrency) <= 256:
            errors["concurrency"] = "concurrency must be between 1 and 256"
        elif int(concurrency) != cpo.concurrency:
            changes.append(f"concurrency {cpo.concurrency} -> {int(concurrency)}")

    if defaults is not None:
        defaults, problem = _check_defaults(defaults)
        if problem:
            errors["defaults"] = problem
        elif defaults != (cpo.defaults or {}):
            changes.append(f"defaults for {', '.join(defaults) or 'no field'}")

    if errors:
        raise RegistrationError(errors)
    if not changes:
        return cpo

    if name is not None:
        cpo.name = name
    if endpoint is not None:
        cpo.endpoint = endpoint
    if concurrency is not None:
        cpo.concurrency = int(concurrency)
    if defaults is not None:
        cpo.defaults = defaults or None
    if new_operator_ids is not None:
        _replace_children(session, OperatorId, "operator_id", cpo.id, new_operator_ids)
    if new_partner_ids is not None:
        _replace_children(session, PartnerIdentifier, "partner_identifier", cpo.id, new_partner_ids)
    if endpoint_changed or partners_changed:
        forget_connection_test(cpo)
    if endpoint_changed and cpo.endpoint == SANDBOX and not cpo.api_key_encrypted:
        store_api_key(cpo, new_sandbox_key())
        changes.append("API key generated for the sandbox")
    cpo.updated_at = utcnow()
    session.add(cpo)
    queries.audit(session, actor_name=actor.name, action="cpo updated", cpo_id=cpo.id, detail="; ".join(changes))
    session.flush()
    if cpo.endpoint == SANDBOX:
        provision_cpo(session, cpo, actor_name=actor.name)
    elif endpoint_changed:
        cpo.sandbox_pending = cpo.sandbox_previous_key_encrypted = None
        session.add(cpo)
        session.flush()
    return cpo


def _operator_ids_in_use(session: Session, cpo_id: int, operator_ids: list[str]) -> list[str]:
    if not operator_ids:
        return []
    used = session.exec(
        select(Station.cpo_operator_id)
        .where(Station.cpo_id == cpo_id, Station.deleted == False, Station.cpo_operator_id.in_(operator_ids))  # noqa: E712
        .distinct()
    ).all()
    return sorted(used)


def _replace_children(session: Session, model: type, field: str, cpo_id: int, wanted: list[str]) -> None:
    """Make a CPO's operator ids or partner identifiers exactly ``wanted``, keeping rows that stay."""
    rows = session.exec(select(model).where(model.cpo_id == cpo_id)).all()
    for row in rows:
        if getattr(row, field) not in wanted:
            session.delete(row)
    session.flush()
    have = {getattr(row, field) for row in rows}
    for value in wanted:
        if value not in have:
            session.add(model(cpo_id=cpo_id, **{field: value}))



def set_api_key(session: Session, *, actor: Actor, cpo_id: int, api_key: str) -> str:
    """Store a new API key encrypted; returns its last 4 characters. Un-pauses a paused queue.

    The last connection test is forgotten (its verdict was about the old key). On the
    sandbox the new key is provisioned and takes over the old key's partner identifiers.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    try:
        api_key = _check_api_key(api_key or "")
    except ValueError as error:
        raise RegistrationError({"api_key": str(error)}) from None
    old_key = cpo.api_key_encrypted
    if cpo.endpoint == SANDBOX and old_key and cpo.sandbox_previous_key_encrypted is None:
        # Until the sandbox has moved them, the old key still holds the partner identifiers there.
        cpo.sandbox_previous_key_encrypted = old_key
    store_api_key(cpo, api_key)
    forget_connection_test(cpo)
    cpo.paused_reason = None  # a rejected key paused the queue; the new one may pass
    cpo.updated_at = utcnow()
    session.add(cpo)
    queries.audit(session, actor_name=actor.name, action="api key replaced", cpo_id=cpo.id,
                  detail=f"new key ends in {cpo.api_key_last4}")
    session.flush()
    if cpo.endpoint == SANDBOX:
        provision_cpo(session, cpo, actor_name=actor.name)
    return cpo.api_key_last4


def deactivate_cpo(session: Session, *, actor: Actor, cpo_id: int) -> Cpo:
    """Hide a CPO from lists and stop its queues; nothing is deleted."""
    return _set_active(session, actor=actor, cpo_id=cpo_id, active=False)


def reactivate_cpo(session: Session, *, actor: Actor, cpo_id: int) -> Cpo:
    return _set_active(session, actor=actor, cpo_id=cpo_id, active=True)


def _set_active(session: Session, *, actor: Actor, cpo_id: int, active: bool) -> Cpo:
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_manage(actor)
    if cpo.active != active:
        cpo.active = active
        cpo.updated_at = utcnow()
        session.add(cpo)
        queries.audit(session, actor_name=actor.name, action="cpo reactivated" if active else "cpo deactivated",
                      cpo_id=cpo.id)
        session.flush()
    return cpo


# --- for display -----------------------------------------------------------------------------


def endpoint_label(endpoint: str) -> str:
    """What to show for an endpoint: its name, or a custom URL without any user-info part."""
    if endpoint in queries.NAMED_ENDPOINTS:
        return endpoint
    # A custom URL could carry credentials in its user-info part; keep only scheme and host.
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def cpo_rows(session: Session, *, actor: Actor, include_inactive: bool = False) -> list[dict]:
    """One row per visible CPO for tables: the API key only as ••••last4."""
    rows = []
    # Where a CPO stands in the onboarding steps, as everywhere else: the stored stage stayed "stations validated"
    # after a push.
    steps = onboarding.onboarding(session, actor=actor, include_inactive=include_inactive)
    for cpo in queries.list_cpos(session, actor=actor, include_inactive=include_inactive):
        rows.append(
            {
                "id": cpo.id,
                "CPO": cpo.name,
                "operator ids": ", ".join(queries.cpo_operator_ids(session, cpo_id=cpo.id)),
                "partner identifiers": ", ".join(queries.cpo_partner_identifiers(session, cpo_id=cpo.id)),
                "endpoint": endpoint_label(cpo.endpoint),
                "API key": f"••••{cpo.api_key_last4}" if cpo.api_key_last4 else "not set",
                "connection": connection_label(cpo),
                "next step": steps[cpo.id].next_title,
                "active": cpo.active,
                "paused": cpo.paused_reason or "",
            }
        )
    return rows


# --- the registration sheet -------------------------------------------------------------------

SHEET_FIELDS = ["cpo_name", "operator_ids", "partner_identifiers"]


def registration_sheet(session: Session, *, actor: Actor) -> list[dict]:
    """What the platform needs to set up each visible active CPO; never the API key."""
    rows = []
    for cpo in queries.list_cpos(session, actor=actor):
        rows.append(
            {
                "cpo_name": cpo.name,
                "operator_ids": queries.cpo_operator_ids(session, cpo_id=cpo.id),
                "partner_identifiers": queries.cpo_partner_identifiers(session, cpo_id=cpo.id),
            }
        )
    return rows


def registration_sheet_csv(rows: list[dict]) -> str:
    """One row per CPO; several ids in one cell are separated by a space (ids hold none)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SHEET_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({field: " ".join(row[field]) if isinstance(row[field], list) else row[field]
                         for field in SHEET_FIELDS})
    return buffer.getvalue()


def registration_sheet_json(rows: list[dict]) -> str:
    return json.dumps({"cpos": rows}, ensure_ascii=False, indent=2) + "\n"

