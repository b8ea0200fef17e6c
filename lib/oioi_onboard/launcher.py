"""``make run``: the dashboard with its embedded sandbox, worker and relay.

Each service is its own process so that one crashing does not take the page
down; all of them stop together on Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .settings import SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings

APP = Path(__file__).resolve().parents[2] / "app" / "main.py"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "oioi_onboard.cli", *args]


def services() -> list[tuple[str, list[str]]]:
    settings = get_settings()
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    return [
        ("sandbox", _cli("sandbox", "--host", settings.sandbox_host, "--port", str(settings.sandbox_port),
                         "--db", str(data / "sandbox.db"), "--api-key", SANDBOX_API_KEY,
                         "--partner-id", SANDBOX_PARTNER_ID)),
        ("worker", _cli("worker")),
        ("relay", _cli("relay", "--host", settings.relay_host, "--port", str(settings.relay_port))),
        ("app", [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(settings.app_port),
                 "--server.headless", "true"]),
    ]


def run_embedded() -> None:
    from .workflows.bootstrap import prepare_embedded

    prepare_embedded()  # schema, secret key, first admin, demo CPO and stations
    processes: list[tuple[str, subprocess.Popen]] = []
    env = dict(os.environ)
    try:
        for name, command in services():
            processes.append((name, subprocess.Popen(command, env=env)))
        print(f"Dashboard: http://localhost:{get_settings().app_port}  (Ctrl-C stops everything)", flush=True)
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"{name} stopped with exit code {process.returncode}; stopping the rest", file=sys.stderr)
                    return
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
