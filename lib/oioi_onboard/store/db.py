"""The one home of the database: the engine, sessions and schema upgrades (alembic, driven from code).

Every entry point calls ``migrate()`` before its first query, so an empty or
older database is brought up to the current schema by itself. By hand:

    oioi-onboard db upgrade            # bring the database to head
    oioi-onboard db current            # its revision, and whether it is behind
    oioi-onboard db check              # models and migrations agree?
    oioi-onboard db revision "what"    # a new revision from the models' changes

Several processes may call ``migrate`` at once (the app, the worker, the relay
starting together). On PostgreSQL they queue on an advisory lock; on SQLite on
a lock file next to the database. Whoever comes second finds the schema at head
and does nothing. Alembic is imported only when an upgrade is due.
"""

import fcntl
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Table, event, insert, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, create_engine

from ..errors import ConfigError
from ..settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
# Any fixed 64-bit number, the same in every process: it names our advisory lock.
_PG_LOCK_KEY = 0x0101_0101_5354_4F52
# Seconds a SQLite connection waits for another process's write lock before "database is locked"
# (sqlite3's ``timeout``, i.e. PRAGMA busy_timeout). Every write transaction here lasts milliseconds
# (a claim, a batch of results, a relay batch); only a big import or enqueue holds the lock for seconds.
SQLITE_BUSY_TIMEOUT = 30.0


class EncodedJson(str):
    """A value for a JSON column that is JSON text already: stored as it is, not encoded again."""

    __slots__ = ()


def _json_text(value: object) -> str:
    """JSON columns stored compact: an outbox row's payload is sent as stored (rows stored before keep
    their spacing: the same JSON, a few bytes longer)."""
    if isinstance(value, EncodedJson):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().db_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
                               json_serializer=_json_text)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            # WAL lets the app read while a worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "checkout")
        def _autocheckpoint(dbapi_connection, record, _proxy):  # noqa: ANN001
            # Off while a thread copies the log (``checkpoints_aside``); a connection is told only of a change.
            wanted = 0 if _ASIDE.get(url) else _WAL_AUTOCHECKPOINT
            if record.info.get(_AUTOCHECKPOINT, _WAL_AUTOCHECKPOINT) != wanted:
                dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={wanted}")
                record.info[_AUTOCHECKPOINT] = wanted

        @event.listens_for(engine, "checkin")
        def _checkpoint_later(dbapi_connection, record):  # noqa: ANN001
            if record.info.pop(_CHECKPOINT_LATER, False) and dbapi_connection is not None:
                threading.Thread(target=_checkpoint, args=(engine,), name="wal-checkpoint", daemon=True).start()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=_json_text)


