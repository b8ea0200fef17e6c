"""Bearer tokens with which a CPO's back end posts statuses to the relay.

A CPO may hold several (one per back end, rotated without downtime). A token
is shown once, when it is created; only its SHA-256 is stored, so a leaked
database does not leak working tokens. The tokens are long random strings,
so an unsalted fast hash is enough: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from ..errors import NotFound
from ..store.auth import Actor, require_edit
from ..store.models import Cpo, IngestToken, Role, utcnow
from ..store.queries import audit, get_cpo

PREFIX = "oioi_st_"  # recognisable in a config file or a secret scanner


class TokenError(NotFound):
    """A token cannot be created or revoked as asked; the message says why."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    cpo_id: int
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def create_token(session: Session, *, actor: Actor, cpo_id: int, label: str = "") -> str:
    """A new ingest token for this CPO, returned in clear exactly once."""
    require_edit(actor, cpo_id)
    cpo = get_cpo(session, actor=actor, cpo_id=cpo_id)
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(IngestToken(cpo_id=cpo.id, token_sha256=token_sha256(token), label=label.strip()[:100]))
    audit(session, actor_name=actor.name, action="ingest token created", cpo_id=cpo.id,
          detail=f"label {label.strip()[:100]!r}" if label.strip() else "")
    session.flush()
    return token


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> None:
    """Revoke a token at once: the relay refuses it from its next request on."""
    row = session.get(IngestToken, token_id)
    if row is None:
        raise TokenError(f"no ingest token with id {token_id}")
    require_edit(actor, row.cpo_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit(session, actor_name=actor.name, action="ingest token revoked", cpo_id=row.cpo_id,
              detail=f"token {row.id}" + (f" ({row.label})" if row.label else ""))
        session.flush()


def list_tokens(session: Session, *, actor: Actor, cpo_id: int) -> list[TokenInfo]:
    """This CPO's tokens, newest first (never the tokens themselves)."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    rows = session.exec(
        select(IngestToken).where(IngestToken.cpo_id == cpo_id).order_by(IngestToken.id.desc())
    ).all()
    return [TokenInfo(r.id, r.cpo_id, r.label, r.created_at, r.revoked_at) for r in rows]


def cpo_for_token(session: Session, token: str | None) -> int | None:
    """The id of the active CPO this token posts for, or None (unknown, revoked, CPO inactive)."""
    if not token or not token.strip():
        return None
    row = session.exec(
        select(IngestToken.cpo_id)
        .join(Cpo, Cpo.id == IngestToken.cpo_id)
        .where(IngestToken.token_sha256 == token_sha256(token), IngestToken.revoked_at.is_(None),
               Cpo.active == True)  # noqa: E712
    ).first()
    return row


def token_actor(session: Session, token: str | None) -> Actor | None:
    """Who acts when a back end posts with this token: staff of the token's one CPO (None: ``cpo_for_token``)."""
    cpo_id = cpo_for_token(session, token)
    if cpo_id is None:
        return None
    return Actor(name="status ingest API", role=Role.CPO_STAFF, cpo_ids=frozenset({cpo_id}))
