"""A CPO's OCPI connection: where its own back end publishes its Locations, and the token to ask with.

The versions URL and the credentials token are set on the CPOs page, with ``oioi-onboard cpo edit
--ocpi-versions-url --ocpi-token-env``, or by the credentials handshake of the OCPI receiver. The token
is encrypted at rest like an API key and never shown again, only its last 4 characters. Every change
is audited, never with the token.

Also kept here: which encoding of the token the peer takes (Base64 unless a 401 taught us otherwise),
and when the last pull started, succeeded in full, and what it said, so the next pull asks only for
what changed since; and the pull lease (``take_pull_lease``), so that of several workers one at a time
pulls a CPO.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlmodel import Session

from . import queries
from .auth import Actor, require_edit
from .models import Cpo, utcnow
from .registry import RegistrationError, endpoint_label
from .secrets import decrypt_ocpi_token, encrypt_ocpi_token, last4

__all__ = ["OcpiConnection", "set_ocpi_connection", "clear_ocpi_connection", "ocpi_connection",
           "remember_token_encoding", "record_pull", "record_pull_failure", "take_pull_lease", "release_pull_lease",
           "MAX_TOKEN_LENGTH", "PULL_LEASE"]

MAX_TOKEN_LENGTH = 64  # OCPI's credentials token is string(64)
MIN_PULL_MINUTES, MAX_PULL_MINUTES = 1, 24 * 60  # a full pull comes once a day anyway
# How long a worker may pull a CPO before another may take over: longer than any pull takes (the client's
# timeouts bound each request), short enough that a worker that died mid-pull holds nobody up for long.
PULL_LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class OcpiConnection:
    """What a pull needs: the versions URL, the token in clear (never shown) and how the peer takes it."""

    cpo_id: int
    versions_url: str
    token: str = field(repr=False)
    token_plain: bool
    pull_minutes: int
    last_pull_started_at: datetime | None
    last_full_pull_at: datetime | None


def check_versions_url(url: str) -> str:
    """An http(s) URL; raises ValueError saying what is wrong otherwise."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if "@" in parts.netloc:  # user:password@ would be a second secret, shown wherever the URL is
        host = parts.netloc.rpartition("@")[2]
        raise ValueError(f"the OCPI versions URL must not hold a user name or password ({parts.scheme}://...@{host}"
                         "): OCPI authenticates with the token alone")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the OCPI versions URL {url!r} is not an http(s) URL such as "
                         "https://csms.example.com/ocpi/versions")
    return url


