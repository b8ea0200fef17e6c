"""Statuses end to end: store -> outbox -> the real worker -> the real sandbox receiver."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from oioi_onboard.oioi import messages
from oioi_onboard.oioi.client import OioiClient
from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Outbox, OutboxState, Station, StatusEvent
from oioi_onboard.sync import live
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID, running_sandbox, start_sandbox
from oioi_onboard.testing.stations import evse, status_station
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.statuses import acked_stations, push_stations, running_worker, sandbox_statuses, wait_for

T0 = datetime.now(UTC) - timedelta(minutes=30)
OTHER_PARTNER = "Zq8Lm3Pw9Xr2Tk7Vb5Nc"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def setup_cpo(sandbox, stations=3, *, shared=()):
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=DEFAULT_PARTNER_ID)
        for n in range(1, stations + 1):
            store_status_station(session, cpo.id, n, shared_evse=n in shared)
        return cpo.id


def record(cpo_id, items):
    with session_scope() as session:
        return record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, items=items, source="api")


def deliveries():
    with session_scope() as session:
        return [(e.evse_id, e.status, e.delivery, e.reason) for e in
                session.exec(select(StatusEvent).order_by(StatusEvent.id)).all()]


def status_requests(sandbox):
    return sandbox.stats()["connector-post-status"]["received"]


def settled():
    return all(d[2] not in ("pending", "held") for d in deliveries())


def test_held_back_until_the_worker_has_the_station_acked_then_sent(tmp_path):
    with running_sandbox(tmp_path) as sandbox:
        cpo_id = setup_cpo(sandbox, stations=2)
        results = record(cpo_id, [{"evse_id": evse(1), "status": "Occupied", "timestamp": at(1)},
                                  {"evse_id": evse(2, 2), "status": "Offline", "timestamp": at(1)}])
        assert [r.delivery for r in results] == ["held", "held"]
        with running_worker():
            # Sent before its station, a status would come back 181 (rejected), not delivered.
            push_stations(cpo_id)
            wait_for(lambda: acked_stations(cpo_id) == 2, what="both stations acknowledged")
            wait_for(settled, what="the held statuses to be delivered")
        assert [d[2] for d in deliveries()] == ["delivered", "delivered"]
        at_sandbox = sandbox_statuses(sandbox)
        assert at_sandbox[evse(1)] == {"Occupied"} and at_sandbox[evse(2, 2)] == {"Offline"}
        assert at_sandbox[evse(1, 2)] == {None}
        assert status_requests(sandbox) == 2


def test_a_burst_while_the_worker_is_stopped_goes_out_as_one_request_with_the_newest(tmp_path):
    with running_sandbox(tmp_path) as sandbox:
        cpo_id = setup_cpo(sandbox, stations=2)
        push_stations(cpo_id)
        with running_worker():
            wait_for(lambda: acked_stations(cpo_id) == 2, what="stations acknowledged")
        sequence = ["Occupied", "Available", "Reserved", "Occupied", "Available", "Offline"]
        for n, status in enumerate(sequence):
            record(cpo_id, [{"evse_id": evse(1), "status": status, "timestamp": at(n)}])
        record(cpo_id, [{"evse_id": evse(2), "status": "Occupied", "timestamp": at(0)}])
        with running_worker():
            wait_for(settled, what="statuses settled")
        assert status_requests(sandbox) == 2  # one per EVSE, not seven
        assert sandbox_statuses(sandbox)[evse(1)] == {"Offline"}
        assert [d[2] for d in deliveries()] == ["superseded"] * 5 + ["delivered", "delivered"]


def test_connectors_sharing_one_evse_id_get_one_request(tmp_path):
    with running_sandbox(tmp_path) as sandbox:
        cpo_id = setup_cpo(sandbox, stations=1, shared=(1,))
        push_stations(cpo_id)
        with running_worker():
            wait_for(lambda: acked_stations(cpo_id) == 1, what="station acknowledged")
            record(cpo_id, [{"evse_id": evse(1), "status": "Occupied"}])
            wait_for(settled, what="status delivered")
        [station] = sandbox.stations()
        assert [(c["name"], c["status"]) for c in station["connectors"]] == [("Type2", "Occupied"),
                                                                            ("Schuko", "Occupied")]
        assert status_requests(sandbox) == 1


def test_an_outage_buffers_everything_and_the_catch_up_sends_only_the_newest(tmp_path):
    sandbox = start_sandbox(tmp_path)
    try:
        cpo_id = setup_cpo(sandbox, stations=4)
        push_stations(cpo_id)
        with running_worker():
            wait_for(lambda: acked_stations(cpo_id) == 4, what="stations acknowledged")
            port, db_path = sandbox.port, sandbox.db_path
            sandbox.stop()  # the endpoint goes away
            newest = {}
            for round_ in range(5):
                items = []
                for n in range(1, 5):
                    status = ["Occupied", "Available", "Reserved", "Offline", "Unknown"][(round_ + n) % 5]
                    items.append({"evse_id": evse(n), "status": status, "timestamp": at(round_)})
                    newest[evse(n)] = status
                record(cpo_id, items)
            # The worker tried and keeps the rows pending with a reason; none is lost or failed.
            wait_for(lambda: any(d[3] and d[3].startswith("retrying") for d in deliveries()),
                     what="a failed attempt to be recorded")
            assert not any(d[2] == "rejected" for d in deliveries())
            sandbox = start_sandbox(tmp_path, db_path=db_path, port=port)  # back, same port, same state
            wait_for(settled, timeout=30, what="the catch-up")
        assert {evse_id: statuses_ for evse_id, statuses_ in sandbox_statuses(sandbox).items()
                if evse_id in newest} == {evse_id: {status} for evse_id, status in newest.items()}
        # Only what was still newest went out: one request per EVSE after the outage.
        assert status_requests(sandbox) == 4
        final = [d for d in deliveries() if d[2] == "delivered"]
        assert sorted((d[0], d[1]) for d in final) == sorted(newest.items())
        assert sum(1 for d in deliveries() if d[2] == "superseded") == 16
    finally:
        sandbox.stop()


def test_the_endpoint_refuses_statuses_for_another_partners_or_unknown_connectors(tmp_path):
    with running_sandbox(tmp_path, partner_ids=(DEFAULT_PARTNER_ID, OTHER_PARTNER)) as sandbox:
        cpo_id = setup_cpo(sandbox, stations=2)
        # Another partner pushed station 1 (same EVSE ids) first; our store believes it was ours.
        station = messages.Station.model_validate(status_station(1))

        async def push_as_other():
            async with OioiClient(sandbox.url, sandbox.api_key) as client:
                await client.post_station(station, OTHER_PARTNER)

        import asyncio

        asyncio.run(push_as_other())
        with session_scope() as session:
            for row in session.exec(select(Station).where(Station.cpo_id == cpo_id)).all():
                row.acked_at = datetime.now(UTC)  # station 2 was never really pushed
                session.add(row)
        record(cpo_id, [{"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(2), "status": "Occupied"}])
        with running_worker(status_grace=0):  # no grace for 181: station 2 was "acknowledged" a moment ago
            wait_for(settled, what="both statuses answered")
        foreign, unknown = deliveries()
        assert foreign[2] == "rejected" and "220" in foreign[3] and "another partner" in foreign[3]
        assert unknown[2] == "rejected" and "181" in unknown[3]
        assert sandbox_statuses(sandbox)[evse(1)] == {None}  # the other partner's connector is untouched
        with session_scope() as session:
            assert live.recent_changes(session, actor=_manager())["delivery"].tolist() == ["rejected"] * 2


def _manager():
    from oioi_onboard.store.auth import Actor
    from oioi_onboard.store.models import Role

    return Actor("pm", Role.PARTNER_MANAGER)


@pytest.fixture(autouse=True)
def _no_leftover_rows():
    yield
    # Every test ends with a queue in a final state: nothing in flight was dropped.
    with session_scope() as session:
        stuck = session.exec(select(Outbox.id).where(Outbox.kind == CONNECTOR_POST_STATUS,
                                                     Outbox.state == OutboxState.SENDING)).all()
    assert not stuck
