"""The real outbox worker and the relay in threads, and what the status tests read back.

Their stations go straight into the store (``oioi_onboard.testing.store.store_status_station``; the
import is tested elsewhere); whether the endpoint acknowledged them is either set there (``acked=True``,
for tests of the queue itself) or earned by pushing them through the real worker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import select

from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Station, StatusEvent


def events(evse_id: str | None = None) -> list[StatusEvent]:
    with session_scope() as session:
        query = select(StatusEvent).order_by(StatusEvent.id)
        if evse_id is not None:
            query = query.where(StatusEvent.evse_id == evse_id)
        return list(session.exec(query).all())


def wait_for(condition: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def running_worker(**options: Any) -> Iterator[None]:
    """The real outbox worker (``sync.worker.run_worker``) in a thread of its own event loop."""
    from oioi_onboard.sync.worker import run_worker

    migrate()
    loop = asyncio.new_event_loop()
    stop: asyncio.Event | None = None
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        started.set()
        await run_worker(stop=stop, poll_interval=0.05, backoff_base=0.2, backoff_max=1.0, **options)

    def target() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            failure.append(error)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="test-worker", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield
    finally:
        if stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        if failure:
            raise failure[0]


@contextmanager
def running_relay(**options: Any) -> Iterator[str]:
    """The relay app served by uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    import socket

    import uvicorn

    from oioi_onboard.sync.relay import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(**options), log_level="warning", access_log=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign] - not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-relay", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20, what="the relay to start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def push_stations(cpo_id: int) -> None:
    """Queue a push of every stored station of the CPO through the real push engine."""
    from oioi_onboard.store.auth import SYSTEM
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan

    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))


def acked_stations(cpo_id: int) -> int:
    with session_scope() as session:
        return len(session.exec(select(Station.id).where(Station.cpo_id == cpo_id,
                                                          Station.acked_at.is_not(None))).all())


def sandbox_statuses(sandbox: Any) -> dict[str, set[str | None]]:
    """EVSE id -> the statuses the sandbox holds for its connectors (one EVSE may have several)."""
    found: dict[str, set[str | None]] = {}
    for station in sandbox.stations():
        for connector in station["connectors"]:
            found.setdefault(connector["id"], set()).add(connector["status"])
    return found
