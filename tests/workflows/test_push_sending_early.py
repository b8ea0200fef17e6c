"""A big file's push spawns its sending process as it starts (the child imports its HTTP stack while the file is
read), sends through that one process, and ends it; a push that turns out to have nothing to send ends it unused.

``push_file`` in process against the real sandbox; the thresholds are lowered so that 6 stations count as big.
"""

from __future__ import annotations

import pytest

from oioi_onboard.oioi.sender import SendingProcess
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.workflows import push as push_workflow
from oioi_onboard.workflows.push import Credentials, push_file
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a real sandbox process, real pushes and a real sending process

KEY = "early-sender-key-7c2d"


@pytest.fixture
def processes(monkeypatch):
    """Each SendingProcess spawned, with whether it was started (connected to a push's event loop)."""
    spawned: list[SendingProcess] = []
    started: list[SendingProcess] = []
    real_spawn, real_start = SendingProcess.spawn, SendingProcess.start

    def spawn(self):  # noqa: ANN001, ANN202
        spawned.append(self)
        return real_spawn(self)

    async def start(self):  # noqa: ANN001, ANN202
        started.append(self)
        await real_start(self)

    monkeypatch.setattr(SendingProcess, "spawn", spawn)
    monkeypatch.setattr(SendingProcess, "start", start)
    monkeypatch.setattr(push_workflow, "EARLY_SENDING_BYTES", 1)
    monkeypatch.setattr(push_workflow, "SENDING_PROCESS_FROM", 1)
    return spawned, started


def test_the_process_spawned_at_the_start_sends_the_push_and_one_unused_ends_with_it(tmp_path, db, processes):
    spawned, started = processes
    file = tmp_path / "stations.csv"
    lines = (ROOT / "sample_data" / "demo_network.csv").read_text(encoding="utf-8").splitlines()
    file.write_text("\n".join(lines[:13]) + "\n", encoding="utf-8")
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        credentials = Credentials(endpoint=sandbox.url, api_key=KEY, partner_identifier=sandbox.partner_id)
        first = push_file(file=file, credentials=credentials, say=lambda line: None)
        assert first.acknowledged == first.stations_in_file == 6
        assert len(spawned) == 1 and started == spawned  # the early one sent: no second one was started
        assert spawned[0]._child.returncode == 0  # and it ended with the push

        again = push_file(file=file, credentials=credentials, say=lambda line: None)
        assert again.nothing_to_push
        assert len(spawned) == 2 and len(started) == 1
        assert spawned[1]._child.returncode == 0  # spawned, never used, ended
        assert sandbox.stats()["station-post"]["accepted"] == 6


def test_requests_handed_to_the_sending_process_beyond_the_concurrency_wait_for_a_connection(tmp_path, db,
                                                                                            processes):
    """The worker hands the sending process a quarter more than the concurrency (``Lane.prefetch``), so a
    freed connection takes the next request at once; the endpoint still never has more than the concurrency
    of requests open at a time."""
    from oioi_onboard.testing.sheets import stations_csv
    from tests.helpers.faulty_front import faulty_front

    spawned, started = processes
    file = tmp_path / "stations.csv"
    file.write_bytes(stations_csv(80))
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=40) as sandbox, \
            faulty_front(sandbox.url) as front:
        credentials = Credentials(endpoint=front.url, api_key=KEY, partner_identifier=sandbox.partner_id)
        summary = push_file(file=file, credentials=credentials, concurrency=8, say=lambda line: None)
    assert summary.acknowledged == summary.stations_in_file == 80
    assert len(started) == 1  # sent through the sending process
    assert front.max_in_flight == 8
