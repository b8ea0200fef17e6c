"""The status ingest API over real HTTP: tokens, validation, per-item results, limits."""

import os
import re
import subprocess
import sys
from datetime import UTC

import httpx
import pytest
from sqlmodel import select

from oioi_onboard.store.auth import SYSTEM, Actor
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Connector, IngestToken, Role
from oioi_onboard.store.queries import PermissionDenied
from oioi_onboard.sync import tokens
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.statuses import running_relay, wait_for

STATUSES = "/v1/statuses"


@pytest.fixture
def cpo():
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Relay CPO")
        store_status_station(session, cpo.id, 1, acked=True)
        store_status_station(session, cpo.id, 2, acked=True)
        token = tokens.create_token(session, actor=SYSTEM, cpo_id=cpo.id, label="back end")
        return cpo.id, token


@pytest.fixture
def relay():
    with running_relay() as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_only_a_valid_unrevoked_token_may_post(cpo, relay):
    cpo_id, token = cpo
    body = [{"evse_id": evse(1), "status": "Occupied"}]
    missing = relay.post(STATUSES, json=body)
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert relay.post(STATUSES, json=body, headers={"Authorization": f"key={token}"}).status_code == 401
    assert relay.post(STATUSES, json=body, headers=bearer(token + "x")).status_code == 401
    assert relay.post(STATUSES, json=body, headers=bearer(token)).status_code == 200

    with session_scope() as session:
        [info] = tokens.list_tokens(session, actor=SYSTEM, cpo_id=cpo_id)
        assert info.label == "back end" and info.active
        # Only the hash is stored.
        stored = session.exec(select(IngestToken)).one()
        assert stored.token_sha256 == tokens.token_sha256(token) and token not in str(stored.model_dump())
        tokens.revoke_token(session, actor=SYSTEM, token_id=info.id)
    revoked = relay.post(STATUSES, json=body, headers=bearer(token))
    assert revoked.status_code == 401
    assert token not in revoked.text


def test_tokens_belong_to_their_cpo_and_need_edit_rights(cpo, relay):
    cpo_id, token = cpo
    with session_scope() as session:
        other = make_cpo(session, name="Other", partner_ids="Zq8Lm3Pw9Xr2Tk7Vb5Nc", operator_ids="DE*ABC")
        store_status_station(session, other.id, 7, acked=True)
        other_token = tokens.create_token(session, actor=SYSTEM, cpo_id=other.id)
        with pytest.raises(PermissionDenied):
            tokens.create_token(session, actor=Actor("v", Role.VIEWER), cpo_id=cpo_id)
        with pytest.raises(PermissionDenied):
            tokens.create_token(session, actor=Actor("s", Role.CPO_STAFF, frozenset({other.id})), cpo_id=cpo_id)
    # The other CPO's token cannot set this CPO's connectors: they are unknown EVSE ids to it.
    answer = relay.post(STATUSES, json=[{"evse_id": evse(1), "status": "Occupied"}], headers=bearer(other_token))
    assert answer.status_code == 207
    assert "unknown EVSE id" in answer.json()["results"][0]["error"]


def test_valid_items_are_accepted_and_the_rest_reported_item_by_item(cpo, relay):
    _, token = cpo
    answer = relay.post(STATUSES, headers=bearer(token), json=[
        {"evse_id": evse(1), "status": "Occupied", "timestamp": "2026-01-01T12:00:00Z"},
        {"evse_id": "DE*8PS*E77777", "status": "Available"},
        {"evse_id": evse(2), "status": "Charging"},
        {"evse_id": evse(1, 2), "status": "Offline"},
    ])
    assert answer.status_code == 207
    assert answer.json()["accepted"] == 2 and answer.json()["rejected"] == 2
    results = answer.json()["results"]
    assert [(r["index"], r["evse_id"], r["ok"]) for r in results] == [
        (0, evse(1), True), (1, "DE*8PS*E77777", False), (2, evse(2), False), (3, evse(1, 2), True)]
    assert "unknown EVSE id" in results[1]["error"]
    assert "'Charging' is not one of" in results[2]["error"]
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(1))).one() == "Occupied"

    everything_fine = relay.post(STATUSES, headers=bearer(token),
                                 json=[{"evse_id": evse(2), "status": "Available"}])
    assert everything_fine.status_code == 200
    assert everything_fine.json()["accepted"] == 1 and everything_fine.json()["rejected"] == 0
    assert relay.post(STATUSES, headers=bearer(token), json=[]).json() == {"accepted": 0, "rejected": 0,
                                                                           "results": []}


@pytest.mark.parametrize("content, says", [
    (b'{"evse_id": "DE*8PS*E000011", "status": "Available"}', "must be a JSON list"),
    (b"[{", "not UTF-8 JSON"),
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b'"Available"', "not a JSON string"),
])
def test_a_body_that_is_not_a_json_list_is_refused_with_400(cpo, relay, content, says):
    _, token = cpo
    answer = relay.post(STATUSES, content=content, headers={**bearer(token), "Content-Type": "application/json"})
    assert answer.status_code == 400 and says in answer.json()["error"]


def test_too_many_items_at_once_is_refused_with_413(cpo, relay):
    _, token = cpo
    answer = relay.post(STATUSES, headers=bearer(token), json=[{"evse_id": evse(1), "status": "Occupied"}] * 5001)
    assert answer.status_code == 413 and "at most 5000" in answer.json()["error"]
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(1))).one() == "Unknown"


