"""One pull per CPO across workers: the lease in the database (a conditional UPDATE with an expiry), on SQLite
and on PostgreSQL, and two workers racing for the same CPO against the real OCPI sandbox."""

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Cpo, ImportRecord, utcnow
from oioi_onboard.store.ocpi_connection import PULL_LEASE, release_pull_lease, set_ocpi_connection, take_pull_lease
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.workflows.ocpi_pulls import pull_cpo, run_pulls
from tests.helpers.postgres import postgres_available


def _connected(session, url: str = "http://127.0.0.1:9/ocpi/versions", token: str = "a-token-0001") -> int:
    cpo = make_cpo(session, name="Laadnet", operator_ids="BE*OCS")
    cpo.defaults = {"phone": "+32 9 265 81 11"}
    return set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=url, token=token).id


def _lease_rules(session_scope) -> None:
    now = utcnow()
    with session_scope() as session:
        cpo_id = _connected(session)
    with session_scope() as session:
        assert take_pull_lease(session, cpo_id=cpo_id, holder="worker-a", now=now)
        assert not take_pull_lease(session, cpo_id=cpo_id, holder="worker-b", now=now + timedelta(minutes=1))
        assert take_pull_lease(session, cpo_id=cpo_id, holder="worker-a", now=now)  # its own: renewed
        release_pull_lease(session, cpo_id=cpo_id, holder="worker-b")  # not B's to give back
        assert not take_pull_lease(session, cpo_id=cpo_id, holder="worker-b", now=now)
        # A worker that died mid-pull holds nobody up past its lease.
        assert take_pull_lease(session, cpo_id=cpo_id, holder="worker-b", now=now + PULL_LEASE)
        release_pull_lease(session, cpo_id=cpo_id, holder="worker-b")
        assert take_pull_lease(session, cpo_id=cpo_id, holder="worker-a", now=now)
        release_pull_lease(session, cpo_id=cpo_id, holder="worker-a")
    with session_scope() as session:
        cpo = session.get(Cpo, cpo_id)
        assert cpo.ocpi_pull_lease_holder is None and cpo.ocpi_pull_lease_until is None
        cpo.ocpi_last_pull_started_at = now
    with session_scope() as session:  # another worker pulled it since it fell due: not again
        assert not take_pull_lease(session, cpo_id=cpo_id, holder="worker-b", pulled_before=now - timedelta(minutes=15))
        assert take_pull_lease(session, cpo_id=cpo_id, holder="worker-b", pulled_before=now + timedelta(seconds=1))


def _race(session_scope, cpo_id: int, holders: int = 8) -> int:
    """``holders`` threads take the lease at the same moment; how many got it."""
    start = threading.Barrier(holders)
    won: list[str] = []

    def take(name: str) -> None:
        start.wait()
        with session_scope() as session:
            if take_pull_lease(session, cpo_id=cpo_id, holder=name):
                won.append(name)

    threads = [threading.Thread(target=take, args=(f"worker-{n}",)) for n in range(holders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return len(won)


def test_the_lease_is_one_holder_at_a_time_until_it_runs_out_on_sqlite(db):
    _lease_rules(db)
    with db() as session:
        cpo_id = session.exec(select(Cpo.id)).first()
        release_pull_lease(session, cpo_id=cpo_id, holder="worker-b")
    assert _race(db, cpo_id) == 1


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL binaries are not installed")
def test_the_lease_is_one_holder_at_a_time_on_postgresql(on_postgres):
    from oioi_onboard.store.db import session_scope

    _lease_rules(session_scope)
    with session_scope() as session:
        cpo_id = session.exec(select(Cpo.id).where(Cpo.name == "Laadnet")).first()
        release_pull_lease(session, cpo_id=cpo_id, holder="worker-b")
    assert _race(session_scope, cpo_id) == 1


@pytest.fixture(scope="module")
def slow_back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=12, page_limit=4) as process:
        process.faults(latency_ms=400)  # a pull takes over a second: long enough for the other worker to try
        yield process


def test_two_workers_racing_pull_a_cpo_once(db, slow_back_end):
    with db() as session:
        cpo_id = _connected(session, slow_back_end.versions_url, slow_back_end.token)
    start = threading.Barrier(2)
    said: list[str | None] = []

    def worker(name: str) -> None:
        start.wait()
        said.append(pull_cpo(cpo_id, full=True, holder=name))

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("worker-a", "worker-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(said) == 2 and said.count(None) == 1, said  # one pulled, the other found the lease taken
    with db() as session:
        assert len(session.exec(select(ImportRecord)).all()) == 1
        assert session.get(Cpo, cpo_id).ocpi_pull_lease_holder is None  # given back after the pull
    assert sum(1 for r in slow_back_end.requests() if r["path"].endswith("/locations")) == 3  # one pull's pages


def test_two_worker_loops_pull_each_due_cpo_once(db, slow_back_end):
    with db() as session:
        cpo_id = _connected(session, slow_back_end.versions_url, slow_back_end.token)
    before = len(slow_back_end.requests())

    def imports() -> int:
        with db() as session:
            return len(session.exec(select(ImportRecord)).all())

    async def two_workers() -> None:
        stop = asyncio.Event()
        loops = [asyncio.create_task(run_pulls(stop, look_every=0.05)) for _ in range(2)]
        for _ in range(300):
            if imports() and session_free():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the other loop looks again meanwhile, and finds nothing due
        stop.set()
        await asyncio.gather(*loops)

    def session_free() -> bool:
        with db() as session:
            return session.get(Cpo, cpo_id).ocpi_pull_lease_holder is None

    asyncio.run(two_workers())
    assert imports() == 1
    pages = [r for r in slow_back_end.requests()[before:] if r["path"].endswith("/locations")]
    assert len(pages) == 3
