"""Reconcile names where and why when the sandbox cannot be asked."""

import pytest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync.progress import ReconcileError, reconcile
from oioi_onboard.testing.sandbox import free_port
from oioi_onboard.testing.store import make_cpo


@pytest.fixture
def cpo_id():
    migrate()
    with session_scope() as session:
        return make_cpo(session).id


@pytest.mark.parametrize("base_url, words", [
    ("http://127.0.0.1:abc", "is not a usable address"),
    ("http://[::1", "is not a usable address"),
])
def test_a_malformed_address_is_a_clear_error(cpo_id, base_url, words):
    with session_scope() as session, pytest.raises(ReconcileError, match=words):
        reconcile(session, actor=SYSTEM, cpo_id=cpo_id, sandbox_base_url=base_url, timeout=2)


def test_nothing_listening_is_a_clear_error(cpo_id):
    url = f"http://127.0.0.1:{free_port()}"
    with session_scope() as session, pytest.raises(ReconcileError, match="cannot be reached"):
        reconcile(session, actor=SYSTEM, cpo_id=cpo_id, sandbox_base_url=url, timeout=2)
