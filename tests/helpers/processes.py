"""Waiting on, and killing, the real processes a test starts (a push, a worker)."""

import signal
import subprocess
import time


def wait_for(predicate, seconds: float, what: str, process: subprocess.Popen | None = None) -> None:  # noqa: ANN001
    """Poll until ``predicate()`` holds; fail at once if ``process`` exits meanwhile, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_9_when(process: subprocess.Popen, predicate, what: str, seconds: float = 120) -> int:  # noqa: ANN001
    """SIGKILL ``process`` as soon as ``predicate()`` holds (it must still run by then); its exit code."""
    try:
        wait_for(predicate, seconds, what, process)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
