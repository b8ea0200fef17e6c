"""``oioi-onboard cpo ...``: add, list and the OCPI registration token, in process and as the installed command."""

import json
import os
import subprocess
import sys

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from oioi_onboard.ocpi.credentials import REGISTRATION, token_holder
from oioi_onboard.oioi.ids import check_partner_identifier
from oioi_onboard.settings import get_settings
from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import get_engine, session_scope
from oioi_onboard.store.models import OcpiToken

runner = CliRunner()


def test_cpo_add_prints_the_partner_identifier_and_stores_the_key_from_the_environment(cli, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "acme-secret-key-7788")
    result = runner.invoke(cli, ["cpo", "add", "--name", "Acme", "--operator-id", "DE*ACM",
                                 "--operator-id", "at*acm", "--endpoint", "staging", "--api-key-env", "ACME_KEY"])
    assert result.exit_code == 0, result.output
    partner_id = result.stdout.strip()
    assert check_partner_identifier(partner_id)
    assert "acme-secret-key" not in result.output
    with session_scope() as session:
        cpo = queries.get_cpo(session, actor=SYSTEM, name="Acme")
        assert queries.cpo_operator_ids(session, cpo_id=cpo.id) == ["DE*ACM", "AT*ACM"]
        assert queries.cpo_credentials(session, actor=SYSTEM, cpo_id=cpo.id) == (
            queries.STAGING_URL, "acme-secret-key-7788", partner_id)


def test_invalid_operator_id_exits_2_naming_value_and_form(cli):
    result = runner.invoke(cli, ["cpo", "add", "--name", "Bad", "--operator-id", "DE-8PS"])
    assert result.exit_code == 2
    assert "'DE-8PS'" in result.stderr and "CC*XXX, e.g. DE*8PS" in result.stderr
    result = runner.invoke(cli, ["cpo", "add", "--name", "Bad", "--operator-id", "QQ*8PS"])
    assert result.exit_code == 2 and "'QQ' is not an ISO 3166-1 alpha-2 country" in result.stderr
    with session_scope() as session:
        assert queries.list_cpos(session, actor=SYSTEM) == []


def test_missing_api_key_variable_is_an_error(cli, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    result = runner.invoke(cli, ["cpo", "add", "--name", "X", "--operator-id", "DE*XXX",
                                 "--api-key-env", "NO_SUCH_VAR"])
    assert result.exit_code == 2 and "NO_SUCH_VAR" in result.stderr


def test_cpo_list_as_json_and_text_never_shows_the_key(cli, monkeypatch):
    monkeypatch.setenv("K", "listed-key-abcd1234")
    runner.invoke(cli, ["cpo", "add", "--name", "Acme", "--operator-id", "DE*ACM", "--api-key-env", "K"])
    listed = json.loads(runner.invoke(cli, ["cpo", "list", "--json"]).stdout)
    assert [(c["name"], c["operator_ids"], c["api_key_last4"], c["steps_done"], c["next_step"]) for c in listed] == [
        ("Acme", ["DE*ACM"], "1234", 1, "Test the connection")]
    text = runner.invoke(cli, ["cpo", "list"]).stdout
    assert "Acme: DE*ACM" in text and "••••1234" in text and "1 of 6 steps, next: Test the connection" in text
    assert "listed-key" not in text and "listed-key" not in json.dumps(listed)


def _oioi_onboard(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oioi_onboard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.slow  # a real process, ~4 s
def test_the_installed_command_honours_database_url(tmp_path, db):
    other = tmp_path / "elsewhere.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{other}"}
    added = _oioi_onboard("cpo", "add", "--name", "Remote", "--operator-id", "NL*RMT", env=env)
    assert added.returncode == 0, added.stderr
    listed = _oioi_onboard("cpo", "list", "--json", env=env)
    assert [c["name"] for c in json.loads(listed.stdout)] == ["Remote"]
    assert other.exists()
    bad = _oioi_onboard("cpo", "add", "--name", "Bad", "--operator-id", "8PS", env=env)
    assert bad.returncode == 2 and "'8PS' is not of the form CC*XXX" in bad.stderr
    # The default database (the test's data dir) was not touched.
    with session_scope() as session:
        assert queries.list_cpos(session, actor=SYSTEM) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_the_command_works_on_postgresql(postgres_url):
    libpq_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    env = {**os.environ, "DATABASE_URL": libpq_url}
    added = _oioi_onboard("cpo", "add", "--name", "On Postgres", "--operator-id", "DE*PGS", env=env)
    assert added.returncode == 0, added.stderr
    listed = _oioi_onboard("cpo", "list", "--json", env=env)
    assert [c["operator_ids"] for c in json.loads(listed.stdout)] == [["DE*PGS"]]
    get_engine(postgres_url).dispose()


def test_cpo_ocpi_token_prints_the_registration_token_once_with_the_versions_url(cli, db):
    runner.invoke(cli, ["cpo", "add", "--name", "Gent", "--operator-id", "BE*BEC", "--endpoint", "staging"])
    first = runner.invoke(cli, ["cpo", "ocpi-token", "Gent"])
    assert first.exit_code == 0, first.output
    token = first.stdout.strip()
    assert token.startswith("oioi_ocpi_a_") and "shown once" in first.stderr
    assert f"versions URL {get_settings().relay_url}/ocpi/versions" in first.stderr
    second = runner.invoke(cli, ["cpo", "ocpi-token", "Gent"]).stdout.strip()
    with session_scope() as session:
        assert token_holder(session, [token]) is None  # replaced by the second
        assert token_holder(session, [second]).kind == REGISTRATION
        assert token not in str([row.model_dump() for row in session.exec(select(OcpiToken)).all()])
    unknown = runner.invoke(cli, ["cpo", "ocpi-token", "Nobody"])
    assert unknown.exit_code == 2 and "no registered CPO named 'Nobody'" in unknown.stderr
