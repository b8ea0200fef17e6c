"""The issue report as CSV and XLSX, safe to open in a spreadsheet.

Issue values come from the user's file and may be hostile. A cell starting with
``= + - @`` (or a tab or carriage return, which some spreadsheets skip before
reading a formula) would run as a formula when the report is opened, so such
cells get a leading apostrophe: the spreadsheet then shows them as text.
"""

import io

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

from .issues import ISSUE_COLUMNS

__all__ = ["issues_csv", "issues_xlsx", "neutralise"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_WIDTHS = {"row": 8, "column": 18, "value": 30, "rule": 26, "message": 80, "severity": 10}


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _safe(issues: pd.DataFrame) -> pd.DataFrame:
    frame = issues.reindex(columns=ISSUE_COLUMNS).copy()
    for name in ISSUE_COLUMNS:
        if name != "row":
            frame[name] = frame[name].astype("object").where(frame[name].notna(), "").map(neutralise)
    return frame


def issues_csv(issues: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel shows umlauts right.

    CRLF line ends (RFC 4180) also make the writer quote a cell holding a bare
    carriage return, which would otherwise split its row.
    """
    return _safe(issues).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def issues_xlsx(issues: pd.DataFrame) -> bytes:
    frame = _safe(issues)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Issues"
    sheet.append(ISSUE_COLUMNS)
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            if isinstance(value, str):
                # XML cannot hold most control characters: show them as U+FFFD.
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            elif hasattr(value, "item"):
                value = value.item()
            cells.append(value)
        sheet.append(cells)
    for index, name in enumerate(ISSUE_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS[name]
        sheet.cell(row=1, column=index).data_type = "s"
    # A string cell beginning with "=" would be written as a formula: force every text cell to text.
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
