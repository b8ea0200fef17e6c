"""2,000 hostile bodies to the relay running as the real ``oioi-onboard relay`` process (issue 21): to its
status ingest, and to its OCPI receiver's Locations and credentials routes."""

import os
import re
import subprocess
import sys

import httpx
import pytest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync import tokens
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.fuzz import fuzz, fuzz_requests, hostile_bodies, ocpi_requests
from tests.helpers.ocpi import GENT_DEFAULTS, auth, example, registered
from tests.helpers.statuses import wait_for

OCPI_EXAMPLES = ["location_example.json", "location_example_parking_garage_opening_hours.json",
                 "location_example_uc2_destination_charger.json",
                 "location_example_uc3_destination_charger_not_published.json", "power.json"]


def test_the_bodies_are_the_same_for_the_same_seed():
    assert list(hostile_bodies(7, 50)) == list(hostile_bodies(7, 50))
    assert list(hostile_bodies(7, 50)) != list(hostile_bodies(8, 50))
    locations = ocpi_locations()
    assert list(ocpi_requests(7, 50, locations)) == list(ocpi_requests(7, 50, locations))
    assert list(ocpi_requests(7, 50, locations)) != list(ocpi_requests(8, 50, locations))


def ocpi_locations() -> list[dict]:
    """The official examples as Location LOC1 of party BE/BEC, the party the fuzzing back end registered."""
    return [dict(example(name), country_code="BE", party_id="BEC", id="LOC1") for name in OCPI_EXAMPLES]


def running_relay_process(log_path):
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = wait_for(lambda: (m := re.search(r"listening on (http://\S+)", log_path.read_text())) and m[1],
                   timeout=30, what="the relay to listen")
    return process, url


@pytest.mark.slow
def test_every_hostile_body_gets_a_2xx_or_4xx_and_the_log_no_traceback(tmp_path):
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Fuzz CPO")
        store_status_station(session, cpo.id, 1, acked=True)
        token = tokens.create_token(session, actor=SYSTEM, cpo_id=cpo.id)
    log_path = tmp_path / "relay.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = wait_for(lambda: (m := re.search(r"listening on (http://\S+)", log_path.read_text())) and m[1],
                       timeout=30, what="the relay to listen")
        outcome = fuzz(url, {"Authorization": f"Bearer {token}"}, seed=21, count=2000)
        # Without a token nothing is read, whatever the body.
        refused = fuzz(url, {}, seed=22, count=100)
    finally:
        process.terminate()
        process.wait(10)
    text = log_path.read_text(errors="replace")
    assert outcome.failures == [] and refused.failures == [], (outcome.failures[:5], refused.failures[:5])
    assert set(refused.codes) == {401}
    assert {200, 207, 400}.issubset(outcome.codes), outcome.codes  # the bodies reach every kind of judgement
    assert "Traceback" not in text, text[-3000:]


@pytest.mark.slow
def test_every_hostile_ocpi_push_gets_a_2xx_or_4xx_and_the_log_no_traceback(tmp_path):
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Fuzz OCPI CPO", operator_ids="DE*GNT", endpoint="http://127.0.0.1:1/api/v4/r")
        cpo.defaults = GENT_DEFAULTS
        session.flush()
        token_c = registered(session, cpo.id)
    log_path = tmp_path / "relay.log"
    process, url = running_relay_process(log_path)
    try:
        base = url.split("/v1/")[0]
        first = httpx.put(base + "/ocpi/2.2.1/locations/BE/BEC/LOC1", json=example("location_example.json"),
                          headers=auth(token_c), timeout=30)
        assert first.json()["status_code"] == 1000, first.text  # so that PATCHes find what they patch
        outcome = fuzz_requests(base, auth(token_c), ocpi_requests(18, 2000, ocpi_locations()))
        # Without a valid token nothing is read, whatever the request.
        refused = fuzz_requests(base, auth("nobody"), ocpi_requests(19, 100, ocpi_locations()))
    finally:
        process.terminate()
        process.wait(10)
    text = log_path.read_text(errors="replace")
    assert outcome.failures == [] and refused.failures == [], (outcome.failures[:5], refused.failures[:5])
    # (404: a path of no route, such as one whose location_id holds an escaped slash.)
    assert set(refused.codes) <= {401, "ocpi 2000", 404} and refused.codes[401] > 90, refused.codes
    # The requests reach every kind of judgement: success, invalid, unknown, foreign, too deep.
    assert {"ocpi 1000", "ocpi 2001", "ocpi 2003", 400, 404}.issubset(outcome.codes), outcome.codes
    assert "Traceback" not in text, text[-3000:]
    assert " failed" not in text, [line for line in text.splitlines() if " failed" in line][:5]
