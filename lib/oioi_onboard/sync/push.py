"""``oioi-onboard push FILE``: validate, store, diff and push a station file in one go.

Progress goes to stderr, the summary to stdout (JSON with ``--json``). Exit 0
when every station of the file is acknowledged by the endpoint, 1 when some are
not (the summary names them and why), 2 when nothing could be tried (no API key,
unreadable file, ...). Running it again with the same file sends nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from ..store.models import Cpo, Outbox, OutboxState, Station
from ..store.secrets import SecretKeyError
from .progress import run_progress
from ..errors import UserError


class PushCommandError(UserError):
    """Nothing was pushed; the message says why (exit code 2)."""


@dataclass
class PushSummary:
    cpo: str
    file: str
    run_id: int | None = None
    requests: int = 0
    stations_in_file: int = 0
    acknowledged: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)  # station, code, reason
    blocked: list[dict[str, Any]] = field(default_factory=list)  # station, reason
    waiting_for_confirmation: dict[str, int] = field(default_factory=dict)
    paused_reason: str | None = None
    nothing_to_push: bool = False

    @property
    def ok(self) -> bool:
        return (not self.failed and not self.blocked and not self.paused_reason
                and not self.waiting_for_confirmation and self.acknowledged == self.stations_in_file)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _read_frame(data: bytes, file_name: str, profile: str | None, *, cpo_id: int | None, db_url: str | None):  # noqa: ANN202
    """The canonical frame of a file and the issues found while mapping it (the import's own reader)."""
    from ..sheets.reader import read_sheet

    raw = read_sheet(data, file_name)
    if profile:
        from ..sheets.profiles import apply_profile
        from ..store.db import session_scope

        with session_scope(db_url) as session:
            return apply_profile(raw, profile, session=session if cpo_id else None, cpo_id=cpo_id)
    from ..sheets.mapping import apply_mapping, suggest_mapping

    suggestion = suggest_mapping(raw)
    if suggestion.unplaced_required:
        raise PushCommandError(
            f"{file_name}: no column found for {', '.join(suggestion.unplaced_required)}; map the file once on the "
            "import page and save the mapping as a profile, then pass --profile NAME")
    return apply_mapping(raw, suggestion.mapping)


def _operator_ids(frame) -> list[str]:  # noqa: ANN001
    from ..oioi.ids import IdError, parse_operator_id

    found = []
    if "cpo_id" not in frame.columns:
        return found
    for value in frame["cpo_id"].dropna().astype(str).str.strip().unique():
        try:
            canonical = str(parse_operator_id(value))
        except (IdError, ValueError):
            continue
        if canonical not in found:
            found.append(canonical)
    return found


def _find_or_register_cpo(session, *, name: str | None, operator_ids: list[str], endpoint: str, api_key: str,
                          partner_id: str, concurrency: int | None, out: TextIO) -> Cpo:  # noqa: ANN001
    from ..store.auth import SYSTEM
    from ..store.queries import cpo_partner_identifiers, operator_id_owner
    from ..store.registry import RegistrationError, register_cpo, set_api_key, update_cpo

    cpo = None
    if name:
        cpo = session.exec(select(Cpo).where(Cpo.name == name)).scalar()
    else:
        owners = {operator_id_owner(session, operator_id=o) for o in operator_ids} - {None}
        if len(owners) > 1:
            raise PushCommandError("the file's operator ids belong to several CPOs; name one with --cpo")
        if owners:
            cpo = session.get(Cpo, owners.pop())
    try:
        if cpo is None:
            if not operator_ids:
                raise PushCommandError("the file has no valid operator id (cpo_id column) to register a CPO with")
            name = name or f"CPO {operator_ids[0]}"
            cpo, _ = register_cpo(session, actor=SYSTEM, name=name, operator_ids=operator_ids, endpoint=endpoint,
                                  api_key=api_key, partner_identifiers=[partner_id])
            print(f"registered CPO {cpo.name!r} with operator ids {', '.join(operator_ids)}", file=out)
        else:
            changes: dict[str, Any] = {}
            if cpo.endpoint != endpoint:
                changes["endpoint"] = endpoint
            partners = cpo_partner_identifiers(session, cpo_id=cpo.id)
            if partner_id not in partners:
                changes["partner_identifiers"] = [*partners, partner_id]
            if changes:
                update_cpo(session, actor=SYSTEM, cpo_id=cpo.id, **changes)
            set_api_key(session, actor=SYSTEM, cpo_id=cpo.id, api_key=api_key)  # also resumes a paused queue
        if concurrency is not None and concurrency != cpo.concurrency:
            update_cpo(session, actor=SYSTEM, cpo_id=cpo.id, concurrency=concurrency)
    except RegistrationError as error:
        problems = "; ".join(f"{k}: {v}" for k, v in getattr(error, "errors", {}).items()) or str(error)
        raise PushCommandError(f"the CPO cannot be registered as given: {problems}") from None
    session.flush()
    return cpo


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


async def _send_run(*, db_url: str | None, cpo_id: int, run_id: int, out: TextIO, progress_every: float = 0.5) -> None:
    """Run the worker in-process for this CPO until the run has nothing open (or the queue is paused)."""
    from ..store.db import session_scope
    from .worker import run_worker

    stop = asyncio.Event()
    interactive = out.isatty()

    async def follow() -> None:
        last = 0.0
        while not stop.is_set():
            await asyncio.sleep(0.2)
            with session_scope(db_url) as session:
                progress = run_progress(session, run_id=run_id)
                paused = session.get(Cpo, cpo_id).paused_reason
            if paused or progress.pending == 0:
                stop.set()
            if time.monotonic() - last >= progress_every or stop.is_set():
                last = time.monotonic()
                line = (f"{progress.done}/{progress.total} done, {progress.acked} acknowledged, {progress.failed} "
                        f"failed, {progress.rate_per_s:.0f}/s, time left {_format_eta(progress.eta_s)}")
                print(("\r" + line) if interactive else line, end="" if interactive else "\n", file=out, flush=True)
        if interactive:
            print(file=out)

    follower = asyncio.create_task(follow())
    await run_worker(stop=stop, poll_interval=0.1, db_url=db_url, cpo_ids=(cpo_id,))
    stop.set()
    await follower


def push_file(
    *,
    file: Path,
    endpoint: str,
    api_key: str,
    partner_id: str,
    cpo_name: str | None = None,
    profile: str | None = None,
    concurrency: int | None = None,
    yes: bool = False,
    db_url: str | None = None,
    out: TextIO = sys.stderr,
) -> PushSummary:
    """The whole push command without its printing of the summary."""
    from ..sheets.validate import validate
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.stations import registry_context, store_import
    from .diff import plan_push
    from .outbox import enqueue_plan

    migrate(db_url)
    data = file.read_bytes()
    file_sha256 = hashlib.sha256(data).hexdigest()
    from ..sheets.profiles import ProfileError
    from ..sheets.reader import SheetError

    known_cpo_id = None
    if cpo_name:
        with session_scope(db_url) as session:
            known = session.exec(select(Cpo.id).where(Cpo.name == cpo_name)).first()
            known_cpo_id = known[0] if known else None
    try:
        frame, mapping_issues = _read_frame(data, file.name, profile, cpo_id=known_cpo_id, db_url=db_url)
    except (SheetError, ProfileError) as error:
        raise PushCommandError(f"{file.name}: {error}") from None
    operator_ids = _operator_ids(frame)

    with session_scope(db_url) as session:
        cpo = _find_or_register_cpo(session, name=cpo_name, operator_ids=operator_ids, endpoint=endpoint,
                                    api_key=api_key, partner_id=partner_id, concurrency=concurrency, out=out)
        cpo_id, cpo_label = cpo.id, cpo.name
        validation = validate(frame, context=registry_context(session, cpo_id=cpo_id), extra_issues=mapping_issues)
        record = store_import(session, actor=SYSTEM, cpo_id=cpo_id, file_name=file.name, file_sha256=file_sha256,
                              validation=validation, full_upload=True)
        import_id = record.id
        summary = PushSummary(cpo=cpo_label, file=file.name)
        summary.blocked = _blocked(validation)
        print(f"{file.name}: {validation.stations} stations, {record.stations_stored} stored, "
              f"{len(summary.blocked)} blocked by errors", file=out)
        plan = plan_push(session, cpo_id=cpo_id, partner_identifier=partner_id)
        summary.counts = plan.counts
        if plan.needs_confirmation and not yes:
            summary.waiting_for_confirmation = plan.needs_confirmation
            run = None
        else:
            run = enqueue_plan(session, actor=SYSTEM, plan=plan, confirm_deletions=yes,
                               confirm_connector_changes=yes)
            summary.run_id, summary.requests = run.id, run.total

    if summary.waiting_for_confirmation:
        print("nothing sent: deletions or connector changes need confirmation (--yes)", file=out)
    elif summary.requests == 0:
        summary.nothing_to_push = True
        print("nothing to push", file=out)
    else:
        print(f"pushing {summary.requests} request(s) to {endpoint}", file=out)
        asyncio.run(_send_run(db_url=db_url, cpo_id=cpo_id, run_id=summary.run_id, out=out))

    with session_scope(db_url) as session:
        summary.paused_reason = session.get(Cpo, cpo_id).paused_reason
        in_file = {r[0] for r in session.exec(select(Station.station_id).where(Station.import_id == import_id)).all()}
        # What a push would still send is what the endpoint does not hold yet.
        still_to_send = {item.station_id for item in plan_push(session, cpo_id=cpo_id,
                                                               partner_identifier=partner_id).to_send}
        not_acked = in_file & still_to_send
        summary.stations_in_file = len(in_file) + len(summary.blocked)
        summary.acknowledged = len(in_file) - len(not_acked)
        summary.failed = _failed(session, import_id=import_id, cpo_id=cpo_id, not_acked=not_acked)
    return summary


def _blocked(validation) -> list[dict[str, Any]]:  # noqa: ANN001
    """Stations the validation blocked, each with its first errors as the reason."""
    from ..sheets.canonical import ROW

    blocked_ids = validation.blocked_station_ids()
    if not blocked_ids:
        return []
    frame = validation.frame
    station_of_row = dict(zip(frame[ROW], frame["station_id"].astype(str).str.strip()))
    issues = validation.issues
    errors = issues[issues["severity"] == "error"]
    reasons: dict[str, list[str]] = {}
    for issue in errors.itertuples():
        station_id = station_of_row.get(issue.row)
        if station_id is not None and len(reasons.setdefault(station_id, [])) < 3:
            reasons[station_id].append(f"row {issue.row} {issue.column}: {issue.message}")
    return [{"station": sid, "reason": "; ".join(reasons.get(sid, [])) or "validation errors"} for sid in blocked_ids]


def _failed(session, *, import_id: int, cpo_id: int, not_acked: set[str]) -> list[dict[str, Any]]:  # noqa: ANN001
    """Why each station of the file is not acknowledged: its newest request's state and error."""
    from ..oioi import codes

    if not not_acked:
        return []
    newest: dict[str, Outbox] = {}
    for row in session.exec(
        select(Outbox).where(Outbox.cpo_id == cpo_id, Outbox.kind == "station-post").order_by(Outbox.id)
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


def print_summary(summary: PushSummary, *, as_json: bool, out: TextIO = sys.stdout) -> None:
    if as_json:
        print(json.dumps(summary.to_json(), indent=2, default=str), file=out)
        return
    print(f"{summary.cpo}: {summary.acknowledged} of {summary.stations_in_file} stations of {summary.file} "
          f"acknowledged by the endpoint", file=out)
    if summary.nothing_to_push:
        print("nothing to push: the endpoint already holds every stored station", file=out)
    if summary.waiting_for_confirmation:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.waiting_for_confirmation.items())
        print(f"not sent, needs confirmation (--yes): {kinds}", file=out)
    if summary.paused_reason:
        print(f"queue paused: {summary.paused_reason}", file=out)
    for item in summary.failed:
        code = f"code {item['code']}: " if item["code"] is not None else ""
        print(f"  not acknowledged {item['station']}: {code}{item['reason']}", file=out)
    for item in summary.blocked:
        print(f"  blocked {item['station']}: {item['reason']}", file=out)


def run_push_command(*, file: Path, endpoint: str, api_key_env: str, partner_id: str, cpo_name: str | None,
                     profile: str | None, concurrency: int | None, as_json: bool, yes: bool) -> int:
    """The CLI entry: returns the exit code. The API key is read from the environment only."""
    api_key = os.environ.get(api_key_env, "").strip()
    if not api_key:
        print(f"error: the environment variable {api_key_env} is not set or empty; it must hold the API key",
              file=sys.stderr)
        return 2
    try:
        summary = push_file(file=file, endpoint=endpoint, api_key=api_key, partner_id=partner_id, cpo_name=cpo_name,
                            profile=profile, concurrency=concurrency, yes=yes)
    except (PushCommandError, SecretKeyError) as error:  # a bad OIOI_SECRET_KEY is a message, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_summary(summary, as_json=as_json)
    return 0 if summary.ok else 1
