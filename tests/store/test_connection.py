"""'Test connection' against the real sandbox process."""

from oioi_onboard.store import registry
from oioi_onboard.store.auth import SYSTEM
from tests.factories import make_cpo
from tests.helpers.sandbox import free_port


def test_connection_reports_key_partner_and_reachability(sandbox):
    key, partner = sandbox.api_key, sandbox.partner_id
    ok = registry.test_connection(sandbox.url, key, partner)
    wrong_key = registry.test_connection(sandbox.url, "not-the-key-2222", partner)
    wrong_partner = registry.test_connection(sandbox.url, key, "Unknown-Partner-0123456789")
    assert ok == registry.ConnectionCheck(
        True, "connected: the endpoint accepted the API key and the partner identifier")
    assert wrong_key == registry.ConnectionCheck(False, "the API key was rejected")
    assert wrong_partner == registry.ConnectionCheck(False, "the partner identifier is unknown")
    assert sandbox.stations() == []  # the probe changed nothing
    for check in (ok, wrong_key, wrong_partner):
        assert key not in check.message and "not-the-key" not in check.message

    unreachable = registry.test_connection(f"http://127.0.0.1:{free_port()}/api/v4/request", key, partner, timeout=2)
    assert not unreachable.ok and unreachable.message.startswith("endpoint unreachable: ")


def test_a_registered_cpo_is_checked_with_its_stored_credentials(sandbox, db):
    with db() as session:
        cpo = make_cpo(session, name="Sandboxed", operator_ids="DE*SBX", endpoint=sandbox.url,
                       api_key=sandbox.api_key, partner_ids=sandbox.partner_id)
        check = registry.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert check.ok, check.message
        registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo.id, api_key="revoked-key-3333")
        check = registry.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert check == registry.ConnectionCheck(False, "the API key was rejected")
