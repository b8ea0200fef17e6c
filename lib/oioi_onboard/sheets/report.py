"""The issue report as CSV and XLSX, safe to open in a spreadsheet, fast for 100,000 issues.

Issue values come from the user's file and may be hostile. A cell starting with
``= + - @`` (or a tab or carriage return, which some spreadsheets skip before
reading a formula) would run as a formula when the report is opened, so such
cells get a leading apostrophe: the spreadsheet then shows them as text.
"""

import io
import re
import zipfile
from html import escape as _html_escape

import numpy as np
import pandas as pd

from .issues import ISSUE_COLUMNS

__all__ = ["issues_csv", "issues_xlsx", "neutralise"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_WIDTHS = {"row": 8, "column": 18, "value": 30, "rule": 26, "message": 80, "severity": 10}
# XML 1.0 cannot hold most control characters (openpyxl's ILLEGAL_CHARACTERS_RE): they show as U+FFFD.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _per_value(values: pd.Series, function) -> np.ndarray:
    """``function`` once per distinct value: a report repeats its rules and messages thousands of times."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    table = np.array([function("" if u is None or u != u else u) for u in uniques] or [""], dtype=object)
    return table[codes]


def _safe(issues: pd.DataFrame) -> pd.DataFrame:
    frame = issues.reindex(columns=ISSUE_COLUMNS).copy()
    for name in ISSUE_COLUMNS:
        if name != "row":
            frame[name] = pd.Series(_per_value(frame[name], neutralise), index=frame.index, dtype=object)
    return frame


def issues_csv(issues: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel shows umlauts right.

    CRLF line ends (RFC 4180) also make the writer quote a cell holding a bare
    carriage return, which would otherwise split its row.
    """
    return _safe(issues).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _column_letter(index: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index]


def _text_cell(text: str) -> str:
    """An inline string cell: always text, never a formula, whatever it starts with."""
    escaped = _html_escape(_ILLEGAL.sub(chr(0xFFFD), text), quote=False)  # &, < and >, as XML text needs
    return f'<c t="inlineStr"><is><t xml:space="preserve">{escaped}</t></is></c>'


_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Issues" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'styles" Target="styles.xml"/></Relationships>'
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
    ),
}


def issues_xlsx(issues: pd.DataFrame) -> bytes:
    """Sheet "Issues": the header frozen and filtered, row numbers as numbers, every other cell as text.

    The sheet's XML is written directly, each distinct text escaped once: a
    cell-by-cell workbook library took 20 s for the register's 70,000 issues.
    """
    frame = _safe(issues)
    texts = [_per_value(frame[name], lambda v: _text_cell(str(v))) for name in ISSUE_COLUMNS[1:]]
    numbers = pd.to_numeric(frame["row"], errors="coerce")
    first = np.where(numbers.notna(), "<c><v>" + numbers.fillna(0).astype("int64").astype(str) + "</v></c>",
                     _per_value(frame["row"], lambda v: _text_cell(str(v)))) if len(frame) else []
    header = "".join(_text_cell(name) for name in ISSUE_COLUMNS)
    rows = [f'<row r="1">{header}</row>']
    rows += [f'<row r="{n}">{"".join(cells)}</row>' for n, cells in enumerate(zip(first, *texts, strict=True), start=2)]
    last = f"{_column_letter(len(ISSUE_COLUMNS) - 1)}{len(frame) + 1}"
    widths = "".join(f'<col min="{i}" max="{i}" width="{_WIDTHS[name]}" customWidth="1"/>'
                     for i, name in enumerate(ISSUE_COLUMNS, start=1))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        f'<cols>{widths}</cols><sheetData>{"".join(rows)}</sheetData><autoFilter ref="A1:{last}"/></worksheet>'
    )
    buffer = io.BytesIO()
    # Light compression: the sheet is mostly repeated messages, and the best level cost half a second more.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, part in _PARTS.items():
            archive.writestr(name, part)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()
