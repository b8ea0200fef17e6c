"""Sandbox faults at run time (issue 12.7): ``POST /_sandbox/faults`` starts and ends an outage,
throttling or stalls without a restart; ``--throttle-rate`` answers 429 with Retry-After.

Spoken to over HTTP, as the real ``oioi-onboard sandbox`` process.
"""

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from oioi_onboard.oioi.sandbox import create_app
from oioi_onboard.testing.sandbox import DEFAULT_API_KEY, DEFAULT_PARTNER_ID
from tests.oioi.spec_examples import request_example

CLEAR = {"fail_rate": 0, "stall_rate": 0, "throttle_rate": 0, "retry_after": 1}


@pytest.fixture
def box(sandbox):
    """The module's sandbox (tests/conftest.py), its faults cleared after each test."""
    yield sandbox
    assert httpx.post(f"{sandbox.base_url}/_sandbox/faults", json=CLEAR).status_code == 200


def set_faults(box, **faults) -> httpx.Response:
    return httpx.post(f"{box.base_url}/_sandbox/faults", json=faults, timeout=10)


def faults_of(box) -> dict:
    return httpx.get(f"{box.base_url}/_sandbox/faults", timeout=10).json()


def station_body(operator: str = "DE*8PS") -> dict:
    body = request_example("station_post.rst")
    payload = body["station-post"]
    payload["partner-identifier"] = DEFAULT_PARTNER_ID
    payload["station"].update(id=f"FT-{uuid.uuid4().hex[:10]}", deleted=False)
    for connector in payload["station"]["connectors"]:
        connector["id"] = f"{operator}*E{uuid.uuid4().hex[:10].upper()}"
    return body


def push(url: str, *, key: str = DEFAULT_API_KEY, timeout: float = 10) -> httpx.Response:
    return httpx.post(url, json=station_body(), headers={"Authorization": f"key={key}"}, timeout=timeout)


def test_an_outage_starts_and_ends_at_run_time(box):
    assert push(box.url).status_code == 200
    before = box.stats()
    answer = set_faults(box, fail_rate=1)
    assert answer.status_code == 200
    assert answer.json() == {"fail_rate": 1.0, "stall_rate": 0.0, "throttle_rate": 0.0, "retry_after": 1}
    down = [push(box.url) for _ in range(5)]
    assert [r.status_code for r in down] == [503] * 5
    assert all(r.headers["Retry-After"] == "1" and r.json()["result"]["code"] == 100 for r in down)
    assert set_faults(box, fail_rate=0).json()["fail_rate"] == 0.0
    assert push(box.url).json()["result"]["code"] == 0
    after = box.stats()
    assert after["faults"]["failed"] == before["faults"]["failed"] + 5
    # A 503 comes before processing: none of them was received or stored.
    assert after["station-post"]["received"] == before["station-post"]["received"] + 1


def test_throttling_answers_429_with_retry_after_until_it_is_cleared(box):
    answer = set_faults(box, throttle_rate=1, retry_after=7)
    assert answer.json() == {"fail_rate": 0.0, "stall_rate": 0.0, "throttle_rate": 1.0, "retry_after": 7}
    before = box.stats()["faults"]["throttled"]
    throttled = push(box.url)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["result"]["code"] == 100 and "retry after 7 s" in throttled.json()["result"]["message"]
    # Status posts are throttled too: every OIOI request goes through the same door.
    status = httpx.post(box.url, json={"connector-post-status": {"connector-id": "DE*8PS*E1", "status": "Available",
                                                                  "partner-identifier": DEFAULT_PARTNER_ID}},
                        headers={"Authorization": f"key={DEFAULT_API_KEY}"}, timeout=10)
    assert status.status_code == 429
    assert box.stats()["faults"]["throttled"] == before + 2
    set_faults(box, throttle_rate=0)
    assert push(box.url).status_code == 200


def test_a_share_of_requests_is_throttled(box):
    set_faults(box, throttle_rate=0.5)
    statuses = [push(box.url).status_code for _ in range(40)]
    assert set(statuses) == {200, 429}
    assert 5 <= statuses.count(429) <= 35


def test_stalls_start_and_end_at_run_time(box):
    set_faults(box, stall_rate=1)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        push(box.url, timeout=0.5)
    assert time.monotonic() - started < 5
    set_faults(box, stall_rate=0)
    assert push(box.url).status_code == 200
    assert box.stats()["faults"]["stalled"] >= 1


