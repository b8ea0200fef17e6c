"""A throw-away PostgreSQL cluster for tests.

    with running_postgres(tmp_path) as url:   # postgresql+psycopg://postgres@127.0.0.1:PORT/oioi_test
        ...

initdb refuses to run as root, so when the tests run as root the cluster
belongs to ``nobody`` (via ``runuser``) and lives in a directory that user
owns. It listens on 127.0.0.1 on a free port, trusts local connections, runs
with fsync off (it is thrown away) and is stopped and removed afterwards.

Mark tests that use it with ``@pytest.mark.postgres``.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from oioi_onboard.testing.sandbox import free_port

UNPRIVILEGED_USER = "nobody"


def _as_cluster_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]
    return command


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(_as_cluster_owner(command), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def postgres_available() -> bool:
    return shutil.which("initdb") is not None and shutil.which("pg_ctl") is not None


@contextmanager
def running_postgres(tmp_path: Path | None = None, *, database: str = "oioi_test") -> Iterator[str]:
    """Start a fresh cluster, create ``database`` and yield its SQLAlchemy URL.

    ``tmp_path`` is accepted for symmetry with the other helpers; the cluster itself
    lives under the system temp directory, because pytest's tmp_path is not
    reachable for an unprivileged user when the tests run as root.
    """
    if not postgres_available():
        raise RuntimeError("initdb/pg_ctl (PostgreSQL 15) are not on PATH: install postgresql to run these tests")
    base = Path(tempfile.mkdtemp(prefix="oioi-pg-"))
    base.chmod(0o755)
    data = base / "data"
    sockets = base / "sockets"
    log = base / "postgres.log"
    if os.geteuid() == 0:
        owner = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    _run(["mkdir", "-p", str(sockets)], "creating the socket directory")
    port = free_port()
    try:
        _run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
              "--locale=C"], "initdb")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets} " \
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(["pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], "pg_ctl start")
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_cluster_owner(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(tmp_path) -> Iterator[str]:
    """A fresh PostgreSQL database for one test; import this fixture into a conftest."""
    with running_postgres(tmp_path) as url:
        yield url


@pytest.fixture
def on_postgres(postgres_url, monkeypatch) -> str:  # noqa: ANN001
    """This test process on a fresh, migrated PostgreSQL database (settings and engine read again); its URL."""
    from oioi_onboard.settings import get_settings
    from oioi_onboard.store.db import get_engine, migrate

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    migrate()
    return postgres_url
