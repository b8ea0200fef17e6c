"""Reconcile names where and why when the sandbox cannot be asked."""

import pytest

from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync.progress import ReconcileError, reconcile
from tests.helpers.sandbox import free_port


@pytest.mark.parametrize("base_url, words", [
    ("http://127.0.0.1:abc", "is not a usable address"),
    ("http://[::1", "is not a usable address"),
])
def test_a_malformed_address_is_a_clear_error(base_url, words):
    migrate()
    with session_scope() as session, pytest.raises(ReconcileError, match=words):
        reconcile(session, cpo_id=1, sandbox_base_url=base_url, timeout=2)


def test_nothing_listening_is_a_clear_error():
    migrate()
    url = f"http://127.0.0.1:{free_port()}"
    with session_scope() as session, pytest.raises(ReconcileError, match="cannot be reached"):
        reconcile(session, cpo_id=1, sandbox_base_url=url, timeout=2)
