"""The simulator registering at a receiver as a CSMS does (``ocpi.sandbox.register``): the credentials handshake
against the relay's real OCPI receiver on loopback, a used registration token refused, and the command's options."""

import asyncio

import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app as cli
from oioi_onboard.ocpi.credentials import create_registration_token
from oioi_onboard.ocpi.sandbox import RegistrationFailed, register
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import free_port


def test_register_gets_a_credentials_token_and_the_locations_endpoint_once(db, relay, gent, tmp_path):
    with db() as session:
        token_a = create_registration_token(session, actor=SYSTEM, cpo_id=gent)
    with running_ocpi_sandbox(tmp_path, party_id="BEC") as back_end:
        credentials = {"token": back_end.token, "url": back_end.versions_url, "roles": [
            {"role": "CPO", "country_code": "BE", "party_id": "BEC", "business_details": {"name": "Sim"}}]}
        versions_url = str(relay.base_url).rstrip("/") + "/ocpi/versions"
        registration = asyncio.run(register(versions_url, registration_token=token_a, credentials=credentials))
        assert registration.locations_url.endswith("/ocpi/2.2.1/locations")
        assert registration.token.startswith("oioi_ocpi_c_") and registration.token not in repr(registration)
        with pytest.raises(RegistrationFailed) as used:  # TOKEN_A works once
            asyncio.run(register(versions_url, registration_token=token_a, credentials=credentials))
        assert not used.value.retry and "401" in str(used.value)
    with pytest.raises(RegistrationFailed) as nobody:  # nothing listens yet: worth trying again
        asyncio.run(register(f"http://127.0.0.1:{free_port()}/ocpi/versions", registration_token=token_a,
                             credentials=credentials))
    assert nobody.value.retry


def test_register_at_needs_the_registration_token_from_the_environment():
    result = CliRunner().invoke(cli, ["ocpi-sandbox", "--register-at", "http://127.0.0.1:1/ocpi/versions"])
    assert result.exit_code == 2 and "--register-at needs --registration-token-env" in result.output
