"""`oioi-onboard validate`: exit codes, the JSON shape, what it says on stderr; Germany's charging register
end to end, what ``validate`` imports and writes, and OCPI Locations as JSON (with --json and --export).

The register has no phone column and no ids: with ``--profile bnetza``, an
operator table naming every operator and ``--set phone=...`` it validates
with no other step, and the export holds every station as a push sends it.
"""

import csv
import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app
from oioi_onboard.oioi.ids import is_evse_id
from oioi_onboard.sheets.template import EXAMPLE_ROWS
from oioi_onboard.store.models import Cpo
from oioi_onboard.testing.sheets import operator_table, operator_table_csv
from oioi_onboard.testing.store import make_cpo
from tests.helpers.sheet_files import BNETZA_SLICE, DATA, SHEETS

ROOT = SHEETS.parents[2]
DEMO = ROOT / "sample_data" / "demo_network.csv"
OCPI = DATA / "ocpi"
ISSUE_KEYS = {"row", "column", "value", "rule", "message", "severity"}
HOTLINE = "+49 228 14 0"
HEADER_ROW = 6


def invoke(*args):
    return CliRunner().invoke(app, ["validate", *map(str, args)])


def write_rows(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_valid_file_exits_0_with_the_json_shape():
    result = invoke(DEMO, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"stations", "stations_valid", "connectors", "errors", "warnings", "skipped", "issues"}
    assert (report["stations"], report["stations_valid"], report["errors"], report["warnings"], report["issues"]) \
        == (280, 280, 0, 0, [])
    assert report["connectors"] > report["stations"]
    assert set(report["skipped"]) == {"operator_not_registered", "evse_id_foreign", "station_id_foreign"}


def test_errors_exit_1_and_each_issue_has_its_row(tmp_path):
    rows = [dict(r) for r in EXAMPLE_ROWS]
    rows[1]["latitude"] = "149.5"  # file row 3
    result = invoke(write_rows(tmp_path / "bad.csv", rows), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["errors"] >= 1
    assert all(set(issue) == ISSUE_KEYS for issue in report["issues"])
    latitude = [i for i in report["issues"] if i["column"] == "latitude"]
    assert latitude[0]["row"] == 3 and latitude[0]["value"] == "149.5" and latitude[0]["severity"] == "error"


def test_text_output_says_what_was_skipped(tmp_path):
    result = invoke(DEMO)
    assert result.exit_code == 0
    assert "280 stations" in result.stdout
    assert "skipped without --cpo" in result.stdout and "operator_not_registered" in result.stdout


@pytest.mark.parametrize(("name", "message"), [
    ("empty.csv", "is empty"),
    ("binary_junk.csv", "not a text or spreadsheet file"),
    ("header_only.csv", "no data rows"),
])
def test_unreadable_file_exits_2_saying_why(name, message):
    result = invoke(SHEETS / name)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


LONG_CELL = "long.csv, row 3, column A: a cell of 200,000 characters; cells up to 131,072 characters are accepted."


@pytest.mark.parametrize("command", [
    ["validate"],
    ["push", "--endpoint", "http://127.0.0.1:9", "--api-key-env", "PUSH_KEY", "--partner-id", "P" * 24],
])
def test_a_cell_over_the_limit_is_one_line_and_exit_2_from_validate_and_push(command, tmp_path):
    """The csv module's field limit once crashed the delimiter sniffing with a traceback (issue 21.4)."""
    path = tmp_path / "long.csv"
    path.write_bytes(b"name,zip\nMarkt,68159\n" + b"x" * 200_000 + b",1\n")
    result = CliRunner().invoke(app, [command[0], str(path), *command[1:]], env={"PUSH_KEY": "key-0000"})
    assert result.exit_code == 2, result.output
    assert LONG_CELL in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_nested_100_000_deep_is_one_line_and_exit_2(tmp_path):
    """It once raised RecursionError with a traceback (issue 21.2, for files)."""
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result = invoke(path)
    assert result.exit_code == 2, result.output
    assert "deeper than 32 levels" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path):
    result = invoke(tmp_path / "nothing.csv")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_unplaceable_fields_are_errors_naming_them(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Foo,Bar,Breitengrad\n1,2,49.5\n", encoding="utf-8")
    result = invoke(path, "--json")
    assert result.exit_code == 1
    unmapped = {i["column"] for i in json.loads(result.stdout)["issues"] if i["rule"] == "field_not_mapped"}
    assert {"longitude", "phone"} <= unmapped and "latitude" not in unmapped
    assert all(i["row"] == 1 for i in json.loads(result.stdout)["issues"] if i["rule"] == "field_not_mapped")


def test_register_without_profile_is_pointed_to_the_bnetza_profile():
    result = invoke(BNETZA_SLICE)
    assert result.exit_code == 1
    assert "no column of the file holds phone" in result.stdout
    assert "--profile bnetza --operators FILE" in result.stderr


def test_suggested_mapping_is_applied_and_reported_on_stderr(tmp_path):
    german = {
        "Stations-ID": "station_id", "Standortname": "station_name", "Breitengrad": "latitude",
        "Längengrad": "longitude", "Straße": "street", "Hausnummer": "street_number", "PLZ": "zip", "Ort": "city",
        "Land": "country", "Telefon": "phone", "Betreiber-ID": "cpo_id", "24h geöffnet": "is_open_24",
        "EVSE-ID": "evse_id", "Steckertyp": "connector_type", "Leistung kW": "speed_kw",
    }
    rows = [{header: row[name] for header, name in german.items()} for row in EXAMPLE_ROWS]
    rows[0]["Steckertyp"], rows[1]["Steckertyp"] = "AC Steckdose Typ 2", "AC Schuko"
    rows[0]["Breitengrad"] = "49,4875"
    result = invoke(write_rows(tmp_path / "deutsch.csv", rows), "--json")
    assert result.exit_code == 0, result.output
    assert "latitude <- 'Breitengrad'" in result.stderr
    assert "connector_type <- 'Steckertyp'" in result.stderr
    assert json.loads(result.stdout)["connectors"] == 2


def test_bnetza_profile_with_operator_table(tmp_path):
    operators = tmp_path / "operators.csv"
    operators.write_text("operator name;operator id\nMVV Energie AG;DE*MVV\n", encoding="utf-8")
    result = invoke(BNETZA_SLICE, "--profile", "bnetza", "--operators", operators, "--json")
    assert result.exit_code == 1  # no phone in the register, unknown operators
    report = json.loads(result.stdout)
    rules = {i["rule"] for i in report["issues"]}
    assert {"operator_unknown", "junk_value", "required"} <= rules
    assert report["stations"] == 331  # every row of the slice: none dropped
    mvv_errors = {i["column"] for i in report["issues"] if i["row"] in (7, 8) and i["severity"] == "error"}
    assert mvv_errors == {"phone"}


def test_bad_operator_table_and_unknown_profile_exit_2(tmp_path):
    operators = tmp_path / "operators.csv"
    operators.write_text("MVV Energie AG,MVV\n", encoding="utf-8")
    result = invoke(BNETZA_SLICE, "--profile", "bnetza", "--operators", operators)
    assert result.exit_code == 2 and "row 1" in result.stderr
    result = invoke(DEMO, "--profile", "no-such-profile")
    assert result.exit_code == 2 and "no mapping profile 'no-such-profile'" in result.stderr
    result = invoke(DEMO, "--profile", "bnetza")
    assert result.exit_code == 2 and "'Betreiber'" in result.stderr


def test_with_cpo_the_registry_checks_run(db):
    from oioi_onboard.store.auth import SYSTEM

    with db() as session:
        demo = make_cpo(session, name="Demo", operator_ids="DE*DMO")
        make_cpo(session, name="Other", operator_ids="DE*OTH")
    result = invoke(DEMO, "--cpo", "Demo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == []

    result = invoke(DEMO, "--cpo", "Other", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {i["rule"] for i in report["issues"]} == {"operator_not_registered"}

    # A profile saved for the CPO is found by name with --cpo.
    from oioi_onboard.sheets.mapping import Mapping
    from oioi_onboard.store.profiles import save_profile

    with db() as session:
        mapping = Mapping(columns={name: name for name in EXAMPLE_ROWS[0]})
        mapping.constants = {"phone": "+49 621 1234567"}
        save_profile(session, actor=SYSTEM, cpo_id=demo.id, name="mine", mapping=mapping)
    result = invoke(DEMO, "--cpo", "Demo", "--profile", "mine", "--json")
    assert result.exit_code == 0, result.output
    assert "profile 'mine'" in result.stderr
    result = invoke(DEMO, "--profile", "mine")
    assert result.exit_code == 2 and "no mapping profile 'mine'" in result.stderr

    result = invoke(DEMO, "--cpo", "Nobody")
    assert result.exit_code == 2 and "no registered CPO named 'Nobody'" in result.stderr


@pytest.mark.slow  # three real processes
def test_real_process_exit_codes_and_no_streamlit(tmp_path):
    env = {**os.environ, "OIOI_DATA_DIR": str(tmp_path / "data")}
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, oioi_onboard.cli; assert 'streamlit' not in sys.modules, 'streamlit'"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert probe.returncode == 0, probe.stderr
    command = [sys.executable, "-m", "oioi_onboard.cli", "validate"]
    ok = subprocess.run([*command, str(DEMO)], capture_output=True, text=True, env=env, check=False)
    assert ok.returncode == 0, ok.stderr
    empty = subprocess.run([*command, str(SHEETS / "empty.csv")], capture_output=True, text=True, env=env,
                           check=False)
    assert empty.returncode == 2 and "is empty" in empty.stderr and "Traceback" not in empty.stderr


# --------------------------------------------------------------------------- the register end to end


def register() -> pd.DataFrame:
    """The slice as plain pandas reads it, with the file's row numbers: the reference."""
    frame = pd.read_excel(BNETZA_SLICE, header=HEADER_ROW - 1, dtype=str, engine="openpyxl").fillna("")
    frame.index = frame.index + HEADER_ROW + 1
    return frame.apply(lambda column: column.str.strip())


def test_register_validates_with_profile_operators_and_a_phone(tmp_path):
    df = register()
    ids = operator_table(df["Betreiber"])
    (tmp_path / "operators.csv").write_bytes(operator_table_csv(ids))
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(app, [
        "validate", str(BNETZA_SLICE), "--profile", "bnetza", "--operators", str(tmp_path / "operators.csv"),
        "--set", f"phone={HOTLINE}", "--json", "--export", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stations"] == report["stations_valid"] == len(df)  # one station per register row
    assert report["errors"] == 0
    # What remains are the register's own placeholders, as warnings.
    assert {i["rule"] for i in report["issues"]} == {"junk_value"}

    exported = pd.read_csv(io.StringIO(out.read_bytes().decode("utf-8-sig")), dtype=str, keep_default_na=False)
    assert len(exported) == report["connectors"]
    assert (exported["phone"] == HOTLINE).all() and (exported["country"] == "DE").all()
    assert (exported["is_open_24"] == "true").all()
    assert exported["evse_id"].map(is_evse_id).all()
    assert exported["station_id"].nunique() == len(df)
    # Each station's operator id is the one the table gives its operator.
    stations = exported.drop_duplicates("station_id")
    by_address = df.drop_duplicates(["Adresse", "Postleitzahl Ort", "Breitengrad [DG]"])
    for _, row in by_address.head(40).iterrows():
        zip_code, city = row["Postleitzahl Ort"].split(" ", 1)
        match = stations[(stations["zip"] == zip_code) & (stations["city"] == city.strip())
                         & (stations["latitude"].astype(float).round(5) == round(float(row["Breitengrad [DG]"]), 5))]
        assert len(match) >= 1, row.to_dict()
        assert set(match["cpo_id"]) == {ids[row["Betreiber"]]}


def test_export_of_a_file_with_errors_leaves_those_stations_out(tmp_path):
    path = tmp_path / "two.csv"
    rows = (SHEETS / "addresses_gb.csv").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace("GB*ABC*E2001", "XX-1")  # a broken EVSE id
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["validate", str(path), "--export", str(out)])
    assert result.exit_code == 1
    assert "2 stations written" in result.stderr and "1 with errors left out" in result.stderr
    exported = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert exported["station_id"].tolist() == ["GB*ABC*S1", "GB*ABC*S3"]


def test_export_to_a_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(SHEETS / "addresses_gb.csv"), "--export", str(tmp_path)])
    assert result.exit_code == 2 and "cannot be written" in result.stderr and "Traceback" not in result.output


def test_validate_without_cpo_does_not_load_the_store(tmp_path):
    """Checking a file is a reading job: SQLModel and the database layer stay unloaded (they cost a second)."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from oioi_onboard.cli import app\n"
        f"result = CliRunner().invoke(app, ['validate', {str(SHEETS / 'irve_v3.csv')!r}, '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = sorted(m for m in sys.modules if m == 'sqlmodel' or m.startswith('oioi_onboard.store'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "OIOI_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr


# --- OCPI Locations as JSON -----------------------------------------------------------------------

PHONE = ("--set", "phone=+49 30 123456")


def exported(path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_shape_of_the_network_is_valid_with_a_phone():
    for name in ("network.json", "network_response.json", "network.jsonl"):
        result = invoke(OCPI / name, "--json", *PHONE)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["stations"], report["stations_valid"], report["connectors"], report["errors"],
                report["warnings"], report["issues"]) == (3, 3, 6, 0, 0, [])
        assert "mapping: read as OCPI 2.2.1 Locations, no column mapping needed: 3 Locations" in result.stderr


def test_the_spec_example_lacks_what_ocpi_does_not_carry():
    result = invoke(OCPI / "location_example.json", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    # The phone is not in OCPI, and the example gives no opening times: the CPO's defaults or --set fill them.
    assert [(i["row"], i["column"], i["rule"]) for i in report["issues"]] == [(1, "phone", "required"),
                                                                              (1, "is_open_24", "required")]
    result = invoke(OCPI / "location_example.json", "--json", "--set", "phone=+32 12 34 56 78", "--set",
                    "is_open_24=yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stations_valid"] == 1


def test_errors_and_warnings_of_ocpi_files_in_the_json_report():
    result = invoke(OCPI / "no_oioi_plug.json", "--json", *PHONE)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["stations"], report["stations_valid"], report["errors"]) == (1, 0, 3)
    [gbt, *_] = report["issues"]
    assert gbt == {"row": 1, "column": "connector_type", "value": "GBT_DC", "rule": "ocpi_connector_standard",
                   "message": "Location 'CN-1', EVSE 'CN-1-2' (DE*OCP*E0101*2), connector '1': standard 'GBT_DC': "
                              "OIOI has no plug for it, so the station cannot be pushed", "severity": "error"}

    result = invoke(OCPI / "not_pushed.json", "--json", *PHONE)
    assert result.exit_code == 0  # warnings only
    report = json.loads(result.stdout)
    assert [i["rule"] for i in report["issues"]] == ["ocpi_evse_not_pushed", "ocpi_not_published", "ocpi_no_evses"]
    assert "mapping: not pushed: 1 Location with publish: false, 2 EVSEs PLANNED or REMOVED, 1 EVSE " \
           "without evse_id" in result.stderr

    result = invoke(OCPI / "bad_coordinates.json")
    assert result.exit_code == 1
    assert "row 3, latitude: error: Location 'SHORT' is not valid OCPI and was left out: coordinates.latitude: " \
           "latitude '49.48' is not of the form" in result.stdout


def test_export_writes_what_a_push_would_send(tmp_path):
    target = tmp_path / "export.csv"
    result = invoke(OCPI / "network.jsonl", "--export", target, *PHONE)
    assert result.exit_code == 0, result.output
    assert f"export: 3 stations written to {target}" in result.stderr
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
    result = invoke(OCPI / "no_oioi_plug.json", "--export", blocked, *PHONE)
    assert result.exit_code == 1
    assert "export: 0 stations written" in result.stderr and "1 with errors left out" in result.stderr
    assert exported(blocked) == []


def test_a_failure_response_or_json_without_locations_exits_2_saying_why():
    result = invoke(OCPI / "response_2001.json")
    assert result.exit_code == 2
    assert "status_code 2001: Invalid or missing parameters: date_from" in result.stderr
    result = invoke(OCPI / "table_rows.jsonl")
    assert result.exit_code == 2 and "holds no OCPI Locations" in result.stderr
    result = invoke(OCPI / "network.json", "--profile", "bnetza")
    assert result.exit_code == 2
    assert "network.json holds OCPI Locations, which are read without a mapping profile" in result.stderr


def test_sheet_chooses_the_workbooks_sheet_and_the_default_is_the_widest_table(tmp_path):
    from tests.helpers.sheet_files import instructions_first_xlsx

    path = tmp_path / "stacje.xlsx"
    path.write_bytes(instructions_first_xlsx())
    result = invoke(path, "--json")
    assert json.loads(result.stdout)["stations"] == 2
    assert "file: read sheet 'Stacje', the widest table (other sheets with data: 'Instrukcja')" in result.stderr
    result = invoke(path, "--json", "--sheet", "Instrukcja")
    assert "file: read sheet 'Instrukcja', as chosen" in result.stderr
    result = invoke(path, "--sheet", "Arkusz1")
    assert result.exit_code == 2 and "has no sheet 'Arkusz1'; its sheets: 'Instrukcja', 'Stacje'." in result.stderr


def test_with_the_cpo_a_row_without_an_evse_id_takes_the_cpos_operator_id_as_on_the_page(db, tmp_path):
    with db() as session:
        make_cpo(session, name="Demo", operator_ids="DE*DMO")
    frame = pd.read_csv(DEMO, dtype=str, keep_default_na=False, nrows=3).drop(columns=["cpo_id"])
    frame.loc[2, "evse_id"] = ""  # the operator id comes from the EVSE ids, and for this row from the CPO
    path = tmp_path / "one_without_id.csv"
    frame.to_csv(path, index=False)
    issues = json.loads(invoke(path, "--json", "--cpo", "Demo").stdout)["issues"]
    assert not [i for i in issues if i["column"] == "cpo_id"], issues
    assert [(i["row"], i["column"], i["rule"]) for i in issues if i["severity"] == "error"] == [
        (4, "evse_id", "required")]


def test_with_the_cpo_its_defaults_fill_the_phone_and_the_registry_is_checked(db):
    with db() as session:
        cpo = make_cpo(session, name="OCPI CPO", operator_ids="DE*OCP")
        session.get(Cpo, cpo.id).defaults = {"phone": "+49 621 1234567"}
    result = invoke(OCPI / "network.json", "--json", "--cpo", "OCPI CPO")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["stations_valid"], report["skipped"], report["issues"]) == (3, [], [])
    assert "mapping: phone: empty cells from the CPO's defaults ('+49 621 1234567')" in result.stderr

    result = invoke(OCPI / "location_example.json", "--json", "--cpo", "OCPI CPO", "--set", "is_open_24=yes")
    assert result.exit_code == 1
    assert {i["rule"] for i in json.loads(result.stdout)["issues"]} == {"operator_not_registered"}  # BE*BEC


def test_messages_name_no_surface_the_command_line_says_how_and_the_files_own_country_is_suggested(tmp_path):
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:5]
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("phone", "country")]
    path = tmp_path / "no_phone.csv"
    path.write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in lines) + "\n", encoding="utf-8")
    result = invoke(path, "--json")
    messages = {issue["rule"]: issue["message"] for issue in json.loads(result.stdout)["issues"]}
    assert messages["field_not_mapped"] == ("no column of the file holds phone: choose the column that does, or give "
                                            "the value every station shares as the CPO's default")
    assert "(DE?) as the CPO's default" in messages["country_inferred"]  # the demo network is German
    result = invoke(path)
    assert "a value every station shares: --set country=VALUE --set phone=VALUE, or the CPO's defaults with --cpo" \
        in result.stdout.splitlines()

    result = invoke(SHEETS / "values_only_ro.csv", "--json")
    [inferred] = [i["message"] for i in json.loads(result.stdout)["issues"] if i["rule"] == "country_inferred"]
    assert "(RO?)" in inferred and "DE" not in inferred
    assert not any("under Columns" in line for line in result.output.splitlines())
