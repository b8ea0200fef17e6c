"""Pushing a CPO's stations: plan -> enqueue -> follow.

``start_push`` is what the push page's buttons and ``oioi-onboard push`` both
call; the worker process (or ``send`` in-process, for the CLI) sends what it
queued. ``push_file`` is the whole CLI job: import the file with the one import
workflow, push (``queue_push``, then ``follow_push``), and say which stations
the endpoint acknowledged and why not the others. ``oioi-onboard ocpi pull --push``
follows a pulled import the same way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from ..errors import NotFound, UserError
from ..oioi import codes
from ..oioi.ids import IdError, parse_operator_id
from ..oioi.retry import WORKER_BACKOFF_BASE, WORKER_BACKOFF_MAX
from ..oioi.sender import SendingProcess
from ..oioi.vocabulary import STATION_POST
from ..store import queries
from ..store.auth import SYSTEM, Actor, require_edit
from ..store.db import migrate, session_scope
from ..store.models import OPEN_STATES, Cpo, ImportRecord, Outbox, OutboxState, PushRun, Station
from ..store.registry import RegistrationError, register_cpo, set_api_key, update_cpo
from ..store.stations import repeat_import, repeat_key, repeat_of
from ..sync.diff import PushPlan, plan_push
from ..sync.outbox import ConfirmationRequired, MassReplacement, Recorded, check_confirmations, enqueue_plan
from ..sync.progress import PushProgress, run_progress
from ..sync.queue_control import (
    PUSH_LOCK_SECONDS,
    check_push_lock,
    reclaim_abandoned,
    release_push_lock,
    renew_push_lock,
    resume_if_setup_changed,
    take_push_lock,
)
from ..wording import counted
from .imports import import_file, input_fingerprint, map_sheet, read_file

log = logging.getLogger(__name__)


def start_push(
    session: Session,
    *,
    actor: Actor,
    cpo_id: int,
    partner_identifier: str | None = None,
    confirm_deletions: bool = False,
    confirm_connector_changes: bool = False,
    dry_run: bool = False,
    replace_all: bool = False,
    push_lock: str | None = None,
    plan: PushPlan | None = None,
) -> tuple[PushPlan, PushRun]:
    """Plan what the endpoint lacks and queue it (or only record it, for a dry run).

    What an earlier push left queued stays queued and is sent first (it is older); rows a
    killed worker of this machine still held go back to the queue at once. While another push
    holds the CPO's push lock (``oioi-onboard push``) nothing is queued: ``Conflict`` says whose
    it is; ``push_lock`` is the caller's own, when it holds it. ``plan``: one the caller made in this
    transaction (the plan reads the stations, not the queue that the lines below may change).
    """
    require_edit(actor, queries.get_cpo(session, actor=actor, cpo_id=cpo_id).id)
    if not dry_run:
        check_push_lock(session, cpo_id=cpo_id, holder=push_lock)
        reclaim_abandoned(session, actor=actor, cpo_id=cpo_id)
        resume_if_setup_changed(session, actor=actor, cpo_id=cpo_id)
    if plan is None:
        plan = plan_push(session, actor=actor, cpo_id=cpo_id, partner_identifier=partner_identifier)
    run = enqueue_plan(session, actor=actor, plan=plan, dry_run=dry_run, confirm_deletions=confirm_deletions,
                       confirm_connector_changes=confirm_connector_changes, replace_all=replace_all)
    return plan, run


def open_station_posts(session: Session, *, cpo_id: int) -> int:
    """Station-posts of this CPO still to be sent: this run's and any a crashed push left queued."""
    return session.execute(
        select(func.count()).select_from(Outbox)
        .where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST, Outbox.state.in_(OPEN_STATES))
    ).scalar_one()


