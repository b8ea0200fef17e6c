"""The worker's OCPI pulls: every active CPO with an OCPI connection is pulled for what changed every
``Cpo.ocpi_pull_minutes`` (15 unless set), and in full once a day.

A pull runs on a thread of its own, one CPO after another: reading a back end's pages takes seconds
or minutes, and the worker's event loop goes on sending meanwhile. What a pull brings takes the
one pipeline (``workflows.ocpi.pull_locations``): stored as an import, diffed, its changed EVSE
statuses queued as connector-post-status. For a CPO that has pushed before, new and changed
stations are queued for the worker to send (``queue_pulled_changes``); deletions (stations
missing from a full pull) and connector changes wait for a person's confirmation on the push page,
and a CPO's first push is a person's to start.

A failed pull leaves its message on the CPO (the CPOs page shows it) and is tried again after the
CPO's interval; the next successful one asks for everything since the last one that succeeded.

Several workers may run (on one machine or many, one database): each pull first takes the CPO's lease
in the database (``store.ocpi_connection.take_pull_lease``), so one worker at a time pulls a CPO and a
pull another worker has just done is not done again; the others skip it until it is due again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from ..errors import OnboardError
from ..store.auth import SYSTEM
from ..store.db import session_scope
from ..store.models import Cpo, utcnow
from ..store.ocpi_connection import release_pull_lease, take_pull_lease
from ..wording import counted
from .ocpi import pull_locations, queue_pulled_changes

__all__ = ["FULL_PULL_EVERY", "due_pulls", "pull_cpo", "run_pulls", "worker_name"]

log = logging.getLogger(__name__)

FULL_PULL_EVERY = timedelta(days=1)
LOOK_EVERY = 30.0  # seconds between looks for CPOs whose pull is due


def due_pulls(session: Session, *, now: datetime, tried: dict[int, datetime]) -> list[tuple[int, bool]]:
    """(CPO id, full) of each pull due now; ``tried`` holds when this worker last tried each CPO."""
    due = []
    for cpo_id, minutes, last, last_full in session.exec(
        select(Cpo.id, Cpo.ocpi_pull_minutes, Cpo.ocpi_last_pull_started_at, Cpo.ocpi_last_full_pull_at)
        .where(Cpo.active == True, Cpo.ocpi_versions_url.is_not(None), Cpo.ocpi_token_encrypted.is_not(None))  # noqa: E712
        .order_by(Cpo.id)
    ).all():
        latest = max((t for t in (last, tried.get(cpo_id)) if t is not None), default=None)
        if latest is None or now - latest >= timedelta(minutes=max(1, minutes)):
            due.append((cpo_id, last_full is None or now - last_full >= FULL_PULL_EVERY))
    return due


def worker_name() -> str:
    """Who holds a pull lease: this machine and process, and a random part (two loops in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pull_cpo(cpo_id: int, *, full: bool, db_url: str | None = None, holder: str | None = None,
             **client_options: Any) -> str | None:
    """One pull of one CPO, stored and (once it has pushed before) queued; what it brought, in words.

    None, without pulling, when another worker holds the CPO's pull lease or has pulled it since it fell due.
    """
    holder = holder or worker_name()
    with session_scope(db_url) as session:
        cpo = session.get(Cpo, cpo_id)
        if cpo is None:
            return None
        due_since = utcnow() - timedelta(minutes=max(1, cpo.ocpi_pull_minutes))
        if not take_pull_lease(session, cpo_id=cpo_id, holder=holder, pulled_before=due_since):
            return None
    try:
        with session_scope(db_url) as session:
            result = pull_locations(session, actor=SYSTEM, cpo_id=cpo_id, full=full, say=lambda line: None,
                                    **client_options)
            run = queue_pulled_changes(session, cpo_id=cpo_id)
    finally:
        with session_scope(db_url) as session:
            release_pull_lease(session, cpo_id=cpo_id, holder=holder)
    queued = f", {counted(run.total, 'request')} queued" if run is not None else ""
    return (f"{'full' if result.full else 'incremental'} pull: {counted(result.locations, 'Location')}, "
            f"{counted(result.stations_stored, 'station')} stored, {counted(result.errors, 'error')}, "
            f"{counted(result.statuses, 'status change')}{queued}")


async def run_pulls(stop: asyncio.Event, *, db_url: str | None = None, look_every: float = LOOK_EVERY,
                    **client_options: Any) -> None:
    """Pull what is due until ``stop`` is set; beside ``run_worker`` in the worker process."""
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpi-pull")
    tried: dict[int, datetime] = {}
    holder = worker_name()

    def due() -> list[tuple[int, bool]]:
        with session_scope(db_url) as session:
            return due_pulls(session, now=utcnow(), tried=tried)

    try:
        while not stop.is_set():
            try:
                pulls = await loop.run_in_executor(thread, due)
            except Exception:  # noqa: BLE001 - the database may be back at the next look
                log.exception("looking for due OCPI pulls failed")
                pulls = []
            for cpo_id, full in pulls:
                if stop.is_set():
                    break
                tried[cpo_id] = utcnow()
                try:
                    said = await loop.run_in_executor(thread, lambda c=cpo_id, f=full: pull_cpo(
                        c, full=f, db_url=db_url, holder=holder, **client_options))
                    if said is None:
                        log.debug("CPO %s: another worker pulls it", cpo_id)
                    else:
                        log.info("CPO %s: OCPI %s", cpo_id, said)
                except OnboardError as error:
                    log.warning("CPO %s: OCPI pull failed: %s", cpo_id, error)
                except Exception:  # noqa: BLE001 - one CPO's failure never stops the others' pulls
                    log.exception("CPO %s: OCPI pull failed", cpo_id)
            try:
                await asyncio.wait_for(stop.wait(), timeout=look_every)
            except TimeoutError:
                pass
    finally:
        thread.shutdown(wait=False, cancel_futures=True)
