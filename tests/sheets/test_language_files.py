"""A CPO's own export in its own language maps itself: no hand mapping, no error, every connector exported right.

The files (tests/data/sheets, written by make_language_files.py) are in Italian
(XLSX), Spanish, Portuguese, Polish, Czech, Swedish and Hungarian, each with
the CPO's own station codes, one-line addresses, yes/no words, plug names and
decimal commas as that language writes them; a Romanian one has the headers
col1 .. col10 and maps from its values alone. Each goes through ``oioi-onboard
validate --export`` with no option at all.
"""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app
from oioi_onboard.sheets.canonical import NAMES
from tests.data.sheets import make_language_files
from tests.helpers.sheet_files import SHEETS

LANGUAGE_FILES = [name for name in make_language_files.STATIONS if name != "values_only_ro.csv"]
OPERATOR_NAMES = "laadpalen_benelux.csv"


def validate_and_export(path, tmp_path):
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["validate", str(path), "--json", "--export", str(out)])
    assert "Traceback" not in result.output, result.output
    report = json.loads(result.stdout)
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    return result, report, rows


def expected(name: str) -> list[dict[str, str]]:
    """What the file says, as the canonical table has it; the operator id is the EVSE ids' operator part."""
    return [{**dict.fromkeys(NAMES, ""), **row, "cpo_id": row["evse_id"].rsplit("*", 1)[0]}
            for row in make_language_files.STATIONS[name]]


def test_the_files_are_what_the_generator_writes():
    for name, data in make_language_files.files().items():
        assert (SHEETS / name).read_bytes() == data, f"{name} differs: run tests/data/sheets/make_language_files.py"


@pytest.mark.parametrize("name", LANGUAGE_FILES)
def test_an_export_in_its_own_language_maps_itself(tmp_path, name):
    result, report, rows = validate_and_export(SHEETS / name, tmp_path)
    assert result.exit_code == 0, result.output
    assert (report["stations"], report["stations_valid"], report["connectors"]) == (3, 3, 5)
    assert (report["errors"], report["warnings"]) == (0, 0), report["issues"]
    assert rows == expected(name)
    # Every field the file holds was placed by its header and its values alike, and says so.
    mapping = [line for line in result.stderr.splitlines() if line.startswith("mapping: ")]
    for field in ("station_id", "evse_id", "connector_type", "speed_kw", "latitude", "phone"):
        [line] = [line for line in mapping if line.startswith(f"mapping: {field} <- ")]
        assert "its header; values look like" in line, line
    assert not any("generated" in line for line in mapping)  # the CPO's own station codes are kept


def test_a_file_with_nonsense_headers_maps_from_its_values_alone(tmp_path):
    result, report, rows = validate_and_export(SHEETS / "values_only_ro.csv", tmp_path)
    assert result.exit_code == 0, result.output
    assert (report["stations"], report["stations_valid"], report["connectors"], report["errors"]) == (3, 3, 5, 0)
    assert rows == expected("values_only_ro.csv")
    # What the values alone cannot make sure of is said, as warnings: the country (from the ids) and the guesses.
    assert {issue["rule"] for issue in report["issues"]} <= {"country_inferred", "mapping_unsure"}
    assert "mapping: evse_id <- 'col7' (values look like EVSE ids, 5/5)" in result.stderr.splitlines()


def test_an_operator_name_column_without_an_operator_table_takes_the_ids_from_the_evse_ids(tmp_path):
    result, report, rows = validate_and_export(SHEETS / OPERATOR_NAMES, tmp_path)
    assert (report["errors"], report["warnings"]) == (0, 0), report["issues"]
    assert {row["cpo_id"] for row in rows} == {"NL*EVB", "BE*EVB"}  # one operator, an id in each country
    assert "the names in 'Operator' are kept as the operators' display names" in result.stderr


def test_a_name_that_differs_for_one_operator_id_is_a_warning_not_an_error(tmp_path):
    lines = (SHEETS / OPERATOR_NAMES).read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace("EV Benelux", "Laadpaal BV")  # AMS-02, whose EVSE id says NL*EVB
    changed = tmp_path / "renamed.csv"
    changed.write_text("".join(lines), encoding="utf-8")
    result, report, rows = validate_and_export(changed, tmp_path)
    assert report["errors"] == 0 and report["stations_valid"] == 3, report["issues"]
    [issue] = report["issues"]
    assert (issue["rule"], issue["severity"], issue["row"]) == ("operator_name_mismatch", "warning", 4)
    assert "'Laadpaal BV'" in issue["message"] and "NL*EVB" in issue["message"] and "'EV Benelux'" in issue["message"]
