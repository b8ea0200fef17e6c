"""A sheet measured on its XML reaches at least as far as calamine builds it: one shape per way to write a sheet."""

import io
import zipfile

import pytest
from python_calamine import CalamineWorkbook

from oioi_onboard.sheets import extent
from tests.helpers.sheet_files import ods_bytes, xlsx_bytes

LIMITS = extent.Limits(rows=10**7, columns=10**5, cells=10**12)
CELL = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'


def built(data: bytes) -> tuple[int, int]:
    """Rows and columns of the block calamine builds, counted from A1."""
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheet = workbook.get_sheet_by_name(workbook.sheet_names[0])
    return (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)


def measured(data: bytes, limits: extent.Limits = LIMITS) -> extent.Extent:
    archive = zipfile.ZipFile(io.BytesIO(data))
    if "content.xml" in archive.NameToInfo:
        return next(iter(extent.measure_ods(archive, limits).values()))
    return extent.measure_xlsx(archive, extent.xlsx_parts(archive)["stations"], limits)


SHEET = '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>2</v></c></row><row r="2"><c r="A2"><v>3</v></c></row>'
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PREFIXED = (SHEET.replace("<row", "<x:row").replace("</row", "</x:row").replace("<c ", "<x:c ")
            .replace("</c>", "</x:c>").replace("<v>", "<x:v>").replace("</v>", "</x:v>"))
XLSX = {  # (old, new) in the sheet's XML of xlsx_bytes([[1, 2], [3]]), which holds SHEET
    "as written": ("", ""),
    "data from C3 on": (SHEET, '<row r="3"><c r="C3"><v>1</v></c><c r="D3"><v>2</v></c></row>'),
    "a cell far down in the first row": ('<c r="B1"><v>2</v></c>', '<c r="B1"><v>2</v></c><c r="C90000"><v>9</v></c>'),
    "a cell placed by its reference, not its row": ('<row r="2"><c r="A2">', '<row r="2"><c r="AB2">'),
    "cells without references": (SHEET, "<row><c><v>1</v></c><c><v>2</v></c><c/><c><v>4</v></c></row>"
                                        "<row><c><v>5</v></c></row>"),
    "rows without numbers after numbered ones": (SHEET, SHEET + "<row><c><v>1</v></c></row>" * 3),
    "a namespace prefix": (f'<worksheet xmlns="{MAIN}"><sheetData>{SHEET}</sheetData></worksheet>',
                           f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData>{PREFIXED}</x:sheetData></x:worksheet>'),
}
EXACT = {"as written", "data from C3 on", "a cell far down in the first row", "a namespace prefix"}


@pytest.mark.parametrize("shape", sorted(XLSX))
def test_an_xlsx_sheet_reaches_at_least_as_far_as_calamine_builds_it(shape):
    data = xlsx_bytes([[1, 2], [3]], replace=XLSX[shape])
    rows, columns = built(data)
    size = measured(data)
    assert size.rows >= rows and size.columns >= columns, (size, rows, columns)
    if shape in EXACT:
        assert (size.rows, size.columns) == (rows, columns)


ODS = {
    "as written": "",
    "a row repeated with its value": f'<table:table-row table:number-rows-repeated="5000">{CELL}</table:table-row>',
    "a value repeated along the row": ('<table:table-row><table:table-cell office:value-type="string" '
                                       'table:number-columns-repeated="300"><text:p>y</text:p></table:table-cell>'
                                       "</table:table-row>"),
    "empty rows and cells after the data, repeated": (
        f'<table:table-row>{CELL}<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>'),
    "empty rows between data": (f'<table:table-row table:number-rows-repeated="70000"><table:table-cell '
                                f'table:number-columns-repeated="3"/></table:table-row><table:table-row>{CELL}'
                                "</table:table-row>"),
}


@pytest.mark.parametrize("shape", sorted(ODS))
def test_an_ods_sheet_reaches_at_least_as_far_as_calamine_builds_it(shape):
    data = ods_bytes([["name", "zip"], ["Markt", "68159"]],
                     replace=("</table:table>", ODS[shape] + "</table:table>"))
    rows, columns = built(data)
    size = measured(data)
    assert (size.rows, size.columns) == (rows, columns), (size, rows, columns)


def test_measuring_stops_at_the_first_limit_passed():
    data = ods_bytes([["name"]], replace=("</table:table>", ODS["a row repeated with its value"] + "</table:table>"))
    assert measured(data, extent.Limits(rows=100, columns=10, cells=10**6)).beyond == "rows"
    assert measured(data, extent.Limits(rows=10**6, columns=10, cells=1000)).beyond == "cells"
    wide = xlsx_bytes([[1, 2]], replace=('<c r="B1"><v>2</v></c>', '<c r="B1"><v>2</v></c><c r="XFD1"><v>3</v></c>'))
    assert measured(wide, extent.Limits(rows=10, columns=500, cells=10**6)) == extent.Extent(1, 16384, "columns")
