"""``oioi-onboard push FILE``, ``worker`` and ``simulate``: sending to the OIOI endpoint."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..oioi.retry import WORKER_BACKOFF_BASE, WORKER_BACKOFF_MAX
from ..wording import counted
from ._common import from_env, parse_settings
from .sheets import operator_table


def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    worker_id: Annotated[str | None, typer.Option("--id", help="A name for this worker in the outbox.")] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between looks at an idle queue.")] = 0.5,
    lease_seconds: Annotated[float, typer.Option(help="How long a claim lasts without a heartbeat.")] = 30.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer.")] = 10.0,
    backoff_base: Annotated[
        float, typer.Option(help="First retry delay after a transient failure (s).")] = WORKER_BACKOFF_BASE,
    backoff_max: Annotated[float, typer.Option(help="Longest retry delay (s); a Retry-After may ask for more, "
                                                    "up to an hour, and is honoured.")] = WORKER_BACKOFF_MAX,
    unreachable_after: Annotated[int, typer.Option(help="Transient failures in a row after which a CPO's "
                                                        "endpoint counts as unreachable and is probed.")] = 10,
    status_grace: Annotated[float, typer.Option(help="Seconds after a station's acknowledgement during which "
                                                     "'EVSE not found' (181) for its statuses is retried.")] = 600.0,
    ocpi_pulls: Annotated[bool, typer.Option(help="Pull the Locations of CPOs with an OCPI connection: what "
                                                  "changed every few minutes, everything once a day.")] = True,
) -> None:
    """Send queued OIOI requests (station-posts and statuses) until stopped (SIGTERM or Ctrl-C).

    Transient failures are retried for as long as it takes; a CPO whose set-up the endpoint
    refuses is paused until it is fixed. Beside the sending, CPOs with an OCPI connection are pulled.
    """
    import asyncio
    import logging

    from ..store.db import migrate
    from ..sync.worker import run_loop, run_worker
    from ..workflows.ocpi_pulls import run_pulls

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    # One line per request would cost more than the request; schema upgrades speak only when something fails.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    check_backoff(backoff_base, backoff_max)
    migrate()

    async def work() -> int:
        stop = asyncio.Event()  # set by the worker on SIGTERM or Ctrl-C: the pulls stop with it
        pulls = asyncio.create_task(run_pulls(stop)) if ocpi_pulls and not once else None
        try:
            return await run_worker(worker_id=worker_id, stop=stop, once=once, poll_interval=poll_interval,
                                    lease_seconds=lease_seconds, timeout=timeout, backoff_base=backoff_base,
                                    backoff_max=backoff_max, unreachable_after=unreachable_after,
                                    status_grace=status_grace)
        finally:
            stop.set()
            if pulls is not None:  # a pull under way finishes on its thread; its result is committed there
                pulls.cancel()
                await asyncio.gather(pulls, return_exceptions=True)

    sent = run_loop(work())
    typer.echo(f"worker stopped; {counted(sent, 'request')} acknowledged", err=True)


def push(
    file: Annotated[Path, typer.Argument(help="Station spreadsheet (CSV, XLSX, ODS) or OCPI Locations (JSON).",
                                         dir_okay=False)],
    cpo: Annotated[str | None, typer.Option(help="CPO name; its registered endpoint, key and partner "
                                                 "identifier are used for options left out.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="OIOI endpoint URL, or sandbox / staging / production.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable that holds the API key.")] = None,
    partner_id: Annotated[str | None, typer.Option(help="Partner identifier to push with.")] = None,
    profile: Annotated[str | None, typer.Option(help="Mapping profile: template, bnetza or one saved for the CPO.")]
    = None,
    operators: Annotated[Path | None, typer.Option(help="CSV of operator name, operator id (--profile bnetza).")]
    = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE for every row where the file has none (repeatable).")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="The workbook's sheet to read (default: the widest table).")]
    = None,
    concurrency: Annotated[int | None, typer.Option(help="Parallel station-posts (default: the CPO's).")] = None,
    backoff_base: Annotated[
        float, typer.Option(help="First retry delay after a transient failure (s).")] = WORKER_BACKOFF_BASE,
    backoff_max: Annotated[float, typer.Option(help="Longest retry delay (s); a Retry-After may ask for more, "
                                                    "up to an hour, and is honoured.")] = WORKER_BACKOFF_MAX,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deletions and connector changes.")] = False,
    replace_all: Annotated[bool, typer.Option(
        "--replace-all", help="Confirm a push that deletes most live stations and adds about as many new ones "
                              "(refused even with --yes: usually station ids that differ from the last file's)."
    )] = False,
) -> None:
    """Validate, store, diff and push a station file in one go; exit 0 when every station is acknowledged.

    Run it again after a crash or Ctrl-C: what is still queued is sent, nothing acknowledged is sent twice.
    An endpoint that fails or throttles is waited out (Ctrl-C stops; what is queued stays queued).
    """
    from ..store.auth import command_line_actor
    from ..workflows.push import Credentials, Interrupted, push_file

    check_backoff(backoff_base, backoff_max)

    credentials = Credentials(endpoint=endpoint, api_key=from_env(api_key_env, "--api-key-env"),
                              partner_identifier=partner_id)
    out = sys.stderr
    interactive = out.isatty()

    last_line = ""

    def progress(seen) -> None:  # noqa: ANN001
        from ..workflows.push import format_eta

        nonlocal last_line
        now, still_open = seen.progress, seen.still_open
        if now is None:
            line = f"{counted(still_open, 'request')} still queued"
        else:
            line = (f"{now.done}/{now.total} done, {now.acked} acknowledged, {now.failed} failed, "
                    f"{now.rate_per_s:.0f}/s, time left {format_eta(now.eta_s)}")
        if seen.unreachable_since is not None:
            line += (f"; endpoint unreachable since {seen.unreachable_since:%H:%M:%S} UTC, probing"
                     + (f" (last: {seen.unreachable_reason})" if seen.unreachable_reason else ""))
        if not interactive and line == last_line:
            return  # a log file gets a line when something changed, not five a second
        last_line = line
        print(("\r\x1b[K" + line) if interactive else line, end="" if interactive else "\n", file=out, flush=True)

    def stopped(still_queued: int | None, code: int) -> typer.Exit:
        queued = (f"{counted(still_queued, 'request')} stay queued" if still_queued is not None
                  else "what was queued stays queued")
        print(("\n" if interactive else "") + f"stopped: {queued}; run the same command again to send them",
              file=out, flush=True)
        return typer.Exit(code)

    try:
        summary = push_file(file=file, credentials=credentials, cpo_name=cpo, profile=profile,
                            operators=operator_table(operators), constants=parse_settings(set_), sheet=sheet,
                            concurrency=concurrency, yes=yes, replace_all=replace_all, actor=command_line_actor(),
                            say=lambda line: print(line, file=out, flush=True),
                            on_follow=progress, backoff_base=backoff_base, backoff_max=backoff_max)
    except Interrupted as interrupted:
        raise stopped(interrupted.still_queued, 128 + interrupted.signum) from None
    except KeyboardInterrupt:  # before or after sending (reading the file, the summary)
        raise stopped(None, 130) from None
    if interactive:
        print(file=out)
    print_summary(summary, as_json=as_json)
    raise typer.Exit(0 if summary.ok else 1)


def check_backoff(base: float, cap: float) -> None:
    from ..errors import UserError

    if not base > 0 or not cap > 0:
        raise UserError("--backoff-base and --backoff-max must be more than 0 seconds")
    if cap < base:
        raise UserError(f"--backoff-max ({cap:g} s) must not be less than --backoff-base ({base:g} s)")


def print_summary(summary, *, as_json: bool) -> None:  # noqa: ANN001
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2, default=str))
        return
    typer.echo(f"{summary.cpo}: {summary.acknowledged} of {summary.stations_in_file} stations of {summary.file} "
               f"acknowledged by the endpoint")
    if summary.nothing_to_push:
        if summary.blocked and len(summary.blocked) == summary.stations_in_file:
            typer.echo("nothing to push: every station of the file has errors (below); fix them and push again")
        else:
            typer.echo("nothing to push: the endpoint already holds every stored station")
    if summary.refused:
        typer.echo(f"not sent, refused even with --yes: {summary.refused} Check the mapping; --replace-all "
                   "replaces them all")
    if summary.waiting_for_confirmation:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.waiting_for_confirmation.items())
        typer.echo(f"not sent, needs confirmation (--yes): {kinds}")
    if summary.paused_reason:
        typer.echo(f"queue paused: {summary.paused_reason}")
    for item in summary.failed:
        code = f"code {item['code']}: " if item["code"] is not None else ""
        typer.echo(f"  not acknowledged {item['station']}: {code}{item['reason']}")
    for item in summary.blocked:
        typer.echo(f"  blocked {item['station']}: {item['reason']}")


def simulate(
    cpo: Annotated[str, typer.Option("--cpo", help="Name of the CPO whose connectors change.")],
    rate: Annotated[float, typer.Option(help="Status changes per second.")] = 10.0,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long (default: until Ctrl-C).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, for a reproducible demo.")] = None,
) -> None:
    """Write random plausible status changes for a CPO's connectors, as a demo."""
    import signal
    import threading

    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo
    from ..sync.simulate import simulate as run

    migrate()
    with session_scope() as db:
        cpo_id = get_cpo(db, actor=SYSTEM, name=cpo).id
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    result = run(actor=SYSTEM, cpo_id=cpo_id, rate=rate, seconds=seconds, stop=stop, seed=seed)
    typer.echo(f"{counted(result.changes, 'status change')} in {result.seconds:.1f} s for CPO {cpo!r}"
               + (f"; {result.refused} refused" if result.refused else ""))
