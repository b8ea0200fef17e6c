"""The receiver's side of OCPI's credentials module: its tokens and the handshake that exchanges them.

A CPO's back end (its CSMS) registers with the receiver as credentials.asciidoc describes:

1. ``oioi-onboard cpo ocpi-token NAME`` prints a registration token, CREDENTIALS_TOKEN_A, once; a new one
   replaces the old;
2. the CSMS POSTs its credentials (its token B, its versions URL, its roles) to our credentials endpoint
   with TOKEN_A;
3. we GET its versions and its 2.2.1 details with token B (``peer_endpoints``), which proves the token and
   the URL work, then answer with our credentials holding a new token, CREDENTIALS_TOKEN_C; TOKEN_A stops
   working;
4. from then on the CSMS sends TOKEN_C: a PUT of new credentials does step 3 again (a new TOKEN_C replaces
   the old), a DELETE unregisters it.

Our tokens are long random strings of which only the SHA-256 is stored, as for the ingest tokens. The
CSMS's versions URL and token become the CPO's OCPI connection, which pulls use as well
(``store.ocpi_connection``). The parties of its CPO roles become the CPO's operator ids
(``{country_code}*{party_id}``): the stations of its Locations carry that operator id, and a push for any
other party is refused. A party that is another CPO's operator id refuses the handshake.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session

from ..errors import EndpointError, UserError
from ..settings import get_settings
from ..store import queries
from ..store.auth import Actor, require_edit
from ..store.models import Cpo, OcpiToken, Role, utcnow
from ..store.ocpi_connection import clear_ocpi_connection, set_ocpi_connection
from ..store.registry import RegistrationError, update_cpo
from ..sync.tokens import token_sha256
from .mapping import operator_id
from .models import (
    BusinessDetails,
    Credentials,
    CredentialsRole,
    Envelope,
    StatusCode,
    Version,
    VersionDetails,
)
from .models import Role as PartyRole

__all__ = ["REGISTRATION", "CREDENTIALS", "VERSION", "TokenHolder", "HandshakeError", "CredentialsRefused",
           "tokens_in_header", "token_holder", "cpo_of_token_sha256", "create_registration_token", "peer_endpoints",
           "register", "unregister", "our_credentials"]

REGISTRATION = "registration"  # CREDENTIALS_TOKEN_A: good for one handshake
CREDENTIALS = "credentials"  # CREDENTIALS_TOKEN_C: what the CSMS sends once registered
VERSION = "2.2.1"
BUSINESS_NAME = "OIOI onboarding"
_PREFIX = {REGISTRATION: "oioi_ocpi_a_", CREDENTIALS: "oioi_ocpi_c_"}  # 12 + 43 characters: within OCPI's 64
PEER_TIMEOUT = 10.0  # seconds for each request to the CSMS during a handshake


class HandshakeError(EndpointError):
    """The CSMS's versions or details could not be used; ``status_code`` is the OCPI code to answer with."""

    def __init__(self, message: str, status_code: StatusCode = StatusCode.UNABLE_TO_USE_CLIENT_API):
        super().__init__(message)
        self.status_code = status_code


class CredentialsRefused(UserError):
    """Credentials we cannot take (no CPO role, a party another CPO holds); the message says which."""


@dataclass(frozen=True)
class TokenHolder:
    """Whom a token in a request belongs to: a CPO, and whether it is a registration or credentials token."""

    cpo_id: int
    kind: str  # REGISTRATION or CREDENTIALS
    token: str = field(repr=False)  # as the CSMS holds it; a secret, so never in a repr or a log line

    @property
    def actor(self) -> Actor:
        """Who acts for requests with this token: staff of the token's one CPO."""
        return Actor(name="OCPI receiver", role=Role.CPO_STAFF, cpo_ids=frozenset({self.cpo_id}))


# --- tokens --------------------------------------------------------------------------------


