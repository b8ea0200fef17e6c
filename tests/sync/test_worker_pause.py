"""A lane paused by an answer stays paused until that answer is recorded, then follows the database again."""

import asyncio

from oioi_onboard.sync.outbox import Outcome
from oioi_onboard.sync.worker import Lane, Worker, WorkerOptions


def test_an_unrecorded_pause_is_not_undone_by_the_databases_older_state():
    worker = Worker(worker_id="test", db_url=None, options=WorkerOptions(), poll_interval=1.0)
    database = {"paused": False}  # the CPO's pause flag as the database holds it
    worker._load_lanes = lambda: [(7, 4, "token", database["paused"], False)]
    recorded = []
    worker._record = lambda results, marks, finish_runs: recorded.extend(results) or set()
    lane = worker.lanes[7] = Lane(7, 4, "token", paused=True, pause_unrecorded=True, idle_until=99.0)
    worker.pausing[42] = lane  # as send() leaves it after a 211 for row 42
    worker.results = [Outcome(42, "paused", code=211, pause_reason="partner identifier rejected")]

    async def run():
        await worker.refresh_lanes()  # before the result is written: "not paused" is old news
        assert lane.paused and lane.idle_until == 99.0
        await worker.flush_results()
        assert [r.outbox_id for r in recorded] == [42] and not lane.pause_unrecorded and not worker.pausing
        database["paused"] = True  # what recording the result did
        await worker.refresh_lanes()
        assert lane.paused
        database["paused"] = False  # someone fixed the set-up and resumed the queue
        await worker.refresh_lanes()
        assert not lane.paused and lane.idle_until == 0.0  # resumed: rows are looked for at once

    try:
        asyncio.run(run())
    finally:
        worker.db.shutdown()


def test_a_lane_whose_sending_process_pool_holds_the_concurrency_hands_over_a_quarter_more():
    """The extra requests wait in the sending process for a connection (the wire stays bounded: see
    tests/workflows/test_push_sending_early.py); the allowance of unrecorded answers is the same."""
    own = Lane(7, 64, "token", running=64)
    remote = Lane(7, 64, "token", running=64, pool=64)
    assert (own.prefetch, own.room) == (0, 0)
    assert (remote.prefetch, remote.room, remote.allowance) == (16, 16, 32)
    remote.running = 80
    assert remote.room == 0
    remote.running, remote.unrecorded = 0, 31
    assert remote.room == 1  # 31 answers waiting: one more may go, then none until they are recorded
    assert Lane(7, 2, "token", pool=4).prefetch == 0  # a pool wider than the concurrency does not bound the wire
