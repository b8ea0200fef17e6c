"""Run the real ``oioi-onboard ocpi-sandbox`` command (an OCPI CPO back end) for a test or a benchmark.

    with running_ocpi_sandbox(tmp_path, locations=45, page_limit=10) as back_end:
        pulled = OcpiClient(back_end.versions_url, back_end.token).pull_locations()
        back_end.faults(status_code=3000)
        back_end.changes(3)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..settings import OCPI_SANDBOX_TOKEN

_URL_LINE = re.compile(r"OCPI sandbox listening on (?P<url>http://\S+)")


@dataclass
class OcpiSandboxProcess:
    versions_url: str  # http://127.0.0.1:PORT/ocpi/versions
    base_url: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen
    log_path: Path
    _http: httpx.Client = field(repr=False, default=None)  # type: ignore[assignment]

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url, timeout=10)
        return self._http

    def faults(self, **changes: Any) -> dict:
        """``POST /_sandbox/faults`` with ``changes`` (none: ``GET``); the fault settings now in force."""
        response = self._client().post("/_sandbox/faults", json=changes) if changes else \
            self._client().get("/_sandbox/faults")
        response.raise_for_status()
        return response.json()

    def changes(self, count: int = 1, *, static: bool = False) -> list[dict]:
        """Make ``count`` changes now (``POST /_sandbox/changes``); what changed."""
        response = self._client().post("/_sandbox/changes", json={"count": count, "static": static})
        response.raise_for_status()
        return response.json()["changes"]

    def remove(self, count: int) -> list[str]:
        """Take the newest ``count`` Locations out of the back end's list; their ids."""
        response = self._client().post("/_sandbox/changes", json={"remove": count})
        response.raise_for_status()
        return response.json()["removed"]

    def requests(self) -> list[dict]:
        """Path, query, token encoding, X-Request-ID and X-Correlation-ID of the last requests."""
        response = self._client().get("/_sandbox/requests")
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        response = self._client().get("/_sandbox/stats")
        response.raise_for_status()
        return response.json()

    def location(self, location_id: str) -> dict:
        """One Location as the back end holds it now."""
        response = self._client().get(f"/ocpi/2.2.1/locations/{location_id}",
                                      headers={"Authorization": f"Token {self.token}"})
        response.raise_for_status()
        return response.json()["data"]

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


def start_ocpi_sandbox(
    tmp_path: Path,
    *,
    token: str = OCPI_SANDBOX_TOKEN,
    locations: int = 40,
    page_limit: int = 20,
    seed: int = 1,
    country: str = "BE",
    party_id: str = "OCS",
    versions: tuple[str, ...] = ("2.2.1",),
    plain_only: bool = False,
    port: int = 0,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> OcpiSandboxProcess:
    """Start the command and wait until it answers; the caller must ``stop()`` it. ``extra`` are more options."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"ocpi-sandbox-{sum(1 for _ in tmp_path.glob('ocpi-sandbox-*.log'))}.log"
    command = [sys.executable, "-m", "oioi_onboard.cli", "ocpi-sandbox", "--host", "127.0.0.1", "--port", str(port),
               "--token", token, "--locations", str(locations), "--page-limit", str(page_limit), "--seed", str(seed),
               "--country", country, "--party-id", party_id, *extra]
    for version in versions:
        command += ["--version", version]
    if plain_only:
        command.append("--plain-only")
    with open(log_path, "wb") as log:  # a file: a pipe nobody drains could block the server
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the OCPI sandbox exited with {process.returncode}:\n{log_path.read_text()}")
        match = _URL_LINE.search(log_path.read_text(errors="replace"))
        if match:
            versions_url = match["url"]
            base_url = versions_url.removesuffix("/ocpi/versions")
            try:
                if httpx.get(f"{base_url}/_sandbox/health", timeout=1).status_code == 200:
                    return OcpiSandboxProcess(versions_url=versions_url, base_url=base_url, token=token,
                                              process=process, log_path=log_path)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"the OCPI sandbox did not answer within {startup_timeout} s:\n{log_path.read_text()}")


@contextmanager
def running_ocpi_sandbox(tmp_path: Path, **options: Any) -> Iterator[OcpiSandboxProcess]:
    """The real OCPI sandbox command on 127.0.0.1, stopped afterwards; ``options`` are ``start_ocpi_sandbox``'s."""
    back_end = start_ocpi_sandbox(tmp_path, **options)
    try:
        yield back_end
    finally:
        back_end.stop()
