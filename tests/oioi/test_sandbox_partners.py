"""Provisioning on the sandbox: ``POST /_sandbox/partners``, over real HTTP to the real ``oioi-onboard sandbox``.

The sandbox here starts with no API key and no partner identifier at all, as ``make run`` starts it.
"""

import asyncio
import copy

import httpx
import pytest

from oioi_onboard.oioi.sandbox import client, create_app
from oioi_onboard.testing.sandbox import free_port, running_sandbox
from tests.helpers.bare_sandbox import BARE, bare_sandbox, start_bare_sandbox
from tests.oioi.spec_examples import request_example

KEY_A = "provisioned-key-A-9f2c71d0"
KEY_B = "provisioned-key-B-4e8a03b6"
PARTNER_A1 = "PartnerA1-x7Qm2Lr9Vt4K"
PARTNER_A2 = "PartnerA2-c5Wn8Jp3Hs6D"
PARTNER_B = "PartnerB-k2Rf7Yt1Gm9Zq"


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    """The module's ``sandbox`` (tests/conftest.py) starts without any key or partner identifier."""
    return BARE


def spec_station(n: int, *, operator_id: str) -> dict:
    """The spec's example station under station id ``{operator_id}*S{n}``, with EVSE ids of its own."""
    station = copy.deepcopy(request_example("station_post.rst")["station-post"]["station"])
    station.update(id=f"{operator_id}*S{n:04d}", deleted=False)
    station["cpo-id"] = operator_id
    for k, connector in enumerate(station["connectors"], 1):
        connector["id"] = f"{operator_id}*E{n:04d}X{k}"
    return station


def provision(box, body) -> httpx.Response:
    return httpx.post(f"{box.base_url}/_sandbox/partners", json=body, timeout=10)


def station_post(box, *, key: str, partner: str, n: int, operator: str = "DE*PRV") -> httpx.Response:
    body = {"station-post": {"partner-identifier": partner, "station": spec_station(n, operator_id=operator)}}
    return httpx.post(box.url, json=body, headers={"Authorization": f"key={key}"}, timeout=10)


def status_post(box, *, key: str, partner: str, evse: str) -> httpx.Response:
    body = {"connector-post-status": {"connector-id": evse, "status": "Occupied", "partner-identifier": partner}}
    return httpx.post(box.url, json=body, headers={"Authorization": f"key={key}"}, timeout=10)


def code(response: httpx.Response) -> int:
    return response.json()["result"]["code"]


def test_a_bare_sandbox_knows_nobody_until_provisioned(sandbox):
    assert httpx.get(f"{sandbox.base_url}/_sandbox/partners").json() == []
    refused = station_post(sandbox, key=KEY_A, partner=PARTNER_A1, n=1)
    assert (refused.status_code, code(refused)) == (401, 210)

    answer = provision(sandbox, {"api_key": KEY_A, "partner_identifiers": [PARTNER_A1, PARTNER_A2]})
    assert answer.status_code == 200
    assert answer.json() == {"partner_identifiers": [PARTNER_A1, PARTNER_A2], "added": [PARTNER_A1, PARTNER_A2],
                             "moved": [], "already": []}
    assert KEY_A not in answer.text
    # One key acts for both of its partner identifiers.
    assert code(station_post(sandbox, key=KEY_A, partner=PARTNER_A1, n=1)) == 0
    assert code(station_post(sandbox, key=KEY_A, partner=PARTNER_A2, n=2)) == 0
    # Provisioning again is harmless.
    again = provision(sandbox, {"api_key": KEY_A, "partner_identifiers": [PARTNER_A1]})
    assert again.status_code == 200 and again.json()["already"] == [PARTNER_A1]
    listed = httpx.get(f"{sandbox.base_url}/_sandbox/partners").json()
    assert [p["partner_identifier"] for p in listed] == [PARTNER_A1, PARTNER_A2]
    assert KEY_A not in str(listed)


