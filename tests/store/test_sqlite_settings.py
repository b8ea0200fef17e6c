"""SQLite as several processes share it (issue 20): WAL, a busy timeout, foreign keys, on every connection.

The worker, the relay and the app write to one file at once. WAL lets them read while one writes;
the busy timeout makes a writer wait for the lock instead of failing with "database is locked".
"""

from oioi_onboard.store.db import SQLITE_BUSY_TIMEOUT, get_engine


def test_every_connection_has_wal_a_busy_timeout_and_foreign_keys(db):
    engine = get_engine()
    assert engine.dialect.name == "sqlite"
    for _ in range(2):  # a fresh connection each time, not only the first of the pool
        with engine.connect() as connection:
            pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
            connection.invalidate()
        assert pragma == {"journal_mode": "wal", "busy_timeout": int(SQLITE_BUSY_TIMEOUT * 1000),
                          "synchronous": 1, "foreign_keys": 1}
