"""A sandbox for every CPO (issue 10.5): a CPO registered on the embedded sandbox is provisioned there,
passes its connection test and pushes, through the library and through the CLI; the last connection
test is remembered and turns into the push page's warning; the key never shows.

The sandbox is the real ``oioi-onboard sandbox`` process started without any key (as ``make run``
starts it), reached through OIOI_SANDBOX_PORT like the embedded one.
"""

import json
import os
import subprocess
import sys

import httpx
import pytest
from sqlmodel import select

from oioi_onboard.errors import PermissionDenied
from oioi_onboard.settings import SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings
from oioi_onboard.store import connection, queries, registry
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import AuditLog, Cpo, Role
from oioi_onboard.testing.sandbox import free_port
from oioi_onboard.testing.store import actor
from tests.conftest import ROOT
from tests.helpers.bare_sandbox import bare_sandbox, start_bare_sandbox

DEMO = ROOT / "sample_data" / "demo_network.csv"
CONNECTED = "connected: the endpoint accepted the API key and the partner identifier"


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """One bare sandbox for the module; each test pushes stations of an operator id of its own."""
    with bare_sandbox(tmp_path_factory.mktemp("bare")) as sandbox:
        yield sandbox


def point_at(monkeypatch, port: int) -> None:
    """Make the embedded sandbox of this test the one on ``port``."""
    monkeypatch.setenv("OIOI_SANDBOX_HOST", "127.0.0.1")
    monkeypatch.setenv("OIOI_SANDBOX_PORT", str(port))
    get_settings.cache_clear()


@pytest.fixture
def on_sandbox(box, monkeypatch, db):
    point_at(monkeypatch, box.port)
    return box


def stations_file(tmp_path, operator_id: str, stations: int = 8):
    """The first stations of the demo network under another operator id (all its rows per station)."""
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    wanted, rows = set(), [lines[0]]
    for line in lines[1:]:
        station = line.split(",", 1)[0]
        if station not in wanted and len(wanted) == stations:
            break
        wanted.add(station)
        rows.append(line.replace("DE*DMO", operator_id))
    path = tmp_path / f"stations-{operator_id.replace('*', '')}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def stored_key(cpo_id: int, db) -> str:
    with db() as session:
        return queries.cpo_credentials(session, actor=SYSTEM, cpo_id=cpo_id)[1]


def audit_details(db) -> str:
    with db() as session:
        return "\n".join(f"{e.action}: {e.detail}" for e in session.exec(select(AuditLog)).all())


def sandbox_says(box) -> str:
    """Everything the sandbox shows to anyone: stations, stats, partner list, its log."""
    parts = [httpx.get(f"{box.base_url}{path}", timeout=10).text
             for path in ("/_sandbox/stations", "/_sandbox/stats", "/_sandbox/partners")]
    return "\n".join(parts + [box.log()])


def test_a_cpo_registered_on_the_sandbox_tests_its_connection_and_pushes(on_sandbox, db, tmp_path):
    from oioi_onboard.workflows.push import push_file

    with db() as session:
        cpo, partner_ids = registry.register_cpo(session, actor=SYSTEM, name="Newcomer", operator_ids=["DE*NEW"],
                                                 endpoint="sandbox", api_key=None)
        cpo_id = cpo.id
        assert cpo.sandbox_pending is None and cpo.api_key_last4  # a key was generated and provisioned
        # Never tested yet: the push page warns.
        assert "has not been tested" in connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
        assert connection.connection_label(cpo) == "not tested"
    listed = {p["partner_identifier"] for p in httpx.get(f"{on_sandbox.base_url}/_sandbox/partners").json()}
    assert set(partner_ids) <= listed

    with db() as session:
        check = connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id)
        assert check == connection.ConnectionCheck(True, CONNECTED)
    with db() as session:  # remembered, so another session (the push page) sees it
        cpo = session.get(Cpo, cpo_id)
        assert cpo.connection_ok and cpo.connection_message == CONNECTED and cpo.connection_checked_at
        assert connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id) is None
        assert connection.last_connection_test(cpo).ok

    summary = push_file(file=stations_file(tmp_path, "DE*NEW"), cpo_name="Newcomer", say=lambda line: None)
    assert summary.ok, summary.to_json()
    assert summary.acknowledged == summary.stations_in_file == 8
    held = [s for s in httpx.get(f"{on_sandbox.base_url}/_sandbox/stations").json()
            if s["station_id"].startswith("DE*NEW*")]
    assert len(held) == 8 and {s["partner_identifier"] for s in held} == {partner_ids[0]}

    key = stored_key(cpo_id, db)
    assert key.startswith("sandbox-")
    for text in (audit_details(db), sandbox_says(on_sandbox), json.dumps(summary.to_json(), default=str)):
        assert key not in text
    assert "API key generated for the sandbox" in audit_details(db)


