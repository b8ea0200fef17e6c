"""A registered CPO's connection to its endpoint: provisioning on the embedded sandbox, the
connection test, and what its outcome means for pushing.

The embedded sandbox (endpoint ``"sandbox"``) is a local OIOI receiver that checks
pushes like the platform does. It learns a CPO's API key and partner identifiers
from here: registering or editing a CPO on it, or replacing its key
(``store.registry``), provisions them there (``oioi.sandbox``); a CPO registered on
it without a key gets one generated, since that key is only good for the local
sandbox. When the sandbox cannot be reached the change is stored anyway and
``Cpo.sandbox_pending`` says why; ``check_cpo_connection`` provisions again first,
so "Test connection" fixes it.

The last connection test is kept on the CPO (``connection_*``) and forgotten when
the key, partner identifiers or endpoint change; ``push_readiness`` turns it into
the warning the push page shows.
"""

import asyncio
import secrets
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from ..errors import EndpointError
from ..oioi.sandbox.client import provision
from ..settings import get_settings
from ..wording import counted
from . import queries
from .auth import Actor, require_edit
from .models import Cpo, utcnow
from .secrets import decrypt_api_key, encrypt_api_key, last4

__all__ = [
    "SANDBOX",
    "PROBE_EVSE_ID",
    "ConnectionCheck",
    "probe_connection",
    "check_cpo_connection",
    "push_readiness",
    "PROVEN_BY_PUSH",
    "record_setup_proven",
    "connection_label",
    "last_connection_test",
    "provision_sandbox",
    "provision_cpo",
    "new_sandbox_key",
    "store_api_key",
    "forget_connection_test",
]

SANDBOX = "sandbox"

# An EVSE id no CPO can own: its operator part is not a country. Posting a status for it
# is harmless and makes the endpoint check the key and the partner identifier first.
PROBE_EVSE_ID = "ZZ*ZZZ*E0CONNECTIONTEST"


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    checked_at: datetime | None = dataclass_field(default=None, compare=False)  # when it ran, if known


# --- the embedded sandbox ---------------------------------------------------------------------


def new_sandbox_key() -> str:
    """A key for a CPO on the sandbox registered without one."""
    # Good only for the local sandbox, which accepts whatever key it is given here; a real
    # endpoint issues its own key, so nothing is generated for staging, production or a URL.
    return "sandbox-" + secrets.token_urlsafe(24)


def store_api_key(cpo: Cpo, api_key: str) -> None:
    """Keep the key encrypted, and its last 4 characters to show."""
    cpo.api_key_encrypted = encrypt_api_key(api_key)
    cpo.api_key_last4 = last4(api_key)


def forget_connection_test(cpo: Cpo) -> None:
    """The last test's verdict was about a key, partner identifiers or endpoint that changed."""
    cpo.connection_checked_at = None
    cpo.connection_ok = None
    cpo.connection_message = None


def provision_cpo(session: Session, cpo: Cpo, *, actor_name: str) -> str | None:
    """Tell the sandbox this CPO's key and partner identifiers; None when done, else why it is pending.

    The outcome is kept in ``cpo.sandbox_pending``; an audit entry is written when
    something changed at the sandbox or the pending state did. The caller has checked
    the person (``provision_sandbox`` does).
    """
    if cpo.endpoint != SANDBOX:
        return None
    was_pending = cpo.sandbox_pending
    if not cpo.api_key_encrypted:  # registered before sandbox keys were generated
        store_api_key(cpo, new_sandbox_key())
        queries.audit(session, actor_name=actor_name, action="api key generated", cpo_id=cpo.id,
                      detail=f"for the sandbox; ends in {cpo.api_key_last4}")
    partner_ids = queries.cpo_partner_identifiers(session, cpo_id=cpo.id)
    previous = cpo.sandbox_previous_key_encrypted
    answer: dict = {}
    try:
        answer = provision(
            get_settings().sandbox_base_url,
            api_key=decrypt_api_key(cpo.api_key_encrypted),
            partner_identifiers=partner_ids,
            previous_api_key=decrypt_api_key(previous) if previous else None,
        )
    except EndpointError as error:
        cpo.sandbox_pending = str(error)
    else:
        cpo.sandbox_pending = None
        cpo.sandbox_previous_key_encrypted = None
    session.add(cpo)
    changed = answer.get("added") or answer.get("moved")
    if cpo.sandbox_pending and cpo.sandbox_pending != was_pending:
        queries.audit(session, actor_name=actor_name, action="sandbox provisioning pending", cpo_id=cpo.id,
                      detail=cpo.sandbox_pending)
    elif not cpo.sandbox_pending and (changed or was_pending):
        queries.audit(session, actor_name=actor_name, action="sandbox provisioned", cpo_id=cpo.id,
                      detail=f"the sandbox accepts the API key ending in {cpo.api_key_last4} for "
                      f"{counted(len(partner_ids), 'partner identifier')}")
    session.flush()
    return cpo.sandbox_pending


