"""'Test connection' against the real sandbox process."""

from tests.helpers.sandbox import free_port, running_sandbox

from oioi_onboard.store import registry
from oioi_onboard.store.auth import SYSTEM

KEY = "sandbox-test-key-1111"
PARTNER = "Xq7pR2mK9vL4tW8nZ3bC"


def test_connection_reports_key_partner_and_reachability(tmp_path):
    with running_sandbox(tmp_path, api_keys=(KEY,), partner_ids=(PARTNER,)) as sandbox:
        ok = registry.test_connection(sandbox.url, KEY, PARTNER)
        wrong_key = registry.test_connection(sandbox.url, "not-the-key-2222", PARTNER)
        wrong_partner = registry.test_connection(sandbox.url, KEY, "Unknown-Partner-0123456789")
        stations = sandbox.stations()
    assert ok == registry.ConnectionCheck(True, "connected: the endpoint accepted the API key and the partner identifier")
    assert wrong_key == registry.ConnectionCheck(False, "the API key was rejected")
    assert wrong_partner == registry.ConnectionCheck(False, "the partner identifier is unknown")
    assert stations == []  # the probe changed nothing
    for check in (ok, wrong_key, wrong_partner):
        assert KEY not in check.message and "not-the-key" not in check.message

    unreachable = registry.test_connection(f"http://127.0.0.1:{free_port()}/api/v4/request", KEY, PARTNER, timeout=2)
    assert not unreachable.ok and unreachable.message.startswith("endpoint unreachable: ")


def test_a_registered_cpo_is_checked_with_its_stored_credentials(tmp_path, db):
    with running_sandbox(tmp_path, api_keys=(KEY,), partner_ids=(PARTNER,)) as sandbox:
        with db() as session:
            cpo, _ = registry.register_cpo(session, actor=SYSTEM, name="Sandboxed", operator_ids=["DE*SBX"],
                                           endpoint=sandbox.url, api_key=KEY, partner_identifiers=[PARTNER])
            check = registry.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
            assert check.ok, check.message
            registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo.id, api_key="revoked-key-3333")
            check = registry.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id)
            assert check == registry.ConnectionCheck(False, "the API key was rejected")