@pytest.mark.slow
def test_the_same_through_the_cli(on_sandbox, db, tmp_path):
    file = stations_file(tmp_path, "DE*XYZ", stations=5)
    env = dict(os.environ)  # OIOI_DATA_DIR and OIOI_SANDBOX_PORT of this test

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oioi_onboard.cli", *args], capture_output=True, text=True,
                              env=env, timeout=180)

    added = cli("cpo", "add", "--name", "X", "--operator-id", "DE*XYZ", "--endpoint", "sandbox")
    assert added.returncode == 0, added.stderr
    [partner_id] = added.stdout.split()
    assert f"Provisioned on the sandbox at {on_sandbox.base_url}" in added.stderr
    assert "generated for the local sandbox only" in added.stderr

    assert "connection not tested" in cli("cpo", "list").stdout
    tested = cli("cpo", "test", "X")
    assert tested.returncode == 0 and CONNECTED in tested.stdout, tested.stdout + tested.stderr
    assert json.loads(cli("cpo", "list", "--json").stdout)[0]["connection"] == "connected"

    pushed = cli("push", str(file), "--cpo", "X", "--json")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    summary = json.loads(pushed.stdout)
    assert summary["ok"] and summary["acknowledged"] == summary["stations_in_file"] == 5

    with db() as session:
        cpo = queries.get_cpo(session, actor=SYSTEM, name="X")
        assert queries.cpo_partner_identifiers(session, cpo_id=cpo.id) == [partner_id]
        key = stored_key(cpo.id, db)
    held = [s for s in httpx.get(f"{on_sandbox.base_url}/_sandbox/stations").json()
            if s["station_id"].startswith("DE*XYZ*")]
    assert len(held) == 5 and {s["partner_identifier"] for s in held} == {partner_id}
    for output in (added, tested, pushed):
        assert key not in output.stdout + output.stderr
    assert key not in sandbox_says(on_sandbox)


def test_a_given_key_is_provisioned_as_given(on_sandbox, db):
    with db() as session:
        cpo, [partner] = registry.register_cpo(session, actor=SYSTEM, name="Own key", operator_ids=["DE*OWN"],
                                               endpoint="sandbox", api_key="own-chosen-key-1234")
        assert cpo.api_key_last4 == "1234" and cpo.sandbox_pending is None
    assert connection.probe_connection(on_sandbox.url, "own-chosen-key-1234", partner).ok


