"""How a push is going, what was pushed before, and, on the sandbox, what the endpoint holds.

Nothing here writes. A push's progress and history are read from the database
(the worker writes it), so a page can follow a push that another process is
sending; ``reconcile`` also reads the sandbox's station list over HTTP (no other
endpoint lists what it holds). Functions that read a CPO's data do so for an acting person who
must see the CPO (PermissionDenied otherwise); ``queue_problems`` lists only the
CPOs the person sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from ..errors import EndpointError, NotFound
from ..oioi import codes
from ..oioi.messages import canonical_sha256
from ..oioi.vocabulary import STATION_POST
from ..store.auth import Actor
from ..store.models import OPEN_STATES, Cpo, Outbox, OutboxState, PushRun, Station
from ..store.queries import cpo_operator_ids, get_cpo, list_cpos, resolve_endpoint
from ..store.station_list import listed


@dataclass(frozen=True)
class PushProgress:
    """How far one push run is: its requests by outcome, the rate so far and the time left."""

    total: int
    acked: int
    failed: int
    pending: int
    rate_per_s: float  # requests finished per second so far
    eta_s: float | None  # None when nothing is left or the rate is unknown
    superseded: int = 0
    finished: bool = False

    @property
    def done(self) -> int:
        return self.acked + self.failed + self.superseded

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def percent(self) -> int:
        """Whole percent done, for a progress bar: 100 exactly when every request is acked or failed
        (or superseded), and never rounded up to 100 before that."""
        if self.done >= self.total:
            return 100
        return min(99, self.done * 100 // self.total)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def run_progress(session: Session, *, actor: Actor, run_id: int) -> PushProgress:
    """Counts of a run's requests by outcome, with the rate so far and the time left."""
    run = session.get(PushRun, run_id)
    if run is None:
        raise NotFound(f"no push run {run_id}")
    get_cpo(session, actor=actor, cpo_id=run.cpo_id)
    counts = dict(session.exec(
        select(Outbox.state, func.count()).where(Outbox.run_id == run_id).group_by(Outbox.state)
    ).all())
    first_sent, last_done = session.exec(
        select(func.min(Outbox.sent_at), func.max(Outbox.acked_at)).where(Outbox.run_id == run_id)
    ).one()
    acked = counts.get(OutboxState.ACKED, 0)
    failed = counts.get(OutboxState.FAILED, 0)
    superseded = counts.get(OutboxState.SUPERSEDED, 0)
    pending = sum(counts.get(state, 0) for state in OPEN_STATES)
    total = sum(counts.values())
    rate = 0.0
    first_sent, last_done = _aware(first_sent), _aware(last_done)
    if first_sent is not None:
        end = datetime.now(UTC) if pending else (last_done or datetime.now(UTC))
        elapsed = (end - first_sent).total_seconds()
        if elapsed > 0:
            rate = (acked + failed) / elapsed
    eta = pending / rate if pending and rate > 0 else None
    return PushProgress(total=total, acked=acked, failed=failed, pending=pending, rate_per_s=rate, eta_s=eta,
                    superseded=superseded, finished=run.finished_at is not None)


@dataclass(frozen=True)
class QueueProblem:
    """Why a CPO's queue does not send right now: its set-up was refused, or its endpoint does not answer."""

    kind: str  # "paused" or "unreachable"
    label: str  # a few words, for a table cell
    message: str  # one sentence with what happens next and what to do, for a banner


def queue_problem(cpo: Cpo) -> QueueProblem | None:
    """What stops a CPO's queue, read from the CPO itself (the worker writes it); None when it sends."""
    if cpo.paused_reason:
        return QueueProblem("paused", "paused: set-up refused",
                            f"Pushing for {cpo.name} is paused: {cpo.paused_reason}.")
    if cpo.unreachable_since is not None:
        since = _aware(cpo.unreachable_since)
        last = f" (last: {cpo.unreachable_reason})" if cpo.unreachable_reason else ""
        return QueueProblem(
            "unreachable", f"endpoint unreachable since {since:%Y-%m-%d %H:%M} UTC",
            f"The endpoint of {cpo.name} has been unreachable since {since:%Y-%m-%d %H:%M:%S} UTC{last}. "
            "Nothing is lost and nothing fails: the requests stay queued, the worker tries one at a low rate "
            "and sends the rest by itself as soon as the endpoint answers.")
    return None


