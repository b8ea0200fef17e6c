"""``oioi-onboard ocpi pull NAME``: a CPO's Locations from its OCPI back end, through the one import pipeline."""

import json
import sys
from typing import Annotated

import typer

from ..oioi.retry import WORKER_BACKOFF_BASE, WORKER_BACKOFF_MAX
from ..wording import counted

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="A CPO's own OCPI back end as a source of its stations.")


@app.command("pull")
def pull(
    name: Annotated[str, typer.Argument(help="The CPO's name; its OCPI connection is set with `cpo edit`.")],
    full: Annotated[bool, typer.Option("--full", help="Pull every Location, not only what changed since the last "
                                                      "pull: the list is the new truth.")] = False,
    push: Annotated[bool, typer.Option("--push", help="Then push what the endpoint lacks, as `push` does.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deletions (stations missing from a full pull) and "
                                                    "connector changes.")] = False,
    replace_all: Annotated[bool, typer.Option(
        "--replace-all", help="With --push: confirm a push that deletes most live stations and adds about as many "
                              "new ones (refused even with --yes: usually Location ids that changed).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer of the OCPI back end.")] = 30.0,
    backoff_base: Annotated[
        float, typer.Option(help="First retry delay after a transient push failure (s).")] = WORKER_BACKOFF_BASE,
    backoff_max: Annotated[float, typer.Option(help="Longest retry delay of the push (s).")] = WORKER_BACKOFF_MAX,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Pull the CPO's Locations from its OCPI back end, check and store them as one import.

    The first pull and --full take every Location (a stored station missing from them is deleted only
    after confirmation: --yes, or the push page); the others what changed since the last pull started.
    Exit 0 when every station is valid (and, with --push, acknowledged), 1 when some have errors or are
    not acknowledged, 2 when nothing could be pulled.
    """
    from ..store.auth import command_line_actor
    from ..workflows.ocpi import run_pull
    from .sync import check_backoff, print_summary

    check_backoff(backoff_base, backoff_max)
    out = sys.stderr
    result = run_pull(cpo_name=name, full=full, push=push, yes=yes, replace_all=replace_all,
                      actor=command_line_actor(), say=lambda line: print(line, file=out, flush=True),
                      client_options={"timeout": timeout}, backoff_base=backoff_base, backoff_max=backoff_max)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str, ensure_ascii=False))
    else:
        if result.validation is not None:
            for r in result.validation.issues.itertuples():
                typer.echo(f"Location {r.row}, {r.column}: {r.severity}: {r.message} [{r.rule}]")
        kind = "full" if result.full else "incremental"
        typer.echo(f"{result.cpo}: {kind} pull of {counted(result.locations, 'Location')} from {result.source}: "
                   f"{counted(result.stations, 'station')}, {result.stations_stored} stored, "
                   f"{counted(result.errors, 'error')}, {counted(result.warnings, 'warning')}, "
                   f"{counted(result.statuses, 'status change')}")
        if result.push is not None:
            print_summary(result.push, as_json=False)
    raise typer.Exit(0 if result.ok else 1)