class Interrupted(Exception):
    """A push stopped by a signal (Ctrl-C, SIGTERM) after its in-flight requests were answered and recorded."""

    def __init__(self, signum: int, still_queued: int):
        super().__init__(f"stopped by signal {signum}; {counted(still_queued, 'request')} stay queued")
        self.signum = signum
        self.still_queued = still_queued


@dataclass(frozen=True)
class Follow:
    """What the push follower sees each time it looks: the run's progress and the CPO's queue."""

    progress: PushProgress | None
    still_open: int
    unreachable_since: datetime | None = None
    unreachable_reason: str | None = None


SYNC_SECONDS = 5.0  # the push's follower reads the database this often; the worker's counts fill in between


class _Tally:
    """What the worker recorded since the follower last read the database: progress from counters,
    not a count over the whole run five times a second (a cost every request of a big push shared)."""

    def __init__(self, *, cpo_id: int, run_id: int | None) -> None:
        self.cpo_id, self.run_id = cpo_id, run_id
        self.reset()

    def reset(self) -> None:
        """Counted from zero again, as the database is read."""
        self.acked = self.failed = self.closed_posts = 0
        self.surprise = False  # an answer other than an ack: read the database now

    def add(self, recorded: list[Recorded]) -> None:
        for row in recorded:
            if row.state not in (OutboxState.ACKED, OutboxState.FAILED):
                self.surprise = True
                continue
            self.surprise |= row.state == OutboxState.FAILED
            if row.run_id is not None and row.run_id == self.run_id:
                if row.state == OutboxState.ACKED:
                    self.acked += 1
                else:
                    self.failed += 1
            if row.kind == STATION_POST and row.cpo_id == self.cpo_id:
                self.closed_posts += 1

    def estimate(self, base: Follow, seconds_since: float) -> Follow:
        """The last reading of the database moved on by what was recorded since."""
        progress = base.progress
        if progress is not None:
            acked, failed = progress.acked + self.acked, progress.failed + self.failed
            done_before = progress.acked + progress.failed
            elapsed = (done_before / progress.rate_per_s if progress.rate_per_s > 0 else 0.0) + seconds_since
            rate = (acked + failed) / elapsed if elapsed > 0 else 0.0
            pending = max(0, progress.pending - self.acked - self.failed)
            progress = replace(progress, acked=min(acked, progress.total), failed=failed, pending=pending,
                               rate_per_s=rate, eta_s=pending / rate if pending and rate > 0 else None)
        return replace(base, progress=progress, still_open=max(0, base.still_open - self.closed_posts))


async def send(*, db_url: str | None, cpo_id: int, run_id: int | None,
               on_progress: Callable[[PushProgress | None, int], None] | None = None,
               backoff_base: float = WORKER_BACKOFF_BASE, backoff_max: float = WORKER_BACKOFF_MAX,
               on_follow: Callable[[Follow], None] | None = None, **worker_options: Any) -> None:
    """Run the worker in this process for one CPO until nothing of it is open (or its queue is paused).

    An unreachable endpoint does not end it: the worker probes and sends once it answers.
    Ctrl-C or SIGTERM ends it gracefully and raises ``Interrupted``: what was not acknowledged
    stays queued for the next run.
    """
    from ..sync.worker import run_worker

    stop = asyncio.Event()
    signals: list[int] = []
    tally = _Tally(cpo_id=cpo_id, run_id=run_id)

    def read() -> tuple[Follow, bool]:
        with session_scope(db_url) as session:
            progress = run_progress(session, actor=SYSTEM, run_id=run_id) if run_id else None
            still_open = open_station_posts(session, cpo_id=cpo_id)
            cpo = session.get(Cpo, cpo_id)
            return Follow(progress, still_open, cpo.unreachable_since, cpo.unreachable_reason), bool(
                cpo.paused_reason)

    async def follow() -> None:
        try:
            base: Follow | None = None
            read_at = 0.0
            while not stop.is_set():
                await asyncio.sleep(0.2)
                since = time.monotonic() - read_at
                seen = tally.estimate(base, since) if base is not None else None
                if seen is None or tally.surprise or seen.still_open == 0 or since >= SYNC_SECONDS:
                    # Reset before reading: a batch written meanwhile is counted at most twice until the
                    # next reading, never lost.
                    tally.reset()
                    read_at = time.monotonic()
                    base, paused = await asyncio.to_thread(read)
                    seen = base
                    if paused or base.still_open == 0:
                        stop.set()
                if on_progress is not None:
                    on_progress(seen.progress, seen.still_open)
                if on_follow is not None:
                    on_follow(seen)
        finally:
            stop.set()  # whatever ends the follower ends the worker too

    follower = asyncio.create_task(follow())
    await run_worker(stop=stop, poll_interval=0.1, db_url=db_url, cpo_ids=(cpo_id,), backoff_base=backoff_base,
                     backoff_max=backoff_max, on_signal=signals.append, on_recorded=tally.add, **worker_options)
    stop.set()
    await follower
    if signals:
        with session_scope(db_url) as session:
            raise Interrupted(signals[0], open_station_posts(session, cpo_id=cpo_id))


