"""'Test connection' against the real sandbox process."""

import pytest

from oioi_onboard.store import connection, registry
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.testing.sandbox import free_port
from oioi_onboard.testing.store import make_cpo

pytestmark = pytest.mark.slow  # the real sandbox and real connection tests, 1-3 s each


def test_connection_reports_key_partner_and_reachability(sandbox):
    key, partner = sandbox.api_key, sandbox.partner_id
    ok = connection.probe_connection(sandbox.url, key, partner)
    wrong_key = connection.probe_connection(sandbox.url, "not-the-key-2222", partner)
    wrong_partner = connection.probe_connection(sandbox.url, key, "Unknown-Partner-0123456789")
    assert ok == connection.ConnectionCheck(
        True, "connected: the endpoint accepted the API key and the partner identifier")
    assert wrong_key == connection.ConnectionCheck(False, "the API key was rejected")
    assert wrong_partner == connection.ConnectionCheck(False, "the partner identifier is unknown")
    assert sandbox.stations() == []  # the probe changed nothing
    for check in (ok, wrong_key, wrong_partner):
        assert key not in check.message and "not-the-key" not in check.message

    unreachable = connection.probe_connection(f"http://127.0.0.1:{free_port()}/api/v4/request", key, partner, timeout=2)
    assert not unreachable.ok and unreachable.message.startswith("endpoint unreachable: ")


def test_a_registered_cpo_is_checked_with_its_stored_credentials(sandbox, db):
    with db() as session:
        cpo = make_cpo(session, name="Sandboxed", operator_ids="DE*SBX", endpoint=sandbox.url,
                       api_key=sandbox.api_key, partner_ids=sandbox.partner_id)
        check = connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert check.ok, check.message
        registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo.id, api_key="revoked-key-3333")
        check = connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert check == connection.ConnectionCheck(False, "the API key was rejected")


def test_the_last_test_is_remembered_and_a_new_key_forgets_the_rejection(sandbox, db):
    from oioi_onboard.store.models import Cpo

    with db() as session:
        cpo = make_cpo(session, name="Forgetful", operator_ids="DE*FGT", endpoint=sandbox.url,
                       api_key="wrong-key-at-first-4444", partner_ids=sandbox.partner_id)
        cpo_id = cpo.id
        assert connection.last_connection_test(cpo) is None and connection.connection_label(cpo) == "not tested"
        assert "has not been tested" in connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
        connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id)
    with db() as session:
        cpo = session.get(Cpo, cpo_id)
        last = connection.last_connection_test(cpo)
        assert last == connection.ConnectionCheck(False, "the API key was rejected") and last.checked_at is not None
        assert connection.connection_label(cpo) == "failed"
        warning = connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
        assert "last connection test of Forgetful failed" in warning and "the API key was rejected" in warning
        registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo_id, api_key=sandbox.api_key)
    with db() as session:
        cpo = session.get(Cpo, cpo_id)
        assert connection.last_connection_test(cpo) is None  # the rejection went with the key it was about
        assert "has not been tested" in connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok
        assert connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id) is None
        assert registry.cpo_rows(session, actor=SYSTEM)[0]["connection"] == "connected"
        # Another endpoint or other partner identifiers make the verdict stale as well.
        registry.update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, endpoint=sandbox.url + "?other")
        assert connection.last_connection_test(cpo) is None
