"""The peak memory of an ``oioi-onboard`` command run as a process of its own.

``ru_maxrss`` of a child carries its parent's peak across fork and exec (a whole test session's, or a
benchmark's); VmHWM belongs to the new process image alone, so the child reports its own at exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["PEAK_KB_FILE", "peak_command", "peak_mb"]

PEAK_KB_FILE = "PEAK_KB_FILE"  # the environment variable naming the file the child writes its peak (kB) to

_REPORT_PEAK = """
import atexit, os, runpy, sys
def report():
    with open("/proc/self/status") as status:
        peak_kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_KB_FILE"], "w") as out:
        out.write(peak_kb)
atexit.register(report)
sys.argv = ["oioi-onboard", *sys.argv[1:]]
runpy.run_module("oioi_onboard.cli", run_name="__main__")
"""


def peak_command(*arguments: str) -> list[str]:
    """``oioi-onboard ARGUMENTS`` that writes its peak to the file named by ``$PEAK_KB_FILE`` as it exits."""
    return [sys.executable, "-c", _REPORT_PEAK, *arguments]


def peak_mb(path: Path) -> float:
    return int(Path(path).read_text()) / 1024
