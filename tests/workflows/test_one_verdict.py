"""One file, one verdict: the import page, ``oioi-onboard validate`` and ``oioi-onboard push`` agree.

Five files of different kinds go through the three paths for the same CPO;
the counts and the issue table must be the same on each, because all three
run ``workflows.imports``. Push runs last (it stores the import) against the
real sandbox over loopback.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from oioi_onboard.cli import app as cli_app
from oioi_onboard.store.auth import SYSTEM, create_user
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Role
from oioi_onboard.store.registry import register_cpo
from oioi_onboard.testing.sandbox import running_sandbox

pytestmark = pytest.mark.slow  # five files through the page, validate and push on a real sandbox

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "views" / "import_stations.py")
KEY = "verdict-test-key-51c2"

FRENCH = (
    "Identifiant station;Nom de la station;Latitude;Longitude;Rue;Numéro;Code postal;Ville;Pays;Téléphone;"
    "Opérateur;Identifiant EVSE;Type de prise;Puissance kW\n"
    "DE*DMO*SFR1;Parking Gare;48,8443;2,3744;Rue de Lyon;12;75012;Paris;FR;+33 1 44 68 00 00;DE*DMO;"
    "DE*DMO*EFR1;Type2;22\n"
    "DE*DMO*SFR1;Parking Gare;48,8443;2,3744;Rue de Lyon;12;75012;Paris;FR;+33 1 44 68 00 00;DE*DMO;"
    "DE*DMO*EFR2;CCS;50\n"
    "DE*DMO*SFR2;Mairie;45,7640;4,8357;Place de la Comédie;1;69001;Lyon;FR;;DE*DMO;DE*DMO*EFR3;Type2;11\n"
)


def _files(tmp_path: Path) -> dict[str, Path]:
    french = tmp_path / "bornes.csv"
    french.write_text(FRENCH, encoding="utf-8")
    return {
        "clean": ROOT / "sample_data" / "demo_network.csv",
        "broken": ROOT / "sample_data" / "broken_stations.csv",
        "french headers": french,
        "register slice": ROOT / "tests" / "data" / "bnetza-slice.xlsx",
        "hostile": ROOT / "tests" / "data" / "hostile" / "formula_injection.csv",
    }


def _records(issues) -> list[tuple]:  # noqa: ANN001
    return [(int(i["row"]), str(i["column"]), str(i["value"]), str(i["rule"]), str(i["message"]), str(i["severity"]))
            for i in issues]


@pytest.fixture
def verdict_cpo():
    migrate()
    with session_scope() as session:
        register_cpo(session, actor=SYSTEM, name="Verdict CPO", operator_ids=["DE*DMO", "DE*8PS"], endpoint="sandbox",
                     api_key=None)
        create_user(session, actor=SYSTEM, name="staff", role=Role.CPO_STAFF, password="x" * 12,
                    cpo_names=["Verdict CPO"])


@pytest.mark.parametrize("kind", ["clean", "broken", "french headers", "register slice", "hostile"])
def test_page_validate_and_push_give_one_verdict(kind, tmp_path, verdict_cpo):
    path = _files(tmp_path)[kind]

    page = AppTest.from_file(PAGE, default_timeout=120)
    page.session_state["oioi_user"] = "staff"
    page.session_state["import_upload"] = {"name": path.name, "data": path.read_bytes()}
    page = page.run()
    assert not page.exception, page.exception
    on_page = page.session_state["import_work"]["validation"]

    result = CliRunner().invoke(cli_app, ["validate", str(path), "--cpo", "Verdict CPO", "--json"])
    assert result.exit_code == (1 if on_page.errors else 0), result.output
    report = json.loads(result.stdout)
    assert (report["stations"], report["stations_valid"], report["connectors"], report["errors"],
            report["warnings"]) == (on_page.stations, len(on_page.valid_station_ids()), on_page.connectors,
                                    on_page.errors, on_page.warnings)
    assert _records(report["issues"]) == _records(on_page.issues.to_dict("records"))

    with running_sandbox(tmp_path / "sandbox", api_keys=(KEY,)) as sandbox:
        env = {**os.environ, "PUSH_KEY": KEY}
        pushed = subprocess.run(
            [sys.executable, "-m", "oioi_onboard.cli", "push", str(path), "--cpo", "Verdict CPO", "--endpoint",
             sandbox.url, "--api-key-env", "PUSH_KEY", "--partner-id", sandbox.partner_id, "--json"],
            capture_output=True, text=True, env=env, timeout=300,
        )
    assert pushed.returncode in (0, 1), pushed.stderr
    summary = json.loads(pushed.stdout)
    assert summary["stations_in_file"] == on_page.stations
    assert len(summary["blocked"]) == len(on_page.blocked_station_ids())
    assert summary["acknowledged"] == len(on_page.valid_station_ids())
    assert summary["ok"] == (not on_page.blocked_station_ids())
    assert KEY not in pushed.stdout + pushed.stderr
