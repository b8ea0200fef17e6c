"""The sandbox receiver, run as the real ``oioi-onboard sandbox`` command, spoken to over HTTP."""

import copy
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from oioi_onboard.testing.sandbox import free_port, running_sandbox, start_sandbox
from tests.oioi.spec_examples import request_example

KEY = "sbx-key-Hq2v-93kd-0000"
PARTNER = "Sbx-partner-A-8dk2Lq0z"
OTHER = "Sbx-partner-B-7cj1Mp9y"


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    """The module's ``sandbox`` (tests/conftest.py) knows this key and two partners."""
    return {"api_keys": (KEY,), "partner_ids": (PARTNER, OTHER)}


def station_body(partner=PARTNER, *, station_id=None, evse_ids=None, latitude=48.1, deleted=False) -> dict:
    body = copy.deepcopy(request_example("station_post.rst"))
    payload = body["station-post"]
    payload["partner-identifier"] = partner
    station = payload["station"]
    station.update(id=station_id or f"ST-{uuid.uuid4().hex[:8]}", latitude=latitude, deleted=deleted)
    evse_ids = evse_ids or [f"DE*8PS*E{uuid.uuid4().hex[:8].upper()}" for _ in station["connectors"]]
    for connector, evse in zip(station["connectors"], evse_ids, strict=True):
        connector["id"] = evse
    return body


def post(box, body, *, key=KEY, raw: bytes | None = None, headers=None) -> httpx.Response:
    headers = {"Authorization": f"key={key}", **(headers or {})} if key is not None else dict(headers or {})
    if raw is not None:
        return httpx.post(box.url, content=raw, headers={"Content-Type": "application/json", **headers})
    return httpx.post(box.url, json=body, headers=headers)


def status_body(evse: str, status: str = "Occupied", partner=PARTNER) -> dict:
    return {"connector-post-status": {"connector-id": evse, "status": status, "partner-identifier": partner}}


