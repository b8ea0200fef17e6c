"""A SQLite database that runs out of room, as a full disk makes it: ``PRAGMA max_page_count`` on every
connection opened meanwhile (a small filesystem would need root). SQLite then answers "database or disk
is full" (SQLITE_FULL), the same error a full disk gives.

    with database_room(pages=40):   # the database may grow by 40 pages (160 KiB), not more
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from oioi_onboard.settings import get_settings
from oioi_onboard.store.db import get_engine


def _engines() -> list[Engine]:
    # get_engine() and get_engine(url) are separate cache entries: every way the code asks for it.
    return [get_engine(), get_engine(None), get_engine(get_settings().db_url)]


@contextmanager
def database_room(pages: int) -> Iterator[int]:
    """Let the configured SQLite database grow by ``pages`` pages at most while the block runs, in every
    engine of this process; yields the page limit."""
    with get_engine().connect() as connection:
        limit = connection.exec_driver_sql("PRAGMA page_count").scalar_one() + pages

    def cap(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")

    event.listen(Engine, "connect", cap)
    for engine in _engines():  # pooled connections were opened without the cap
        engine.dispose()
    try:
        yield limit
    finally:
        event.remove(Engine, "connect", cap)
        for engine in _engines():
            engine.dispose()
