"""The whole product as `make run` starts it, on free ports, driven by Debian's chromium.

The browser is the system one (/usr/bin/chromium from apt); Playwright only
speaks the DevTools protocol to it. `playwright install` is never run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from oioi_onboard.testing.sandbox import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
ADMIN_PASSWORD = "e2e-Admin-pass-4711"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STARTUP_SECONDS = 90


def chromium_path() -> str:
    """Debian's chromium; a missing browser fails the test with the fix, it is never skipped."""
    for candidate in (os.environ.get("OIOI_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "Debian's chromium is not installed, so the browser test cannot run: "
        "`make chromium` (or `apt-get install chromium`) installs it. Never `playwright install`.",
        pytrace=False,
    )


@dataclass
class Product:
    """The running product: its ports, data dir and log."""

    app_url: str
    sandbox_url: str  # the sandbox's base URL, http://127.0.0.1:PORT
    relay_url: str
    data_dir: Path
    admin_password: str
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sandbox_stats(self) -> dict:
        return httpx.get(f"{self.sandbox_url}/_sandbox/stats", timeout=10).json()


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C for the launcher (it stops its services), then make sure the whole group is gone."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group we started
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Product]:
    """`oioi-onboard run` on free ports and a temp data dir, waited for until Streamlit is healthy."""
    base = tmp_path_factory.mktemp("e2e")
    data_dir = base / "data"
    ports = {name: free_port() for name in ("sandbox", "relay", "app", "ocpi")}
    env = {
        **os.environ,
        "OIOI_DATA_DIR": str(data_dir),
        "OIOI_SANDBOX_PORT": str(ports["sandbox"]),
        "OIOI_OCPI_SANDBOX_PORT": str(ports["ocpi"]),
        "OIOI_RELAY_PORT": str(ports["relay"]),
        "OIOI_APP_PORT": str(ports["app"]),
        "OIOI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    env.pop("DATABASE_URL", None)
    log_path = base / "product.log"
    with open(log_path, "wb") as log:
        # Its own process group, so that teardown reaches every service it spawned.
        process = subprocess.Popen(
            [sys.executable, "-m", "oioi_onboard.cli", "run"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    app_url = f"http://127.0.0.1:{ports['app']}"
    running = Product(
        app_url=app_url, sandbox_url=f"http://127.0.0.1:{ports['sandbox']}",
        relay_url=f"http://127.0.0.1:{ports['relay']}", data_dir=data_dir, admin_password=ADMIN_PASSWORD,
        log_path=log_path, env=env,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"`oioi-onboard run` exited with {process.returncode}:\n{running.log()}", pytrace=False)
            try:
                if httpx.get(f"{app_url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Streamlit did not become healthy within {STARTUP_SECONDS} s:\n{running.log()}",
                            pytrace=False)
            time.sleep(0.25)
        yield running
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page; screenshots go to test-artifacts/e2e/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield opened
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        opened.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
