"""The real ``oioi-onboard sandbox`` started as ``make run`` starts it: no API key, no partner identifier.

    with bare_sandbox(tmp_path) as sandbox:
        httpx.post(f"{sandbox.base_url}/_sandbox/partners", json={...})

CPOs get onto it only through ``POST /_sandbox/partners`` (registering a CPO on the sandbox does that).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers.sandbox import _URL_LINE, SandboxProcess


def start_bare_sandbox(tmp_path: Path, *, db_path: Path | None = None, port: int = 0,
                       startup_timeout: float = 20.0) -> SandboxProcess:
    """Start the sandbox command without keys and wait until it answers; the caller must ``stop()`` it."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    db_path = Path(db_path) if db_path else tmp_path / "sandbox.db"
    index = sum(1 for _ in tmp_path.glob("sandbox-*.log"))
    log_path = tmp_path / f"sandbox-{index}.log"
    command = [sys.executable, "-m", "oioi_onboard.cli", "sandbox", "--host", "127.0.0.1", "--port", str(port),
               "--db", str(db_path)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        match = _URL_LINE.search(log_path.read_text(errors="replace"))
        if match:
            url = match["url"]
            base_url = url.split("/api/", 1)[0]
            try:
                if httpx.get(f"{base_url}/_sandbox/health", timeout=1).status_code == 200:
                    return SandboxProcess(url=url, base_url=base_url, api_key="", partner_id="", partner_ids=(),
                                          api_keys=(), db_path=db_path, process=process, log_path=log_path)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    log_text = log_path.read_text(errors="replace")
    raise RuntimeError(f"the sandbox did not answer within {startup_timeout} s:\n{log_text}")


@contextmanager
def bare_sandbox(tmp_path: Path, *, db_path: Path | None = None, port: int = 0) -> Iterator[SandboxProcess]:
    """A sandbox without keys on 127.0.0.1 (a free port unless ``port``), stopped afterwards."""
    sandbox = start_bare_sandbox(tmp_path, db_path=db_path, port=port)
    try:
        yield sandbox
    finally:
        sandbox.stop()
