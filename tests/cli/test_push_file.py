"""``oioi-onboard push FILE`` through the real command against the real sandbox."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.sandbox import running_sandbox

pytestmark = pytest.mark.slow  # the real command against the real sandbox

DEMO = ROOT / "sample_data" / "demo_network.csv"
KEY = "cli-test-key-7d3f"


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