def queue_problems(session: Session, *, actor: Actor, include_inactive: bool = False) -> dict[int, QueueProblem]:
    """``queue_problem`` of every CPO the person may see, for those that have one."""
    found = {}
    for cpo in list_cpos(session, actor=actor, include_inactive=include_inactive):
        problem = queue_problem(cpo)
        if problem is not None:
            found[cpo.id] = problem
    return found


def latest_run(session: Session, *, actor: Actor, cpo_id: int, include_dry_runs: bool = False) -> PushRun | None:
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    query = select(PushRun).where(PushRun.cpo_id == cpo_id)
    if not include_dry_runs:
        query = query.where(PushRun.dry_run == False)  # noqa: E712
    return session.exec(query.order_by(PushRun.id.desc()).limit(1)).scalar()


def history(session: Session, *, actor: Actor, cpo_id: int, limit: int = 50) -> pd.DataFrame:
    """The CPO's push runs, newest first, with their outcome counts."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    runs = session.exec(
        select(PushRun).where(PushRun.cpo_id == cpo_id).order_by(PushRun.id.desc()).limit(limit)
    ).scalars().all()
    counts: dict[int, dict] = {}
    if runs:
        for run_id, state, n in session.exec(
            select(Outbox.run_id, Outbox.state, func.count())
            .where(Outbox.run_id.in_([r.id for r in runs]))
            .group_by(Outbox.run_id, Outbox.state)
        ).all():
            counts.setdefault(run_id, {})[state] = n
    rows = []
    for run in runs:
        c = counts.get(run.id, {})
        rows.append({
            "run": run.id, "started": run.started_at, "finished": run.finished_at, "by": run.user_name,
            "dry run": run.dry_run, "new": run.new, "changed": run.changed, "deleted": run.deleted,
            "replaced": run.replaced, "requests": run.total, "acked": c.get(OutboxState.ACKED, 0),
            "failed": c.get(OutboxState.FAILED, 0), "open": sum(c.get(s, 0) for s in OPEN_STATES),
        })
    return pd.DataFrame(rows, columns=["run", "started", "finished", "by", "dry run", "new", "changed", "deleted",
                                       "replaced", "requests", "acked", "failed", "open"])


def station_history(session: Session, *, actor: Actor, cpo_id: int, station_id: str) -> pd.DataFrame:
    """Every station-post queued for one station: when, what, and how it ended."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    rows = session.exec(
        select(Outbox).where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST, Outbox.key == station_id)
        .order_by(Outbox.id.desc())
    ).scalars().all()
    return pd.DataFrame(
        [{
            "request": r.id, "run": r.run_id, "change": r.change, "state": r.state.value, "attempts": r.attempts,
            "queued": r.created_at, "sent": r.sent_at, "acknowledged": r.acked_at, "code": r.result_code,
            "meaning": codes.meaning(r.result_code) if r.result_code is not None else "",
            "error": r.last_error or "", "payload sha256": r.payload_sha256[:12],
        } for r in rows],
        columns=["request", "run", "change", "state", "attempts", "queued", "sent", "acknowledged", "code",
                 "meaning", "error", "payload sha256"],
    )


def failures(session: Session, *, actor: Actor, cpo_id: int, run_id: int | None = None) -> pd.DataFrame:
    """Requests that failed for good: the user's to-do list, with the code in words."""
    get_cpo(session, actor=actor, cpo_id=cpo_id)
    query = select(Outbox).where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST,
                                 Outbox.state == OutboxState.FAILED)
    if run_id is not None:
        query = query.where(Outbox.run_id == run_id)
    rows = session.exec(query.order_by(Outbox.id)).scalars().all()
    return pd.DataFrame(
        [{
            "station": r.key, "change": r.change, "code": r.result_code,
            "meaning": codes.meaning(r.result_code) if r.result_code is not None else "no answer",
            "detail": r.last_error or "", "attempts": r.attempts, "run": r.run_id, "request": r.id,
        } for r in rows],
        columns=["station", "change", "code", "meaning", "detail", "attempts", "run", "request"],
    )


