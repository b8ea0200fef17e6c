"""Command-line sub-commands of this area: ``oioi-onboard validate FILE``.

Exit codes: 0 no errors, 1 errors found, 2 the file (or an option) cannot be
used, with a message saying why. Heavy imports happen inside the command so
that importing the CLI stays quick and never pulls in Streamlit.
"""

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

import typer

EXIT_OK, EXIT_ERRORS, EXIT_UNUSABLE = 0, 1, 2


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_UNUSABLE)


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        _fail(f"{path} is a folder, not a {what}")
    except FileNotFoundError:
        _fail(f"{path} does not exist")
    except OSError as exc:
        _fail(f"{path} cannot be opened: {exc.strerror or exc}")
    return b""  # not reached


def validate_command(
    file: Annotated[Path, typer.Argument(help="The station file: CSV, XLSX or ODS.", show_default=False)],
    profile: Annotated[
        Optional[str], typer.Option("--profile", help="A mapping profile: template, bnetza or one saved for --cpo.")
    ] = None,
    cpo: Annotated[
        Optional[str], typer.Option("--cpo", help="The registered CPO's name; enables the registry checks.")
    ] = None,
    operators: Annotated[
        Optional[Path], typer.Option("--operators", help="CSV of operator name, operator id (for --profile bnetza).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a station file; exit 0 without errors, 1 with errors, 2 if it cannot be read."""
    from .profiles import ProfileError, apply_profile, load_operators_csv
    from .reader import SheetError, read_sheet
    from .validate import validate

    data = _read_bytes(file, "file")
    try:
        raw = read_sheet(data, file.name)
    except SheetError as exc:
        _fail(str(exc))

    operator_table: dict[str, str] = {}
    if operators is not None:
        try:
            operator_table = load_operators_csv(_read_bytes(operators, "operator table"))
        except ProfileError as exc:
            _fail(f"{operators.name}: {exc}")

    with ExitStack() as stack:
        context, cpo_pk, session = None, None, None
        if cpo:
            from ..store.auth import Actor, Role
            from ..store.db import migrate, session_scope
            from ..store.queries import get_cpo
            from ..store.stations import registry_context

            migrate()
            session = stack.enter_context(session_scope())
            try:
                actor = Actor(name="cli", role=Role.ADMIN, cpo_ids=frozenset())
                cpo_pk = get_cpo(session, actor=actor, name=cpo).id
            except LookupError:
                _fail(f"there is no registered CPO named {cpo!r} (see `oioi-onboard cpo list`)")
            context = registry_context(session, cpo_id=cpo_pk)

        if profile:
            try:
                frame, mapping_issues = apply_profile(
                    raw, profile, operators=operator_table, session=session, cpo_id=cpo_pk
                )
            except ProfileError as exc:
                _fail(str(exc))
            typer.echo(f"mapped with profile {profile!r}", err=True)
        else:
            frame, mapping_issues = _suggested(raw, file.name, operator_table)
        result = validate(frame, context=context, extra_issues=mapping_issues)

    skipped = list(result.skipped)
    if as_json:
        issues = [
            {
                "row": int(r.row),
                "column": str(r.column),
                "value": str(r.value),
                "rule": str(r.rule),
                "message": str(r.message),
                "severity": str(r.severity),
            }
            for r in result.issues.itertuples(index=False)
        ]
        typer.echo(json.dumps({
            "stations": result.stations,
            "connectors": result.connectors,
            "errors": result.errors,
            "warnings": result.warnings,
            "skipped": skipped,
            "issues": issues,
        }, ensure_ascii=False, indent=1))
    else:
        for r in result.issues.itertuples(index=False):
            typer.echo(f"row {r.row}, {r.column}: {r.severity}: {r.message} [{r.rule}]")
        typer.echo(
            f"{file.name}: {result.stations} station(s), {result.connectors} connector(s), "
            f"{result.errors} error(s), {result.warnings} warning(s)"
        )
        if skipped:
            typer.echo(f"skipped without --cpo (they need the registry): {', '.join(skipped)}")
    raise typer.Exit(EXIT_ERRORS if result.errors else EXIT_OK)


def _suggested(raw, file_name: str, operator_table: dict[str, str]):
    """Apply the suggested mapping if every required field is placed with confidence; else exit 2."""
    from .canonical import REQUIRED
    from .mapping import CONFIDENT, apply_mapping, suggest_mapping

    suggestion = suggest_mapping(raw)
    mapping = suggestion.mapping
    unsure = [
        name for name in REQUIRED
        if mapping.source(name) and suggestion.confidence.get(name, 0.0) < CONFIDENT
    ]
    if suggestion.unplaced_required or unsure:
        fields = ", ".join(suggestion.unplaced_required + unsure)
        _fail(
            f"{file_name}: no confident column for the required field(s) {fields}. "
            + (_fitting_profile_hint(raw) or
               "Name the columns as in the template (oioi-onboard's sample_data/template.csv) or use --profile.")
        )
    if operator_table:
        mapping.operators = operator_table
    for line in mapping.describe():
        typer.echo(f"mapped {line}", err=True)
    return apply_mapping(raw, mapping)


def _fitting_profile_hint(raw) -> str:
    """'use --profile bnetza' when a built-in profile's columns are all in the file."""
    from .profiles import ProfileError, builtin_profiles, resolve_columns

    for name, mapping in builtin_profiles().items():
        if name == "template":
            continue
        try:
            resolve_columns(raw, mapping, profile=name)
        except ProfileError:
            continue
        extra = " --operators FILE (operator name, operator id)" if mapping.operator_column else ""
        return f"The columns are those of the built-in profile {name!r}: use --profile {name}{extra}."
    return ""


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``oioi-onboard`` app."""
    app.command("validate")(validate_command)