def _check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise ValueError("the OCPI token is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ValueError("the OCPI token holds spaces or line breaks; paste it again without them")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"the OCPI token is longer than {MAX_TOKEN_LENGTH} characters, OCPI's limit")
    return token


def set_ocpi_connection(session: Session, *, actor: Actor, cpo_id: int, versions_url: str | None = None,
                        token: str | None = None, pull_minutes: int | None = None) -> Cpo:
    """Set the CPO's versions URL and token, and how often the worker pulls (None keeps what is stored);
    returns the CPO.

    A new URL is a new back end: the pulls start over with a full one. A new token may want the other
    encoding: Base64 is tried first again. Raises RegistrationError (fields ``ocpi_versions_url``,
    ``ocpi_token``, ``ocpi_pull_minutes``) with every problem at once.
    """
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    errors: dict[str, str] = {}
    if versions_url is not None:
        try:
            versions_url = check_versions_url(versions_url)
        except ValueError as error:
            errors["ocpi_versions_url"] = str(error)
    elif not cpo.ocpi_versions_url:
        errors["ocpi_versions_url"] = "the CPO has no OCPI versions URL yet: give one"
    if token is not None:
        try:
            token = _check_token(token)
        except ValueError as error:
            errors["ocpi_token"] = str(error)
    elif not cpo.ocpi_token_encrypted:
        errors["ocpi_token"] = "the CPO has no OCPI token yet: give one"
    if pull_minutes is not None and not MIN_PULL_MINUTES <= int(pull_minutes) <= MAX_PULL_MINUTES:
        errors["ocpi_pull_minutes"] = (f"pull every {MIN_PULL_MINUTES} to {MAX_PULL_MINUTES} minutes, "
                                       f"not {pull_minutes}")
    if errors:
        raise RegistrationError(errors)

    changes = []
    if pull_minutes is not None and int(pull_minutes) != cpo.ocpi_pull_minutes:
        changes.append(f"pulled every {int(pull_minutes)} minutes")
        cpo.ocpi_pull_minutes = int(pull_minutes)
    if versions_url is not None and versions_url != cpo.ocpi_versions_url:
        changes.append(f"versions URL {endpoint_label(versions_url)}")
        cpo.ocpi_versions_url = versions_url
        cpo.ocpi_last_pull_started_at = cpo.ocpi_last_full_pull_at = None
        cpo.ocpi_last_pull_message = None
    if token is not None:
        cpo.ocpi_token_encrypted = encrypt_ocpi_token(token)
        cpo.ocpi_token_last4 = last4(token)
        cpo.ocpi_token_plain = False
        changes.append(f"token ends in {cpo.ocpi_token_last4}")
    if changes:
        cpo.updated_at = utcnow()
        session.add(cpo)
        queries.audit(session, actor_name=actor.name, action="ocpi connection set", cpo_id=cpo.id,
                      detail="; ".join(changes))
        session.flush()
    return cpo


def clear_ocpi_connection(session: Session, *, actor: Actor, cpo_id: int) -> Cpo:
    """Forget the CPO's OCPI connection: no more pulls until one is set again."""
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    if cpo.ocpi_versions_url or cpo.ocpi_token_encrypted:
        cpo.ocpi_versions_url = cpo.ocpi_token_encrypted = cpo.ocpi_token_last4 = None
        cpo.ocpi_token_plain = False
        cpo.ocpi_last_pull_started_at = cpo.ocpi_last_full_pull_at = cpo.ocpi_last_pull_message = None
        cpo.updated_at = utcnow()
        session.add(cpo)
        queries.audit(session, actor_name=actor.name, action="ocpi connection removed", cpo_id=cpo.id)
        session.flush()
    return cpo


def ocpi_connection(session: Session, *, actor: Actor, cpo_id: int) -> OcpiConnection | None:
    """The CPO's connection with the token decrypted, for the pull client; None when none is set."""
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    if not cpo.ocpi_versions_url or not cpo.ocpi_token_encrypted:
        return None
    return OcpiConnection(cpo_id=cpo.id, versions_url=cpo.ocpi_versions_url,
                          token=decrypt_ocpi_token(cpo.ocpi_token_encrypted), token_plain=cpo.ocpi_token_plain,
                          pull_minutes=cpo.ocpi_pull_minutes, last_pull_started_at=cpo.ocpi_last_pull_started_at,
                          last_full_pull_at=cpo.ocpi_last_full_pull_at)


def remember_token_encoding(session: Session, *, cpo_id: int, plain: bool) -> None:
    """Keep which encoding of the token the peer took, so the next pull starts with it."""
    cpo = session.get(Cpo, cpo_id)
    if cpo is not None and cpo.ocpi_token_plain != plain:
        cpo.ocpi_token_plain = plain
        session.add(cpo)
        queries.audit(session, actor_name="system", action="ocpi token encoding", cpo_id=cpo_id,
                      detail="the peer takes the token " + ("plain (not Base64)" if plain else "Base64-encoded"))
        session.flush()


def record_pull(session: Session, *, cpo_id: int, started_at: datetime, full: bool, message: str) -> None:
    """A pull went through: the next one asks for what changed since it started."""
    cpo = session.get(Cpo, cpo_id)
    cpo.ocpi_last_pull_started_at = started_at
    if full:
        cpo.ocpi_last_full_pull_at = started_at
    cpo.ocpi_last_pull_message = message
    session.add(cpo)
    session.flush()


def record_pull_failure(session: Session, *, cpo_id: int, message: str) -> None:
    """A pull failed: the next one asks again from the last successful pull."""
    cpo = session.get(Cpo, cpo_id)
    if cpo is not None:
        cpo.ocpi_last_pull_message = message
        session.add(cpo)
        session.flush()


def take_pull_lease(session: Session, *, cpo_id: int, holder: str, now: datetime | None = None,
                    lease: timedelta = PULL_LEASE, pulled_before: datetime | None = None) -> bool:
    """Whether ``holder`` may pull the CPO now: True when no other holder's lease runs (then this one's runs
    until ``now + lease``), False when another worker pulls it. With ``pulled_before``, also False when a pull
    started at or after that moment succeeded meanwhile (another worker has just done it).

    One conditional UPDATE, committed at once in a transaction of its own so that the other workers see it:
    on SQLite and PostgreSQL alike, of two workers racing for a lease exactly one changes the row.
    """
    now = now or utcnow()
    cpos = Cpo.__table__
    conditions = [cpos.c.id == cpo_id,
                  or_(cpos.c.ocpi_pull_lease_until.is_(None), cpos.c.ocpi_pull_lease_until <= now,
                      cpos.c.ocpi_pull_lease_holder == holder)]
    if pulled_before is not None:
        conditions.append(or_(cpos.c.ocpi_last_pull_started_at.is_(None),
                              cpos.c.ocpi_last_pull_started_at < pulled_before))
    with Session(session.get_bind()) as own:
        taken = own.execute(update(cpos).where(*conditions)
                            .values(ocpi_pull_lease_holder=holder, ocpi_pull_lease_until=now + lease)).rowcount
        own.commit()
    return taken == 1


def release_pull_lease(session: Session, *, cpo_id: int, holder: str) -> None:
    """The pull of ``holder`` is over: the next due pull may be any worker's. Its own transaction, like taking."""
    cpos = Cpo.__table__
    with Session(session.get_bind()) as own:
        own.execute(update(cpos).where(cpos.c.id == cpo_id, cpos.c.ocpi_pull_lease_holder == holder)
                    .values(ocpi_pull_lease_holder=None, ocpi_pull_lease_until=None))
        own.commit()
