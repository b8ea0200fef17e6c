"""SQLite as several processes share it (issue 20): WAL, a busy timeout, foreign keys, on every connection.

The worker, the relay and the app write to one file at once. WAL lets them read while one writes;
the busy timeout makes a writer wait for the lock instead of failing with "database is locked".
"""

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

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


def test_a_big_write_commits_without_copying_its_log_and_a_thread_copies_it_after(db, monkeypatch):
    """``checkpoint_later``: the commit leaves the log as it is (a national import's copy took a second
    inside it), the connection goes back to the pool with SQLite's usual setting, and a thread copies the log."""
    from oioi_onboard.store import db as store_db

    engine = get_engine()
    database = Path(engine.url.database)
    go, copied = threading.Event(), threading.Event()
    real_checkpoint = store_db._checkpoint

    def held_checkpoint(on):  # noqa: ANN001 - the thread's copy, held until the test has looked
        go.wait(30)
        real_checkpoint(on)
        copied.set()

    monkeypatch.setattr(store_db, "_checkpoint", held_checkpoint)
    size_before = database.stat().st_size
    with db(checkpoint_later=True) as session:
        session.execute(text("INSERT INTO audit_log (at, user_name, action, detail) SELECT datetime('now'), 'test',"
                             " 'bulk', hex(randomblob(400)) FROM (WITH RECURSIVE n(i) AS"
                             " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i FROM n)"))
    # Committed, and the commit copied nothing: the rows are in the log only, and every connection sees them.
    assert database.stat().st_size < size_before + 1_000_000
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM audit_log WHERE action = 'bulk'").scalar() == 20000
        # The pooled connection is back to SQLite's usual 1,000-page auto-checkpoint.
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    go.set()
    assert copied.wait(30)
    assert database.stat().st_size >= size_before + 8_000_000  # ~20,000 x 800 bytes copied into the file


def test_a_failed_big_write_keeps_nothing_and_restores_the_setting(db):
    engine = get_engine()
    with db() as session:
        session.execute(text("CREATE TABLE kept (value TEXT)"))
    with pytest.raises(RuntimeError), db(checkpoint_later=True) as session:
        session.execute(text("INSERT INTO kept VALUES ('half an import')"))
        raise RuntimeError("the import failed")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert connection.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 0


def test_inside_checkpoints_aside_no_commit_copies_the_log_a_thread_does(db, monkeypatch):
    """The worker's many small commits: the one that crossed 1,000 pages of log stopped to copy it (15-25 ms on the
    push's wire). Inside ``checkpoints_aside`` no commit does; a thread of its own copies the log every ``every``."""
    from oioi_onboard.store import db as store_db

    engine = get_engine()
    database = Path(engine.url.database)
    copies: list[str] = []
    real_checkpoint = store_db._checkpoint

    def counted_checkpoint(on):  # noqa: ANN001
        copies.append(threading.current_thread().name)
        real_checkpoint(on)

    monkeypatch.setattr(store_db, "_checkpoint", counted_checkpoint)
    with db() as session:
        session.execute(text("CREATE TABLE kept (value TEXT)"))
    size_before = database.stat().st_size
    with store_db.checkpoints_aside(every=0.05):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for _ in range(200):  # ~2,000 pages of log in small commits, as the worker writes
            with db() as session:
                session.execute(text("INSERT INTO kept SELECT hex(randomblob(2000)) FROM (WITH RECURSIVE n(i) AS"
                                     " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n)"))
        for _ in range(200):
            if database.stat().st_size >= size_before + 4_000_000:
                break
            threading.Event().wait(0.05)
        assert "wal-checkpoints" in copies  # the thread copied the log into the database...
        assert database.stat().st_size >= size_before + 4_000_000  # ~8 MB written, at least half of it copied
    with engine.connect() as connection:  # ...and outside, SQLite's usual setting is back
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert connection.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 2000