@contextmanager
def holding_push_lock(db_url: str | None, *, actor: Actor, cpo_id: int) -> Iterator[str]:
    """Hold the CPO's push lock (renewed in the background) while the block runs; its holder id.

    A second push of the CPO meanwhile gets ``Conflict`` at once ("a push for CPO X is running ...").
    """
    from ..sync.worker import default_worker_id

    holder = default_worker_id()  # host-pid-xxxx: a rerun on this host sees at once that a killed one is dead
    with session_scope(db_url) as session:
        take_push_lock(session, actor=actor, cpo_id=cpo_id, holder=holder)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(PUSH_LOCK_SECONDS / 4):
            try:
                with session_scope(db_url) as session:
                    renew_push_lock(session, cpo_id=cpo_id, holder=holder)
            except Exception as error:  # noqa: BLE001 - e.g. SQLite busy with the import: next time
                log.info("renewing the push lock of CPO %s failed: %s", cpo_id, error)

    renewer = threading.Thread(target=renew, name="push-lock", daemon=True)
    renewer.start()
    try:
        yield holder
    finally:
        done.set()
        renewer.join(timeout=5)
        try:
            with session_scope(db_url) as session:
                release_push_lock(session, cpo_id=cpo_id, holder=holder)
        except Exception as error:  # noqa: BLE001 - it runs out by itself
            log.warning("releasing the push lock of CPO %s failed: %s", cpo_id, error)


# --- the whole job of `oioi-onboard push FILE` ------------------------------------------------


SENDING_PROCESS_FROM = 2000  # requests: below, starting the second process costs more than it saves
EARLY_SENDING_BYTES = 200_000  # a file this big is spawned a sending process as its push starts (~400 stations
# of CSV, ~2,000 of XLSX); one left unused ends with the push


@dataclass
class PushSummary:
    cpo: str
    file: str
    run_id: int | None = None
    requests: int = 0
    resumed: int = 0  # requests a previous push left queued, sent by this one
    stations_in_file: int = 0
    acknowledged: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)  # station, code, reason
    blocked: list[dict[str, Any]] = field(default_factory=list)  # station, reason
    waiting_for_confirmation: dict[str, int] = field(default_factory=dict)
    refused: str | None = None  # why nothing was sent though --yes was given (sync.diff.mass_replacement)
    paused_reason: str | None = None
    nothing_to_push: bool = False

    @property
    def ok(self) -> bool:
        return (not self.failed and not self.blocked and not self.paused_reason and not self.refused
                and not self.waiting_for_confirmation and self.acknowledged == self.stations_in_file)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Credentials:
    """What to push with; any of them left out is taken from the registered CPO."""

    endpoint: str | None = None
    api_key: str | None = None
    partner_identifier: str | None = None