@pytest.mark.slow  # starts the sandbox command of its own
def test_cli_answers_the_spec_station_post_with_code_0(tmp_path):
    """``oioi-onboard sandbox --port P --api-key K --partner-id ID``, exactly as a user types it."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("oioi-onboard")), "sandbox", "--port", str(port),
               "--api-key", KEY, "--partner-id", PARTNER, "--db", str(tmp_path / "cli.db")]
    log_path = tmp_path / "cli.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/v4/request"
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/_sandbox/health")
                break
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                time.sleep(0.05)
        body = request_example("station_post.rst")
        body["station-post"]["partner-identifier"] = PARTNER
        response = httpx.post(url, json=body, headers={"Authorization": f"key={KEY}",
                                                       "Content-Type": "application/json"})
        assert response.status_code == 200
        assert response.json() == {"result": {"code": 0, "message": "Success."}}
    finally:
        process.terminate()
        process.wait(timeout=10)
    printed = log_path.read_text()
    assert f"listening on {url}" in printed
    assert KEY not in printed


def test_cli_refuses_a_guessable_partner_identifier_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "oioi_onboard.cli", "sandbox", "--port", "0", "--api-key", KEY,
         "--partner-id", "1", "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode != 0
    assert "at least 16 characters" in result.stderr and "Traceback" not in result.stderr
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("header", [None, "key=wrong-key-1234", f"Bearer {KEY}", "key="])
def test_missing_or_wrong_api_key_is_401_code_210(sandbox, header):
    response = post(sandbox, station_body(), key=None, headers={"Authorization": header} if header else None)
    assert response.status_code == 401
    assert response.json()["result"]["code"] == 210
    assert KEY not in response.text


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"{not json", "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b'{"station-get-surface": {}}', "unknown message type 'station-get-surface'"),
        (b'{"station-post": {}, "connector-post-status": {}}', "exactly one message type"),
        (b"[]", "exactly one message type"),
    ],
)
def test_malformed_bodies_are_400_code_230(sandbox, raw, words):
    response = post(sandbox, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["result"]["code"] == 230
    assert words in response.json()["result"]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_content_type_must_be_json(sandbox, content_type):
    body = b'{"station-post": {}}'
    headers = {"Authorization": f"key={KEY}"} | ({"Content-Type": content_type} if content_type else {})
    response = httpx.post(sandbox.url, content=body, headers=headers)
    assert response.status_code == 400
    assert "Content-Type must be application/json" in response.json()["result"]["message"]


def test_missing_and_mistyped_fields_are_named(sandbox):
    body = station_body()
    del body["station-post"]["station"]["name"]
    body["station-post"]["station"]["address"]["street-number"] = 123
    response = post(sandbox, body)
    assert response.status_code == 400
    message = response.json()["result"]["message"]
    assert "station-post.station.name" in message
    assert "station-post.station.address.street-number" in message


def test_unknown_partner_is_code_211(sandbox):
    response = post(sandbox, station_body("Nobody-knows-me-0123456"))
    assert response.json()["result"]["code"] == 211


def test_evse_id_clashes(sandbox):
    local = uuid.uuid4().hex[:8].upper()
    evse = f"DE*8PS*E{local}"
    first = station_body(evse_ids=[evse, evse + "X"])
    assert post(sandbox, first).json()["result"]["code"] == 0
    # Same EVSE id (written another way) in another station of the same partner, same place.
    again = station_body(evse_ids=[f"de8psE{local}", evse + "Y"])
    refused = post(sandbox, again).json()["result"]
    assert refused["code"] == 230 and "already used by station" in refused["message"]
    # Another partner, same place: not theirs.
    assert post(sandbox, station_body(OTHER, evse_ids=[evse, evse + "Z"])).json()["result"]["code"] == 220
    # Another place: 322, whoever asks.
    moved = post(sandbox, station_body(OTHER, evse_ids=[evse, evse + "W"], latitude=1.0))
    assert moved.status_code == 400 and moved.json()["result"]["code"] == 322


def test_moving_a_station_keeps_its_connectors_and_statuses(sandbox):
    body = station_body()
    evse = body["station-post"]["station"]["connectors"][0]["id"]
    assert post(sandbox, body).json()["result"]["code"] == 0
    assert post(sandbox, status_body(evse, "Reserved")).json()["result"]["code"] == 0
    body["station-post"]["station"]["latitude"] = 47.0
    assert post(sandbox, body).json()["result"]["code"] == 0
    held = next(s for s in sandbox.stations() if s["station_id"] == body["station-post"]["station"]["id"])
    assert held["station"]["latitude"] == 47.0 and held["connectors"][0]["status"] == "Reserved"
    assert held["accepts"] == 2 and held["repeats"] == 0


def test_connector_status_rules(sandbox):
    body = station_body()
    evse = body["station-post"]["station"]["connectors"][1]["id"]
    assert post(sandbox, body).json()["result"]["code"] == 0
    unknown = post(sandbox, status_body("DE*8PS*ENOPE0000"))
    assert (unknown.status_code, unknown.json()["result"]["code"]) == (404, 181)
    foreign = post(sandbox, status_body(evse, partner=OTHER))
    assert (foreign.status_code, foreign.json()["result"]["code"]) == (403, 220)
    bad_status = post(sandbox, status_body(evse, status="Charging"))
    assert bad_status.status_code == 400 and "connector-post-status.status" in bad_status.json()["result"]["message"]
    ok = post(sandbox, status_body(evse, "Offline"))
    assert ok.status_code == 200 and ok.json() == {"result": {"code": 0, "message": "Success."}}
    held = next(s for s in sandbox.stations() if s["station_id"] == body["station-post"]["station"]["id"])
    assert [c["status"] for c in held["connectors"]] == [None, "Offline"]


def test_the_oioi_path_answers_post_only(sandbox):
    """POSTs take a shortcut past the router (routes._Shortcut); other methods still get the router's 405."""
    for method in ("GET", "PUT", "DELETE"):
        assert httpx.request(method, sandbox.url).status_code == 405
    assert post(sandbox, station_body()).status_code == 200


