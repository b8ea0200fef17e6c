"""The OCPI receiver's versions, details and credentials handshake over real HTTP, against a small CSMS."""

import pytest
from sqlmodel import select

from oioi_onboard.ocpi.credentials import create_registration_token
from oioi_onboard.store import ocpi_connection, queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import AuditLog, Cpo, OcpiToken
from oioi_onboard.testing.csms import running_csms, token_header
from oioi_onboard.testing.store import make_cpo
from tests.helpers.ocpi import auth, rows_of

CREDENTIALS = "/ocpi/2.2.1/credentials"


@pytest.fixture
def token_a(gent) -> str:
    with session_scope() as session:
        return create_registration_token(session, actor=SYSTEM, cpo_id=gent)


@pytest.fixture
def csms():
    with running_csms() as csms:
        yield csms


def test_versions_and_details_list_credentials_and_locations_as_receiver(relay, token_a):
    base = str(relay.base_url).rstrip("/")
    versions = relay.get("/ocpi/versions", headers=auth(token_a))
    assert versions.status_code == 200
    assert versions.json()["status_code"] == 1000 and versions.json()["timestamp"].endswith("Z")
    assert versions.json()["data"] == [{"version": "2.2.1", "url": f"{base}/ocpi/2.2.1"}]
    details = relay.get("/ocpi/2.2.1", headers=auth(token_a, plain=True)).json()
    assert details["data"] == {"version": "2.2.1", "endpoints": [
        {"identifier": "credentials", "role": "SENDER", "url": f"{base}/ocpi/2.2.1/credentials"},
        {"identifier": "locations", "role": "RECEIVER", "url": f"{base}/ocpi/2.2.1/locations"}]}
    for path in ("/ocpi/versions", "/ocpi/2.2.1"):
        assert relay.get(path).status_code == 401
        assert relay.get(path, headers=auth("not-a-token")).status_code == 401


def test_the_handshake_learns_the_csms_endpoints_answers_token_c_and_token_a_stops_working(
        relay, gent, token_a, csms):
    answer = relay.post(CREDENTIALS, json=csms.credentials(), headers={**auth(token_a), "X-Correlation-ID": "hs-1"})
    assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
    ours = answer.json()["data"]
    token_c = ours["token"]
    assert ours["url"] == str(relay.base_url).rstrip("/") + "/ocpi/versions"
    assert ours["roles"] == [{"role": "EMSP", "party_id": "OIO", "country_code": "DE",
                              "business_details": {"name": "OIOI onboarding"}}]
    assert token_c != token_a and 1 <= len(token_c) <= 64

    # We fetched its versions and its 2.2.1 details with its token, Base64-encoded, in one correlation.
    assert [(seen.path, seen.authorization, seen.correlation_id) for seen in csms.seen] == [
        ("/ocpi/versions", token_header(csms.token), "hs-1"), ("/ocpi/2.2.1", token_header(csms.token), "hs-1")]
    assert all(seen.request_id for seen in csms.seen) and csms.seen[0].request_id != csms.seen[1].request_id

    # Its party is the CPO's, its connection stored (never the token in clear), and only hashes of ours.
    with session_scope() as session:
        assert queries.cpo_operator_ids(session, cpo_id=gent) == ["DE*GNT", "BE*BEC"]
        entries = {entry.action: entry.detail for entry in session.exec(select(AuditLog)).all()}
        cpo = session.get(Cpo, gent)
        connection = ocpi_connection.ocpi_connection(session, actor=SYSTEM, cpo_id=gent)
    assert (cpo.ocpi_versions_url, cpo.ocpi_token_last4) == (csms.versions_url, csms.token[-4:])
    assert connection.token == csms.token and csms.token not in cpo.ocpi_token_encrypted
    assert entries["ocpi connection set"].endswith(f"token ends in {csms.token[-4:]}")
    assert "parties BE*BEC" in entries["OCPI registered"]
    stored = str([row.model_dump() for row in rows_of(OcpiToken)]) + str(entries)
    assert token_a not in stored and token_c not in stored and csms.token not in stored

    # TOKEN_A worked once; TOKEN_C works from now on, but not to register again.
    assert relay.post(CREDENTIALS, json=csms.credentials(), headers=auth(token_a)).status_code == 401
    assert relay.get("/ocpi/versions", headers=auth(token_a)).status_code == 401
    assert relay.get("/ocpi/2.2.1/locations/BE/BEC/LOC1", headers=auth(token_c)).json()["status_code"] == 2003
    again = relay.post(CREDENTIALS, json=csms.credentials(), headers=auth(token_c))
    assert again.status_code == 405 and "already registered" in again.json()["status_message"]
    got = relay.get(CREDENTIALS, headers=auth(token_c, plain=True)).json()["data"]
    assert got == dict(ours, token=token_c)


