"""``oioi-onboard`` commands as processes of their own, for the benchmarks: started with their output in a log
file (a pipe nobody drains could block a server), waited for until a line says where they listen, stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["start_command", "stop"]


def start_command(work: Path, env: dict[str, str], name: str, *args: str,
                  pattern: str | None = None) -> tuple[subprocess.Popen, str | None]:
    """``oioi-onboard ARGS`` logging to ``work/NAME.log``; with ``pattern``, the first group of its first match in
    the log (e.g. the URL it listens on), waited for up to a minute."""
    log_path = Path(work) / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", *args], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)
    if pattern is None:
        return process, None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(pattern, log_path.read_text(errors="replace"))
        if match:
            return process, match[1]
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"{name} did not start:\n{log_path.read_text(errors='replace')}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
