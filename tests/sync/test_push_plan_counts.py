"""plan_push counts settled stations in the database and lists only the rest; queued requests show apart."""

import asyncio

import pytest
from sqlalchemy import select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Station
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import enqueue_plan
from oioi_onboard.sync.worker import run_worker
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station, store_stations

IDS = [f"DE*8PS*S{n:06d}" for n in range(1, 9)]


@pytest.fixture
def pushed_cpo(tmp_path):
    """A CPO with 6 stations, all pushed to the real sandbox and acknowledged."""
    with running_sandbox(tmp_path / "sandbox") as sandbox:
        migrate()
        with session_scope() as session:
            cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=sandbox.partner_id)
            store_stations(session, cpo.id, 6)
            cpo_id = cpo.id
        with session_scope() as session:
            enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))
        assert asyncio.run(run_worker(once=True, poll_interval=0.05)) == 6
        yield cpo_id


def test_settled_stations_are_counted_not_listed_and_every_kind_is_still_found(pushed_cpo):
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=pushed_cpo)
        assert plan.counts["unchanged"] == 6 and plan.items == [] and not plan.to_send
    with session_scope() as session:
        record = new_import(session, pushed_cpo)  # a full upload: 1 changed, 2 left out, 3 and 4 as they are, 7 new
        store_station(session, pushed_cpo, station_payload(1, name="Renamed"), import_id=record.id)
        for n in (3, 4, 5, 6):
            store_station(session, pushed_cpo, station_payload(n), import_id=record.id)
        store_station(session, pushed_cpo, station_payload(7), import_id=record.id)
        station5 = session.exec(select(Station).where(Station.station_id == IDS[4])).scalar()
        station5.deleted = True  # removed here
        session.add(station5)
        store_station(session, pushed_cpo, station_payload(8), import_id=record.id)
        station8 = session.exec(select(Station).where(Station.station_id == IDS[7])).scalar()
        station8.deleted = True  # removed before it was ever pushed: nothing to send
        session.add(station8)
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=pushed_cpo)
        # Station 8 is off the list and was never pushed: the plan leaves it out.
        assert plan.counts == {"new": 1, "changed": 1, "connectors_changed": 0, "deleted": 2, "unchanged": 3}
        kinds = {item.station_id: item.change for item in plan.to_send}
        assert kinds == {IDS[0]: "changed", IDS[1]: "deleted", IDS[4]: "deleted", IDS[6]: "new"}
        assert plan.item(IDS[1]).reason.startswith("missing") and plan.item(IDS[4]).reason == "removed here"
        assert plan.unchanged_unlisted + sum(item.change == "unchanged" for item in plan.items) == 3
        assert plan.queued == frozenset() and len(plan.waiting) == 4


def test_queued_requests_are_not_waiting_until_the_content_changes_again(pushed_cpo):
    with session_scope() as session:
        store_station(session, pushed_cpo, station_payload(1, name="Renamed"))
        store_station(session, pushed_cpo, station_payload(7))
    with session_scope() as session:
        run = enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=pushed_cpo))
        assert run.total == 2
    with session_scope() as session:  # queued, not sent: still to send, but nothing waits for a push
        plan = plan_push(session, actor=SYSTEM, cpo_id=pushed_cpo)
        assert {item.station_id for item in plan.to_send} == {IDS[0], IDS[6]}
        assert plan.queued == {IDS[0], IDS[6]} and plan.waiting == []
        assert plan.queued_counts["new"] == 1 and plan.queued_counts["changed"] == 1
    with session_scope() as session:  # a newer edit of a queued station is not what the outbox holds
        store_station(session, pushed_cpo, station_payload(7, name="Renamed again"))
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=pushed_cpo)
        assert plan.queued == {IDS[0]} and [item.station_id for item in plan.waiting] == [IDS[6]]
