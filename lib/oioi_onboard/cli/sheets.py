"""``oioi-onboard validate FILE``: the import workflow without storing, as a report;
``oioi-onboard template``: the station template to fill in.

Without ``--cpo`` nothing of the store (SQLModel, the database) is imported:
checking a file is as fast as reading it allows.
"""

import itertools
import json
from pathlib import Path
from typing import Annotated

import typer

from ..wording import counted
from ._common import parse_settings, read_bytes


def operator_table(path: Path | None) -> dict[str, str]:
    """The ``--operators`` file: operator name -> operator id (for the bnetza profile)."""
    if path is None:
        return {}
    from ..errors import UserError
    from ..sheets.profiles import ProfileError, load_operators_csv

    try:
        return load_operators_csv(read_bytes(path, "operator table"))
    except ProfileError as error:
        raise UserError(f"{path.name}: {error}") from None


def write_export(path: Path, validation) -> None:  # noqa: ANN001
    """The stations a push would send (those without errors), as the canonical table."""
    from ..errors import UserError
    from ..sheets.export import export_csv
    from ..sheets.stations import build_stations

    stations = build_stations(validation.frame, validation.valid_station_ids())
    try:
        path.write_bytes(export_csv(stations))
    except OSError as error:
        raise UserError(f"{path} cannot be written: {error.strerror or error}") from None
    blocked = len(validation.blocked_station_ids())
    typer.echo(f"export: {counted(len(stations), 'station')} written to {path}"
               + (f"; {blocked:,} with errors left out (a push would not send them)" if blocked else ""), err=True)


def validate(
    file: Annotated[Path, typer.Argument(help="The station file: CSV, XLSX or ODS, or OCPI Locations as JSON.",
                                         show_default=False)],
    profile: Annotated[
        str | None, typer.Option("--profile", help="A mapping profile: template, bnetza or one saved for --cpo.")
    ] = None,
    cpo: Annotated[
        str | None, typer.Option("--cpo", help="The registered CPO's name; enables the registry checks.")
    ] = None,
    operators: Annotated[
        Path | None, typer.Option("--operators", help="CSV of operator name, operator id (for --profile bnetza).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE for every row where the file has none (repeatable).")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="The workbook's sheet to read (default: the widest table).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the valid stations as a push would send them, one row "
                                                   "per connector in the template's columns (CSV).")
    ] = None,
) -> None:
    """Check a station file; exit 0 without errors, 1 with errors, 2 if it cannot be read."""
    from ..workflows.imports import import_file

    data = read_bytes(file, "file")
    options = {"data": data, "file_name": file.name, "profile": profile, "operators": operator_table(operators),
               "constants": parse_settings(set_), "keep": False, "sheet": sheet}
    if cpo:
        from ..store.auth import SYSTEM
        from ..store.db import migrate, session_scope
        from ..store.queries import get_cpo

        migrate()
        with session_scope() as db:
            result = import_file(db, actor=SYSTEM, cpo_id=get_cpo(db, actor=SYSTEM, name=cpo).id, **options)
    else:
        result = import_file(None, actor=None, cpo_id=None, **options)
    for line in result.raw.notes:
        typer.echo(f"file: {line}", err=True)
    for line in result.mapped.description:
        typer.echo(f"mapping: {line}", err=True)
    if export is not None:
        write_export(export, result.validation)

    validation = result.validation
    skipped = list(validation.skipped)
    issues = validation.issues
    if as_json:
        head = json.dumps({
            "stations": validation.stations,
            "stations_valid": len(validation.valid_station_ids()),
            "connectors": validation.connectors,
            "errors": validation.errors,
            "warnings": validation.warnings,
            "skipped": skipped,
        }, ensure_ascii=False, indent=1)
        # One issue per line: indent= would switch json to its pure-Python encoder, slow for 100,000 issues.
        # Written a batch at a time: the lines of 600,000 issues, joined, would be held several times over.
        typer.echo(head[:-2] + ',\n "issues": ' + ("[\n  " if len(issues) else "[]"), nl=False)
        rows = issues.itertuples()
        separator = ""
        while batch := [json.dumps({"row": int(r.row), "column": str(r.column), "value": str(r.value),
                                    "rule": str(r.rule), "message": str(r.message), "severity": str(r.severity)},
                                   ensure_ascii=False) for r in itertools.islice(rows, 10_000)]:
            typer.echo(separator + ",\n  ".join(batch), nl=False)
            separator = ",\n  "
        typer.echo(("\n ]" if len(issues) else "") + "\n}")
    else:
        for r in issues.itertuples():
            typer.echo(f"row {r.row}, {r.column}: {r.severity}: {r.message} [{r.rule}]")
        typer.echo(f"{file.name}: {counted(validation.stations, 'station')}, "
                   f"{counted(validation.connectors, 'connector')}, {counted(validation.errors, 'error')}, "
                   f"{counted(validation.warnings, 'warning')}")
        if skipped:
            typer.echo(f"skipped without --cpo (they need the registry): {', '.join(skipped)}")
        if lacking := sorted(set(issues.loc[issues["rule"].isin(["field_not_mapped", "country_inferred"]), "column"])):
            typer.echo("a value every station shares: " + " ".join(f"--set {name}=VALUE" for name in lacking)
                       + (", or the CPO's defaults (the CPOs page, Edit)" if cpo else
                          ", or the CPO's defaults with --cpo"))
    raise typer.Exit(1 if validation.errors else 0)


def template(
    folder: Annotated[Path, typer.Argument(help="Where to write template.csv and template.xlsx.")] = Path("."),
) -> None:
    """Write the station template: template.csv, and template.xlsx with a sheet that explains every column."""
    from ..errors import UserError
    from ..sheets.template import write_samples

    try:
        write_samples(folder)
    except OSError as error:
        raise UserError(f"{folder} cannot be written: {error.strerror or error}") from None
    typer.echo(f"wrote {folder / 'template.csv'} and {folder / 'template.xlsx'}")