def test_a_partner_identifier_belongs_to_one_key_409(sandbox):
    assert provision(sandbox, {"api_key": KEY_A, "partner_identifiers": [PARTNER_A1]}).status_code == 200
    taken = provision(sandbox, {"api_key": KEY_B, "partner_identifiers": [PARTNER_B, PARTNER_A1]})
    assert taken.status_code == 409
    assert taken.json()["partner_identifiers"] == [PARTNER_A1]
    assert "another API key" in taken.json()["error"]
    assert KEY_A not in taken.text and KEY_B not in taken.text
    # Nothing of the refused request was kept, not even the free partner identifier.
    assert PARTNER_B not in [p["partner_identifier"] for p in httpx.get(f"{sandbox.base_url}/_sandbox/partners").json()]
    assert code(station_post(sandbox, key=KEY_B, partner=PARTNER_B, n=3)) == 210


def test_keys_act_only_for_their_own_partner_identifiers(sandbox):
    provision(sandbox, {"api_key": KEY_A, "partner_identifiers": [PARTNER_A1]})
    assert provision(sandbox, {"api_key": KEY_B, "partner_identifiers": [PARTNER_B]}).status_code == 200
    foreign = station_post(sandbox, key=KEY_B, partner=PARTNER_A1, n=4)
    assert (foreign.status_code, code(foreign)) == (400, 211)
    assert "does not belong to this API key" in foreign.json()["result"]["message"]
    unknown = station_post(sandbox, key=KEY_B, partner="Nobody-knows-me-0123456", n=4)
    assert code(unknown) == 211 and "not known here" in unknown.json()["result"]["message"]
    # The per-partner ownership of stations still holds: B may not set A's connector statuses.
    pushed = station_post(sandbox, key=KEY_A, partner=PARTNER_A1, n=5)
    assert code(pushed) == 0
    evse = spec_station(5, operator_id="DE*PRV")["connectors"][0]["id"]
    assert (status_post(sandbox, key=KEY_B, partner=PARTNER_B, evse=evse).status_code) == 403
    assert code(status_post(sandbox, key=KEY_A, partner=PARTNER_A1, evse=evse)) == 0