def test_a_csms_that_takes_only_the_plain_token_gets_it_after_its_first_401(relay, token_a):
    with running_csms(plain_only=True) as csms:
        answer = relay.post(CREDENTIALS, json=csms.credentials(), headers=auth(token_a, plain=True))
    assert answer.json()["status_code"] == 1000, answer.text
    assert [seen.authorization for seen in csms.seen] == [
        token_header(csms.token), token_header(csms.token, plain=True), token_header(csms.token, plain=True)]


def test_put_updates_the_credentials_with_a_new_token_and_delete_unregisters(relay, gent, token_a, csms):
    token_c = relay.post(CREDENTIALS, json=csms.credentials(), headers=auth(token_a)).json()["data"]["token"]
    csms.token = "csms-token-b2"  # the CSMS renews its token too
    updated = relay.put(CREDENTIALS, json=csms.credentials((("BE", "BEC"), ("NL", "GNT"))), headers=auth(token_c))
    assert updated.json()["status_code"] == 1000, updated.text
    token_c2 = updated.json()["data"]["token"]
    assert token_c2 != token_c and len(csms.seen) == 4  # its endpoints fetched again
    assert relay.get("/ocpi/versions", headers=auth(token_c)).status_code == 401
    assert relay.get("/ocpi/versions", headers=auth(token_c2)).status_code == 200
    with session_scope() as session:
        assert queries.cpo_operator_ids(session, cpo_id=gent) == ["DE*GNT", "BE*BEC", "NL*GNT"]

    gone = relay.delete(CREDENTIALS, headers=auth(token_c2))
    assert gone.status_code == 200 and gone.json()["status_code"] == 1000
    assert relay.get("/ocpi/versions", headers=auth(token_c2)).status_code == 401
    with session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditLog).order_by(AuditLog.id)).all()]
        cpo = session.get(Cpo, gent)
        assert (cpo.ocpi_versions_url, cpo.ocpi_token_encrypted) == (None, None)
    assert actions[-2:] == ["ocpi connection removed", "OCPI unregistered"]


def test_methods_that_do_not_fit_the_registration_are_405(relay, token_a, csms):
    for method in ("put", "delete"):
        kwargs = {"json": csms.credentials()} if method == "put" else {}
        answer = getattr(relay, method)(CREDENTIALS, headers=auth(token_a), **kwargs)
        assert answer.status_code == 405 and "not registered yet" in answer.json()["status_message"]
    assert csms.seen == []
    assert relay.get(CREDENTIALS, headers=auth(token_a)).json()["data"]["token"] == token_a


@pytest.mark.parametrize("case", ["unreachable", "not a URL", "only 2.1.1", "foreign party", "no CPO role",
                                  "not credentials"])
def test_a_handshake_that_cannot_complete_changes_nothing_and_token_a_still_works(relay, gent, token_a, db, case):
    with running_csms(versions=("2.1.1",) if case == "only 2.1.1" else ("2.2.1",)) as csms:
        body = csms.credentials()
        if case == "unreachable":
            body["url"] = "http://127.0.0.1:1/ocpi/versions"
        elif case == "not a URL":
            body["url"] = "ocpi/versions"
        elif case == "foreign party":
            with db() as session:
                make_cpo(session, name="Owner of BE*BEC", operator_ids="BE*BEC")
        elif case == "no CPO role":
            body["roles"][0]["role"] = "EMSP"
        elif case == "not credentials":
            del body["roles"]
        answer = relay.post(CREDENTIALS, json=body, headers=auth(token_a))
    expected = {"unreachable": (3001, "GET http://127.0.0.1:1/ocpi/versions failed"),
                "not a URL": (3001, "GET ocpi/versions failed: Request URL is missing an 'http://'"),
                "only 2.1.1": (3002, "offers OCPI 2.1.1; this receiver speaks 2.2.1"),
                "foreign party": (2001, "BE*BEC is already registered to CPO 'Owner of BE*BEC'"),
                "no CPO role": (2001, "the credentials name no role CPO"),
                "not credentials": (2001, "not valid OCPI credentials: roles: Field required")}[case]
    assert answer.status_code == 200
    assert (answer.json()["status_code"], expected[1] in answer.json()["status_message"]) == (expected[0], True), \
        answer.text
    with session_scope() as session:
        assert queries.cpo_operator_ids(session, cpo_id=gent) == ["DE*GNT"]
    assert [row.kind for row in rows_of(OcpiToken, revoked_at=None)] == ["registration"]
    assert relay.get("/ocpi/versions", headers=auth(token_a)).status_code == 200


def test_a_new_registration_token_replaces_the_one_not_used_yet(relay, gent, token_a):
    with session_scope() as session:
        newer = create_registration_token(session, actor=SYSTEM, cpo_id=gent)
    assert relay.get("/ocpi/versions", headers=auth(token_a)).status_code == 401
    assert relay.get("/ocpi/versions", headers=auth(newer)).status_code == 200
