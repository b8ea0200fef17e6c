"""`oioi-onboard validate FILE.json`: OCPI Locations through the command, with --json and --export."""

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from oioi_onboard.cli import app
from oioi_onboard.store.models import Cpo
from oioi_onboard.testing.store import make_cpo

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"
PHONE = ("--set", "phone=+49 30 123456")


def invoke(*args):
    return CliRunner().invoke(app, ["validate", *map(str, args)])


def exported(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_shape_of_the_network_is_valid_with_a_phone():
    for name in ("network.json", "network_response.json", "network.jsonl"):
        result = invoke(DATA / name, "--json", *PHONE)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["stations"], report["stations_valid"], report["connectors"], report["errors"],
                report["warnings"], report["issues"]) == (3, 3, 6, 0, 0, [])
        assert "mapping: read as OCPI 2.2.1 Locations, no column mapping needed: 3 Location(s)" in result.stderr


def test_the_spec_example_lacks_what_ocpi_does_not_carry():
    result = invoke(DATA / "location_example.json", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    # The phone is not in OCPI, and the example gives no opening times: the CPO's defaults or --set fill them.
    assert [(i["row"], i["column"], i["rule"]) for i in report["issues"]] == [(1, "phone", "required"),
                                                                              (1, "is_open_24", "required")]
    result = invoke(DATA / "location_example.json", "--json", "--set", "phone=+32 12 34 56 78", "--set",
                    "is_open_24=yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stations_valid"] == 1


def test_errors_and_warnings_of_ocpi_files_in_the_json_report():
    result = invoke(DATA / "no_oioi_plug.json", "--json", *PHONE)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["stations"], report["stations_valid"], report["errors"]) == (1, 0, 3)
    [gbt, *_] = report["issues"]
    assert gbt == {"row": 1, "column": "connector_type", "value": "GBT_DC", "rule": "ocpi_connector_standard",
                   "message": "Location 'CN-1', EVSE 'CN-1-2' (DE*OCP*E0101*2), connector '1': standard 'GBT_DC': "
                              "OIOI has no plug for it, so the station cannot be pushed", "severity": "error"}

    result = invoke(DATA / "not_pushed.json", "--json", *PHONE)
    assert result.exit_code == 0  # warnings only
    report = json.loads(result.stdout)
    assert [i["rule"] for i in report["issues"]] == ["ocpi_evse_not_pushed", "ocpi_not_published", "ocpi_no_evses"]
    assert "mapping: not pushed: 1 Location(s) with publish: false, 2 EVSE(s) PLANNED or REMOVED, 1 EVSE(s) " \
           "without evse_id" in result.stderr

    result = invoke(DATA / "bad_coordinates.json")
    assert result.exit_code == 1
    assert "row 3, latitude: error: Location 'SHORT' is not valid OCPI and was left out: coordinates.latitude: " \
           "latitude '49.48' is not of the form" in result.stdout


def test_export_writes_what_a_push_would_send(tmp_path):
    target = tmp_path / "export.csv"
    result = invoke(DATA / "network.jsonl", "--export", target, *PHONE)
    assert result.exit_code == 0, result.output
    assert f"export: 3 station(s) written to {target}" in result.stderr
    rows = exported(target)
    assert [(r["station_id"], r["evse_id"], r["connector_type"], r["speed_kw"]) for r in rows] == [
        ("DE*OCP*MA-001", "DE*OCP*E0001*1", "Type2", "22.08"),
        ("DE*OCP*MA-001", "DE*OCP*E0001*2", "Chademo", "50"),
        ("DE*OCP*MA-001", "DE*OCP*E0001*2", "Combo", "150"),
        ("DE*OCP*HD-007", "DE*OCP*E0007*1", "Schuko", "3.68"),
        ("DE*OCP*HD-007", "DE*OCP*E0007*1", "Type2", "11.04"),
        ("DE*OCP*LU-042", "DE*OCP*E0042*1", "Type2", "22.08"),
    ]
    yard = rows[3]
    assert (yard["station_name"], yard["street"], yard["street_number"], yard["zip"], yard["city"], yard["country"],
            yard["phone"], yard["web"], yard["cpo_id"], yard["is_open_24"], yard["open_hours"]) == (
        "OCPI Demo Energie", "Bergheimer Straße", "7", "69115", "Heidelberg", "DE", "+49 30 123456",
        "https://ocpi-demo.example.com", "DE*OCP", "false", "Mo-Fr 07:00-20:00; Sa 08:00-14:00")

    blocked = tmp_path / "blocked.csv"
    result = invoke(DATA / "no_oioi_plug.json", "--export", blocked, *PHONE)
    assert result.exit_code == 1
    assert "export: 0 station(s) written" in result.stderr and "1 with errors left out" in result.stderr
    assert exported(blocked) == []


def test_a_failure_response_or_json_without_locations_exits_2_saying_why():
    result = invoke(DATA / "response_2001.json")
    assert result.exit_code == 2
    assert "status_code 2001: Invalid or missing parameters: date_from" in result.stderr
    result = invoke(DATA / "table_rows.jsonl")
    assert result.exit_code == 2 and "holds no OCPI Locations" in result.stderr
    result = invoke(DATA / "network.json", "--profile", "bnetza")
    assert result.exit_code == 2
    assert "network.json holds OCPI Locations, which are read without a mapping profile" in result.stderr


def test_with_the_cpo_its_defaults_fill_the_phone_and_the_registry_is_checked(db):
    with db() as session:
        cpo = make_cpo(session, name="OCPI CPO", operator_ids="DE*OCP")
        session.get(Cpo, cpo.id).defaults = {"phone": "+49 621 1234567"}
    result = invoke(DATA / "network.json", "--json", "--cpo", "OCPI CPO")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["stations_valid"], report["skipped"], report["issues"]) == (3, [], [])
    assert "mapping: phone: empty cells from the CPO's defaults ('+49 621 1234567')" in result.stderr

    result = invoke(DATA / "location_example.json", "--json", "--cpo", "OCPI CPO", "--set", "is_open_24=yes")
    assert result.exit_code == 1
    assert {i["rule"] for i in json.loads(result.stdout)["issues"]} == {"operator_not_registered"}  # BE*BEC
