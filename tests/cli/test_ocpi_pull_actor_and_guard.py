"""``oioi-onboard ocpi pull`` acts as the person at the command line (``cli:<login>``), as ``push`` does, and its
``--push`` is held by the mass-replacement guard unless ``--replace-all``: against the real OCPI sandbox
processes and the real OIOI sandbox."""

import getpass
import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import AuditLog, ImportRecord, PushRun
from oioi_onboard.store.ocpi_connection import set_ocpi_connection
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.store import make_cpo

runner = CliRunner()
KEY = "pull-guard-key-5d1c"


def test_ocpi_pull_records_the_person_at_the_command_line(cli, db, tmp_path):
    with running_ocpi_sandbox(tmp_path / "ocpi", locations=6, page_limit=4) as back_end:
        with db() as session:
            cpo = make_cpo(session, name="Laadnet", operator_ids="BE*OCS")
            cpo.defaults = {"phone": "+32 9 265 81 11"}
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=back_end.versions_url,
                                token=back_end.token)
        result = runner.invoke(cli, ["ocpi", "pull", "Laadnet"])
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        record = session.exec(select(ImportRecord)).one()
        assert record.user_name == f"cli:{getpass.getuser()}"
        entries = session.exec(select(AuditLog).where(AuditLog.cpo_id == cpo.id,
                                                        AuditLog.user_name == record.user_name)).all()
        assert entries, "the import's audit entry names the person at the command line"


@pytest.mark.slow  # two OCPI back ends and the OIOI sandbox as processes
def test_ocpi_pull_push_that_replaces_every_station_needs_replace_all(cli, db, tmp_path):
    with running_sandbox(tmp_path / "oioi", api_keys=(KEY,)) as oioi, \
            running_ocpi_sandbox(tmp_path / "be", locations=8, page_limit=5) as belgian, \
            running_ocpi_sandbox(tmp_path / "nl", locations=8, page_limit=5, country="NL") as dutch:
        with db() as session:
            cpo = make_cpo(session, name="Laadnet", operator_ids=["BE*OCS", "NL*OCS"], endpoint=oioi.url,
                           api_key=KEY, partner_ids=oioi.partner_id)
            cpo.defaults = {"phone": "+32 9 265 81 11"}
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=belgian.versions_url,
                                token=belgian.token)
        first = runner.invoke(cli, ["ocpi", "pull", "Laadnet", "--push", "--json"])
        assert first.exit_code == 0, first.output
        live = {s["station_id"] for s in oioi.stations() if not s["deleted"]}
        assert live and all(station.startswith("BE*OCS*") for station in live)

        # The same CPO's back end moved, and its Locations now come under other ids: a full pull would delete
        # every live station and push as many new ones. --yes does not let that through.
        with db() as session:
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=dutch.versions_url,
                                token=dutch.token)
        refused = runner.invoke(cli, ["ocpi", "pull", "Laadnet", "--full", "--push", "--yes"])
        assert refused.exit_code == 1, refused.output
        assert "not sent, refused even with --yes" in refused.stdout and "--replace-all" in refused.stdout
        assert {s["station_id"] for s in oioi.stations() if not s["deleted"]} == live

        replaced = runner.invoke(cli, ["ocpi", "pull", "Laadnet", "--full", "--push", "--replace-all", "--json"])
        assert replaced.exit_code == 0, replaced.output
        assert json.loads(replaced.stdout)["push"]["ok"]
        now_live = {s["station_id"] for s in oioi.stations() if not s["deleted"]}
        assert now_live and all(station.startswith("NL*OCS*") for station in now_live)
    with session_scope() as session:
        runs = session.exec(select(PushRun).order_by(PushRun.id)).all()
        assert {run.user_name for run in runs} == {f"cli:{getpass.getuser()}"}
