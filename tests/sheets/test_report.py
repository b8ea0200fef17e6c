"""The issue report: what a spreadsheet would run as a formula is neutralised."""

import csv
import io

import pandas as pd
from openpyxl import load_workbook

from oioi_onboard.sheets.issues import ISSUE_COLUMNS, Severity, concat_issues, make_issues
from oioi_onboard.sheets.report import issues_csv, issues_xlsx
from oioi_onboard.sheets.validate import validate
from oioi_onboard.testing.sheets import set_station, valid_frame

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
SAFE = ["Marktplatz", "49.4875", "DE*8PS*E1", ""]


def _issues() -> pd.DataFrame:
    values = HOSTILE + SAFE
    return concat_issues([
        make_issues(range(2, 2 + len(values)), "notes", values, "formula_like", "=looks like a formula",
                    Severity.WARNING),
        make_issues([40], "station_name", ["bell\x07here"], "control_characters", "control", Severity.WARNING),
    ])


def test_csv_neutralises_formula_cells():
    data = issues_csv(_issues())
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM so Excel reads UTF-8
    back = pd.DataFrame(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))))
    assert list(back.columns) == ISSUE_COLUMNS
    values = back["value"].tolist()
    assert values[: len(HOSTILE)] == ["'" + v for v in HOSTILE]
    assert values[len(HOSTILE): len(HOSTILE) + len(SAFE)] == SAFE
    assert set(back["message"]) == {"'=looks like a formula", "control"}
    assert back["row"].tolist()[0] == "2"


def test_xlsx_has_no_formula_cells():
    workbook = load_workbook(io.BytesIO(issues_xlsx(_issues())))
    sheet = workbook["Issues"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ISSUE_COLUMNS
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    values = [r[2] for r in rows[1:]]
    # XML turns a carriage return into a line feed; the apostrophe still leads.
    assert values[: len(HOSTILE)] == ["'" + v.replace("\r", "\n") for v in HOSTILE]
    assert values[-1] == "bell\ufffdhere"  # XML cannot hold the control character
    assert rows[1][0] == 2  # row numbers stay numbers


def test_report_of_a_real_validation():
    result = validate(set_station(valid_frame(), "DE*8PS*S0002", notes="=HYPERLINK(\"http://x\")", email="a@"))
    csv_text = issues_csv(result.issues).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text and "email_syntax" in csv_text
    assert load_workbook(io.BytesIO(issues_xlsx(result.issues)))["Issues"].max_row == len(result.issues) + 1


def test_empty_report():
    empty = validate(valid_frame()).issues
    assert issues_csv(empty).decode("utf-8-sig").strip() == ",".join(ISSUE_COLUMNS)
    assert load_workbook(io.BytesIO(issues_xlsx(empty)))["Issues"].max_row == 1
