"""``oioi-onboard db ...``: the database's schema (alembic, driven from ``store.db``)."""

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The database's schema: upgrade it, say where it stands, check or extend the migrations.")


def _where() -> str:
    from sqlalchemy.engine import make_url

    from ..settings import get_settings

    return make_url(get_settings().db_url).render_as_string(hide_password=True)


@app.command("upgrade")
def upgrade() -> None:
    """Bring the database to the newest schema (every other command does so by itself too)."""
    from ..store.db import head_revision, migrate

    migrate()
    typer.echo(f"database {_where()} at revision {head_revision()}")


@app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one; exit 1 when it is behind."""
    from ..store.db import current_revision, get_engine, head_revision

    with get_engine().connect() as connection:
        revision = current_revision(connection)
    head = head_revision()
    if revision == head:
        typer.echo(f"database {_where()} at revision {revision} (the newest)")
        return
    typer.echo(f"database {_where()} at revision {revision or 'none (empty)'}; the newest is {head}: "
               "oioi-onboard db upgrade")
    raise typer.Exit(1)


@app.command("check")
def check() -> None:
    """Upgrade, then compare the schema with the models; exit 1 when they disagree."""
    from ..settings import get_settings
    from ..store.db import migrate, schema_differences

    url = get_settings().db_url
    migrate(url)
    differences = schema_differences(url)
    for difference in differences:
        typer.echo(str(difference))
    if differences:
        typer.echo('models and migrations disagree: oioi-onboard db revision "what changed"')
        raise typer.Exit(1)
    typer.echo("models and migrations agree")


@app.command("revision")
def revision(message: Annotated[str, typer.Argument(help="What the models' change is, e.g. 'cpo notes'.")]) -> None:
    """Write the next numbered migration from what the models changed (review it before committing)."""
    from ..store.db import new_revision

    typer.echo(f"wrote {new_revision(message)}")
