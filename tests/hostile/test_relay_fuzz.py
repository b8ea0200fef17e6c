"""2,000 hostile bodies to the relay running as the real ``oioi-onboard relay`` process (issue 21)."""

import os
import re
import subprocess
import sys

import pytest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync import tokens
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.fuzz import fuzz, hostile_bodies
from tests.helpers.statuses import wait_for


def test_the_bodies_are_the_same_for_the_same_seed():
    assert list(hostile_bodies(7, 50)) == list(hostile_bodies(7, 50))
    assert list(hostile_bodies(7, 50)) != list(hostile_bodies(8, 50))


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
