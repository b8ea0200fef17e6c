"""The ``oioi-onboard`` command. Each area adds its own sub-commands.

Importing this module must not import Streamlit: the CLI runs on servers.
"""

import typer

from .oioi import commands as oioi_commands
from .sheets import commands as sheets_commands
from .store import commands as store_commands
from .sync import commands as sync_commands

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])


@app.callback()
def main() -> None:
    """Onboard a Charge Point Operator onto a roaming platform over OIOI."""


for module in (oioi_commands, store_commands, sheets_commands, sync_commands):
    module.register(app)


@app.command()
def run() -> None:
    """Start the dashboard with its embedded sandbox, worker and relay (the `make run` default)."""
    from .launcher import run_embedded

    run_embedded()


def run_cli() -> None:
    """The console script: a database that cannot be reached is one clear line, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, OperationalError

    from .settings import get_settings

    try:
        app()
    except (OperationalError, InterfaceError) as error:
        where = make_url(get_settings().db_url).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        typer.echo(f"error: the database {where} cannot be used: {reason}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    run_cli()
