"""A national network in one sitting (issue 20): ``oioi-onboard push FILE`` of 50,000 stations, as a user runs it.

Real processes on a fresh data directory: ``oioi-onboard sandbox --latency-ms 50`` and ``oioi-onboard push FILE
--endpoint URL --concurrency 64``. Measured in the same run:

* the baseline: a bare ``pandas.read_csv(dtype=str)`` of the file, as a process of its own;
* the push end to end, with its phases read off the lines it prints (each stamped as it arrives): reading,
  validating and storing up to the line that says what is queued; enqueueing up to the first progress line;
  sending up to the summary;
* its peak memory (VmHWM of the push process itself, ``oioi_onboard.testing.peak``);
* the rerun that has nothing to send.

The ideal is the bare read plus stations x latency / concurrency; the goal is an efficiency (ideal / end to end)
of at least 0.75, and peak memory of at most 600 MB. A rerun should cost at most 3x the bare read.

Run: ``.venv/bin/python bench/bench_national.py [stations] [concurrency] [latency_ms]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from oioi_onboard.testing.peak import PEAK_KB_FILE, peak_command, peak_mb
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.sheets import stations_csv

STATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
CONCURRENCY = int(sys.argv[2]) if len(sys.argv) > 2 else 64
LATENCY_MS = float(sys.argv[3]) if len(sys.argv) > 3 else 50
KEY = "bench-national-key-0001"

def cpu_times() -> list[int] | None:
    """The machine's CPU time counters since boot (user, nice, system, idle, iowait, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as stat:
            return [int(field) for field in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def stolen(before: list[int] | None, after: list[int] | None) -> str:
    """The share of CPU time the hypervisor took from this VM between two readings: on a shared host it varies
    from hour to hour and slows every CPU-bound phase alike (with 20 % stolen a push sends a quarter slower)."""
    if not before or not after or len(before) < 8:
        return "n/a"
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return f"{spent[7] / (sum(spent) or 1):.0%}"


def bare_read(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r}, dtype=str)"], check=True)
    return time.perf_counter() - started


def push(path: Path, url: str, partner_id: str, data_dir: Path) -> tuple[float, list[tuple[float, str]], int, float]:
    """Seconds end to end, the lines printed (seconds since start, text), the exit code, peak MB."""
    peak_file = data_dir / "push.peak"
    env = {**os.environ, "OIOI_DATA_DIR": str(data_dir), "PUSH_KEY": KEY, PEAK_KB_FILE: str(peak_file),
           "PYTHONUNBUFFERED": "1"}
    command = peak_command("push", str(path), "--endpoint", url, "--api-key-env", "PUSH_KEY", "--partner-id",
                           partner_id, "--concurrency", str(CONCURRENCY))
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def collect(stream) -> None:  # noqa: ANN001
        for line in stream:
            lines.append((time.perf_counter() - started, line.rstrip()))

    readers = [threading.Thread(target=collect, args=(s,)) for s in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    code = process.wait()
    elapsed = time.perf_counter() - started
    for reader in readers:
        reader.join()
    return elapsed, sorted(lines), code, peak_mb(peak_file)


def phases(lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Stamps of the first line that mentions sending/progress, and of the last line: a rough phase split."""
    first_send = next((t for t, text in lines if "acknowledged" in text or "sent" in text), None)
    return {"before the first progress line": first_send or total, "sending and after": total - (first_send or total)}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-national-") as tmp:
        tmp_path = Path(tmp)
        path = tmp_path / "national.csv"
        path.write_bytes(stations_csv(STATIONS))
        rows = path.read_bytes().count(b"\n") - 1
        reading = cpu_times()
        read_s = min(bare_read(path) for _ in range(3))
        pushing = cpu_times()
        ideal = read_s + STATIONS * LATENCY_MS / 1000 / CONCURRENCY
        with running_sandbox(tmp_path / "sandbox", api_keys=(KEY,), latency_ms=LATENCY_MS) as sandbox:
            data_dir = tmp_path / "data"
            data_dir.mkdir()
            first, lines, code, peak = push(path, sandbox.url, sandbox.partner_id, data_dir)
            push_stolen = stolen(pushing, cpu_times())
            rerun, rerun_lines, rerun_code, rerun_peak = push(path, sandbox.url, sandbox.partner_id, data_dir)
        split = phases(lines, first)
        print(f"bench_national: {STATIONS:,} stations ({rows:,} connector rows), concurrency {CONCURRENCY}, "
              f"latency {LATENCY_MS:g} ms, load {os.getloadavg()[0]:.1f}")
        print(f"{'measure':44} {'value':>9} {'goal':>9}")
        print(f"{'bare read_csv process, s':44} {read_s:9.2f}")
        print(f"{'ideal (read + n x latency / concurrency), s':44} {ideal:9.2f}")
        print(f"{'push end to end, s (exit ' + str(code) + ')':44} {first:9.2f}")
        for name, seconds in split.items():
            print(f"{'  ' + name + ', s':44} {seconds:9.2f}")
        print(f"{'efficiency (ideal / end to end)':44} {ideal / first:9.2f} {'>= 0.75':>9}")
        print(f"{'CPU stolen by the host: bare reads, push':44} {stolen(reading, pushing):>9} {push_stolen:>9}")
        print(f"{'push peak memory, MB':44} {peak:9.0f} {'<= 600':>9}")
        print(f"{'rerun, s (exit ' + str(rerun_code) + ')':44} {rerun:9.2f}")
        print(f"{'rerun / bare read':44} {rerun / read_s:9.2f} {'<= 3':>9}")
        print(f"{'rerun peak memory, MB':44} {rerun_peak:9.0f}")
        print("push's first lines:")
        for stamp, text in lines[:8]:
            print(f"  {stamp:7.2f} s  {text[:150]}")
        print("push's last lines:")
        for stamp, text in lines[-6:]:
            print(f"  {stamp:7.2f} s  {text[:150]}")
        print("rerun's last line:", rerun_lines[-1][1][:150] if rerun_lines else "")


if __name__ == "__main__":
    main()
