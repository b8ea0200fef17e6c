"""`make run`'s second demo CPO, "Demo OCPI CPO": created once by the bootstrap with its OCPI connection to the
simulator; its first pull and push through the one pull workflow; the simulator registering at the relay's
OCPI receiver with a registration token (the credentials handshake) and PATCHing live statuses there. Real
processes and real HTTP on loopback: the OIOI sandbox, the OCPI simulator and the relay."""

import time

import pytest
from sqlmodel import select

from oioi_onboard.launcher import REGISTRATION_ENV, services
from oioi_onboard.settings import OCPI_SANDBOX_TOKEN, get_settings
from oioi_onboard.store.models import AuditLog, Connector, Cpo, PushRun, Station, StatusEvent
from oioi_onboard.store.secrets import decrypt_ocpi_token
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import free_port, running_sandbox
from oioi_onboard.workflows.bootstrap import (
    DEMO_OCPI_CPO_NAME,
    connect_sandbox_cpos,
    demo_ocpi_registration_token,
    prepare_embedded,
    pull_demo_ocpi_cpo,
)
from tests.helpers.statuses import running_relay


@pytest.fixture
def ocpi_port(monkeypatch) -> int:
    """Where the settings put the OCPI simulator, as `make run` has it."""
    port = free_port()
    monkeypatch.setenv("OIOI_OCPI_SANDBOX_PORT", str(port))
    get_settings.cache_clear()
    return port


def test_the_bootstrap_creates_the_demo_ocpi_cpo_once_connected_to_the_simulator(db, ocpi_port):
    prepare_embedded()
    prepare_embedded()  # every start: nothing new the second time
    with db() as session:
        cpos = session.exec(select(Cpo).where(Cpo.name == DEMO_OCPI_CPO_NAME)).all()
        assert len(cpos) == 1
        cpo = cpos[0]
        assert cpo.endpoint == "sandbox" and cpo.active
        assert cpo.ocpi_versions_url == f"http://127.0.0.1:{ocpi_port}/ocpi/versions"
        assert decrypt_ocpi_token(cpo.ocpi_token_encrypted) == OCPI_SANDBOX_TOKEN
        assert cpo.defaults and cpo.defaults.get("phone")  # OCPI Locations have none; OIOI needs one


def test_the_launcher_starts_the_simulator_to_register_at_the_relay():
    settings = get_settings()
    command = dict(services())["ocpi-sandbox"]
    at = command.index("--register-at")
    assert command[at + 1] == f"http://127.0.0.1:{settings.relay_port}/ocpi/versions"
    assert command[command.index("--registration-token-env") + 1] == REGISTRATION_ENV


@pytest.mark.slow  # three servers: the OIOI sandbox and the OCPI simulator as processes, the relay
def test_demo_ocpi_cpo_stations_arrive_with_no_file_and_its_statuses_come_by_patch(db, ocpi_port, tmp_path):
    settings = get_settings()
    with running_sandbox(tmp_path / "oioi", port=settings.sandbox_port, api_keys=(), partner_ids=()), \
            running_relay() as relay:
        prepare_embedded()
        assert [name for name, check in connect_sandbox_cpos() if check.ok] == ["Demo CPO", DEMO_OCPI_CPO_NAME]
        token_a = demo_ocpi_registration_token()
        with running_ocpi_sandbox(tmp_path / "ocpi", port=ocpi_port, extra=(
                "--register-at", f"{relay}/ocpi/versions", "--registration-token-env", "DEMO_TOKEN_A",
                "--patch-rate", "20", "--change-every", "0"), env={"DEMO_TOKEN_A": token_a}) as simulator:
            said = pull_demo_ocpi_cpo()
            assert said is not None and "40 Locations pulled" in said and "39 stations stored" in said, said
            assert pull_demo_ocpi_cpo() is None  # its first push is queued: nothing more to do at the next start
            with db() as session:
                cpo = session.exec(select(Cpo).where(Cpo.name == DEMO_OCPI_CPO_NAME)).one()
                assert len(session.exec(select(Station).where(Station.cpo_id == cpo.id)).all()) == 39
                run = session.exec(select(PushRun).where(PushRun.cpo_id == cpo.id)).one()
                assert run.total == 39  # one station-post each, sent by the worker
                pulled = len(session.exec(select(StatusEvent).where(StatusEvent.cpo_id == cpo.id)).all())

            def patched() -> int:
                with db() as session:
                    return len(session.exec(select(StatusEvent).where(StatusEvent.cpo_id == cpo.id)).all()) - pulled

            deadline = time.monotonic() + 60
            while patched() < 20 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert patched() >= 20, simulator.log()
            assert simulator.stats()["registrations"] == 1
    with db() as session:
        assert {e.source for e in session.exec(select(StatusEvent).where(StatusEvent.cpo_id == cpo.id))} == {"ocpi"}
        assert {c.status_source for c in session.exec(select(Connector).where(Connector.cpo_id == cpo.id))
                if c.status_at is not None} == {"ocpi"}
        actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.cpo_id == cpo.id))]
        assert "OCPI registration token created" in actions and "OCPI registered" in actions
        # The handshake stored the simulator's credentials as the connection: the pulls go on as before.
        cpo = session.get(Cpo, cpo.id)
        assert decrypt_ocpi_token(cpo.ocpi_token_encrypted) == OCPI_SANDBOX_TOKEN
    for text in (said, simulator.log()):
        assert token_a not in text
