"""The relay's memory under hostile bodies: three 1 GB chunked requests at once (issue 21).

The real ``oioi-onboard relay`` process on a fresh SQLite database; three clients each stream a chunked body
of up to 1 GB as fast as loopback takes it, first with a token that does not exist, then with a valid one.
Reported: the relay's peak resident memory (VmHWM, reset before each round) against its resident memory at
rest (the baseline), what
each client got sent before the relay answered, and the answers.

Run: ``.venv/bin/python bench/bench_relay_limits.py [gigabytes]``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

GIGABYTES = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
CLIENTS = 3
WORK = Path(tempfile.mkdtemp(prefix="bench-relay-limits-"))
os.environ["OIOI_DATA_DIR"] = str(WORK / "data")
os.environ.pop("DATABASE_URL", None)

from oioi_onboard.store.auth import SYSTEM  # noqa: E402  (after the environment is set)
from oioi_onboard.store.db import migrate, session_scope  # noqa: E402
from oioi_onboard.sync.tokens import create_token  # noqa: E402
from oioi_onboard.testing.store import make_cpo  # noqa: E402


def memory_kb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status)[1])


def stream(port: int, token: str, total: int, outcome: list) -> None:
    """One chunked POST of ``total`` bytes (or until the relay answers or closes); records (sent, answer)."""
    chunk = b"100000\r\n" + b"[" * 0x100000 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall((f"POST /v1/statuses HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        sock.settimeout(0)
        answer = b""
        while sent < total:
            try:
                answer += sock.recv(65536)
                break  # an answer (or the close) came first
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sock.settimeout(5)
                sock.sendall(chunk)
                sent += 0x100000
                sock.settimeout(0)
            except OSError:
                break
        sock.settimeout(5)
        try:
            while len(answer) < 200 and (data := sock.recv(65536)):
                answer += data
        except OSError:
            pass
    outcome.append((sent, answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed, no answer)"))


def main() -> int:
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Limits CPO")
        token = create_token(session, actor=SYSTEM, cpo_id=cpo.id)
    log_path = WORK / "relay.log"
    with open(log_path, "wb") as log:
        relay = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], stdout=log,
                                 stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"listening on http://[^:]+:(\d+)", log_path.read_text())):
            if time.monotonic() > deadline:
                raise SystemExit(log_path.read_text())
            time.sleep(0.1)
        port = int(match[1])
        time.sleep(1.0)
        at_rest = memory_kb(relay.pid, "VmRSS")
        rows = []
        for name, bearer in (("unknown token", "oioi_st_" + "x" * 43), ("valid token", token)):
            Path(f"/proc/{relay.pid}/clear_refs").write_text("5")  # the peak counts from here (Linux >= 4.0)
            outcomes: list = []
            threads = [threading.Thread(target=stream, args=(port, bearer, int(GIGABYTES * 2**30), outcomes))
                       for _ in range(CLIENTS)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rows.append((name, outcomes, time.monotonic() - started, memory_kb(relay.pid, "VmHWM")))
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(20)
    print(f"\nRelay memory, {CLIENTS} chunked bodies of up to {GIGABYTES:g} GB at once; resident at rest "
          f"{at_rest / 1024:.0f} MB (baseline)")
    for name, outcomes, seconds, peak in rows:
        sent = ", ".join(f"{s / 2**20:.0f} MiB" for s, _ in outcomes)
        answers = sorted({a for _, a in outcomes})
        print(f"  {name:<14} peak resident {peak / 1024:5.0f} MB = {peak / at_rest:.2f} x at rest; "
              f"sent before the answer: {sent}; answers {answers}; {seconds:.1f} s")
    traceback = "Traceback" in log_path.read_text()
    print(f"  tracebacks in the relay's log: {'YES' if traceback else 'none'}")
    return 1 if traceback else 0


if __name__ == "__main__":
    sys.exit(main())