def insert_rows(connection: Connection, table: Table, columns: dict[str, list]) -> None:
    """Insert rows given column by column (``{column: its values}``) into ``table`` in one executemany.

    On SQLite the values go to the driver as they are: each column's conversion runs down the column (once
    for a value every row shares, such as a timestamp), and the columns' Python defaults are filled in once.
    SQLAlchemy's work per row and parameter took as long as SQLite's own writing for a national import.
    Elsewhere SQLAlchemy's executemany is used (on PostgreSQL it sends the rows as multi-row statements).
    """
    count = len(next(iter(columns.values()), []))
    if not count:
        return
    if connection.dialect.name != "sqlite":
        keys = list(columns)
        rows = zip(*columns.values(), strict=True)
        connection.execute(insert(table), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    values = dict(columns)
    for column in table.columns:
        if column.key not in values and column.default is not None and not column.primary_key:
            default = column.default
            values[column.key] = [default.arg if default.is_scalar else default.arg(None)] * count
    for key, column_values in values.items():
        # The dialect's own type, as the ORM binds it: a timestamp becomes SQLite's text here, once for a value
        # every row shares, not in the driver's adapter per row (a tenth of storing a national file).
        process = table.c[key].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        if process is not None:
            if len(set(map(id, column_values))) == 1:
                values[key] = [process(column_values[0])] * count
            else:
                values[key] = [process(value) for value in column_values]
    quote = connection.dialect.identifier_preparer
    names = ", ".join(quote.format_column(table.c[key]) for key in values)
    marks = ", ".join("?" * len(values))
    connection.exec_driver_sql(f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({marks})",
                               list(zip(*values.values(), strict=True)))


class DatabaseFull(ConfigError):
    """The database, or the disk under it, has no room left: the transaction was rolled back whole."""


_SQLITE_FULL = 13  # SQLite's "database or disk is full" (a disk, or PRAGMA max_page_count)
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


def _is_full(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    return (getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
            or getattr(orig, "sqlstate", None) == _PG_DISK_FULL)


# SQLite copies its write-ahead log into the database at the commit that grows the log past 1,000 pages
# (its default). After a national import (~130 MB of log) that copy took a second inside the commit, before
# the push could send; ``session_scope(checkpoint_later=True)`` commits without it, and a thread makes the
# copy once the connection is back in the pool (PASSIVE: it never blocks a reader or a writer).
_WAL_AUTOCHECKPOINT = 1000
_CHECKPOINT_LATER = "oioi_checkpoint_later"
_AUTOCHECKPOINT = "oioi_wal_autocheckpoint"  # the setting a pooled connection has now
_ASIDE: dict[str, int] = {}  # database URL -> how many ``checkpoints_aside`` are open on it (of any engine)
CHECKPOINT_EVERY = 0.5  # seconds


@contextmanager
def checkpoints_aside(url: str | None = None, every: float = CHECKPOINT_EVERY) -> Iterator[None]:
    """While inside, this process's commits on SQLite leave copying the log into the database to a thread of its
    own, every ``every`` seconds (PASSIVE, beside the writer). The worker's many small commits: the one that
    crossed 1,000 pages stalled its thread 15-25 ms (and the push's wire with it), some 70 times in 50,000 acks.
    Elsewhere it does nothing."""
    url = url or get_settings().db_url
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        yield
        return
    _ASIDE[url] = _ASIDE.get(url, 0) + 1
    stop = threading.Event()

    def copy() -> None:
        while not stop.wait(every):
            _checkpoint(engine)

    thread = threading.Thread(target=copy, name="wal-checkpoints", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _ASIDE[url] -= 1
        _checkpoint(engine)  # what the last commits wrote


def _checkpoint(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:  # noqa: BLE001 - the next commit's own checkpoint copies it then
        log.warning("copying the write-ahead log into the database failed; a later commit will", exc_info=True)


@contextmanager
def session_scope(url: str | None = None, *, checkpoint_later: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error.

    A database that runs out of room, in a statement or at the commit, is ``DatabaseFull``: one line for
    the command, the page and the log, and nothing of the transaction is kept (a big import is all or nothing).
    ``checkpoint_later``: a big write on SQLite commits without copying its log into the database (see above).
    """
    engine = get_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        try:
            if checkpoint_later and engine.dialect.name == "sqlite":
                pooled = session.connection().connection
                pooled.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
                pooled.info[_AUTOCHECKPOINT] = 0  # its next checkout sets it back
                pooled.info[_CHECKPOINT_LATER] = True
            yield session
            session.commit()
        except BaseException as error:
            session.rollback()
            if _is_full(error):
                where = session.get_bind().url.render_as_string(hide_password=True)
                reason = str(error.orig).strip().splitlines()[0]
                raise DatabaseFull(f"the database {where} is full ({reason}): nothing of this was stored; "
                                   "make room on its disk and try again") from error
            raise


# --- schema upgrades -------------------------------------------------------------------------


def alembic_config(url: str | None = None):  # noqa: ANN201 - alembic's Config, imported lazily
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_VERSIONS = Path(__file__).with_name("migrations") / "versions"


def head_revision() -> str | None:
    """The newest migration, from the file names (``NNNN_what.py``, revision ``NNNN``, one after another):
    alembic itself is imported only when an upgrade is due (a third of a second at every command)."""
    numbers = [path.name[:4] for path in _VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(numbers, default=None)


def current_revision(connection: Connection) -> str | None:
    """The database's revision (alembic's version table), None before the first migration."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


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


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``); a no-op when it is there."""
    from . import models  # noqa: F401 - registers the tables

    url = url or get_settings().db_url
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
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ..errors import ConfigError

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
            raise ConfigError(
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
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from . import models  # noqa: F401 - registers the tables

    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def new_revision(message: str) -> Path:
    """Write the next revision from what the models changed since head (review it before committing)."""
    import tempfile

    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'head.db'}"
        migrate(url)
        number = f"{int(head_revision() or 0) + 1:04d}"
        command.revision(alembic_config(url), message=message, autogenerate=True, rev_id=number)
    (written,) = (MIGRATIONS / "versions").glob(f"{number}_*.py")
    return written