def test_unreachable_sandbox_leaves_provisioning_pending_until_the_connection_test(monkeypatch, db, tmp_path):
    port = free_port()
    point_at(monkeypatch, port)
    with db() as session:
        cpo, _ = registry.register_cpo(session, actor=SYSTEM, name="Early", operator_ids=["DE*EAR"],
                                       endpoint="sandbox", api_key=None)
        cpo_id = cpo.id
        assert cpo.id is not None  # registered all the same
        assert "cannot be reached" in cpo.sandbox_pending
        warning = connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
        assert "has not been tested" in warning and "does not know this CPO yet" in warning
        failed = connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id)
        assert not failed.ok and "endpoint unreachable" in failed.message
        assert "the sandbox does not know this CPO yet" in failed.message
        assert "failed" in connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id)
    assert "sandbox provisioning pending" in audit_details(db)

    with bare_sandbox(tmp_path / "late", port=port) as late:
        with db() as session:
            fixed = connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id)
            assert fixed == connection.ConnectionCheck(True, CONNECTED)
            cpo = session.get(Cpo, cpo_id)
            assert cpo.sandbox_pending is None
            assert connection.push_readiness(session, actor=SYSTEM, cpo_id=cpo_id) is None
        assert stored_key(cpo_id, db) not in sandbox_says(late)
    assert "sandbox provisioned" in audit_details(db)


@pytest.mark.slow
def test_cli_says_when_provisioning_is_pending(monkeypatch, db):
    point_at(monkeypatch, free_port())
    added = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "add", "--name", "Later CPO",
                            "--operator-id", "DE*LAT"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ))
    assert added.returncode == 0, added.stderr
    assert "Sandbox provisioning pending" in added.stderr and "oioi-onboard cpo test 'Later CPO'" in added.stderr
    tested = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "test", "Later CPO"],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert tested.returncode == 1 and "endpoint unreachable" in tested.stdout


def test_a_new_key_takes_over_at_the_sandbox_and_clears_the_old_verdict(on_sandbox, monkeypatch, db):
    with db() as session:
        cpo, [partner] = registry.register_cpo(session, actor=SYSTEM, name="Rotor", operator_ids=["DE*ROT"],
                                               endpoint="sandbox", api_key="rotor-first-key-0001")
        cpo_id = cpo.id
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok

    # Replaced while the sandbox is away: stored, the old verdict forgotten, provisioning pending.
    point_at(monkeypatch, free_port())
    with db() as session:
        assert registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo_id, api_key="rotor-second-key-0002") == "0002"
        cpo = session.get(Cpo, cpo_id)
        assert cpo.connection_checked_at is None and cpo.connection_message is None
        assert cpo.sandbox_pending and cpo.sandbox_previous_key_encrypted
        assert "rotor-first-key" not in cpo.sandbox_previous_key_encrypted  # encrypted like any key
    # Replaced once more before the sandbox is back: the first key still holds the partner identifier there.
    with db() as session:
        registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo_id, api_key="rotor-third-key-0003")

    point_at(monkeypatch, on_sandbox.port)
    with db() as session:
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok
        cpo = session.get(Cpo, cpo_id)
        assert cpo.sandbox_pending is None and cpo.sandbox_previous_key_encrypted is None
    assert connection.probe_connection(on_sandbox.url, "rotor-first-key-0001", partner).message == \
        "the API key was rejected"  # the old key holds nothing any more
    assert connection.probe_connection(on_sandbox.url, "rotor-third-key-0003", partner).ok
    for key in ("rotor-first-key-0001", "rotor-second-key-0002", "rotor-third-key-0003"):
        assert key not in audit_details(db) and key not in sandbox_says(on_sandbox)


def test_editing_provisions_again_and_forgets_the_test_when_identity_changes(on_sandbox, db):
    with db() as session:
        cpo, _ = registry.register_cpo(session, actor=SYSTEM, name="Mover", operator_ids=["DE*MOV"],
                                       endpoint="staging", api_key=None)
        cpo_id = cpo.id
        assert cpo.api_key_encrypted is None  # no key is made up for a real endpoint
        # Moving to the sandbox generates a key and provisions it.
        registry.update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, endpoint="sandbox")
        assert cpo.api_key_last4 and cpo.sandbox_pending is None
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok
        # A new name keeps the verdict; new partner identifiers forget it and are provisioned.
        registry.update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, name="Mover GmbH")
        assert cpo.connection_ok
        added = "Mover-second-partner-7Hk2"
        old = queries.cpo_partner_identifiers(session, cpo_id=cpo_id)
        registry.update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, partner_identifiers=[added, *old])
        assert cpo.connection_checked_at is None
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok  # tested with `added`
        # Leaving the sandbox forgets the verdict too.
        registry.update_cpo(session, actor=SYSTEM, cpo_id=cpo_id, endpoint="production")
        assert cpo.connection_checked_at is None and cpo.sandbox_pending is None
    listed = {p["partner_identifier"] for p in httpx.get(f"{on_sandbox.base_url}/_sandbox/partners").json()}
    assert added in listed and set(old) <= listed