def test_stats_and_health_shapes(sandbox):
    assert httpx.get(f"{sandbox.base_url}/_sandbox/health").json() == {"status": "ok"}
    stats = sandbox.stats()
    assert set(stats["station-post"]) == {"received", "accepted", "rejected", "repeats"}
    assert set(stats["connector-post-status"]) == {"received", "accepted", "rejected"}
    assert isinstance(stats["station_accepts"], dict)
    for kind in ("station-post", "connector-post-status"):
        assert stats[kind]["received"] == stats[kind]["accepted"] + stats[kind]["rejected"]


@pytest.mark.slow  # starts the sandbox twice
def test_state_survives_a_restart(tmp_path):
    db_path = tmp_path / "kept.db"
    body = station_body()
    station_id = body["station-post"]["station"]["id"]
    evse = body["station-post"]["station"]["connectors"][0]["id"]
    first = start_sandbox(tmp_path, api_keys=(KEY,), partner_ids=(PARTNER,), db_path=db_path)
    try:
        assert post(first, body).json()["result"]["code"] == 0
        assert post(first, status_body(evse, "Available")).json()["result"]["code"] == 0
    finally:
        first.stop()
    with running_sandbox(tmp_path, api_keys=(KEY,), partner_ids=(PARTNER,), db_path=db_path) as second:
        assert second.url != "" and second.process.pid != first.process.pid
        held = {s["station_id"]: s for s in second.stations()}
        assert held[station_id]["connectors"][0]["status"] == "Available"
        # The identical station again is a repeat, not a new station.
        assert post(second, body).json()["result"]["code"] == 0
        stats = second.stats()
    assert stats["station-post"] == {"received": 2, "accepted": 2, "rejected": 0, "repeats": 1}
    assert stats["station_accepts"] == {station_id: 2}


def _fault_pattern(tmp_path, seed):
    with running_sandbox(tmp_path / f"run-{uuid.uuid4().hex[:6]}", api_keys=(KEY,), partner_ids=(PARTNER,),
                         fail_rate=0.4, seed=seed) as box:
        responses = [post(box, station_body()) for _ in range(15)]
        stats = box.stats()
    return [r.status_code for r in responses], responses, stats


@pytest.mark.slow  # two sandboxes, hundreds of requests
def test_fault_injection_is_reproducible_with_a_seed(tmp_path):
    pattern, responses, stats = _fault_pattern(tmp_path, seed=3)
    again, _, _ = _fault_pattern(tmp_path, seed=3)
    assert pattern == again
    assert set(pattern) == {200, 503}
    failed = [r for r in responses if r.status_code == 503]
    assert all(r.headers["Retry-After"] == "1" for r in failed)
    # A 503 comes before processing: nothing of it was received or stored.
    assert stats["faults"]["failed"] == len(failed)
    assert stats["station-post"]["received"] == stats["station-post"]["accepted"] == 15 - len(failed)


@pytest.mark.slow  # starts the sandbox command of its own
def test_a_client_that_hangs_up_during_the_latency_is_one_log_line_without_a_traceback(tmp_path):
    import socket

    with running_sandbox(tmp_path, api_keys=(KEY,), partner_ids=(PARTNER,), latency_ms=400) as box:
        body = httpx.Request("POST", box.url, json=status_body("DE*8PS*E000001")).read()
        head = (f"POST /api/v4/request HTTP/1.1\r\nHost: sandbox\r\nAuthorization: key={KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", box.port), timeout=5) as sock:
                sock.sendall(head + body)
            # Closed at once: the sandbox is still in its latency sleep.
        time.sleep(1.0)
        assert post(box, status_body("DE*8PS*E000001")).status_code in (200, 404)  # still serving
        log = box.log()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log
    assert log.count("hung up") == 3, log