@pytest.mark.parametrize(
    "body, words",
    [
        ([], "must be a JSON object"),
        ({"partner_identifiers": [PARTNER_B]}, "api_key must be a non-empty string"),
        ({"api_key": "", "partner_identifiers": [PARTNER_B]}, "api_key must be a non-empty string"),
        ({"api_key": "two words", "partner_identifiers": [PARTNER_B]}, "without spaces"),
        ({"api_key": 12345678, "partner_identifiers": [PARTNER_B]}, "api_key must be a non-empty string"),
        ({"api_key": KEY_B, "partner_identifiers": []}, "non-empty list of strings"),
        ({"api_key": KEY_B, "partner_identifiers": PARTNER_B}, "non-empty list of strings"),
        ({"api_key": KEY_B, "partner_identifiers": ["short"]}, "at least 16 characters"),
        ({"api_key": KEY_B, "partner_identifiers": [PARTNER_B], "apikey": KEY_B}, "unknown field(s) 'apikey'"),
        ({"api_key": KEY_B, "partner_identifiers": [PARTNER_B], "previous_api_key": ""}, "previous_api_key"),
    ],
)
def test_malformed_provisioning_is_400_and_never_quotes_a_key(sandbox, body, words):
    answer = provision(sandbox, body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    assert KEY_B not in answer.text and "two words" not in answer.text


def test_a_body_that_is_not_json_is_400(sandbox):
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/partners", content=b"{api_key", timeout=10)
    assert answer.status_code == 400 and "not UTF-8 JSON" in answer.json()["error"]


def test_the_previous_key_hands_its_partner_identifiers_to_the_new_one(sandbox):
    old, new = "rotating-old-key-11aa22bb", "rotating-new-key-33cc44dd"
    partner = "Rotating-partner-5eE6fF7g"
    assert provision(sandbox, {"api_key": old, "partner_identifiers": [partner]}).status_code == 200
    assert provision(sandbox, {"api_key": new, "partner_identifiers": [partner]}).status_code == 409
    moved = provision(sandbox, {"api_key": new, "partner_identifiers": [partner], "previous_api_key": old})
    assert moved.status_code == 200 and moved.json()["moved"] == [partner]
    assert code(station_post(sandbox, key=new, partner=partner, n=6)) == 0
    assert code(station_post(sandbox, key=old, partner=partner, n=7)) == 210  # the old key holds nothing now
    # Naming a wrong previous key moves nothing.
    stolen = provision(sandbox, {"api_key": KEY_B, "partner_identifiers": [partner], "previous_api_key": old})
    assert stolen.status_code == 409


def test_start_up_partner_identifiers_are_not_given_to_other_keys(tmp_path):
    with running_sandbox(tmp_path, api_keys=("startup-key-0000aaaa",), partner_ids=(PARTNER_A1,)) as box:
        assert provision(box, {"api_key": KEY_B, "partner_identifiers": [PARTNER_A1]}).status_code == 409
        # The start-up key may claim its own partner identifier (nothing changes).
        assert provision(box, {"api_key": "startup-key-0000aaaa", "partner_identifiers": [PARTNER_A1]}
                         ).status_code == 200
        assert code(station_post(box, key="startup-key-0000aaaa", partner=PARTNER_A1, n=8)) == 0


@pytest.mark.slow  # starts the sandbox twice
def test_provisioned_keys_survive_a_restart_and_are_stored_only_hashed(tmp_path):
    db_path = tmp_path / "kept.db"
    first = start_bare_sandbox(tmp_path, db_path=db_path)
    try:
        assert provision(first, {"api_key": KEY_A, "partner_identifiers": [PARTNER_A1]}).status_code == 200
        assert code(station_post(first, key=KEY_A, partner=PARTNER_A1, n=9)) == 0
    finally:
        first.stop()
    with bare_sandbox(tmp_path, db_path=db_path) as second:
        assert code(station_post(second, key=KEY_A, partner=PARTNER_A1, n=10)) == 0
        assert provision(second, {"api_key": KEY_B, "partner_identifiers": [PARTNER_A1]}).status_code == 409
        logs = first.log() + second.log()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("kept.db*"))
    assert KEY_A.encode() not in stored and KEY_B.encode() not in stored
    assert PARTNER_A1.encode() in stored
    assert KEY_A not in logs and KEY_B not in logs


def test_the_client_says_why_provisioning_failed(sandbox):
    where = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(client.SandboxUnreachable, match="cannot be reached") as unreachable:
        client.provision(where, api_key=KEY_A, partner_identifiers=[PARTNER_A1], timeout=2)
    assert KEY_A not in str(unreachable.value)
    client.provision(sandbox.base_url, api_key=KEY_A, partner_identifiers=[PARTNER_A1])
    with pytest.raises(client.PartnerTaken, match="another API key") as taken:
        client.provision(sandbox.base_url, api_key=KEY_B, partner_identifiers=[PARTNER_A1])
    assert KEY_A not in str(taken.value) and KEY_B not in str(taken.value)
    with pytest.raises(client.SandboxRefused, match="HTTP 400"):
        client.provision(sandbox.base_url, api_key=KEY_B, partner_identifiers=["short"])


def test_only_loopback_callers_may_provision(tmp_path):
    app = create_app(db_path=tmp_path / "remote.db", api_keys=[], partner_ids=[])

    async def from_address(host: str) -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            answer = await client.post("/_sandbox/partners",
                                       json={"api_key": KEY_A, "partner_identifiers": [PARTNER_A1]})
            if answer.status_code == 403:
                assert "loopback" in answer.json()["error"]
            listed = await client.get("/_sandbox/partners")
            health = await client.get("/_sandbox/health")
            return [answer.status_code, listed.status_code, health.status_code]

    assert asyncio.run(from_address("192.0.2.10")) == [403, 403, 200]  # the rest answers anyone
    assert app.state.sandbox.grants == {}
    assert asyncio.run(from_address("127.0.0.1")) == [200, 200, 200]
    assert list(app.state.sandbox.grants) == [PARTNER_A1]


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.5.6.7", True), ("::1", True),
                                            ("::ffff:127.0.0.1", True), ("10.1.2.3", False),
                                            ("::ffff:10.1.2.3", False), ("192.168.0.9", False), ("testclient", False)])
def test_loopback_detection(host, loopback):
    from starlette.requests import Request

    from oioi_onboard.oioi.sandbox.routes import _is_loopback

    assert _is_loopback(Request({"type": "http", "client": (host, 50000), "headers": []})) is loopback
