"""How the OCPI receiver reads a body (issue 21): only behind a valid token, as the relay reads every body
(``sync.request_body``): counted as it arrives, in time, within the nesting limit."""

import time

import httpx
import pytest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import OcpiLocation
from tests.helpers.ocpi import auth, rows_of
from tests.helpers.raw_http import answer_of, connected, head
from tests.helpers.statuses import running_relay

LOC1 = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
CREDENTIALS = "/ocpi/2.2.1/credentials"


@pytest.fixture
def token_a(db, gent):
    from oioi_onboard.ocpi.credentials import create_registration_token

    with db() as session:
        return create_registration_token(session, actor=SYSTEM, cpo_id=gent)


def test_without_a_valid_token_the_body_is_not_read(db, token_c, token_a):
    unknown = auth("nobody")["Authorization"]
    registration = auth(token_a)["Authorization"]  # TOKEN_A pushes no Locations
    cases = [("PUT", LOC1, None), ("PUT", LOC1, unknown), ("PATCH", LOC1 + "/3256", registration),
             ("PUT", LOC1, f"Bearer {token_c}"), ("POST", CREDENTIALS, unknown), ("PUT", CREDENTIALS, registration)]
    with running_relay() as url:
        for method, path, authorization in cases:
            with connected(url) as sock:
                # One chunk of a body that never ends: the answer must not wait for the rest.
                sock.sendall(head(method, path, authorization) + b"10000\r\n" + b"[" * 0x10000 + b"\r\n")
                status, data = answer_of(sock, timeout=5)
            assert status in (401, 405) and b"connection: close" in data.lower(), (method, path, authorization)
            assert b'"status_code":2000' in data.replace(b" ", b""), data[-300:]
    assert rows_of(OcpiLocation) == []


def test_nesting_deeper_than_the_limit_is_400_with_2001_not_a_failure(relay, token_c):
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40):
        for method, path in (("PUT", LOC1), ("PATCH", LOC1 + "/3256"), ("POST", CREDENTIALS)):
            headers = {**auth(token_c), "Content-Type": "application/json"}
            answer = relay.request(method, path, content=body, headers=headers)
            if path == CREDENTIALS:  # a registered back end PUTs its credentials: POST is refused first
                assert answer.status_code == 405
                answer = relay.put(path, content=body, headers=headers)
            assert answer.status_code == 400 and answer.json()["status_code"] == 2001, (method, path, answer.text)
            assert "deeper than 32 levels" in answer.json()["status_message"]


def test_a_body_that_trickles_in_is_cut_off_with_408(db, token_c):
    with running_relay(body_seconds=1.5, min_bytes_per_second=1000) as url, connected(url) as sock:
        started = time.monotonic()
        sock.sendall(head("PUT", LOC1, auth(token_c)["Authorization"], length=5000) + b'{"id": "LO')
        status, data = answer_of(sock, timeout=10)
        assert status == 408 and b"connection: close" in data.lower()
        assert b'"status_code":2000' in data.replace(b" ", b"")
        assert time.monotonic() - started < 5
    assert rows_of(OcpiLocation) == []


def test_a_client_that_hangs_up_mid_body_leaves_no_trace_but_a_line(db, token_c, caplog):
    with running_relay() as url:
        with connected(url) as sock:
            sock.sendall(head("PUT", LOC1, auth(token_c)["Authorization"], length=5000) + b'{"id": "LO')
            time.sleep(0.3)
        with httpx.Client(base_url=url) as client:  # the relay still answers
            assert client.get(LOC1, headers=auth(token_c)).json()["status_code"] == 2003
    assert "Traceback" not in caplog.text and "failed" not in caplog.text


@pytest.mark.parametrize("last_updated", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
def test_a_date_that_overflows_utc_is_2001_not_a_failure(relay, token_c, last_updated):
    from tests.helpers.ocpi import example

    location = dict(example("location_example.json"), last_updated=last_updated)
    put = relay.put(LOC1, json=location, headers=auth(token_c))
    assert put.status_code == 200 and put.json()["status_code"] == 2001, put.text
    assert "outside the years 1 to 9999 in UTC" in put.json()["status_message"]
    assert relay.put(LOC1, json=example("location_example.json"), headers=auth(token_c)).status_code == 201
    patched = relay.patch(LOC1 + "/3256", json={"status": "CHARGING", "last_updated": last_updated},
                          headers=auth(token_c))
    assert patched.status_code == 200 and patched.json()["status_code"] == 2001, patched.text
