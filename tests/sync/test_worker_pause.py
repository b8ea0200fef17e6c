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