def test_keys_left_out_keep_their_value(box):
    set_faults(box, fail_rate=0.25, retry_after=3)
    assert set_faults(box, throttle_rate=0.5).json() == {
        "fail_rate": 0.25, "stall_rate": 0.0, "throttle_rate": 0.5, "retry_after": 3}
    assert faults_of(box) == {"fail_rate": 0.25, "stall_rate": 0.0, "throttle_rate": 0.5, "retry_after": 3}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"fail_rate": 1.5}, "fail_rate must be a number between 0 and 1"),
        ({"stall_rate": -0.1}, "stall_rate must be a number between 0 and 1"),
        ({"throttle_rate": "0.5"}, "throttle_rate must be a number"),
        ({"fail_rate": True}, "fail_rate must be a number"),
        ({"fail_rate": None}, "fail_rate must be a number"),
        ({"failrate": 1}, "unknown key(s) 'failrate'"),
        ({"fail_rate": 0, "latency_ms": 5}, "unknown key(s) 'latency_ms'"),
        ({}, "must be a JSON object with any of"),
        ([{"fail_rate": 1}], "must be a JSON object"),
        ({"fail_rate": 0.6, "throttle_rate": 0.6}, "together at most 1"),
        ({"retry_after": -1}, "retry_after must be whole seconds"),
        ({"retry_after": 1.5}, "retry_after must be whole seconds"),
        ({"retry_after": 3601}, "retry_after must be whole seconds"),
    ],
)
def test_bad_fault_settings_are_400_and_change_nothing(box, body, words):
    set_faults(box, fail_rate=0.1)
    answer = httpx.post(f"{box.base_url}/_sandbox/faults", json=body, timeout=10)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    assert faults_of(box) == {"fail_rate": 0.1, "stall_rate": 0.0, "throttle_rate": 0.0, "retry_after": 1}


def test_a_body_that_is_not_json_is_400(box):
    answer = httpx.post(f"{box.base_url}/_sandbox/faults", content=b"fail_rate=1", timeout=10)
    assert answer.status_code == 400 and "not UTF-8 JSON" in answer.json()["error"]


def test_only_loopback_callers_may_set_or_see_faults(tmp_path):
    app = create_app(db_path=tmp_path / "remote.db", api_keys=[], partner_ids=[])

    async def from_address(host: str) -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            changed = await client.post("/_sandbox/faults", json={"fail_rate": 1})
            if changed.status_code == 403:
                assert "loopback" in changed.json()["error"]
            shown = await client.get("/_sandbox/faults")
            return [changed.status_code, shown.status_code]

    assert asyncio.run(from_address("192.0.2.10")) == [403, 403]
    assert app.state.faults["fail_rate"] == 0.0
    assert asyncio.run(from_address("127.0.0.1")) == [200, 200]
    assert app.state.faults["fail_rate"] == 1.0


def test_create_app_refuses_bad_start_up_rates(tmp_path):
    with pytest.raises(ValueError, match="throttle_rate must be a number between 0 and 1"):
        create_app(db_path=tmp_path / "a.db", api_keys=[], partner_ids=[], throttle_rate=2)
    with pytest.raises(ValueError, match="together at most 1"):
        create_app(db_path=tmp_path / "b.db", api_keys=[], partner_ids=[], fail_rate=0.7, stall_rate=0.7)


# --------------------------------------------------------------------------- the command's options


def _command(tmp_path, *options: str) -> list[str]:
    return [sys.executable, "-m", "oioi_onboard.cli", "sandbox", "--host", "127.0.0.1", "--port", "0",
            "--db", str(tmp_path / "cli.db"), "--api-key", DEFAULT_API_KEY, "--partner-id", DEFAULT_PARTNER_ID,
            *options]


@pytest.mark.slow  # starts the sandbox command of its own
def test_throttle_rate_option_answers_429_with_retry_after(tmp_path):
    log_path = tmp_path / "cli.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(_command(tmp_path, "--throttle-rate", "1", "--retry-after", "3"),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            found = re.search(r"listening on (http://\S+)", log_path.read_text())
            url = found[1] if found else None
            time.sleep(0.05)
        assert url, log_path.read_text()
        base = url.split("/api/", 1)[0]
        throttled = push(url)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
        assert httpx.get(f"{base}/_sandbox/faults").json()["throttle_rate"] == 1.0
        assert httpx.post(f"{base}/_sandbox/faults", json={"throttle_rate": 0}).status_code == 200
        assert push(url).json()["result"]["code"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_throttle_rate_outside_0_to_1_is_refused_without_a_traceback(tmp_path):
    result = subprocess.run(_command(tmp_path, "--throttle-rate", "1.5"), capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "300"})
    assert result.returncode == 2
    assert "throttle_rate must be a number between 0 and 1" in result.stderr and "Traceback" not in result.stderr