def _file_operator_ids(frame) -> list[str]:  # noqa: ANN001
    found: list[str] = []
    for value in frame["cpo_id"].dropna().astype(str).str.strip().unique() if "cpo_id" in frame.columns else []:
        try:
            canonical = str(parse_operator_id(value))
        except IdError:
            continue
        if canonical not in found:
            found.append(canonical)
    return found


def _find_cpo(session: Session, *, name: str | None, operator_ids: list[str]) -> Cpo | None:
    if name:
        return session.execute(select(Cpo).where(Cpo.name == name)).scalars().first()
    owners = {queries.operator_id_owner(session, operator_id=o) for o in operator_ids} - {None}
    if len(owners) > 1:
        raise UserError("the file's operator ids belong to several CPOs; name one with --cpo")
    return session.get(Cpo, owners.pop()) if owners else None


def _prepare_cpo(session: Session, *, actor: Actor, name: str | None, operator_ids: list[str], given: Credentials,
                 concurrency: int | None, say: Callable[[str], None]) -> tuple[Cpo, str, bool]:
    """The CPO to push for (registered from the file's operator ids if new), its partner identifier, and
    whether this call registered it."""
    cpo = _find_cpo(session, name=name, operator_ids=operator_ids)
    registered = cpo is None
    if cpo is None:
        missing = [option for option, value in (("--endpoint", given.endpoint), ("--api-key-env", given.api_key),
                                                ("--partner-id", given.partner_identifier)) if not value]
        if missing:
            who = f"no CPO named {name!r} is registered" if name else "the file's operator ids belong to no CPO"
            raise NotFound(f"{who}; register it (oioi-onboard cpo add) or give {', '.join(missing)}")
        if not operator_ids:
            raise UserError("the file has no valid operator id (cpo_id column) to register a CPO with")
        cpo, _ = register_cpo(session, actor=actor, name=name or f"CPO {operator_ids[0]}", operator_ids=operator_ids,
                              endpoint=given.endpoint, api_key=given.api_key,
                              partner_identifiers=[given.partner_identifier])
        say(f"registered CPO {cpo.name!r} with operator ids {', '.join(operator_ids)}")
    else:
        changes: dict[str, Any] = {}
        if given.endpoint and cpo.endpoint != given.endpoint:
            changes["endpoint"] = given.endpoint
        partners = queries.cpo_partner_identifiers(session, cpo_id=cpo.id)
        if given.partner_identifier and given.partner_identifier not in partners:
            changes["partner_identifiers"] = [*partners, given.partner_identifier]
        if changes:
            update_cpo(session, actor=actor, cpo_id=cpo.id, **changes)
        if given.api_key:
            set_api_key(session, actor=actor, cpo_id=cpo.id, api_key=given.api_key)  # also resumes a paused queue
        elif not cpo.api_key_encrypted:
            raise UserError(f"CPO {cpo.name!r} has no API key yet: give one with --api-key-env")
    if concurrency is not None and concurrency != cpo.concurrency:
        update_cpo(session, actor=actor, cpo_id=cpo.id, concurrency=concurrency)
    session.flush()
    partner = given.partner_identifier or queries.cpo_partner_identifiers(session, cpo_id=cpo.id)[0]
    return cpo, partner, registered


