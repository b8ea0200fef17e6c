"""Alembic, driven from code so that every command can upgrade by itself.

    python -m oioi_onboard.store.migrate upgrade      # bring DATABASE_URL to head
    python -m oioi_onboard.store.migrate check        # models and migrations agree?
    python -m oioi_onboard.store.migrate regenerate   # rewrite the initial revision

``regenerate`` exists because nothing has shipped yet: while the models still
change, the single initial revision is rebuilt from them. Once a database is in
use somewhere, new changes get a new revision instead.

Several processes may call ``upgrade`` at once (the app, the worker, the relay
starting together). On PostgreSQL they queue on an advisory lock; on SQLite on
a lock file next to the database. Whoever comes second finds the schema at head
and does nothing.
"""

import fcntl
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

from . import models  # noqa: F401 - registers the tables

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
INITIAL_REVISION = "0001"
# Any fixed 64-bit number, the same in every process: it names our advisory lock.
_PG_LOCK_KEY = 0x0101_0101_5354_4F52


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    database = make_url(url).database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str) -> None:
    """``alembic upgrade head`` on ``url``; a no-op when it is there already."""
    from .db import get_engine

    engine = get_engine(url)
    head = head_revision()
    with engine.connect() as connection:
        if current_revision(connection) == head:
            return
    if engine.dialect.name == "sqlite":
        with _sqlite_lock(url), engine.connect() as connection:
            _upgrade_on(connection, head)
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()
        try:
            _upgrade_on(connection, head)
        finally:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                connection.commit()


def _upgrade_on(connection: Connection, head: str | None) -> None:
    # Checked again under the lock: another process may have finished meanwhile.
    if current_revision(connection) == head:
        connection.rollback()
        return
    unversioned = current_revision(connection) is None and "cpo" in inspect(connection).get_table_names()
    connection.rollback()  # the checks above opened a transaction; alembic opens its own
    config = alembic_config()
    config.attributes["connection"] = connection
    if unversioned:
        # Made by create_all before migrations existed: adopt it if it matches, never guess otherwise.
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
        connection.rollback()
        if differences:
            raise RuntimeError(
                f"the database {connection.engine.url.render_as_string(hide_password=True)} has tables but no "
                f"migration history, and they differ from the models ({len(differences)} differences); "
                "move it aside or drop it, then start again"
            )
        command.stamp(config, "head")
    else:
        command.upgrade(config, "head")
    connection.commit()


def schema_differences(url: str) -> list:
    """What alembic would change to make the database match the models ([] when they agree)."""
    from .db import get_engine

    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def regenerate() -> Path:
    """Rewrite the single initial revision from the current models."""
    for old in VERSIONS.glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'empty.db'}"
        command.revision(alembic_config(url), message="initial schema", autogenerate=True, rev_id=INITIAL_REVISION)
    (written,) = VERSIONS.glob(f"{INITIAL_REVISION}_*.py")
    return written


def main(argv: list[str]) -> int:
    from ..settings import get_settings

    action = argv[0] if argv else "upgrade"
    if action == "regenerate":
        print(f"wrote {regenerate()}")
        return 0
    url = get_settings().db_url
    if action == "upgrade":
        upgrade(url)
        print(f"database at revision {head_revision()}")
        return 0
    if action == "check":
        upgrade(url)
        differences = schema_differences(url)
        for difference in differences:
            print(difference)
        if differences:
            print("models and migrations disagree: run `python -m oioi_onboard.store.migrate regenerate`")
        return 1 if differences else 0
    print(f"unknown action {action!r}; use upgrade, check or regenerate", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
