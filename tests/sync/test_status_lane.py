"""Statuses do not queue behind a push (issue 20): the worker claims and sends them in a lane of their own.

The real worker and sandbox. A push of PUSH new stations is queued first, statuses of stations the
endpoint already acknowledged after it: in id order every station-post comes before them. The statuses
must still be delivered while most station-posts are still to be sent, and a status of one of the new
stations still waits for its station's acknowledgement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from oioi_onboard.oioi.ids import normalise_evse_id
from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATION_POST
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import OPEN_STATES, Outbox, OutboxState, Station, StatusEvent
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID, running_sandbox
from oioi_onboard.testing.stations import OPERATOR, evse
from oioi_onboard.testing.store import make_cpo, store_stations, store_status_station
from tests.helpers.statuses import acked_stations, push_stations, running_worker, sandbox_statuses, wait_for

pytestmark = pytest.mark.slow

STATUS_STATIONS = 20
PUSH = 400
CONCURRENCY = 4


def _open_posts(cpo_id: int) -> int:
    with session_scope() as session:
        return session.exec(select(func.count(Outbox.id)).where(
            Outbox.cpo_id == cpo_id, Outbox.kind == STATION_POST, Outbox.state.in_(OPEN_STATES))).one()


def _settled() -> bool:
    with session_scope() as session:
        return not session.exec(select(StatusEvent.id).where(StatusEvent.delivery.in_(["pending", "held"]))).first()


def test_statuses_are_delivered_while_the_station_posts_queued_before_them_still_wait(tmp_path):
    with running_sandbox(tmp_path, latency_ms=20) as sandbox:
        migrate()
        with session_scope() as session:
            cpo_id = make_cpo(session, endpoint=sandbox.url, api_key=sandbox.api_key, partner_ids=DEFAULT_PARTNER_ID,
                              concurrency=CONCURRENCY).id
            for n in range(1, STATUS_STATIONS + 1):
                store_status_station(session, cpo_id, n)
        push_stations(cpo_id)
        with running_worker():
            wait_for(lambda: acked_stations(cpo_id) == STATUS_STATIONS, what="the status stations acknowledged")

        # The push first, then the statuses: every station-post has a lower id than every status.
        with session_scope() as session:
            store_stations(session, cpo_id, PUSH, prefix="P")
        push_stations(cpo_id)
        new_station_evse = f"{OPERATOR}*EP{PUSH:06d}*1"  # the last station-post of the push
        moment = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        items = [{"evse_id": evse(n, k), "status": "Occupied", "timestamp": moment}
                 for n in range(1, STATUS_STATIONS + 1) for k in (1, 2)]
        with session_scope() as session:
            results = record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, source="api",
                                      items=[*items, {"evse_id": new_station_evse, "status": "Occupied",
                                                      "timestamp": moment}])
        assert [r.delivery for r in results] == ["pending"] * len(items) + ["held"]
        assert _open_posts(cpo_id) == PUSH

        with running_worker():
            wait_for(lambda: _open_posts(cpo_id) == 0 and _settled(), timeout=120,
                     what="the push and the statuses delivered")

        with session_scope() as session:
            statuses = session.exec(select(Outbox.key, Outbox.state, Outbox.sent_at, Outbox.acked_at)
                                    .where(Outbox.kind == CONNECTOR_POST_STATUS)).all()
            post_acks = session.exec(select(Outbox.acked_at).where(
                Outbox.kind == STATION_POST, Outbox.state == OutboxState.ACKED, Outbox.run_id == select(
                    func.max(Outbox.run_id)).scalar_subquery())).all()
            new_station_acked = session.exec(select(Station.acked_at).where(
                Station.station_id == f"{OPERATOR}*P{PUSH:06d}")).one()
        assert {state for _key, state, _sent, _acked in statuses} == {OutboxState.ACKED}
        assert len(post_acks) == PUSH
        acked_ones = [acked for key, _state, _sent, acked in statuses if key != normalise_evse_id(new_station_evse)]
        last_status = max(acked_ones)
        # Ordering, not timing: the statuses went out while most of the push was still to be sent.
        after = sum(1 for acked in post_acks if acked > last_status)
        assert after >= PUSH // 2, f"only {after} of {PUSH} station-posts were acknowledged after the last status"
        # The rule kept: a status of a station the endpoint did not know yet waited for its acknowledgement.
        [(sent_at,)] = [(sent,) for key, _state, sent, _acked in statuses if key == normalise_evse_id(new_station_evse)]
        assert sent_at >= new_station_acked
        at_sandbox = sandbox_statuses(sandbox)
        assert all(at_sandbox[item["evse_id"]] == {"Occupied"} for item in items)
        assert at_sandbox[new_station_evse] == {"Occupied"}
