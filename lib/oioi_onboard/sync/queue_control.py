"""Controlling a CPO's push queue: pausing it, resuming it, marking its endpoint unreachable,
putting back rows of a worker that died, and queueing failed rows again.

A queue pauses when the endpoint refuses the CPO's set-up (its API key, a partner
identifier): every further request would be refused the same way. It resumes when a
person says so, or by itself once the set-up differs from the one refused. An endpoint
that stops answering pauses nothing: the CPO's pages say so, and its rows wait for
their retry. The queue itself (enqueueing, claims, results) is ``sync.outbox``.
"""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlmodel import Session

from ..errors import Conflict
from ..store.auth import Actor, require_edit
from ..store.models import Cpo, Outbox, OutboxState, PartnerIdentifier, utcnow
from ..store.queries import audit, get_cpo
from ..wording import counted

__all__ = [
    "pause",
    "resume_cpo",
    "resume_if_setup_changed",
    "mark_unreachable",
    "mark_reachable",
    "reclaim_abandoned",
    "retry_failed",
    "take_push_lock",
    "renew_push_lock",
    "release_push_lock",
    "check_push_lock",
]

# Why a queue pauses, as the CPO's pages show it: the worker pauses with these when the endpoint refuses the set-up.
API_KEY_REJECTED = (
    "the endpoint rejected the API key (HTTP 401 / code 210): enter the current key on the CPOs page; "
    "the queue resumes with the new key"
)
PARTNER_REJECTED = (
    "the endpoint does not know the partner identifier {partner} or this API key may not act for it "
    "(code 211): have the platform register it, or change the partner identifiers on the CPOs page "
    "(the queue then resumes by itself), then resume the queue"
)
NOT_ALLOWED = (
    "the endpoint does not allow this API key to push for this CPO ({what}): ask the platform to grant it, "
    "or check the API key and partner identifiers on the CPOs page, then resume the queue"
)


def _setup_fingerprint(session: Session, cpo_id: int) -> str | None:
    """A hash of what the endpoint judges a CPO's requests by: endpoint, API key, partner identifiers."""
    cpo = session.get(Cpo, cpo_id)
    if cpo is None:
        return None
    partners = sorted(session.execute(
        select(PartnerIdentifier.partner_identifier).where(PartnerIdentifier.cpo_id == cpo_id)).scalars())
    text_ = "\n".join([cpo.endpoint or "", cpo.api_key_encrypted or "", ",".join(partners)])
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def pause(session: Session, cpo_id: int, reason: str) -> None:
    """Stop the CPO's queue for a reason the endpoint gave, remembering the set-up it refused."""
    session.execute(
        update(Cpo).where(Cpo.id == cpo_id, Cpo.paused_reason.is_(None))
        .values(paused_reason=reason, paused_setup=_setup_fingerprint(session, cpo_id)),
        execution_options={"synchronize_session": False},
    )


