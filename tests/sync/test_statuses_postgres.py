"""record_statuses on PostgreSQL: the advisory lock and FOR UPDATE path, with concurrent writers."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATUSES
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Connector, Outbox, OutboxState, StatusEvent
from oioi_onboard.sync import status_ingest
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.postgres import postgres_available  # on_postgres: the fixture in tests/conftest.py

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not postgres_available(), reason="PostgreSQL binaries are not installed")]


def test_concurrent_ingest_on_postgresql_keeps_the_newest_and_one_waiting_row_per_evse(on_postgres):
    from oioi_onboard.store.db import session_scope
    from oioi_onboard.sync.outbox import Outcome, claim, record_results

    with session_scope() as session:
        cpo = make_cpo(session)
        for n in range(1, 6):
            store_status_station(session, cpo.id, n, acked=True)
        cpo_id = cpo.id
    base = datetime.now(UTC) - timedelta(minutes=10)
    evses = [evse(n, k) for n in range(1, 6) for k in (1, 2)]
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for step in range(10):
                moment = base + timedelta(seconds=step * 2 + offset)
                items = [{"evse_id": e, "status": STATUSES[(step + offset) % 5],
                          "timestamp": moment.isoformat()} for e in evses]
                with session_scope() as session:
                    status_ingest.record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, items=items, source="api")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors

    newest = STATUSES[(9 + 1) % 5]  # writer 1's last step carries the newest time
    with session_scope() as session:
        assert set(session.exec(select(Connector.status)).all()) == {newest}
        rows = session.exec(select(Outbox).where(Outbox.kind == CONNECTOR_POST_STATUS)).all()
        assert len(rows) == len(evses) and {r.state for r in rows} == {OutboxState.PENDING}
        assert {r.payload["connector-post-status"]["status"] for r in rows} == {newest}
        deliveries = session.exec(select(StatusEvent.delivery)).all()
    assert deliveries.count("pending") == len(evses)
    assert set(deliveries) <= {"pending", "superseded", "stale"}

    with session_scope() as session:
        claimed = claim(session, worker_id="w", limit=100)
        record_results(session, [Outcome(row.id, "acked", code=0) for row in claimed])
    with session_scope() as session:
        assert session.exec(select(StatusEvent.delivery).where(StatusEvent.delivery == "delivered")).all() \
            == ["delivered"] * len(evses)
