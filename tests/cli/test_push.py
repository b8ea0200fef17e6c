"""``oioi-onboard push FILE`` through the real command against the real sandbox: acknowledged, refused,
blocked, confirmed; killed, interrupted and run again; its backoff options and the worker's (issue 12.1, 12.8).

The real command, the real sandbox process (with latency where it matters), the test's own SQLite
database (the command inherits ``OIOI_DATA_DIR``).
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from oioi_onboard.settings import get_settings
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Cpo, ImportRecord, Outbox, OutboxState, PushRun, Station
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.wording import counted
from tests.conftest import ROOT
from tests.helpers.faulty_front import faulty_front
from tests.helpers.processes import kill_9_when, wait_for

pytestmark = pytest.mark.slow  # the real command against the real sandbox; thousands of requests

DEMO = ROOT / "sample_data" / "demo_network.csv"
KEY = "cli-test-key-7d3f"
HEADER = DEMO.read_text(encoding="utf-8").splitlines()[0].split(",")


def _small_file(tmp_path: Path, rows: int = 30) -> Path:
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "stations.csv"
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return path


def _push(file: Path, sandbox, *extra: str, partner_id: str | None = None, env_key: str | None = KEY):
    env = {k: v for k, v in os.environ.items() if k != "PUSH_KEY"}
    if env_key is not None:
        env["PUSH_KEY"] = env_key
    return subprocess.run(
        [sys.executable, "-m", "oioi_onboard.cli", "push", str(file), "--endpoint", sandbox.url,
         "--api-key-env", "PUSH_KEY", "--partner-id", partner_id or sandbox.partner_id, *extra],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_push_acknowledges_everything_then_a_second_run_sends_nothing(tmp_path):
    file = _small_file(tmp_path)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        first = _push(file, sandbox, "--json", "--concurrency", "8")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert summary["ok"] and summary["acknowledged"] == summary["stations_in_file"] > 0
        assert "done" in first.stderr  # progress on stderr
        accepted = sandbox.stats()["station-post"]["accepted"]
        assert accepted == summary["stations_in_file"]

        second = _push(file, sandbox)
        assert second.returncode == 0, second.stderr
        assert "nothing to push" in second.stderr
        assert sandbox.stats()["station-post"]["accepted"] == accepted
        for output in (first.stdout, first.stderr, second.stdout, second.stderr):
            assert KEY not in output
    # cpo list says where the CPO stands as the UI does: pushed, statuses next (it said "stations validated").
    listed = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "list", "--json"], capture_output=True,
                            text=True, timeout=120)
    assert [(c["steps_done"], c["next_step"]) for c in json.loads(listed.stdout)] == [(5, "Statuses live")]


def test_push_exits_1_and_names_stations_the_endpoint_refused(tmp_path):
    file = _small_file(tmp_path, rows=6)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        result = _push(file, sandbox, partner_id="UnknownPartner0000000001")
        assert result.returncode == 1, result.stderr
        assert "not acknowledged DE*DMO*S" in result.stdout
        assert "code 211" in result.stdout and "Invalid partner identifier" in result.stdout
        assert sandbox.stats()["station_accepts"] == {}


def test_a_file_whose_every_station_has_errors_says_so_and_exits_1(tmp_path):
    file = _small_file(tmp_path, rows=4)
    lines = file.read_text(encoding="utf-8").splitlines()
    column = lines[0].split(",").index("speed_kw")
    rows = [line.split(",") for line in lines[1:]]
    lines[1:] = [",".join(cells[:column] + ["fast"] + cells[column + 1:]) for cells in rows]
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        result = _push(file, sandbox)
    assert result.returncode == 1, result.stderr
    assert "every station of the file has errors" in result.stdout
    assert "blocked DE*DMO*S" in result.stdout and "speed_kw" in result.stdout


def test_push_without_the_api_key_variable_exits_2(tmp_path):
    file = _small_file(tmp_path, rows=2)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        result = _push(file, sandbox, env_key=None)
        assert result.returncode == 2
        assert "PUSH_KEY" in result.stderr and "Traceback" not in result.stderr


def test_connector_change_in_a_file_needs_yes_then_replaces_and_a_rerun_sends_nothing(tmp_path):
    file = _small_file(tmp_path, rows=10)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        assert _push(file, sandbox).returncode == 0
        before = sandbox.stats()["station_accepts"]
        changed = tmp_path / "changed.csv"
        changed.write_text(file.read_text(encoding="utf-8").replace("DE*DMO*EMA0001*1", "DE*DMO*EMA0001*9"),
                           encoding="utf-8")

        stopped = _push(changed, sandbox)
        assert stopped.returncode == 1
        assert "needs confirmation" in stopped.stdout and "connectors changed" in stopped.stdout
        assert sandbox.stats()["station_accepts"] == before  # nothing was sent

        confirmed = _push(changed, sandbox, "--yes")
        assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
        held = {s["station_id"]: s for s in sandbox.stations()}
        assert held["DE*DMO*SMA0001"]["deleted"] is True
        assert held["DE*DMO*SMA0001-2"]["deleted"] is False
        assert "DE*DMO*EMA0001*9" in {c["id"] for c in held["DE*DMO*SMA0001-2"]["connectors"]}

        accepted = sandbox.stats()["station_accepts"]
        again = _push(changed, sandbox)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing to push" in again.stderr
        assert sandbox.stats()["station_accepts"] == accepted


def test_a_file_whose_station_ids_changed_is_refused_even_with_yes_until_replace_all(tmp_path):
    file = _small_file(tmp_path, rows=10)
    lines = file.read_text(encoding="utf-8").splitlines()
    column = lines[0].split(",").index("station_id")
    without_ids = tmp_path / "without_ids.csv"  # the same stations; their ids are generated from the operator id
    without_ids.write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != column)
                                      for line in lines) + "\n", encoding="utf-8")
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        assert _push(file, sandbox).returncode == 0
        before = sandbox.stats()["station_accepts"]

        refused = _push(without_ids, sandbox, "--yes")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused even with --yes" in refused.stdout
        assert "station ids differ: is the station id column mapped?" in refused.stdout
        assert sandbox.stats()["station_accepts"] == before  # nothing was sent

        replaced = _push(without_ids, sandbox, "--replace-all")
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr
        held = {s["station_id"]: s["deleted"] for s in sandbox.stations()}
        assert held["DE*DMO*SMA0001"] is True and sum(not deleted for deleted in held.values()) == len(before)
    # The push history names the person at the command line, not "system".
    with session_scope() as session:
        runs = session.execute(select(PushRun.user_name)).scalars().all()
        imports = session.execute(select(ImportRecord.user_name)).scalars().all()
    assert set(runs) == set(imports) == {f"cli:{getpass.getuser()}"} and len(runs) == 2
    # Each new station took over a deleted one's EVSE ids: it waited for that soft-delete, never raced it
    # (the endpoint refuses, 230, EVSE ids another station still holds).
    with session_scope() as session:
        last_run = session.execute(select(func.max(PushRun.id))).scalar_one()
        rows = session.execute(select(Outbox.id, Outbox.change, Outbox.depends_on)
                               .where(Outbox.run_id == last_run)).all()
    deletions = {row_id for row_id, change, _ in rows if change == "deleted"}
    news = [depends_on for _, change, depends_on in rows if change == "new"]
    assert news and deletions and all(depends_on in deletions for depends_on in news), rows


# --------------------------------------------------------------------------- killed, interrupted, backoff


def _station_file(path: Path, count: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        for n in range(1, count + 1):
            writer.writerow({
                "station_id": f"DE*DMO*S{n:05d}", "station_name": f"Station {n}",
                "latitude": f"{48 + n * 0.0001:.6f}", "longitude": f"{11 + n * 0.0001:.6f}",
                "street": "Hauptstraße", "street_number": str(n), "city": "München", "zip": "80331",
                "country": "DE", "phone": "+49 89 1234567", "cpo_id": "DE*DMO", "is_open_24": "yes",
                "evse_id": f"DE*DMO*E{n:05d}*1", "connector_type": "Type2", "speed_kw": "22",
            })
    return path


def _command(file: Path, endpoint: str, partner_id: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "oioi_onboard.cli", "push", str(file), "--endpoint", endpoint,
            "--api-key-env", "PUSH_KEY", "--partner-id", partner_id, *extra]


def _env() -> dict:
    return {**os.environ, "PUSH_KEY": KEY, "PYTHONUNBUFFERED": "1"}


def _start(tmp_path: Path, name: str, command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=open(tmp_path / f"{name}.out", "wb"),
                            stderr=open(tmp_path / f"{name}.err", "wb"), env=_env())


def _acked() -> int:
    try:
        with session_scope() as session:
            return session.execute(select(func.count()).select_from(Station)
                                   .where(Station.acked_sha256.is_not(None))).scalar_one()
    except Exception:  # noqa: BLE001 - the command may still be creating the schema
        return 0


def _states() -> dict:
    with session_scope() as session:
        return dict(session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())


def test_kill_9_during_a_push_then_the_same_push_sends_the_rest_and_exits_0(tmp_path):
    total = 3000
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=50) as sandbox:
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", "16")
        first = _start(tmp_path, "first", command)
        kill_9_when(first, lambda: _acked() >= 400, "the first acknowledgements")
        migrate()
        with session_scope() as session:  # the dead push's state, exactly as it was at the kill
            acked_before = set(session.execute(
                select(Station.station_id).where(Station.acked_sha256.is_not(None))).scalars())
            in_flight = set(session.execute(
                select(Outbox.key).where(Outbox.state == OutboxState.SENDING)).scalars())
        assert 400 <= len(acked_before) < total, "the kill should land in the middle of the push"
        assert in_flight, "requests were in flight at the kill"

        started = time.monotonic()
        again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
        took = time.monotonic() - started
        assert again.returncode == 0, again.stdout + again.stderr
        assert "resuming" in again.stderr and "nothing to push" not in again.stderr
        assert f"{total} of {total} stations" in again.stdout

        accepts = sandbox.stats()["station_accepts"]
        assert len(accepts) == total  # everything held
        twice = {station for station, n in accepts.items() if n > 1}
        assert twice <= in_flight  # only what was in flight at the kill may have gone twice
        assert not twice & acked_before  # never a station whose acknowledgement was recorded
        assert _states() == {OutboxState.ACKED: total}
        # The dead push's leases were taken back at once, not after they ran out (30 s).
        remaining_s = (total - len(acked_before)) / (16 / 0.05)
        assert took < remaining_s + 25, took


def test_ctrl_c_leaves_the_rest_queued_says_so_in_one_line_and_a_rerun_finishes(tmp_path):
    total = 1500
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=50) as sandbox:
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", "8")
        push = _start(tmp_path, "push", command)
        try:
            wait_for(lambda: _acked() >= 100, 120, "the first acknowledgements", push)
            push.send_signal(signal.SIGINT)
            code = push.wait(timeout=30)
        finally:
            if push.poll() is None:
                push.kill()
        err = (tmp_path / "push.err").read_text()
        assert code == 130, err
        assert "Traceback" not in err
        stopped = [line for line in err.splitlines() if line.startswith("stopped")]
        assert len(stopped) == 1 and "stay queued" in stopped[0] and "run the same command again" in stopped[0]
        states = _states()
        assert OutboxState.SENDING not in states  # in flight were answered and recorded, the rest put back
        queued = states.get(OutboxState.PENDING, 0)
        assert queued > 0 and f"{counted(queued, 'request')} stay queued" in stopped[0]
        assert states.get(OutboxState.ACKED, 0) + queued == total

        again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"resuming {counted(queued, 'request')} " in again.stderr
        assert set(sandbox.stats()["station_accepts"].values()) == {1}  # nothing sent twice


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_push_backoff_options_reach_the_worker(tmp_path):
    file = _station_file(tmp_path / "stations.csv", 1)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox, faulty_front(sandbox.url) as front:
        front.fail_next(5)  # 503 without Retry-After: only our backoff decides when to send again
        result = subprocess.run(_command(file, front.url, sandbox.partner_id, "--backoff-base", "0.2",
                                         "--backoff-max", "0.4"),
                                capture_output=True, text=True, env=_env(), timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        times = front.times_of("DE*DMO*S00001")
        assert front.statuses() == [503] * 5 + [200]
        gaps = _gaps(times)
        # Full jitter under a ceiling of 0.2 s, then 0.4 s. With the defaults (ceilings 1 s, 2 s, 4 s ...)
        # five gaps this short would come about once in 10,000 runs.
        assert gaps[0] <= 0.2 + 0.25, gaps
        assert all(gap <= 0.4 + 0.25 for gap in gaps), gaps


def test_worker_backoff_options_reach_the_worker(tmp_path):
    file = _station_file(tmp_path / "stations.csv", 1)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox, faulty_front(sandbox.url) as front:
        front.fail_next(10**6)  # nothing passes until the worker has shown its backoff
        # Queue the station without sending it: the push sends nothing while its confirmation is missing,
        # so register and import with push, then let the worker send.
        push = subprocess.Popen(_command(file, front.url, sandbox.partner_id, "--backoff-base", "0.2",
                                         "--backoff-max", "0.4"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        try:
            wait_for(lambda: len(front.requests) >= 1, 60, "the first request", push)
        finally:
            push.send_signal(signal.SIGINT)
            push.wait(timeout=30)
        before = len(front.requests)
        worker = subprocess.Popen(
            [sys.executable, "-m", "oioi_onboard.cli", "worker", "--poll-interval", "0.05", "--backoff-base", "0.05",
             "--backoff-max", "0.1"], stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT, env=_env())
        try:
            wait_for(lambda: len(front.requests) >= before + 6, 60, "six attempts by the worker", worker)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
        gaps = _gaps(front.times_of("DE*DMO*S00001")[before:])
        # Full jitter under 0.05 s, then 0.1 s (plus the poll interval). With the defaults (ceilings 1 s, 2 s,
        # 4 s ...) five gaps this short would come about once in 10,000 runs.
        assert all(gap <= 0.1 + 0.05 + 0.35 for gap in gaps), gaps
        assert _states() == {OutboxState.PENDING: 1}  # still failing: retried, never failed


# --------------------------------------------------------------------------- two pushes for one CPO at once


@pytest.mark.parametrize("registered", [False, True], ids=["new CPO", "registered CPO"])
def test_two_identical_pushes_at_once_one_sends_the_other_is_refused_with_exit_2(tmp_path, registered):
    total = 400
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=50) as sandbox:
        if registered:
            migrate()
            with session_scope() as session:
                make_cpo(session, name="CPO DE*DMO", operator_ids="DE*DMO", endpoint=sandbox.url, api_key=KEY,
                         partner_ids=sandbox.partner_id)
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", "4", "--json")
        pushes = [_start(tmp_path, name, command) for name in ("a", "b")]  # the same moment
        try:
            codes = [push.wait(timeout=240) for push in pushes]
        finally:
            for push in pushes:
                if push.poll() is None:
                    push.kill()
        out = {name: ((tmp_path / f"{name}.out").read_text(), (tmp_path / f"{name}.err").read_text())
               for name in ("a", "b")}
        assert sorted(codes) == [0, 2], out
        sent, refused = ("a", "b") if codes[0] == 0 else ("b", "a")
        summary = json.loads(out[sent][0])
        assert summary["ok"] and summary["acknowledged"] == summary["stations_in_file"] == total
        stdout, stderr = out[refused]
        assert stdout == "" and "Traceback" not in stderr  # no summary at all, least of all a wrong one
        lines = stderr.strip().splitlines()
        # Whichever registered the new CPO says so, even when the other one's push got to run.
        assert lines[:-1] in ([], ["registered CPO 'CPO DE*DMO' with operator ids DE*DMO"]), stderr
        assert re.fullmatch(rf"error: a push for CPO 'CPO DE\*DMO' is running \(started \d\d:\d\d UTC by "
                            rf"cli:{re.escape(getpass.getuser())}\)", lines[-1]), lines[-1]
        accepts = sandbox.stats()["station_accepts"]
        assert len(accepts) == total and set(accepts.values()) == {1}  # everything once, nothing twice
    with session_scope() as session:  # the refused push imported and queued nothing
        assert session.execute(select(func.count()).select_from(ImportRecord)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(PushRun)).scalar_one() == 1
        assert session.execute(select(Cpo.push_lock_holder)).scalars().all() == [None]  # released at the end


def test_a_push_killed_with_9_leaves_no_lock_that_blocks_the_rerun(tmp_path):
    total = 600
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=50) as sandbox:
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", "4")
        first = _start(tmp_path, "first", command)
        kill_9_when(first, lambda: _acked() >= 40, "the first acknowledgements")
        with session_scope() as session:
            holder, until = session.execute(select(Cpo.push_lock_holder, Cpo.push_lock_until)).one()
        assert holder is not None and holder.split("-")[-2] == str(first.pid)  # the dead push's lock is there
        assert until > datetime.now(UTC)  # and has not run out

        again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "resuming" in again.stderr and "is running" not in again.stderr
        assert f"{total} of {total} stations" in again.stdout
        assert len(sandbox.stats()["station_accepts"]) == total
    with session_scope() as session:
        assert session.execute(select(Cpo.push_lock_holder)).scalars().all() == [None]


# --------------------------------------------------------------------------- kill -9, again and again


def test_kill_9_three_times_resends_at_most_the_stated_bound_each_time_and_a_rerun_finishes(tmp_path):
    """What a push killed with SIGKILL can have sent and not recorded: its requests on the wire (the
    concurrency), those its sending process holds beyond it (a quarter of it: 3,000 requests go through one)
    and the answers waiting to be recorded (half of it, at least 4), less one; docs/operations.md states
    the bound."""
    total, concurrency, kills = 3000, 16, 3
    bound = concurrency + concurrency // 4 + max(4, concurrency // 2) - 1
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,), latency_ms=20) as sandbox:
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", str(concurrency))

        def repeats() -> int:  # station-posts the sandbox accepted for a station it already held
            return sum(n - 1 for n in sandbox.stats()["station_accepts"].values())

        caused = []  # repeats each kill caused, seen while the next run sends what the killed one held
        for kill in range(kills):
            before = repeats()
            push = _start(tmp_path, f"push{kill}", command)
            kill_9_when(push, lambda k=kill: _acked() >= (k + 1) * total // (kills + 1), "acknowledgements", 240)
            if kill:
                caused.append(repeats() - before)
        before = repeats()
        again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
        caused.append(repeats() - before)
        print(f"\nrepeats caused by each of {kills} kills at concurrency {concurrency} (bound {bound}): {caused}")

        assert again.returncode == 0, again.stdout + again.stderr
        assert f"{total} of {total} stations" in again.stdout
        assert len(sandbox.stats()["station_accepts"]) == total  # every station acknowledged
        assert _states() == {OutboxState.ACKED: total}
        assert all(n <= bound for n in caused), caused


# --------------------------------------------------------------------------- kill -9 before anything is sent

STORED = re.compile(r"^stations\.csv: \d+ stations, \d+ stored, \d+ blocked by errors$", re.MULTILINE)
MB = 1 << 20


def _wal_bytes() -> int:
    """How far the database's write-ahead log has grown. A big transaction spills its pages there before it
    commits (SQLite's cache holds 2 MiB), so the log grows while an uncommitted store or enqueue writes."""
    wal = Path(make_url(get_settings().db_url).database + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _push_lock_taken() -> bool:
    try:
        with session_scope() as session:
            return session.execute(select(Cpo.push_lock_holder)).scalars().first() is not None
    except Exception:  # noqa: BLE001 - the command may still be creating the schema
        return False


def _stored_line_seen(tmp_path: Path, name: str) -> bool:
    return STORED.search((tmp_path / f"{name}.err").read_text(encoding="utf-8")) is not None


@pytest.mark.parametrize("phase", ["storing", "enqueueing"])
def test_kill_9_before_sending_then_the_rerun_stores_and_sends_every_station_once(tmp_path, phase):
    """Storing the file and queueing its requests are ONE transaction (``workflows.push._import_and_queue``:
    ``import_file`` then ``queue_push`` in one session, each writing in batches of 2,000 without committing).
    A push killed in either phase leaves nothing of the file in the database: no import record, station,
    push run or outbox row; only the CPO it registered (its own transaction) and the dead push's lock.

    The kill lands in the phase by the write-ahead log: the uncommitted transaction's pages spill into it.
    Storing: the log has grown by 2 MiB since the push lock was taken (nothing before the store writes).
    Enqueueing: the summary line of the store is printed and the log has grown by 4 MiB since (planning
    only reads; up to 2 MiB of the store's pages may still spill meanwhile). Afterwards the log shows
    where it landed: stations in it, request bodies only when enqueueing; "pushing" not printed yet."""
    total = 10_000
    file = _station_file(tmp_path / "stations.csv", total)
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        command = _command(file, sandbox.url, sandbox.partner_id, "--concurrency", "32")
        first = _start(tmp_path, "first", command)
        if phase == "storing":
            wait_for(_push_lock_taken, 120, "the push lock", first)
            grown = _wal_bytes() + 2 * MB
        else:
            wait_for(lambda: _stored_line_seen(tmp_path, "first"), 120, "the store's summary line", first)
            grown = _wal_bytes() + 4 * MB
        assert kill_9_when(first, lambda: _wal_bytes() >= grown, f"the push {phase}") == -signal.SIGKILL
        err = (tmp_path / "first.err").read_text(encoding="utf-8")
        wal = Path(make_url(get_settings().db_url).database + "-wal").read_bytes()  # before anyone recovers it
        # The kill landed in the phase: stations were written and the store had not finished; or outbox rows
        # (request bodies) were written and the enqueue had not committed.
        assert b"DE*DMO*S0" in wal
        assert (b'"partner-identifier"' in wal) == (phase == "enqueueing")
        assert _stored_line_seen(tmp_path, "first") == (phase == "enqueueing"), err
        assert "pushing" not in err, err
        assert sandbox.stats()["station_accepts"] == {}  # nothing was sent
        migrate()
        with session_scope() as session:  # the one transaction rolled back whole
            for table in (ImportRecord, Station, PushRun, Outbox):
                assert session.execute(select(func.count()).select_from(table)).scalar_one() == 0, table
            assert session.execute(select(func.count()).select_from(Cpo)).scalar_one() == 1

        again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"{total} of {total} stations" in again.stdout
        assert "resuming" not in again.stderr  # the killed push had queued nothing
        accepts = sandbox.stats()["station_accepts"]
        assert len(accepts) == total and set(accepts.values()) == {1}  # nothing lost, nothing sent twice
        assert _states() == {OutboxState.ACKED: total}