def _unpause(session: Session, cpo_id: int) -> int:
    """Clear the pause, point queued rows at a partner identifier the CPO still has, make them due now."""
    session.execute(
        update(Cpo).where(Cpo.id == cpo_id).values(paused_reason=None, paused_setup=None),
        execution_options={"synchronize_session": False},
    )
    _repoint_partner(session, cpo_id)
    return session.execute(
        update(Outbox)
        .where(Outbox.cpo_id == cpo_id, Outbox.state == OutboxState.PENDING)
        .values(next_attempt_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount or 0


def _repoint_partner(session: Session, cpo_id: int) -> int:
    """Queued requests that carry a partner identifier the CPO no longer has get its first one.

    The set-up fix for "unknown partner identifier" (211) is often a new partner identifier:
    the requests queued before it would otherwise be refused again after the resume.
    """
    partners = list(session.execute(
        select(PartnerIdentifier.partner_identifier).where(PartnerIdentifier.cpo_id == cpo_id)
        .order_by(PartnerIdentifier.id)).scalars())
    if not partners:
        return 0
    changed = []
    for row_id, payload in session.execute(
        select(Outbox.id, Outbox.payload).where(Outbox.cpo_id == cpo_id, Outbox.state.in_(
            (OutboxState.PENDING, OutboxState.HELD)))
    ).all():
        body = next(iter(payload.values()), None) if isinstance(payload, dict) and len(payload) == 1 else None
        if isinstance(body, dict) and body.get("partner-identifier") not in (None, *partners):
            kind = next(iter(payload))
            changed.append({"b_id": row_id, "b_payload": {kind: {**body, "partner-identifier": partners[0]}}})
    if changed:
        table = Outbox.__table__
        session.execute(table.update().where(table.c.id == bindparam("b_id")).values(payload=bindparam("b_payload")),
                        changed)
    return len(changed)


def resume_if_setup_changed(session: Session, *, actor: Actor, cpo_id: int) -> bool:
    """Resume a queue paused for its set-up once the set-up differs from the one refused; audited.

    The fix (a new API key, other partner identifiers, another endpoint) is the one resume:
    nobody has to press "resume" as well. The worker calls it as the system.
    """
    require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    cpo = session.get(Cpo, cpo_id)
    if cpo is None or cpo.paused_reason is None or cpo.paused_setup is None:
        return False
    if _setup_fingerprint(session, cpo_id) == cpo.paused_setup:
        return False
    reason = cpo.paused_reason
    _unpause(session, cpo_id)
    audit(session, actor_name=actor.name, action="push queue resumed", cpo_id=cpo_id,
          detail=f"the set-up changed; was paused: {reason}")
    return True


def mark_unreachable(session: Session, *, cpo_id: int, since: datetime, reason: str) -> None:
    """Every request of the CPO failed with a transient error since ``since``: say so on its pages."""
    session.execute(
        update(Cpo).where(Cpo.id == cpo_id).values(
            unreachable_since=func.coalesce(Cpo.unreachable_since, since), unreachable_reason=reason[:500]),
        execution_options={"synchronize_session": False},
    )


def mark_reachable(session: Session, *, cpo_id: int) -> bool:
    """The endpoint answered again: clear the mark and make the CPO's waiting rows due now."""
    cleared = session.execute(
        update(Cpo).where(Cpo.id == cpo_id, Cpo.unreachable_since.is_not(None))
        .values(unreachable_since=None, unreachable_reason=None),
        execution_options={"synchronize_session": False},
    ).rowcount or 0
    stamp = utcnow()
    session.execute(
        update(Outbox)
        .where(Outbox.cpo_id == cpo_id, Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at > stamp)
        .values(next_attempt_at=stamp),
        execution_options={"synchronize_session": False},
    )
    return bool(cleared)


def resume_cpo(session: Session, *, actor: Actor, cpo_id: int) -> None:
    """Let a paused queue run again (after the set-up was fixed); audited."""
    cpo = get_cpo(session, actor=actor, cpo_id=cpo_id)
    require_edit(actor, cpo.id)
    paused_reason = cpo.paused_reason
    _unpause(session, cpo_id)
    audit(session, actor_name=actor.name, action="push queue resumed", cpo_id=cpo.id,
          detail=f"was paused: {paused_reason}" if paused_reason else "")


def reclaim_abandoned(session: Session, *, actor: Actor, cpo_id: int) -> int:
    """Put back a CPO's rows claimed by a worker process of this machine that no longer runs (killed).

    Their leases would run out by themselves; a push run again right after a crash need not wait
    for that. Workers name themselves ``host-pid-xxxx``; only this host's dead pids are reclaimed.
    """
    require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    host = socket.gethostname()
    query = (select(Outbox.claimed_by).where(Outbox.state == OutboxState.SENDING, Outbox.cpo_id == cpo_id)
             .distinct())
    dead = [worker for worker in session.execute(query).scalars() if _dead_local_worker(worker, host)]
    if not dead:
        return 0
    return session.execute(
        update(Outbox)
        .where(Outbox.claimed_by.in_(dead), Outbox.state == OutboxState.SENDING, Outbox.cpo_id == cpo_id)
        .values(state=OutboxState.PENDING, claimed_by=None, claimed_until=None, next_attempt_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount or 0


# --- one push at a time per CPO ----------------------------------------------------------------
# Two pushes of one CPO at once would each import, plan and summarise against the other's changes: the
# second is refused at once instead. The lock is a few columns of the CPO's row, taken with a conditional
# UPDATE (the same on SQLite and PostgreSQL); its holder renews it while it runs. A holder killed on this
# host is seen dead at once (a rerun after kill -9 resumes right away), one elsewhere once it runs out.

PUSH_LOCK_SECONDS = 60.0


def take_push_lock(session: Session, *, actor: Actor, cpo_id: int, holder: str,
                   lease_seconds: float = PUSH_LOCK_SECONDS) -> None:
    """Hold the CPO's push lock as ``holder`` (a ``host-pid-xxxx`` id), or raise ``Conflict`` saying
    whose push is running. Run it in a transaction of its own, committed before the push starts."""
    require_edit(actor, get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    now = utcnow()
    values = {"push_lock_holder": holder, "push_lock_by": actor.name, "push_lock_since": now,
              "push_lock_until": now + timedelta(seconds=lease_seconds)}
    free = or_(Cpo.push_lock_holder.is_(None), Cpo.push_lock_until < now, Cpo.push_lock_holder == holder)
    if _update_lock(session, cpo_id, free, values):
        return
    current = _lock_holder(session, cpo_id)  # released since, or held by a push killed on this host
    if current is None and _update_lock(session, cpo_id, Cpo.push_lock_holder.is_(None), values):
        return
    if current is not None and _dead_local_worker(current, socket.gethostname()) and _update_lock(
            session, cpo_id, Cpo.push_lock_holder == current, values):
        return
    raise Conflict(_running_message(session, cpo_id))


def renew_push_lock(session: Session, *, cpo_id: int, holder: str, lease_seconds: float = PUSH_LOCK_SECONDS) -> bool:
    """Keep holding the lock a while longer; False if ``holder`` no longer holds it."""
    return _update_lock(session, cpo_id, Cpo.push_lock_holder == holder,
                        {"push_lock_until": utcnow() + timedelta(seconds=lease_seconds)})


def release_push_lock(session: Session, *, cpo_id: int, holder: str) -> None:
    _update_lock(session, cpo_id, Cpo.push_lock_holder == holder,
                 {"push_lock_holder": None, "push_lock_by": None, "push_lock_since": None, "push_lock_until": None})


def check_push_lock(session: Session, *, cpo_id: int, holder: str | None = None) -> None:
    """Raise ``Conflict`` if a push other than ``holder``'s is running for the CPO (the push page's
    button and ``ocpi pull --push`` queue nothing while one is)."""
    row = session.execute(select(Cpo.push_lock_holder, Cpo.push_lock_until).where(Cpo.id == cpo_id)).first()
    if row is None or row[0] is None or row[0] == holder:
        return
    if row[1] is not None and row[1] < utcnow():
        return
    if _dead_local_worker(row[0], socket.gethostname()):
        return
    raise Conflict(_running_message(session, cpo_id))


def _update_lock(session: Session, cpo_id: int, condition, values: dict) -> bool:  # noqa: ANN001
    return bool(session.execute(
        update(Cpo).where(Cpo.id == cpo_id, condition).values(**values),
        execution_options={"synchronize_session": False},
    ).rowcount)


def _lock_holder(session: Session, cpo_id: int) -> str | None:
    return session.execute(select(Cpo.push_lock_holder).where(Cpo.id == cpo_id)).scalar_one_or_none()


def _running_message(session: Session, cpo_id: int) -> str:
    name, by, since = session.execute(
        select(Cpo.name, Cpo.push_lock_by, Cpo.push_lock_since).where(Cpo.id == cpo_id)).one()
    started = f"started {since:%H:%M} UTC" if since is not None else "started a moment ago"
    return f"a push for CPO {name!r} is running ({started} by {by or 'someone'})"


def _dead_local_worker(worker_id: str | None, host: str) -> bool:
    parts = (worker_id or "").rsplit("-", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: alive
        return False
    return False


def retry_failed(session: Session, *, actor: Actor, cpo_id: int, outbox_ids: list[int] | None = None) -> int:
    """Queue failed rows again (after the user fixed the cause); returns how many; audited."""
    require_edit(actor, cpo_id)
    query = (
        update(Outbox)
        .where(Outbox.cpo_id == cpo_id, Outbox.state == OutboxState.FAILED)
        .values(state=OutboxState.PENDING, next_attempt_at=utcnow(), attempts=0)
    )
    if outbox_ids is not None:
        query = query.where(Outbox.id.in_(outbox_ids))
    count = session.execute(query, execution_options={"synchronize_session": False}).rowcount or 0
    if count:
        audit(session, actor_name=actor.name, action="failed requests queued again", cpo_id=cpo_id,
              detail=counted(count, "request"))
    return count
