"""A push's progress between two readings of the database: the last reading moved on by the worker's counts."""

from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATION_POST
from oioi_onboard.store.models import OutboxState
from oioi_onboard.sync.outbox import Recorded
from oioi_onboard.sync.progress import PushProgress
from oioi_onboard.workflows.push import Follow, _Tally


def _rows(state: OutboxState, n: int, *, run_id: int | None = 7, cpo_id: int = 1, kind: str = STATION_POST):
    return [Recorded(i, cpo_id, run_id, kind, f"S{i}", state) for i in range(n)]


def test_the_estimate_adds_what_was_recorded_since_the_last_reading():
    tally = _Tally(cpo_id=1, run_id=7)
    tally.add(_rows(OutboxState.ACKED, 20))
    tally.add(_rows(OutboxState.ACKED, 5, run_id=8))  # another run of the CPO: the queue, not this run
    tally.add(_rows(OutboxState.ACKED, 3, cpo_id=2, run_id=None))  # another CPO's: neither
    tally.add(_rows(OutboxState.ACKED, 4, run_id=None, kind=CONNECTOR_POST_STATUS))  # statuses: neither
    assert not tally.surprise
    base = Follow(PushProgress(total=100, acked=10, failed=0, pending=90, rate_per_s=10.0, eta_s=9.0), still_open=95)

    seen = tally.estimate(base, seconds_since=1.0)

    assert (seen.progress.acked, seen.progress.failed, seen.progress.pending) == (30, 0, 70)
    assert seen.still_open == 70  # 95 less the 25 station-posts of the CPO closed since
    assert seen.progress.rate_per_s == 15.0  # 30 done in the 1 s before the reading and the 1 s since
    assert round(seen.progress.eta_s, 2) == round(70 / 15, 2)


def test_anything_but_an_ack_makes_the_follower_read_the_database_now():
    for state in (OutboxState.FAILED, OutboxState.PENDING):
        tally = _Tally(cpo_id=1, run_id=7)
        tally.add(_rows(OutboxState.ACKED, 3) + _rows(state, 1))
        assert tally.surprise, state
    tally = _Tally(cpo_id=1, run_id=7)
    tally.add(_rows(OutboxState.FAILED, 2))
    seen = tally.estimate(Follow(PushProgress(total=2, acked=0, failed=0, pending=2, rate_per_s=0.0, eta_s=None),
                                 still_open=2), seconds_since=0.5)
    assert (seen.progress.failed, seen.progress.pending, seen.progress.done, seen.still_open) == (2, 0, 2, 0)


def test_the_time_left_never_reads_zero_while_requests_are_left():
    from oioi_onboard.workflows.push import format_eta

    assert [format_eta(s) for s in (None, 0.0, 0.8, 8.2, 59.5, 60.0, 65.0)] == \
        ["--", "0s", "1s", "9s", "1m00s", "1m00s", "1m05s"]
