"""``oioi-onboard push FILE.json``: OCPI Locations pushed through the real command to the real sandbox."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oioi_onboard.testing.sandbox import running_sandbox

pytestmark = pytest.mark.slow  # the real command against the real sandbox

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"
KEY = "ocpi-push-key-5e1a"


def _push(file: Path, sandbox, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PUSH_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "oioi_onboard.cli", "push", str(file), "--endpoint", sandbox.url, "--api-key-env",
         "PUSH_KEY", "--partner-id", sandbox.partner_id, "--set", "phone=+49 30 123456", *extra],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_ocpi_locations_are_pushed_and_a_location_missing_later_is_deleted_only_when_confirmed(tmp_path):
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        result = _push(DATA / "not_pushed.json", sandbox, "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["ok"] and summary["acknowledged"] == summary["stations_in_file"] == 1

        # The next file is the new truth, and DE*OCP*NP-1 is not in it: nothing goes without a confirmation.
        result = _push(DATA / "network_response.json", sandbox)
        assert result.returncode == 1, result.stderr
        assert "not sent, needs confirmation (--yes): 1 deleted" in result.stdout
        assert sandbox.stats()["station-post"]["accepted"] == 1

        result = _push(DATA / "network_response.json", sandbox, "--yes", "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["ok"] and summary["acknowledged"] == summary["stations_in_file"] == 3
        held = {s["station_id"]: s for s in sandbox.stations()}
        assert {sid: s["deleted"] for sid, s in held.items()} == {
            "DE*OCP*NP-1": True, "DE*OCP*MA-001": False, "DE*OCP*HD-007": False, "DE*OCP*LU-042": False}
        assert [(c["id"], c["name"], c["speed"]) for c in held["DE*OCP*HD-007"]["connectors"]] == [
            ("DE*OCP*E0007*1", "Schuko", 3.68), ("DE*OCP*E0007*1", "Type2", 11.04)]
