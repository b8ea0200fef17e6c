"""The ``oioi-onboard`` command: one module per group, the error mapping here, once.

Exit codes: 0 done; 1 done, but the file has errors or not everything was
acknowledged; 2 nothing could be done (unusable input, configuration,
database), with one line saying why. Importing this package never imports
Streamlit: the CLI runs on servers.
"""

import sys
from typing import NoReturn

import typer
from typer.core import TyperGroup

from ..errors import OnboardError
from . import cpos, db, ocpi, servers, sheets, sync, users

__all__ = ["app", "run_cli"]


class _Group(TyperGroup):
    """Every command runs inside this: an expected error is one line on stderr, never a traceback."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201
        try:
            return super().invoke(ctx)
        except OnboardError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except Exception as error:
            # A command that never opened the database never loaded SQLAlchemy: don't import it for nothing.
            exc = sys.modules.get("sqlalchemy.exc")
            if exc is None or not isinstance(error, (exc.OperationalError, exc.InterfaceError)):
                raise
            typer.echo(f"error: {_database_problem(error)}", err=True)
            raise typer.Exit(2) from None


def _database_problem(error: Exception) -> str:
    from sqlalchemy.engine import make_url

    from ..settings import get_settings

    where = make_url(get_settings().db_url).render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"the database {where} cannot be used: {reason}"


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False,
                  help="Onboard a Charge Point Operator onto a roaming platform over OIOI.")
app.add_typer(cpos.app, name="cpo")
app.add_typer(users.app, name="user")
app.add_typer(db.app, name="db")
app.add_typer(ocpi.app, name="ocpi")
app.command("validate")(sheets.validate)
app.command("template")(sheets.template)
app.command("push")(sync.push)
app.command("worker")(sync.worker)
app.command("simulate")(sync.simulate)
app.command("sandbox")(servers.sandbox)
app.command("ocpi-sandbox")(servers.ocpi_sandbox)
app.command("relay")(servers.relay)
app.command("run")(servers.run)


def run_cli() -> NoReturn:
    """The console script."""
    try:
        app()
    except SystemExit as done:
        _exit(done.code)
    _exit(0)


def _exit(code: object) -> NoReturn:
    """End the process without the interpreter's teardown, which unloads pandas, pyarrow, SQLAlchemy and the
    rest module by module: 0.3 to 0.7 s at the end of every command, a quarter of a rerun of a national push.

    What of that teardown matters is done here: the atexit handlers run and the standard streams are flushed.
    Every transaction is committed or rolled back by now; an SQLite connection left open keeps its
    write-ahead log beside the database, which the next connection reads, as after any stop of a process.
    """
    import atexit
    import os

    if isinstance(code, str):  # sys.exit("message"), as the interpreter would print it
        print(code, file=sys.stderr)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
