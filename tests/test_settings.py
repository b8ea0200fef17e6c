"""Settings: the local service addresses are built once, for any listening host."""

import ast
from pathlib import Path

import pytest

import oioi_onboard.settings
from oioi_onboard.settings import get_settings, local_url


@pytest.mark.parametrize("host, port, path, url", [
    ("127.0.0.1", 8765, "", "http://127.0.0.1:8765"),
    ("localhost", 8501, "", "http://localhost:8501"),
    ("sandbox.internal", 80, "/api/v4/request", "http://sandbox.internal:80/api/v4/request"),
    ("0.0.0.0", 8765, "", "http://127.0.0.1:8765"),  # a wildcard bind is reached on loopback
    ("", 8765, "", "http://127.0.0.1:8765"),
    ("::", 8766, "", "http://[::1]:8766"),
    ("[::]", 8766, "", "http://[::1]:8766"),
    ("0:0:0:0:0:0:0:0", 8766, "", "http://[::1]:8766"),
    ("::1", 8765, "/_sandbox/health", "http://[::1]:8765/_sandbox/health"),
    ("[::1]", 8765, "", "http://[::1]:8765"),
    ("fd00::17", 8766, "", "http://[fd00::17]:8766"),
    ("192.0.2.7", 8766, "", "http://192.0.2.7:8766"),
])
def test_local_url(host, port, path, url):
    assert local_url(host, port, path) == url


def test_service_addresses_follow_the_listening_hosts(monkeypatch):
    monkeypatch.setenv("OIOI_SANDBOX_HOST", "0.0.0.0")
    monkeypatch.setenv("OIOI_SANDBOX_PORT", "8765")
    monkeypatch.setenv("OIOI_RELAY_HOST", "::")
    monkeypatch.setenv("OIOI_RELAY_PORT", "8766")
    monkeypatch.setenv("OIOI_APP_PORT", "8502")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.sandbox_base_url == "http://127.0.0.1:8765"
    assert settings.sandbox_url == "http://127.0.0.1:8765/api/v4/request"
    assert settings.relay_url == "http://[::1]:8766"
    assert settings.app_url == "http://localhost:8502"


def test_settings_import_nothing_of_the_library_but_its_errors():
    """Settings sit below every area (inside functions too): they may not reach up into ``oioi`` or ``store``."""
    tree = ast.parse(Path(oioi_onboard.settings.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add("oioi_onboard." + (node.module or "") if node.level else node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert {name for name in imported if name.startswith("oioi_onboard")} == {"oioi_onboard.errors"}
