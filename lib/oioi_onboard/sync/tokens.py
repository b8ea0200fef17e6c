"""Bearer tokens with which a CPO's back end posts statuses to the relay.

A CPO may hold several (one per back end, rotated without downtime). A token
is shown once, when it is created; only its SHA-256 is stored, so a leaked
database does not leak working tokens. The tokens are long random strings,
so an unsalted fast hash is enough: there is nothing to guess.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ..errors import NotFound
from ..store.auth import Actor, require_edit
from ..store.models import Cpo, IngestToken, Role, utcnow
from ..store.queries import audit, get_cpo

PREFIX = "oioi_st_"  # recognisable in a config file or a secret scanner
MAX_TOKEN_LENGTH = 256  # ours have 51 characters; a longer string is refused without hashing it
# How long the relay trusts what it learnt about a token before reading a body (TokenCache).
TOKEN_CACHE_SECONDS = 5.0


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
    if not token or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
        return None
    return cpo_for_token_sha256(session, token_sha256(token))


# Built once: the relay runs it for every batch of requests it records.
_ACTIVE_TOKEN = (
    sa_select(IngestToken.__table__.c.cpo_id)
    .join(Cpo.__table__, Cpo.__table__.c.id == IngestToken.__table__.c.cpo_id)
    .where(IngestToken.__table__.c.token_sha256 == bindparam("digest"), IngestToken.__table__.c.revoked_at.is_(None),
           Cpo.__table__.c.active.is_(True))
)


def cpo_for_token_sha256(session: Session, digest: str) -> int | None:
    """``cpo_for_token`` for a token known by its hash."""
    return session.execute(_ACTIVE_TOKEN, {"digest": digest}).scalar()


def token_actor(session: Session, token: str | None) -> Actor | None:
    """Who acts when a back end posts with this token: staff of the token's one CPO (None: ``cpo_for_token``)."""
    cpo_id = cpo_for_token(session, token)
    if cpo_id is None:
        return None
    return Actor(name="status ingest API", role=Role.CPO_STAFF, cpo_ids=frozenset({cpo_id}))


class TokenCache:
    """Which CPO a token posts for, remembered for ``seconds``: the relay checks the token of every request
    before reading its body, without a query per request and without blocking its event loop.

    A miss is looked up on ``executor`` (the relay's database thread) by ``lookup`` (a token hash -> CPO id or
    None), once for all requests that wait for the same token. Unknown tokens are remembered too, and at most
    ``max_entries`` tokens at all. So a revoked token, or one of a CPO made inactive, passes this check for at
    most ``seconds`` more; the recording transaction checks it again, so nothing is recorded with it.
    """

    def __init__(self, lookup: Callable[[str], int | None], executor: Executor, *,
                 seconds: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000):
        self._lookup = lookup
        self._executor = executor
        self._seconds = seconds
        self._max_entries = max_entries
        self._known: dict[str, tuple[float, int | None]] = {}  # hash -> (valid until, CPO id)
        self._asked: dict[str, asyncio.Future] = {}

    async def cpo_id(self, token: str | None) -> int | None:
        """The CPO this token posts for (None: no such active token), as known at most ``seconds`` ago."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_sha256(token)
        known = self._known.get(digest)
        now = time.monotonic()
        if known is not None and known[0] > now:
            return known[1]
        asked = self._asked.get(digest)
        if asked is None:
            asked = asyncio.get_running_loop().run_in_executor(self._executor, self._lookup, digest)
            self._asked[digest] = asked
            asked.add_done_callback(lambda done: self._learn(digest, now, done))
        return await asyncio.shield(asked)  # one waiter giving up does not cancel the lookup for the others

    def _learn(self, digest: str, asked_at: float, done: asyncio.Future) -> None:
        del self._asked[digest]
        if done.cancelled() or done.exception() is not None:
            return
        if len(self._known) >= self._max_entries:
            self._known = {k: v for k, v in self._known.items() if v[0] > asked_at}
            if len(self._known) >= self._max_entries:
                self._known.clear()
        self._known[digest] = (asked_at + self._seconds, done.result())
