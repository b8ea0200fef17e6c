"""`make run`'s launcher: it serves the base map's static files, and stopped by a signal, it stops every service."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from components.basemap import STATIC_URL
from oioi_onboard.testing.sandbox import free_port

ROOT = Path(__file__).resolve().parents[1]


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_launcher_stops_its_services(tmp_path, stop):
    ports = {name: free_port() for name in ("sandbox", "relay", "app", "ocpi")}
    env = {**os.environ, "OIOI_DATA_DIR": str(tmp_path / "data"), "OIOI_SANDBOX_PORT": str(ports["sandbox"]),
           "OIOI_RELAY_PORT": str(ports["relay"]), "OIOI_APP_PORT": str(ports["app"]),
           "OIOI_OCPI_SANDBOX_PORT": str(ports["ocpi"]),
           "OIOI_ADMIN_PASSWORD": "launcher-test-pass-1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("DATABASE_URL", None)
    with open(tmp_path / "run.log", "wb") as log:
        launcher = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "run"], cwd=ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:  # every service answers: the sandbox, the OCPI simulator, the relay, the dashboard
            try:
                httpx.get(f"http://127.0.0.1:{ports['sandbox']}/_sandbox/stats", timeout=2).raise_for_status()
                httpx.get(f"http://127.0.0.1:{ports['ocpi']}/_sandbox/health", timeout=2).raise_for_status()
                httpx.get(f"http://127.0.0.1:{ports['app']}/_stcore/health", timeout=2).raise_for_status()
                httpx.get(f"http://127.0.0.1:{ports['relay']}/", timeout=2)
                break
            except httpx.HTTPError:
                assert launcher.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
                time.sleep(0.5)
        # The maps' base map is served as static files, named in every deck by URL.
        served = httpx.get(f"http://127.0.0.1:{ports['app']}/{STATIC_URL}/countries.json", timeout=10)
        assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
        assert len(served.json()["features"]) > 40
        launcher.send_signal(stop)  # the launcher alone, as `kill PID` or a closed terminal does
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 30
        while group_alive(launcher.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(launcher.pid), "services outlived their launcher"
    finally:
        if group_alive(launcher.pid):
            os.killpg(launcher.pid, signal.SIGKILL)