class ReconcileError(EndpointError):
    """The sandbox could not be asked; the message says where and why."""


def sandbox_base_url(endpoint: str) -> str:
    """The sandbox root for a CPO's endpoint ("sandbox" or http://host:port/api/v4/request)."""
    url = resolve_endpoint(endpoint)
    return url.split("/api/", 1)[0] if "/api/" in url else url.rstrip("/")


def reconcile(session: Session, *, actor: Actor, cpo_id: int, sandbox_base_url: str,
              timeout: float = 10.0) -> pd.DataFrame:
    """What we hold as acknowledged beside what the sandbox holds, one row per station id.

    ``sandbox_base_url`` is the sandbox's root (``http://host:port``), which serves
    ``GET /_sandbox/stations``. ``verdict``: in sync, only here, only at the endpoint,
    differs (content or deletion).
    """
    get_cpo(session, actor=actor, cpo_id=cpo_id)  # before asking the sandbox anything
    url = f"{sandbox_base_url.rstrip('/')}/_sandbox/stations"
    import httpx  # here: the push imports this module for its progress, and needs no HTTP client for it

    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        remote = {item["station_id"]: item for item in response.json()}
    except httpx.HTTPStatusError as error:
        raise ReconcileError(f"{url} answered HTTP {error.response.status_code}: is this a sandbox?") from None
    except httpx.HTTPError as error:
        raise ReconcileError(f"{url} cannot be reached ({type(error).__name__})") from None
    except httpx.InvalidURL as error:  # "http://host:abc": not an HTTPError
        raise ReconcileError(f"{sandbox_base_url} is not a usable address: {error}") from None
    except (ValueError, KeyError, TypeError):
        raise ReconcileError(f"{url} did not answer with the sandbox's station list") from None
    ours = session.exec(
        select(Station.station_id, Station.acked_sha256, Station.acked_deleted, Station.payload_sha256,
               listed(session, [cpo_id]))
        .where(Station.cpo_id == cpo_id)
    ).all()
    operator_ids = set()
    rows = []
    for station_id, acked_sha, acked_deleted, sha, on_list in ours:
        item = remote.pop(station_id, None)
        held_sha = canonical_sha256(item["station"]) if item else None
        if item is not None:
            operator_ids.add(item["station"].get("cpo-id"))
        if acked_sha is None and item is None and not on_list:
            continue  # off the CPO's list and never pushed: nothing of it to compare
        if acked_sha is None and item is None:
            verdict = "not pushed yet"
        elif item is None:
            verdict = "only here"
        elif acked_sha is None:
            verdict = "at the endpoint, not acknowledged here"
        elif bool(item["deleted"]) != bool(acked_deleted):
            verdict = "differs: deleted"
        elif held_sha != acked_sha:
            verdict = "differs: content"
        else:
            verdict = "in sync"
        rows.append({
            "station": station_id, "verdict": verdict, "acknowledged here": acked_sha is not None,
            "deleted here": bool(acked_deleted), "at the endpoint": item is not None,
            "deleted at the endpoint": bool(item["deleted"]) if item else None,
            # Content to push for a listed station; its deletion for one off the list.
            "local changes not pushed": acked_sha is not None and (sha != acked_sha if on_list else not acked_deleted),
        })
    # Stations the endpoint holds for this CPO's operator ids that we do not know.
    operator_ids |= set(cpo_operator_ids(session, cpo_id=cpo_id))
    for station_id, item in remote.items():
        if item["station"].get("cpo-id") in operator_ids:
            rows.append({
                "station": station_id, "verdict": "only at the endpoint", "acknowledged here": False,
                "deleted here": False, "at the endpoint": True, "deleted at the endpoint": bool(item["deleted"]),
                "local changes not pushed": False,
            })
    return pd.DataFrame(rows, columns=["station", "verdict", "acknowledged here", "deleted here", "at the endpoint",
                                       "deleted at the endpoint", "local changes not pushed"])