def test_health(relay):
    assert relay.get("/health").json() == {"status": "ok"}


@pytest.mark.slow
def test_the_relay_and_token_commands(cpo, tmp_path):
    """``oioi-onboard cpo token NAME`` prints a token the ``oioi-onboard relay`` process accepts."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    made = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "token", "Relay CPO"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith(tokens.PREFIX) and "shown once" in made.stderr
    unknown = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "token", "Nobody"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert unknown.returncode == 2 and "no registered CPO named 'Nobody'" in unknown.stderr

    log_path = tmp_path / "relay.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0"], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)
    try:
        url = wait_for(lambda: (m := re.search(r"listening on (http://\S+)/v1/statuses", log_path.read_text()))
                       and m[1], timeout=30, what="the relay to listen")
        answer = httpx.post(url + STATUSES, json=[{"evse_id": evse(2), "status": "Reserved"}],
                            headers=bearer(token), timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(10)
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(2))).one() == "Reserved"

    simulated = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "simulate", "--cpo", "Relay CPO",
                                "--rate", "100", "--seconds", "1", "--seed", "5"],
                               capture_output=True, text=True, env=env, timeout=60)
    assert simulated.returncode == 0, simulated.stderr
    changes = int(re.match(r"([\d,]+) status changes? in ", simulated.stdout)[1].replace(",", ""))
    with session_scope() as session:
        from oioi_onboard.store.models import StatusEvent

        assert len(session.exec(select(StatusEvent).where(StatusEvent.source == "simulator")).all()) == changes > 0


def test_concurrent_requests_are_recorded_together_and_each_gets_its_own_answer(cpo, relay):
    import asyncio
    from datetime import datetime, timedelta

    _, token = cpo
    base = datetime.now(UTC) - timedelta(minutes=5)
    evses = [evse(n, k) for n in (1, 2) for k in (1, 2)]

    def batch(i):
        return [{"evse_id": e, "status": ["Available", "Occupied", "Reserved"][(i + j) % 3],
                 "timestamp": (base + timedelta(seconds=i)).isoformat()} for j, e in enumerate(evses)]

    async def post_all():
        async with httpx.AsyncClient(base_url=str(relay.base_url), timeout=30) as client:
            good = [client.post(STATUSES, json=batch(i), headers=bearer(token)) for i in range(30)]
            bad = [client.post(STATUSES, json=batch(99), headers=bearer("nope")),
                   client.post(STATUSES, json=batch(98) + [{"evse_id": "XX"}], headers=bearer(token))]
            return await asyncio.gather(*good, *bad)

    answers = asyncio.run(post_all())
    assert [a.status_code for a in answers[:30]] == [200] * 30
    assert all(a.json()["accepted"] == 4 for a in answers[:30])
    assert answers[30].status_code == 401
    assert answers[31].status_code == 207 and answers[31].json()["rejected"] == 1
    with session_scope() as session:
        final = dict(session.exec(select(Connector.evse_id, Connector.status)).all())
    # Request 98 carries the newest timestamps of all: it wins wherever it was recorded in the order.
    assert {e: final[e] for e in evses} == {e["evse_id"]: e["status"] for e in batch(98)}


@pytest.mark.slow
def test_the_relay_command_serves_one_port_with_several_processes(cpo, tmp_path):
    """``oioi-onboard relay --workers 2``: both processes answer on the one port and record."""
    _, token = cpo
    log_path = tmp_path / "relay.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "relay", "--port", "0", "--workers",
                                    "2"], stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = wait_for(lambda: (m := re.search(r"listening on (http://\S+)/v1/statuses", log_path.read_text()))
                       and m[1], timeout=30, what="the relay to listen")
        # The port accepts at once; the processes take their first connections once they are up.
        assert httpx.get(url + "/health", timeout=60).json() == {"status": "ok"}
        for n, status in enumerate(["Occupied", "Reserved", "Available", "Offline"] * 5):
            # A new connection each time, so both processes take some.
            answer = httpx.post(url + STATUSES, json=[{"evse_id": evse(1), "status": status}], headers=bearer(token),
                                timeout=60)
            assert answer.status_code == 200, (n, answer.text)
    finally:
        process.terminate()
        process.wait(15)
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(1))).one() == "Offline"
    assert "Traceback" not in log_path.read_text()


def test_a_full_database_is_503_to_send_again_and_the_statuses_are_kept_once_there_is_room(cpo, relay):
    from tests.helpers.database_room import database_room

    _, token = cpo
    # Statuses enough to need new pages: each is kept as an event.
    body = [{"evse_id": evse(1), "status": ("Available", "Occupied")[n % 2],
             "timestamp": f"2026-01-01T12:{n // 60:02d}:{n % 60:02d}Z"} for n in range(1000)]
    with database_room(pages=0):
        full = relay.post(STATUSES, headers=bearer(token), json=body)
    assert full.status_code == 503 and full.headers["retry-after"] == "1", full.text
    assert "send them again shortly" in full.json()["error"]
    with session_scope() as session:
        assert session.exec(select(Connector.status).where(Connector.evse_id == evse(1))).one() != "Occupied"

    again = relay.post(STATUSES, headers=bearer(token), json=body)
    assert again.status_code == 200 and again.json()["accepted"] == 1000
