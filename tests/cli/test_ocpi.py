"""``oioi-onboard cpo edit --ocpi-*`` and ``oioi-onboard ocpi pull``: against the real OCPI sandbox process, and
with ``--push`` the real command against the real OIOI sandbox too."""

import json
import os
import subprocess
import sys

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo, ImportRecord
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import free_port, running_sandbox
from oioi_onboard.testing.store import make_cpo

runner = CliRunner()
PHONE = "phone=+32 9 265 81 11"


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=15, page_limit=4) as process:
        yield process


@pytest.fixture
def ours(db):
    with db() as session:
        cpo = make_cpo(session, name="Laadnet", operator_ids="BE*OCS")
        cpo.defaults = {"phone": "+32 9 265 81 11"}
        return cpo.id


def test_cpo_edit_sets_the_ocpi_connection_and_never_shows_the_token(cli, ours, monkeypatch):
    monkeypatch.setenv("LAADNET_TOKEN", "token-of-laadnet-9f2e")
    result = runner.invoke(cli, ["cpo", "edit", "Laadnet", "--ocpi-versions-url",
                                 "https://csms.example.be/ocpi/versions", "--ocpi-token-env", "LAADNET_TOKEN"])
    assert result.exit_code == 0, result.output
    assert "OCPI https://csms.example.be/ocpi/versions, token ••••9f2e" in result.stdout
    assert "token-of-laadnet" not in result.output
    with session_scope() as session:
        cpo = session.get(Cpo, ours)
        assert cpo.ocpi_versions_url == "https://csms.example.be/ocpi/versions" and cpo.ocpi_token_last4 == "9f2e"

    result = runner.invoke(cli, ["cpo", "edit", "Laadnet", "--ocpi-versions-url", "csms.example.be"])
    assert result.exit_code == 2 and "ocpi_versions_url: the OCPI versions URL 'csms.example.be' is not an " \
                                      "http(s) URL" in result.stderr


def test_ocpi_pull_stores_the_locations_and_says_what_came(cli, ours, back_end, monkeypatch):
    monkeypatch.setenv("LAADNET_TOKEN", back_end.token)
    runner.invoke(cli, ["cpo", "edit", "Laadnet", "--ocpi-versions-url", back_end.versions_url,
                        "--ocpi-token-env", "LAADNET_TOKEN"])
    result = runner.invoke(cli, ["ocpi", "pull", "Laadnet", "--json"])
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.stdout)
    assert (pulled["full"], pulled["locations"], pulled["pages"], pulled["errors"], pulled["ok"]) == (
        True, 15, 4, 0, True)
    assert pulled["source"] == f"OCPI {back_end.base_url}/ocpi/2.2.1/locations"
    assert "OCPI Locations: 15 pulled in 4 pages, OCPI 2.2.1, every Location" in result.stderr
    assert {issue["rule"] for issue in pulled["issues"]} == {"ocpi_not_published", "ocpi_evse_not_pushed"}

    back_end.changes(2)
    result = runner.invoke(cli, ["ocpi", "pull", "Laadnet"])
    assert result.exit_code == 0, result.output
    assert "Laadnet: incremental pull of " in result.stdout
    with session_scope() as session:
        records = session.exec(select(ImportRecord).order_by(ImportRecord.id)).all()
        assert [r.full_upload for r in records] == [True, False]


def test_ocpi_pull_of_an_unreachable_back_end_exits_2_naming_it(cli, ours, monkeypatch):
    monkeypatch.setenv("LAADNET_TOKEN", "whatever-token")
    url = f"http://127.0.0.1:{free_port()}/ocpi/versions"
    runner.invoke(cli, ["cpo", "edit", "Laadnet", "--ocpi-versions-url", url, "--ocpi-token-env", "LAADNET_TOKEN"])
    result = runner.invoke(cli, ["ocpi", "pull", "Laadnet", "--timeout", "2"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {url} cannot be reached: ")
    with session_scope() as session:
        assert "failed: " + url in session.get(Cpo, ours).ocpi_last_pull_message


def test_ocpi_pull_of_a_cpo_without_a_connection_exits_2(cli, ours):
    result = runner.invoke(cli, ["ocpi", "pull", "Laadnet"])
    assert result.exit_code == 2 and "has no OCPI connection" in result.stderr


KEY = "ocpi-cli-key-51c2"


def _command(*args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OIOI_KEY": KEY, **env}
    return subprocess.run([sys.executable, "-m", "oioi_onboard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=180)


@pytest.mark.slow  # the real commands against both sandboxes
def test_ocpi_pull_push_acknowledges_and_a_full_pull_deletes_only_with_yes(tmp_path):
    with running_sandbox(tmp_path / "oioi", api_keys=(KEY,)) as oioi, \
            running_ocpi_sandbox(tmp_path / "ocpi", locations=12, page_limit=5) as back_end:
        added = _command("cpo", "add", "--name", "Laadnet", "--operator-id", "BE*OCS", "--endpoint", oioi.url,
                         "--api-key-env", "OIOI_KEY", "--partner-id", oioi.partner_id, "--default", PHONE)
        assert added.returncode == 0, added.stderr
        edited = _command("cpo", "edit", "Laadnet", "--ocpi-versions-url", back_end.versions_url,
                          "--ocpi-token-env", "LAADNET_TOKEN", LAADNET_TOKEN=back_end.token)
        assert edited.returncode == 0, edited.stderr

        first = _command("ocpi", "pull", "Laadnet", "--push", "--json")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        push = summary["push"]
        assert push["ok"] and push["acknowledged"] == push["stations_in_file"] == summary["stations_stored"] > 0
        assert oioi.stats()["station-post"]["accepted"] == push["acknowledged"]

        removed = back_end.remove(2)
        gone = {f"BE*OCS*{location_id}" for location_id in removed} & {s["station_id"] for s in oioi.stations()}
        unconfirmed = _command("ocpi", "pull", "Laadnet", "--full", "--push")
        assert unconfirmed.returncode == 1, unconfirmed.stderr
        assert f"not sent, needs confirmation (--yes): {len(gone)} deleted" in unconfirmed.stdout
        assert not any(s["deleted"] for s in oioi.stations())

        confirmed = _command("ocpi", "pull", "Laadnet", "--full", "--push", "--yes", "--json")
        assert confirmed.returncode == 0, confirmed.stderr
        assert {s["station_id"] for s in oioi.stations() if s["deleted"]} == gone
        for output in (first.stdout, first.stderr, confirmed.stdout, confirmed.stderr):
            assert KEY not in output and back_end.token not in output
    with session_scope() as session:
        cpo = queries.get_cpo(session, actor=SYSTEM, name="Laadnet")
        assert cpo.ocpi_last_full_pull_at is not None