def tokens_in_header(header: str | None) -> list[str]:
    """The tokens an ``Authorization: Token ...`` header may carry: Base64-decoded (OCPI 2.2.1) and as sent
    (2.1.1 and many 2.2 peers). Empty for a missing header or another scheme."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if decoded and all("!" <= character <= "~" for character in decoded):
        found.append(decoded)
    return [*found, value]


def _active_token(session: Session, digest: str) -> tuple[int, str] | None:
    """(CPO id, kind) of the active token of an active CPO whose SHA-256 is ``digest``."""
    tokens_table, cpos = OcpiToken.__table__, Cpo.__table__  # Core: every request of a back end asks this
    row = session.connection().execute(
        sa_select(tokens_table.c.cpo_id, tokens_table.c.kind)
        .join_from(tokens_table, cpos, cpos.c.id == tokens_table.c.cpo_id)
        .where(tokens_table.c.token_sha256 == digest, tokens_table.c.revoked_at.is_(None),
               cpos.c.active == True)  # noqa: E712
    ).first()
    return None if row is None else (row[0], row[1])


def cpo_of_token_sha256(session: Session, digest: str, *, kind: str = CREDENTIALS) -> int | None:
    """The CPO whose active token of ``kind`` has this SHA-256; None if there is none."""
    found = _active_token(session, digest)
    return found[0] if found is not None and found[1] == kind else None


def token_holder(session: Session, tokens: list[str]) -> TokenHolder | None:
    """Who holds the first of ``tokens`` that is an active token of an active CPO; None if none is."""
    for token in tokens:
        found = _active_token(session, token_sha256(token))
        if found is not None:
            return TokenHolder(cpo_id=found[0], kind=found[1], token=token)
    return None


def _new_token(session: Session, cpo_id: int, kind: str) -> str:
    token = _PREFIX[kind] + secrets.token_urlsafe(32)
    session.add(OcpiToken(cpo_id=cpo_id, kind=kind, token_sha256=token_sha256(token)))
    return token


def _revoke(session: Session, cpo_id: int, kind: str) -> None:
    session.execute(update(OcpiToken).where(OcpiToken.cpo_id == cpo_id, OcpiToken.kind == kind,
                                            OcpiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def create_registration_token(session: Session, *, actor: Actor, cpo_id: int) -> str:
    """A new registration token (TOKEN_A) for the CPO's back end, returned in clear exactly once.

    It replaces any earlier one not used yet, and is good for one credentials handshake.
    """
    require_edit(actor, cpo_id)
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    _revoke(session, cpo.id, REGISTRATION)
    token = _new_token(session, cpo.id, REGISTRATION)
    queries.audit(session, actor_name=actor.name, action="OCPI registration token created", cpo_id=cpo.id,
                  detail="it replaces any earlier one not used yet")
    session.flush()
    return token


# --- the handshake ---------------------------------------------------------------------------


def _authorization(token: str, plain: bool) -> str:
    return f"Token {token if plain else base64.b64encode(token.encode()).decode('ascii')}"


async def _get_data(client: httpx.AsyncClient, url: str, token: str, correlation_id: str, *, plain_first: bool
                    ) -> tuple[Any, bool]:
    """The ``data`` of a GET at the CSMS, and whether it took the plain token: the encoding ``plain_first`` says
    first, the other once on 401."""
    for plain in (plain_first, not plain_first):
        headers = {"Authorization": _authorization(token, plain), "X-Request-ID": str(uuid.uuid4()),
                   "X-Correlation-ID": correlation_id}
        try:
            response = await client.get(url, headers=headers)
        except httpx.TimeoutException:
            raise HandshakeError(f"GET {url} got no answer within {PEER_TIMEOUT:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise HandshakeError(f"GET {url} failed: {error or type(error).__name__}") from None
        if response.status_code != 401:
            break
    if response.status_code != 200:
        why = "the token in the credentials was refused" if response.status_code == 401 else "expected 200"
        raise HandshakeError(f"GET {url} answered HTTP {response.status_code}: {why}")
    try:
        envelope = Envelope.model_validate(response.json())
    except (ValueError, ValidationError):
        raise HandshakeError(f"GET {url} did not answer an OCPI response (JSON with a status_code)") from None
    if not envelope.ok:
        said = f": {envelope.status_message}" if envelope.status_message else ""
        raise HandshakeError(f"GET {url} answered status_code {envelope.status_code}{said}")
    return envelope.data, plain


async def peer_endpoints(peer: Credentials, *, correlation_id: str) -> VersionDetails:
    """The CSMS's 2.2.1 endpoints, fetched from its versions URL with its token, as the handshake asks (Base64
    first; a CSMS that takes only the plain token gets it from its first 401 on).

    HandshakeError (3001) when they cannot be fetched or read, (3002) when it does not speak 2.2.1.
    """
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT) as client:
        listed, plain = await _get_data(client, peer.url, peer.token, correlation_id, plain_first=False)
        try:
            versions = [Version.model_validate(item) for item in listed]
        except (TypeError, ValidationError):
            raise HandshakeError(f"the versions at {peer.url} are not a list of {{version, url}}") from None
        chosen = next((v for v in versions if v.version == VERSION), None)
        if chosen is None:
            offered = ", ".join(v.version for v in versions) or "none"
            raise HandshakeError(f"{peer.url} offers OCPI {offered}; this receiver speaks {VERSION}",
                                 StatusCode.UNSUPPORTED_VERSION)
        data, _ = await _get_data(client, chosen.url, peer.token, correlation_id, plain_first=plain)
    try:
        return VersionDetails.model_validate(data)
    except ValidationError:
        raise HandshakeError(f"the {VERSION} details at {chosen.url} are not {{version, endpoints}}") from None


def our_credentials(token: str, versions_url: str) -> dict[str, Any]:
    """The credentials the CSMS uses with us: its token, our versions URL and who we are."""
    settings = get_settings()
    role = CredentialsRole(role=PartyRole.EMSP, business_details=BusinessDetails(name=BUSINESS_NAME),
                           party_id=settings.ocpi_party_id, country_code=settings.ocpi_country_code)
    return Credentials(token=token, url=versions_url, roles=[role]).to_json()


def register(session: Session, *, token: str, peer: Credentials, details: VersionDetails, versions_url: str
             ) -> dict[str, Any] | None:
    """Register the CSMS (POST with TOKEN_A) or update its credentials (PUT with TOKEN_C): our credentials
    with a new TOKEN_C; None when ``token`` is no longer active (used or replaced a moment ago).

    Its CPO parties become the CPO's operator ids (CredentialsRefused when there is none, or one is
    another CPO's); its versions URL and token become the CPO's OCPI connection.
    """
    holder = token_holder(session, [token])  # again, in this transaction: a TOKEN_A works once
    if holder is None:
        return None
    parties = sorted({operator_id(role.country_code, role.party_id) for role in peer.roles
                      if role.role == PartyRole.CPO})
    if not parties:
        raise CredentialsRefused("the credentials name no role CPO: the receiver takes Locations from CPOs, "
                                 "each under a role CPO with its country_code and party_id")
    actor = holder.actor
    known = queries.cpo_operator_ids(session, cpo_id=holder.cpo_id)
    try:
        update_cpo(session, actor=actor, cpo_id=holder.cpo_id,
                   operator_ids=known + [party for party in parties if party not in known])
    except RegistrationError as error:
        raise CredentialsRefused(f"the parties {', '.join(parties)} cannot be this CPO's: "
                                 f"{error.errors.get('operator_ids', error)}") from None
    if holder.kind == REGISTRATION:
        _revoke(session, holder.cpo_id, REGISTRATION)
    _revoke(session, holder.cpo_id, CREDENTIALS)
    ours = _new_token(session, holder.cpo_id, CREDENTIALS)
    set_ocpi_connection(session, actor=actor, cpo_id=holder.cpo_id, versions_url=peer.url, token=peer.token)
    offered = ", ".join(sorted({f"{e.identifier} ({e.role.value if e.role else 'any role'})"
                                for e in details.endpoints}))
    queries.audit(session, actor_name=actor.name, cpo_id=holder.cpo_id,
                  action="OCPI registered" if holder.kind == REGISTRATION else "OCPI credentials updated",
                  detail=f"parties {', '.join(parties)}; its {VERSION} endpoints: {offered}")
    session.flush()
    return our_credentials(ours, versions_url)


def unregister(session: Session, *, holder: TokenHolder) -> None:
    """The CSMS ends the connection (DELETE with TOKEN_C): its token and ours stop working."""
    actor = holder.actor
    require_edit(actor, holder.cpo_id)
    _revoke(session, holder.cpo_id, CREDENTIALS)
    clear_ocpi_connection(session, actor=actor, cpo_id=holder.cpo_id)
    queries.audit(session, actor_name=actor.name, action="OCPI unregistered", cpo_id=holder.cpo_id,
                  detail="the back end's token and ours no longer work")
    session.flush()