def test_provisioning_and_readiness_keep_the_permission_boundary(on_sandbox, db, two_cpos):
    alpha, bravo = two_cpos["alpha"], two_cpos["bravo"]
    bob = actor("bob", Role.CPO_STAFF, bravo)
    with db() as session:
        with pytest.raises(PermissionDenied):
            connection.provision_sandbox(session, actor=bob, cpo_id=alpha)
        with pytest.raises(PermissionDenied):
            connection.push_readiness(session, actor=bob, cpo_id=alpha)
        with pytest.raises(PermissionDenied):
            connection.check_cpo_connection(session, actor=bob, cpo_id=alpha)
        assert connection.provision_sandbox(session, actor=two_cpos["alice"], cpo_id=alpha) is None
        assert connection.provision_sandbox(session, actor=bob, cpo_id=bravo) is None  # production: nothing to do
        with pytest.raises(PermissionDenied):
            connection.provision_sandbox(session, actor=actor("victor", Role.VIEWER, alpha), cpo_id=alpha)


@pytest.mark.slow
def test_embedded_start_provisions_the_demo_cpo_once_the_sandbox_answers(monkeypatch, tmp_path):
    """`make run`: bootstrap runs before the sandbox process exists; the launcher connects the CPOs after."""
    from oioi_onboard.store.db import session_scope
    from oioi_onboard.workflows.bootstrap import (
        DEMO_CPO_NAME,
        DEMO_OCPI_CPO_NAME,
        connect_sandbox_cpos,
        prepare_embedded,
        wait_for_sandbox,
    )

    port = free_port()
    point_at(monkeypatch, port)
    prepare_embedded()
    with session_scope() as session:
        demo = queries.get_cpo(session, actor=SYSTEM, name=DEMO_CPO_NAME)
        assert demo.sandbox_pending  # nobody listens yet
        assert "has not been tested" in connection.push_readiness(session, actor=SYSTEM, cpo_id=demo.id)
    assert not wait_for_sandbox(seconds=0.5)

    sandbox = start_bare_sandbox(tmp_path / "embedded", port=port)
    try:
        assert wait_for_sandbox(seconds=10)
        assert connect_sandbox_cpos() == [(name, connection.ConnectionCheck(True, CONNECTED))
                                          for name in (DEMO_CPO_NAME, DEMO_OCPI_CPO_NAME)]
        with session_scope() as session:
            demo = queries.get_cpo(session, actor=SYSTEM, name=DEMO_CPO_NAME)
            assert demo.sandbox_pending is None
            assert connection.push_readiness(session, actor=SYSTEM, cpo_id=demo.id) is None
            assert queries.cpo_credentials(session, actor=SYSTEM, cpo_id=demo.id)[1:] == (SANDBOX_API_KEY,
                                                                                          SANDBOX_PARTNER_ID)
        assert connect_sandbox_cpos() == []  # the next start: provisioned and tested already
    finally:
        sandbox.stop()
    # A fresh sandbox database (deleted, reset) is healed by the next start.
    fresh = start_bare_sandbox(tmp_path / "reset", port=port)
    try:
        assert wait_for_sandbox(seconds=10)
        assert connect_sandbox_cpos() == []
        assert connection.probe_connection(fresh.url, SANDBOX_API_KEY, SANDBOX_PARTNER_ID).ok
    finally:
        fresh.stop()
