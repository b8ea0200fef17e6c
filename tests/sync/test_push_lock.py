"""One push at a time per CPO: the push lock in the CPO's row (issue 21.6), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from oioi_onboard.errors import Conflict
from oioi_onboard.store.auth import SYSTEM, Actor
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Cpo, utcnow
from oioi_onboard.sync.queue_control import (
    check_push_lock,
    release_push_lock,
    renew_push_lock,
    take_push_lock,
)
from oioi_onboard.testing.store import make_cpo, store_stations
from oioi_onboard.workflows.push import holding_push_lock, start_push
from tests.helpers.postgres import postgres_available

HOST = socket.gethostname()
ALICE = Actor(name="cli:alice", role=SYSTEM.role)
BOB = Actor(name="cli:bob", role=SYSTEM.role)
ALIVE = f"{HOST}-{os.getpid()}-aaaa"  # this process: alive


def _cpo(stations: int = 0) -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Lock CPO", registered=False)
        if stations:
            store_stations(session, cpo.id, stations)
        return cpo.id


def _take(cpo_id: int, holder: str, actor: Actor = ALICE) -> None:
    with session_scope() as session:
        take_push_lock(session, actor=actor, cpo_id=cpo_id, holder=holder)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_push_is_refused_with_who_and_when_until_the_first_releases(db):
    cpo_id = _cpo()
    _take(cpo_id, ALIVE)
    _take(cpo_id, ALIVE)  # the holder itself may take it again
    with pytest.raises(Conflict) as refused:
        _take(cpo_id, f"{HOST}-{os.getpid()}-bbbb", BOB)
    message = str(refused.value)
    assert message.startswith("a push for CPO 'Lock CPO' is running (started ") and message.endswith(
        " UTC by cli:alice)")
    assert refused.value.exit_code == 2
    with session_scope() as session:
        assert renew_push_lock(session, cpo_id=cpo_id, holder=ALIVE)
        release_push_lock(session, cpo_id=cpo_id, holder=f"{HOST}-{os.getpid()}-bbbb")  # not its lock: no-op
    with pytest.raises(Conflict):
        _take(cpo_id, "elsewhere-1-cccc", BOB)
    with session_scope() as session:
        release_push_lock(session, cpo_id=cpo_id, holder=ALIVE)
        assert not renew_push_lock(session, cpo_id=cpo_id, holder=ALIVE)
    _take(cpo_id, "elsewhere-1-cccc", BOB)


def test_a_push_killed_on_this_host_does_not_hold_the_cpo(db):
    cpo_id = _cpo()
    _take(cpo_id, f"{HOST}-{_dead_pid()}-dead")  # its lease has not run out, but its process is gone
    with session_scope() as session:
        check_push_lock(session, cpo_id=cpo_id)  # the page may queue
    _take(cpo_id, ALIVE, BOB)  # and a rerun takes it at once


def test_a_push_of_another_host_holds_the_cpo_until_its_lease_runs_out(db):
    cpo_id = _cpo()
    _take(cpo_id, "otherhost-12345-aaaa")  # no way to tell from here whether it lives
    with pytest.raises(Conflict), session_scope() as session:
        check_push_lock(session, cpo_id=cpo_id)
    with session_scope() as session:
        session.execute(update(Cpo).values(push_lock_until=utcnow() - timedelta(seconds=1)))
    _take(cpo_id, ALIVE, BOB)


def test_start_push_queues_nothing_while_another_push_holds_the_cpo(db):
    cpo_id = _cpo(stations=5)
    _take(cpo_id, "otherhost-12345-aaaa")
    with pytest.raises(Conflict, match="is running"), session_scope() as session:
        start_push(session, actor=BOB, cpo_id=cpo_id)
    with session_scope() as session:
        _, run = start_push(session, actor=BOB, cpo_id=cpo_id, dry_run=True)  # a dry run queues nothing
        assert run.total == 5
        _, run = start_push(session, actor=ALICE, cpo_id=cpo_id, push_lock="otherhost-12345-aaaa")
        assert run.total == 5  # the holder itself queues


def test_the_lock_is_held_for_the_block_and_released_after_it_even_on_an_error(db):
    cpo_id = _cpo()
    with pytest.raises(RuntimeError), holding_push_lock(None, actor=ALICE, cpo_id=cpo_id) as holder:
        assert holder.startswith(f"{HOST}-{os.getpid()}-")
        with pytest.raises(Conflict), holding_push_lock(None, actor=BOB, cpo_id=cpo_id):
            pass
        raise RuntimeError("the push broke")
    with holding_push_lock(None, actor=BOB, cpo_id=cpo_id):
        pass


def _race(cpo_id: int, contenders: int = 8) -> list[str]:
    """``contenders`` threads take the lock at the same moment; the holders that got it."""
    start = threading.Barrier(contenders)
    won: list[str] = []

    def contend(n: int) -> None:
        holder = f"otherhost-{n}-race"
        start.wait()
        try:
            _take(cpo_id, holder)
        except Conflict:
            return
        won.append(holder)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won


def test_of_pushes_started_at_once_exactly_one_holds_the_lock_on_sqlite(db):
    assert len(_race(_cpo())) == 1


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL binaries are not installed")
def test_of_pushes_started_at_once_exactly_one_holds_the_lock_on_postgresql(on_postgres):

    cpo_id = _cpo()
    assert len(_race(cpo_id)) == 1
    with session_scope() as session:  # and its holder's release frees it
        holder = session.get(Cpo, cpo_id).push_lock_holder
        release_push_lock(session, cpo_id=cpo_id, holder=holder)
    _take(cpo_id, ALIVE)
