"""From a CSMS's push to the OIOI endpoint: the ``oioi-onboard relay`` process, the real worker, the sandbox."""

import os
import re
import subprocess
import sys

import httpx
import pytest

from oioi_onboard.ocpi.credentials import create_registration_token
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Cpo
from oioi_onboard.testing.csms import running_csms
from oioi_onboard.testing.store import make_cpo
from tests.helpers.ocpi import GENT_DEFAULTS, auth, example
from tests.helpers.statuses import running_worker, sandbox_statuses, wait_for

pytestmark = pytest.mark.slow  # three real processes


def test_a_registered_csms_pushes_a_location_and_its_status_reaches_the_oioi_endpoint(db, sandbox, tmp_path):
    with db() as session:
        cpo = make_cpo(session, name="Gent CPO", operator_ids="DE*GNT", endpoint=sandbox.url, api_key=sandbox.api_key,
                       partner_ids=sandbox.partner_id)
        session.get(Cpo, cpo.id).defaults = GENT_DEFAULTS
        token_a = create_registration_token(session, actor=SYSTEM, cpo_id=cpo.id)

    log_path = tmp_path / "relay.log"
    with open(log_path, "wb") as log:
        relay = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], stdout=log,
                                 stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        versions_url = wait_for(lambda: (m := re.search(r"OCPI 2.2.1 receiver: versions at (http://\S+)",
                                                        log_path.read_text())) and m[1],
                                timeout=60, what="the relay to listen")
        base = versions_url.removesuffix("/ocpi/versions")
        with running_csms() as csms, httpx.Client(base_url=base, timeout=30) as client, running_worker():
            token_c = client.post("/ocpi/2.2.1/credentials", json=csms.credentials(),
                                  headers=auth(token_a)).json()["data"]["token"]
            put = client.put("/ocpi/2.2.1/locations/BE/BEC/LOC1", json=example("location_example.json"),
                             headers=auth(token_c))
            assert put.status_code == 201 and put.json()["status_code"] == 1000, put.text
            wait_for(lambda: sandbox_statuses(sandbox).get("BE*BEC*E041503002") == {"Reserved"}, timeout=60,
                     what="the station and its statuses at the sandbox")

            patched = client.patch("/ocpi/2.2.1/locations/BE/BEC/LOC1/3256",
                                   json=example("location_patch_example_status.json"), headers=auth(token_c))
            assert patched.json()["status_code"] == 1000, patched.text
            wait_for(lambda: sandbox_statuses(sandbox).get("BE*BEC*E041503001") == {"Occupied"}, timeout=60,
                     what="the EVSE's CHARGING as Occupied at the sandbox")
    finally:
        relay.terminate()
        relay.wait(10)
    held = {station["station_id"]: station for station in sandbox.stations()}["BE*BEC*LOC1"]
    assert held["station"]["name"] == "Gent Zuid" and held["deleted"] is False
    assert "Traceback" not in log_path.read_text()