def push_file(
    *,
    file: Path,
    credentials: Credentials = Credentials(),
    cpo_name: str | None = None,
    profile: str | None = None,
    operators: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    sheet: str | None = None,
    concurrency: int | None = None,
    yes: bool = False,
    replace_all: bool = False,
    actor: Actor = SYSTEM,
    db_url: str | None = None,
    say: Callable[[str], None] = print,
    on_progress: Callable[[PushProgress | None, int], None] | None = None,
    on_follow: Callable[[Follow], None] | None = None,
    backoff_base: float = WORKER_BACKOFF_BASE,
    backoff_max: float = WORKER_BACKOFF_MAX,
    **worker_options: Any,
) -> PushSummary:
    """Import ``file`` for its CPO, push what the endpoint lacks, and report per station.

    Run again after a crash it sends what is still queued (``resumed``); Ctrl-C raises
    ``Interrupted`` with what stays queued. ``worker_options`` go to ``run_worker``. The import,
    the push run and the audit entries name ``actor`` (the command line's: ``cli:<login>``).
    """
    migrate(db_url)
    sending = _early_sending_process(file, worker_options)
    try:
        with ExitStack() as lock:  # the CPO's push lock, from the import to the summary
            summary, cpo_id, import_id, partner = _import_and_queue(
                file, credentials=credentials, cpo_name=cpo_name, profile=profile, operators=operators,
                constants=constants, sheet=sheet, concurrency=concurrency, yes=yes, replace_all=replace_all,
                actor=actor, db_url=db_url, say=say, lock=lock)
            # The file's frames are gone with _import_and_queue's frame: sending 50,000 stations keeps only the
            # queue.
            return follow_push(summary, db_url=db_url, cpo_id=cpo_id, import_id=import_id, partner=partner,
                               say=say, on_progress=on_progress, on_follow=on_follow, backoff_base=backoff_base,
                               backoff_max=backoff_max, sending=sending, **worker_options)
    finally:
        if sending is not None:
            sending.discard()  # unless it sent


def _early_sending_process(file: Path, worker_options: dict[str, Any]) -> SendingProcess | None:
    """For a file big enough to be a big push, the sending process spawned now: it imports its HTTP stack on
    the other core while this one reads the file, not at the start of sending."""
    if "sending_process" in worker_options:
        return None
    try:
        return SendingProcess().spawn() if file.stat().st_size >= EARLY_SENDING_BYTES else None
    except OSError:  # reading the file says why; sending tries to start the process again and says why
        return None