def provision_sandbox(session: Session, *, actor: Actor, cpo_id: int) -> str | None:
    """Provision a CPO's key and partner identifiers on the sandbox again; None when done, else why not.

    Nothing to do (None) for a CPO on another endpoint.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    return provision_cpo(session, cpo, actor_name=actor.name)


# --- the connection test ------------------------------------------------------------------------


def probe_connection(endpoint: str, api_key: str, partner_identifier: str, *, timeout: float = 10.0) -> ConnectionCheck:
    """Send a harmless connector-post-status and say plainly whether key and partner id were accepted.

    The status is for an EVSE id that cannot exist, so nothing changes at the endpoint;
    "EVSE not found" means the request got past the key and partner identifier checks.
    """
    from ..oioi import errors
    from ..oioi.client import OioiClient

    if not api_key:
        return ConnectionCheck(False, "no API key: enter one first")
    url = queries.resolve_endpoint(endpoint)

    async def probe() -> None:
        async with OioiClient(url, api_key, timeout=timeout, max_retries=0) as client:
            await client.post_connector_status(PROBE_EVSE_ID, "Unknown", partner_identifier)

    try:
        asyncio.run(probe())
    except errors.EvseNotFound:
        return ConnectionCheck(True, "connected: the endpoint accepted the API key and the partner identifier")
    except errors.InvalidApiKey:
        return ConnectionCheck(False, "the API key was rejected")
    except errors.InvalidPartnerIdentifier:
        return ConnectionCheck(False, "the partner identifier is unknown")
    except errors.TransportError as error:
        return ConnectionCheck(False, f"endpoint unreachable: {error.message}")
    except errors.HTTPStatusError as error:
        return ConnectionCheck(False, f"the endpoint answered HTTP {error.status_code}: {error.message}")
    except errors.OioiError as error:
        return ConnectionCheck(False, f"the endpoint refused the request: {error.message}")
    except ValueError as error:  # refused before sending (partner identifier, key format)
        return ConnectionCheck(False, str(error))
    return ConnectionCheck(True, "connected: the endpoint accepted the API key and the partner identifier")


def check_cpo_connection(session: Session, *, actor: Actor, cpo_id: int) -> ConnectionCheck:
    """``probe_connection`` with a registered CPO's stored endpoint, key and first partner identifier.

    A CPO on the sandbox is provisioned there first (by someone who may change it), so a
    test after a pending provisioning fixes it. The outcome is stored on the CPO.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    pending = None
    if cpo.endpoint == SANDBOX and actor.can_edit(cpo.id):
        pending = provision_cpo(session, cpo, actor_name=actor.name)
    try:
        url, api_key, partner_id = queries.cpo_credentials(session, actor=actor, cpo_id=cpo_id)
    except LookupError as error:
        check = ConnectionCheck(False, str(error))
    else:
        check = probe_connection(url, api_key, partner_id)
        if not check.ok and pending:
            check = ConnectionCheck(False, f"{check.message} (the sandbox does not know this CPO yet: {pending})")
    cpo.connection_checked_at = utcnow()
    cpo.connection_ok = check.ok
    cpo.connection_message = check.message
    session.add(cpo)
    queries.audit(session, actor_name=actor.name, action="connection tested", cpo_id=cpo_id,
                  detail=("ok: " if check.ok else "failed: ") + check.message)
    session.flush()
    return ConnectionCheck(check.ok, check.message, cpo.connection_checked_at)


def push_readiness(session: Session, *, actor: Actor, cpo_id: int) -> str | None:
    """A warning for the push page when the CPO's last connection test failed or none ran since the
    key, partner identifiers or endpoint were last set; None when the last test passed."""
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    if cpo.connection_checked_at is None:
        warning = (f"The connection of {cpo.name} has not been tested since its API key, partner identifiers "
                   "or endpoint were last set: the endpoint may refuse every station. Test it on the CPOs page first.")
        if cpo.endpoint == SANDBOX and cpo.sandbox_pending:
            warning += (f" The sandbox does not know this CPO yet ({cpo.sandbox_pending}); "
                        "testing the connection provisions it again.")
        return warning
    if not cpo.connection_ok:
        when = cpo.connection_checked_at.strftime("%Y-%m-%d %H:%M UTC")
        return (f"The last connection test of {cpo.name} failed ({when}): {cpo.connection_message}. "
                "The endpoint will probably refuse every station; fix it on the CPOs page and test again.")
    return None


# The last connection test when none ran, but a push proved the set-up (``record_setup_proven``).
PROVEN_BY_PUSH = "not tested, but the endpoint accepted this API key and partner identifier in a push"


def record_setup_proven(session: Session, *, cpo_id: int) -> None:
    """The endpoint answered a push of the CPO past its key and partner identifier checks (the worker): where no
    connection test ran since the set-up was last set, that counts as a passed one, and the push page stops
    warning "not tested"."""
    session.execute(
        update(Cpo).where(Cpo.id == cpo_id, Cpo.connection_checked_at.is_(None))
        .values(connection_ok=True, connection_checked_at=utcnow(), connection_message=PROVEN_BY_PUSH),
        execution_options={"synchronize_session": False},
    )


def connection_label(cpo: Cpo) -> str:
    """The last connection test in a few words: "connected", "failed" or "not tested"."""
    if cpo.connection_checked_at is None:
        return "not tested"
    return "connected" if cpo.connection_ok else "failed"


def last_connection_test(cpo: Cpo) -> ConnectionCheck | None:
    """The stored result of the last connection test, or None if none ran since the last change."""
    if cpo.connection_checked_at is None:
        return None
    return ConnectionCheck(bool(cpo.connection_ok), cpo.connection_message or "", cpo.connection_checked_at)

