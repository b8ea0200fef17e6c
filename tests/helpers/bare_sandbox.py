"""The real ``oioi-onboard sandbox`` started as ``make run`` starts it: no API key, no partner identifier.

    with bare_sandbox(tmp_path) as sandbox:
        httpx.post(f"{sandbox.base_url}/_sandbox/partners", json={...})

CPOs get onto it only through ``POST /_sandbox/partners`` (registering a CPO on the sandbox does that).
A module gets one as its ``sandbox`` fixture with ``sandbox_options`` = ``BARE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oioi_onboard.testing.sandbox import SandboxProcess, running_sandbox, start_sandbox

BARE = {"api_keys": (), "partner_ids": (), "seed": None}  # running_sandbox/start_sandbox keywords


def start_bare_sandbox(tmp_path: Path, *, db_path: Path | None = None, port: int = 0,
                       startup_timeout: float = 20.0) -> SandboxProcess:
    """Start the sandbox command without keys and wait until it answers; the caller must ``stop()`` it."""
    return start_sandbox(tmp_path, db_path=db_path, port=port, startup_timeout=startup_timeout, **BARE)


@contextmanager
def bare_sandbox(tmp_path: Path, *, db_path: Path | None = None, port: int = 0) -> Iterator[SandboxProcess]:
    """A sandbox without keys on 127.0.0.1 (a free port unless ``port``), stopped afterwards."""
    with running_sandbox(tmp_path, db_path=db_path, port=port, **BARE) as sandbox:
        yield sandbox