def _import_and_queue(file: Path, *, credentials: Credentials, cpo_name: str | None, profile: str | None,
                      operators: dict[str, str] | None, constants: dict[str, str] | None, sheet: str | None,
                      concurrency: int | None, yes: bool, replace_all: bool, actor: Actor, db_url: str | None,
                      say: Callable[[str], None], lock: ExitStack) -> tuple[PushSummary, int, int, str]:
    """Read and map the file once, register or update its CPO, take its push lock (held until ``lock``
    closes), then validate, store and queue it: storing and queueing are one transaction, so a push
    killed before it commits leaves nothing of the file behind, and its rerun starts from the file again."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise UserError(f"{file} cannot be read: {error.strerror or error}") from None
    options = {"profile": profile, "operators": operators, "constants": constants}
    inputs = input_fingerprint(data, file.name, cpo=cpo_name, sheet=sheet, **options)
    repeated = _queue_repeat(inputs, credentials=credentials, cpo_name=cpo_name,
                             concurrency=concurrency, yes=yes, replace_all=replace_all, actor=actor, db_url=db_url,
                             say=say, lock=lock)
    if repeated is not None:
        return repeated
    with session_scope(db_url) as session:
        known = session.execute(select(Cpo.id).where(Cpo.name == cpo_name)).scalars().first() if cpo_name else None
        # Mapped first to learn the operator ids (a new CPO is registered with them) ...
        raw = read_file(data, file.name, sheet)
        mapped = map_sheet(session if known else None, actor=actor, cpo_id=known, raw=raw, **options)
        operator_ids = _file_operator_ids(mapped.frame)
        found = _find_cpo(session, name=cpo_name, operator_ids=operator_ids)
        cpo_id = found.id if found is not None else None
    prepared, registered = None, False
    if cpo_id is None:  # registered in a transaction of its own: the push lock is a column of its row
        try:
            with session_scope(db_url) as session:
                cpo, partner, registered = _prepare_cpo(session, actor=actor, name=cpo_name,
                                                        operator_ids=operator_ids, given=credentials,
                                                        concurrency=concurrency, say=say)
                cpo_id, prepared = cpo.id, partner
        except (IntegrityError, RegistrationError, OperationalError) as error:
            # The same push, started at the same moment, may have registered it first: push with that one. On
            # SQLite its commit can also make this transaction's upgrade from reading to writing fail at once
            # ("database is locked" without waiting: the snapshot read is stale), not only its unique names.
            if isinstance(error, OperationalError) and "locked" not in str(error):
                raise
            with session_scope(db_url) as session:
                found = _find_cpo(session, name=cpo_name, operator_ids=operator_ids)
            if found is None:
                raise
            cpo_id = found.id

    # One push at a time per CPO: a second one would import, plan and summarise against this one's work.
    holder = lock.enter_context(holding_push_lock(db_url, actor=actor, cpo_id=cpo_id))
    # The import's log is copied into a SQLite database beside the sending, not before it (store.db).
    with session_scope(db_url, checkpoint_later=True) as session:
        if prepared is None:
            cpo, partner, _ = _prepare_cpo(session, actor=actor, name=cpo_name, operator_ids=operator_ids,
                                           given=credentials, concurrency=concurrency, say=say)
        else:
            cpo, partner = session.get(Cpo, cpo_id), prepared
        # ... then the one import workflow against the CPO's registry, stored as a full upload. The first
        # mapping stands for a CPO named on the command line, for one this push registered, and for one found
        # by the file's operator ids that has no defaults and is mapped without a profile (the file names its
        # operators, so nothing else of the CPO enters the mapping); otherwise the file is mapped again.
        reuse = mapped if known == cpo.id or registered or (not cpo.defaults and not profile) else None
        mapped = None  # a mapping not reused is freed before the file is mapped again (a national file: ~150 MB)
        result = import_file(session, actor=actor, cpo_id=cpo.id, data=data, file_name=file.name, raw=raw,
                             mapped=reuse, **options)
        if result.raw.notes:  # as read: encoding, header row, rows left out
            say(f"{file.name}: " + "; ".join(result.raw.notes))
        summary = queue_push(session, actor=actor, cpo=cpo, partner=partner, record=result.record,
                             validation=result.validation, yes=yes, replace_all=replace_all, say=say,
                             push_lock=holder)
        record = result.record
        if record.full_upload and record.errors == 0 and record.stations_stored == record.stations:
            record.input_sha256 = repeat_key(session, inputs)  # last: the registry's state as this push leaves it
        return summary, cpo.id, record.id, partner


def _queue_repeat(inputs: str, *, credentials: Credentials, cpo_name: str | None,
                  concurrency: int | None, yes: bool, replace_all: bool, actor: Actor, db_url: str | None,
                  say: Callable[[str], None], lock: ExitStack) -> tuple[PushSummary, int, int, str] | None:
    """A push of the same inputs as the latest import, with nothing in the registry changed since: recorded as
    its repeat without reading the file (``store.stations.repeat_of``), then queued as usual. None otherwise.

    A national rerun spent most of its time reading, mapping and validating a file it had stored already."""
    with session_scope(db_url) as session:
        earlier = repeat_of(session, inputs)
    if earlier is None:
        return None
    holder = lock.enter_context(holding_push_lock(db_url, actor=actor, cpo_id=earlier.cpo_id))
    with session_scope(db_url) as session:
        if getattr(repeat_of(session, inputs), "id", None) == earlier.id:  # still: nobody imported meanwhile
            operator_ids = queries.cpo_operator_ids(session, cpo_id=earlier.cpo_id)
            cpo, partner, _ = _prepare_cpo(session, actor=actor, name=cpo_name, operator_ids=operator_ids,
                                           given=credentials, concurrency=concurrency, say=say)
            if cpo.id == earlier.cpo_id:
                record = repeat_import(session, actor=actor, of=earlier)  # its key holds the file's hash
                summary = queue_push(session, actor=actor, cpo=cpo, partner=partner, record=record, validation=None,
                                     yes=yes, replace_all=replace_all, say=say, push_lock=holder)
                record.input_sha256 = repeat_key(session, inputs)
                return summary, cpo.id, record.id, partner
    lock.close()  # the file is read after all: the lock is taken again for the CPO it names
    return None


def queue_push(session: Session, *, actor: Actor, cpo: Cpo, partner: str, record: ImportRecord,
               validation,  # noqa: ANN001
               yes: bool, replace_all: bool = False, say: Callable[[str], None] = print,
               push_lock: str | None = None) -> PushSummary:
    """After an import: queue what the endpoint lacks, unless deletions or connector changes wait for a
    confirmation (``yes`` gives it) or the push would replace most live stations (``replace_all`` allows
    it); the summary so far, for ``follow_push``. ``push_lock``: the caller's, if it holds the CPO's."""
    cpo_id = cpo.id
    # No validation: a repeat of an import without errors (``_queue_repeat``), its counts on its record.
    summary = PushSummary(cpo=cpo.name, file=record.file_name, blocked=_blocked(validation) if validation else [])
    say(f"{record.file_name}: {validation.stations if validation else record.stations} stations, "
        f"{record.stations_stored} stored, {len(summary.blocked)} blocked by errors"
        + (f" (the same as import {record.same_as}, not read again)" if validation is None else ""))
    plan = plan_push(session, actor=actor, cpo_id=cpo_id, partner_identifier=partner)
    summary.counts = plan.counts
    yes = yes or replace_all  # replacing them all confirms the deletions it makes
    try:  # the enqueue's own guard, asked first so that the summary can say why nothing was sent
        check_confirmations(plan, confirm_deletions=yes, confirm_connector_changes=yes, replace_all=replace_all)
    except MassReplacement as refusal:  # --yes does not let it through: the likely cause is a mapping to check
        summary.refused = refusal.reason
    except ConfirmationRequired:
        summary.waiting_for_confirmation = plan.needs_confirmation
    else:
        _, run = start_push(session, actor=actor, cpo_id=cpo_id, partner_identifier=partner,
                            confirm_deletions=yes, confirm_connector_changes=yes, replace_all=replace_all,
                            push_lock=push_lock, plan=plan)
        summary.run_id, summary.requests = run.id, run.total
    summary.resumed = open_station_posts(session, cpo_id=cpo_id) - summary.requests
    return summary


def follow_push(
    summary: PushSummary,
    *,
    db_url: str | None,
    cpo_id: int,
    import_id: int,
    partner: str,
    say: Callable[[str], None] = print,
    on_progress: Callable[[PushProgress | None, int], None] | None = None,
    on_follow: Callable[[Follow], None] | None = None,
    backoff_base: float = WORKER_BACKOFF_BASE,
    backoff_max: float = WORKER_BACKOFF_MAX,
    sending: SendingProcess | None = None,
    **worker_options: Any,
) -> PushSummary:
    """Send what ``queue_push`` queued (its session committed) and say which stations of the import the
    endpoint acknowledged, and why not the others. ``sending``: a sending process spawned already, used if the
    push is big."""
    if summary.refused:
        say(f"nothing sent: {summary.refused} (--replace-all replaces them all)")
    elif summary.waiting_for_confirmation:
        say("nothing sent: deletions or connector changes need confirmation (--yes)")
    elif summary.requests == 0 and summary.resumed <= 0:
        summary.nothing_to_push = True
        say("nothing to push")
    else:
        if summary.resumed > 0:
            say(f"resuming {counted(summary.resumed, 'request')} an earlier push left queued")
        say(f"pushing {counted(summary.requests + max(summary.resumed, 0), 'request')} for {summary.cpo}")
        from ..sync.worker import run_loop

        # A rerun that only resumes has an empty run of its own: follow the CPO's queue instead. A big push
        # sends from a second process, this one claiming and recording (oioi.sender).
        big = summary.requests + max(summary.resumed, 0) >= SENDING_PROCESS_FROM
        worker_options.setdefault("sending_process", (sending or True) if big else False)
        run_loop(send(db_url=db_url, cpo_id=cpo_id, run_id=summary.run_id if summary.requests else None,
                      on_progress=on_progress, on_follow=on_follow, backoff_base=backoff_base,
                      backoff_max=backoff_max, **worker_options))
    summary.resumed = max(summary.resumed, 0)

    with session_scope(db_url) as session:
        summary.paused_reason = session.get(Cpo, cpo_id).paused_reason
        carried = session.get(ImportRecord, import_id).station_import_id  # a repeat's stations keep an older id
        # Not deleted: a station whose connectors changed was soft-deleted under the id it replaced, which kept
        # this import's id.
        in_file = select(Station.station_id).where(Station.import_id == carried, Station.deleted == False)  # noqa: E712
        # What a push would still send is what the endpoint does not hold yet: nothing, when queue_push's plan
        # had nothing to send (and nothing was sent since, under this push's lock); then only the count matters.
        if summary.nothing_to_push:
            stored = session.execute(select(func.count()).select_from(in_file.subquery())).scalar_one()
            not_acked: set[str] = set()
        else:
            ids = set(session.connection().execute(in_file).scalars())
            stored = len(ids)
            not_acked = ids & {item.station_id for item in plan_push(session, actor=SYSTEM, cpo_id=cpo_id,
                                                                     partner_identifier=partner).to_send}
        summary.stations_in_file = stored + len(summary.blocked)
        summary.acknowledged = stored - len(not_acked)
        summary.failed = _failed(session, cpo_id=cpo_id, not_acked=not_acked)
    return summary


def _blocked(validation) -> list[dict[str, Any]]:  # noqa: ANN001
    """Stations the validation blocked, each with its first errors as the reason."""
    from ..sheets.canonical import ROW

    blocked_ids = validation.blocked_station_ids()
    if not blocked_ids:
        return []
    frame = validation.frame
    station_of_row = dict(zip(frame[ROW], frame["station_id"].astype(str).str.strip(), strict=True))
    errors = validation.issues[validation.issues["severity"] == "error"]
    reasons: dict[str, list[str]] = {}
    for issue in errors.itertuples():
        station_id = station_of_row.get(issue.row)
        if station_id is not None and len(reasons.setdefault(station_id, [])) < 3:
            reasons[station_id].append(f"row {issue.row} {issue.column}: {issue.message}")
    return [{"station": sid, "reason": "; ".join(reasons.get(sid, [])) or "validation errors"} for sid in blocked_ids]


def _failed(session: Session, *, cpo_id: int, not_acked: set[str]) -> list[dict[str, Any]]:
    """Why each station of the file is not acknowledged: its newest request's state and error."""
    if not not_acked:
        return []
    newest: dict[str, Outbox] = {}
    for row in session.execute(
        select(Outbox).where(Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST).order_by(Outbox.id)
    ).scalars():
        if row.key in not_acked:
            newest[row.key] = row
    failed = []
    for station_id in sorted(not_acked):
        row = newest.get(station_id)
        if row is None:
            reason, code = "not sent", None
        elif row.state == OutboxState.FAILED:
            code = row.result_code
            reason = row.last_error or (codes.meaning(code) if code is not None else "failed")
        else:
            code = row.result_code
            reason = f"still {row.state.value}" + (f" (last error: {row.last_error})" if row.last_error else "")
        failed.append({"station": station_id, "code": code, "reason": reason})
    return failed


def format_eta(seconds: float | None) -> str:
    """``1m05s``, ``8s``; a part of a second left is ``1s`` (``0s`` read as done while 800 requests were left)."""
    if seconds is None:
        return "--"
    seconds = math.ceil(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

