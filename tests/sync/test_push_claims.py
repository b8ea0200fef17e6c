"""Concurrent claims on SQLite and PostgreSQL: no row handed out twice, one row per station in flight."""

import threading
import time

import pytest
from sqlalchemy import select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Cpo, Station
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, store_station, store_stations
from tests.helpers.postgres import postgres_available


def _race(workers: int = 4) -> list[list]:
    """Several threads claim until the queue is empty; each claim is acked before the next."""
    from oioi_onboard.store.db import session_scope
    from oioi_onboard.sync.outbox import Outcome, claim, record_results

    taken: list[list] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    start = threading.Barrier(workers)

    def claimer(index: int) -> None:
        try:
            start.wait(timeout=30)
            while True:
                with session_scope() as session:
                    rows = claim(session, worker_id=f"w{index}", limit=7)
                    if not rows:
                        return
                    taken[index].extend((row.id, row.key) for row in rows)
                    time.sleep(0.02)  # "sending": the others claim meanwhile
                    record_results(session, [Outcome(row.id, "acked") for row in rows])
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return taken


def _queue() -> None:
    from oioi_onboard.store.db import migrate, session_scope
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan

    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, endpoint="http://127.0.0.1:9/api/v4/request", api_key="claim-test-key",
                       partner_ids="tP3x9Qw7LmZ2vK8sRb4N")
        store_stations(session, cpo.id, 60)
        cpo_id = cpo.id
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id))


def _check(taken: list[list]) -> None:
    ids = [row_id for claims in taken for row_id, _key in claims]
    assert len(ids) == len(set(ids)) == 60  # every row once, none twice
    assert sum(1 for claims in taken if claims) > 1  # the claimers really shared the work


def test_concurrent_claims_on_sqlite():
    _queue()
    _check(_race())


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL binaries are not installed")
def test_concurrent_claims_on_postgresql(on_postgres):
    _queue()
    _check(_race())


def test_rows_of_one_station_go_out_one_at_a_time_in_order():
    from oioi_onboard.store.db import session_scope
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import Outcome, claim, enqueue_plan, record_results

    _queue()
    with session_scope() as session:
        # Two newer versions of station 1 while its first row is claimed: they queue behind it.
        first = [r for r in claim(session, worker_id="a", limit=100) if r.key == "DE*8PS*S000001"]
        assert len(first) == 1
        cpo = session.exec(select(Cpo)).scalar()
        import_id = session.exec(select(Station.import_id)).first()[0]
        for name in ("v2", "v3"):
            store_station(session, cpo.id, station_payload(1, name=name), import_id=import_id)
            enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo.id))
        assert claim(session, worker_id="b", limit=100) == []  # v3 superseded v2 and waits for v1
        record_results(session, [Outcome(first[0].id, "acked")])
        [newest] = claim(session, worker_id="b", limit=100)
        assert newest.payload["station-post"]["station"]["name"] == "v3"


def test_a_claim_finds_the_first_open_row_by_index_and_hands_out_the_body_as_stored():
    """The first open row of each state and kind is a lookup in ix_outbox_open: a min() over all open
    states at once walked every pending row (50,000 at each claim of a national push)."""
    from sqlalchemy import event

    from oioi_onboard.store.db import get_engine, session_scope
    from oioi_onboard.store.models import Outbox
    from oioi_onboard.sync.outbox import claim

    _queue()
    statements: list[tuple[str, tuple]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT") and "min(" in statement:
            statements.append((statement, parameters))

    engine = get_engine(None)  # the cache key session_scope() uses
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope() as session:
            rows = claim(session, worker_id="a", limit=5, other_than=("connector-post-status",))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [statement for statement, _ in statements], "the claim looks for its first open row"
    with engine.connect() as connection:
        for statement, parameters in statements:
            plan = " | ".join(row[-1] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "ix_outbox_open (state=? AND kind=?)" in plan, plan
    assert len(rows) == 5
    with session_scope() as session:
        for row in rows:
            stored = session.get(Outbox, row.id)
            assert row.payload == stored.payload and row.payload_sha256 == stored.payload_sha256
            assert row.body.startswith(b'{"station-post":{')  # compact, as sent
