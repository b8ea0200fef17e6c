"""Command-line sub-commands of this area: ``worker`` and ``push``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``oioi-onboard`` app."""
    app.command()(worker)
    app.command()(push)
    from .relay_commands import register as register_relay; register_relay(app)  # noqa: E702 - statuses (issue 6)


def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    worker_id: Annotated[Optional[str], typer.Option("--id", help="A name for this worker in the outbox.")] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between looks at an idle queue.")] = 0.5,
    lease_seconds: Annotated[float, typer.Option(help="How long a claim lasts without a heartbeat.")] = 30.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer.")] = 10.0,
    backoff_base: Annotated[float, typer.Option(help="First retry delay after a transient failure.")] = 1.0,
) -> None:
    """Send queued OIOI requests (station-posts and statuses) until stopped (SIGTERM or Ctrl-C)."""
    from ..store.db import migrate
    from .worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    # One line per request would cost more than the request; schema upgrades speak only when something fails.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    migrate()
    sent = asyncio.run(run_worker(worker_id=worker_id, once=once, poll_interval=poll_interval,
                                  lease_seconds=lease_seconds, timeout=timeout, backoff_base=backoff_base))
    typer.echo(f"worker stopped; {sent} request(s) acknowledged", err=True)


def push(
    file: Annotated[Path, typer.Argument(help="Station spreadsheet (CSV, XLSX, ODS).", exists=True, dir_okay=False)],
    endpoint: Annotated[str, typer.Option(help="OIOI endpoint URL, or sandbox / staging / production.")],
    api_key_env: Annotated[str, typer.Option(help="Name of the environment variable that holds the API key.")],
    partner_id: Annotated[str, typer.Option(help="Partner identifier to push with.")],
    cpo: Annotated[Optional[str], typer.Option(help="CPO name; created from the file's operator ids if new.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="Saved column-mapping profile for this file.")] = None,
    concurrency: Annotated[Optional[int], typer.Option(help="Parallel station-posts (default: the CPO's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deletions and connector changes.")] = False,
) -> None:
    """Validate, store, diff and push a station file in one go; exit 0 when every station is acknowledged."""
    from .push import run_push_command

    code = run_push_command(file=file, endpoint=endpoint, api_key_env=api_key_env, partner_id=partner_id,
                            cpo_name=cpo, profile=profile, concurrency=concurrency, as_json=as_json, yes=yes)
    raise typer.Exit(code)
