"""Run the real ``oioi-onboard sandbox`` command for a test or a benchmark.

    with running_sandbox(tmp_path) as sandbox:
        async with OioiClient(sandbox.url, sandbox.api_key) as client: ...
        assert sandbox.stats()["station-post"]["accepted"] == 1
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEFAULT_API_KEY = "test-key-0000"
# A valid partner identifier (>= 16 characters, hard to guess) fixed for readable tests.
DEFAULT_PARTNER_ID = "tP3x9Qw7LmZ2vK8sRb4N"

_URL_LINE = re.compile(r"listening on (?P<url>http://\S+)")


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SandboxProcess:
    url: str  # the OIOI endpoint, http://127.0.0.1:PORT/api/v4/request
    base_url: str  # http://127.0.0.1:PORT
    api_key: str
    partner_id: str
    partner_ids: tuple[str, ...]
    api_keys: tuple[str, ...]
    db_path: Path
    process: subprocess.Popen
    log_path: Path
    _http: httpx.Client = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def _get(self, path: str) -> Any:
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url, timeout=10)
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        """``GET /_sandbox/stats``: counters per message type and ``station_accepts``."""
        return self._get("/_sandbox/stats")

    def stations(self) -> list[dict]:
        """``GET /_sandbox/stations``: every station held, with connectors and statuses."""
        return self._get("/_sandbox/stations")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_sandbox(
    tmp_path: Path,
    *,
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
    partner_ids: tuple[str, ...] = (DEFAULT_PARTNER_ID,),
    latency_ms: float = 0,
    fail_rate: float = 0.0,
    stall_rate: float = 0.0,
    seed: int | None = 1,
    db_path: Path | None = None,
    port: int = 0,
    startup_timeout: float = 20.0,
) -> SandboxProcess:
    """Start the sandbox command and wait until it answers; the caller must ``stop()`` it."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    db_path = Path(db_path) if db_path else tmp_path / "sandbox.db"
    # A fresh name per start, so that a restart keeps the first run's log.
    index = sum(1 for _ in tmp_path.glob("sandbox-*.log"))
    log_path = tmp_path / f"sandbox-{index}.log"
    command = [sys.executable, "-m", "oioi_onboard.cli", "sandbox", "--host", "127.0.0.1", "--port", str(port),
               "--db", str(db_path), "--latency-ms", str(latency_ms), "--fail-rate", str(fail_rate),
               "--stall-rate", str(stall_rate)]
    if seed is not None:
        command += ["--seed", str(seed)]
    for key in api_keys:
        command += ["--api-key", key]
    for partner in partner_ids:
        command += ["--partner-id", partner]
    # Output goes to a file: a pipe nobody drains could block the server.
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + startup_timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        if url is None:
            match = _URL_LINE.search(log_path.read_text(errors="replace"))
            url = match["url"] if match else None
        if url is not None:
            base_url = url.split("/api/", 1)[0]
            try:
                if httpx.get(f"{base_url}/_sandbox/health", timeout=1).status_code == 200:
                    return SandboxProcess(
                        url=url, base_url=base_url, api_key=api_keys[0] if api_keys else "",
                        partner_id=partner_ids[0] if partner_ids else "",
                        partner_ids=tuple(partner_ids), api_keys=tuple(api_keys), db_path=db_path,
                        process=process, log_path=log_path,
                    )
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(
        f"the sandbox did not answer within {startup_timeout} s:\n{log_path.read_text(errors='replace')}")


@contextmanager
def running_sandbox(tmp_path: Path, **options: Any) -> Iterator[SandboxProcess]:
    """The real sandbox command on 127.0.0.1 (a free port unless ``port``), stopped afterwards; ``options``
    are ``start_sandbox``'s keywords.

    ``api_keys=()`` and ``partner_ids=()`` start it as ``make run`` does, knowing nobody until
    ``POST /_sandbox/partners`` provisions a key."""
    sandbox = start_sandbox(tmp_path, **options)
    try:
        yield sandbox
    finally:
        sandbox.stop()
