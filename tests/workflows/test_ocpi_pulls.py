"""The worker's OCPI pulls: when each CPO is due, what a pull does in the store, and the worker process keeping a
pushed CPO current with nobody acting (the real OCPI sandbox, OIOI sandbox and worker processes)."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from oioi_onboard.ocpi.mapping import oioi_status
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Connector, Cpo, ImportRecord, Station, StatusEvent, utcnow
from oioi_onboard.store.ocpi_connection import set_ocpi_connection
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.workflows.ocpi_pulls import due_pulls, run_pulls


def _connect(session, name: str, operator_id: str, url: str, token: str = "a-token-0001", **cpo_options) -> Cpo:
    cpo = make_cpo(session, name=name, operator_ids=operator_id, **cpo_options)
    cpo.defaults = {"phone": "+32 9 265 81 11"}
    return set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=url, token=token)


def test_due_pulls_every_cpo_interval_and_fully_once_a_day(db):
    now = utcnow()
    with db() as session:
        never = _connect(session, "Never pulled", "BE*NVR", "http://127.0.0.1:9/ocpi/versions")
        recent = _connect(session, "Pulled recently", "BE*RCT", "http://127.0.0.1:9/ocpi/versions")
        recent.ocpi_last_pull_started_at = now - timedelta(minutes=5)
        recent.ocpi_last_full_pull_at = now - timedelta(hours=3)
        stale = _connect(session, "Pulled a while ago", "BE*STL", "http://127.0.0.1:9/ocpi/versions")
        stale.ocpi_last_pull_started_at = now - timedelta(minutes=16)
        stale.ocpi_last_full_pull_at = now - timedelta(hours=3)
        yesterday = _connect(session, "Full yesterday", "BE*YST", "http://127.0.0.1:9/ocpi/versions")
        yesterday.ocpi_last_pull_started_at = now - timedelta(minutes=20)
        yesterday.ocpi_last_full_pull_at = now - timedelta(hours=25)
        often = _connect(session, "Every minute", "BE*MIN", "http://127.0.0.1:9/ocpi/versions")
        often.ocpi_pull_minutes = 1
        often.ocpi_last_pull_started_at = often.ocpi_last_full_pull_at = now - timedelta(minutes=2)
        inactive = _connect(session, "Inactive", "BE*INA", "http://127.0.0.1:9/ocpi/versions")
        inactive.active = False
        make_cpo(session, name="No OCPI", operator_ids="BE*NOC")
        session.flush()

        due = due_pulls(session, now=now, tried={})
        assert due == [(never.id, True), (stale.id, False), (yesterday.id, True), (often.id, False)]
        # A pull this worker tried (and that failed) a moment ago waits for the interval too.
        assert due_pulls(session, now=now, tried={never.id: now - timedelta(minutes=1)})[0] == (stale.id, False)


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=20, page_limit=6) as process:
        yield process


def _run_pulls_until(condition, seconds: float = 60) -> None:
    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(run_pulls(stop, look_every=0.1))
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(main())


def test_the_pulls_store_a_full_pull_then_what_changed(db, back_end):
    with db() as session:
        cpo_id = _connect(session, "Laadnet", "BE*OCS", back_end.versions_url, back_end.token).id

    def imports() -> list[ImportRecord]:
        with db() as session:
            return session.exec(select(ImportRecord).order_by(ImportRecord.id)).all()

    _run_pulls_until(lambda: len(imports()) == 1)
    assert [r.full_upload for r in imports()] == [True]

    changes = back_end.changes(3)
    with db() as session:  # as if the interval had passed
        cpo = session.get(Cpo, cpo_id)
        cpo.ocpi_last_pull_started_at -= timedelta(minutes=16)
    _run_pulls_until(lambda: len(imports()) == 2)
    assert [r.full_upload for r in imports()] == [True, False]
    with db() as session:
        for change in changes:
            evse = next(e for e in back_end.location(change["location_id"])["evses"] if e["uid"] == change["evse_uid"])
            connector = session.exec(select(Connector).where(Connector.evse_id == evse["evse_id"])).first()
            assert connector.status == oioi_status(evse["status"]).value
        assert {e.source for e in session.exec(select(StatusEvent)).all()} == {"ocpi"}


@pytest.mark.slow  # the worker, the OIOI sandbox and the OCPI sandbox as processes
def test_the_worker_keeps_a_pushed_cpo_current_with_nobody_acting(tmp_path, db):
    key = "worker-ocpi-key-77aa"
    with running_sandbox(tmp_path / "oioi", api_keys=(key,)) as oioi, \
            running_ocpi_sandbox(tmp_path / "ocpi", locations=8, page_limit=3) as back_end:
        with db() as session:
            cpo = _connect(session, "Laadnet", "BE*OCS", back_end.versions_url, back_end.token, endpoint=oioi.url,
                           api_key=key, partner_ids=oioi.partner_id)
        # The first push is a person's: pull and push through the command.
        first = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "ocpi", "pull", "Laadnet", "--push"],
                               capture_output=True, text=True, timeout=180)
        assert first.returncode == 0, first.stdout + first.stderr
        acked = oioi.stats()["station-post"]["accepted"]

        renamed = back_end.changes(1, static=True)[0]
        moved = back_end.changes(2)
        with db() as session:  # the interval has passed
            session.get(Cpo, cpo.id).ocpi_last_pull_started_at -= timedelta(minutes=16)
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "worker", "--poll-interval", "0.1"],
                                      stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            station_id = f"BE*OCS*{renamed['location_id']}"
            name = back_end.location(renamed["location_id"])["name"]
            wanted = {}
            for change in moved:
                evse = next(e for e in back_end.location(change["location_id"])["evses"]
                            if e["uid"] == change["evse_uid"])
                wanted[evse["evse_id"]] = oioi_status(evse["status"]).value
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                held = {s["station_id"]: s for s in oioi.stations()}
                statuses = {c["id"]: c["status"] for s in held.values() for c in s["connectors"]}
                if held.get(station_id, {}).get("station", {}).get("name") == name and all(
                        statuses.get(evse_id) == status for evse_id, status in wanted.items()):
                    break
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                time.sleep(0.3)
            else:
                pytest.fail(f"not current after 90 s: {(tmp_path / 'worker.log').read_text()}")
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
        assert oioi.stats()["station-post"]["accepted"] == acked + 1  # only the renamed station went again
    with db() as session:
        assert session.exec(select(Station).where(Station.station_id == station_id)).one().name == name
