"""Small spreadsheet files built byte by byte for the reader's tests.

Hand-written XLSX/ODS parts let a test hold exactly one quirk: a formula cell
whose stored value differs from what evaluating it would give, a zip member
that claims a huge size, a sheet that compresses a thousandfold.
"""

import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook

DATA = Path(__file__).resolve().parents[1] / "data"
SHEETS = DATA / "sheets"
BNETZA_SLICE = DATA / "bnetza-slice.xlsx"
BNETZA_FULL = Path("/work/shared/data/bnetza-ladesaeulenregister-2019-07.xlsx")

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="stations" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""


def _column(index: int) -> str:
    return chr(65 + index)


def sheet_xml(rows: list[list[object]], *, padding: str = "") -> str:
    """Worksheet XML; a cell given as ("=", formula, cached) becomes a formula with a stored value."""
    out = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{_column(c)}{r}"
            if isinstance(value, tuple) and value[0] == "=":
                _, formula, cached = value
                cells.append(f'<c r="{ref}"><f>{escape(formula)}</f><v>{cached}</v></c>')
            elif isinstance(value, int | float):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData>{"".join(out)}</sheetData>{padding}</worksheet>'
    )


def xlsx_bytes(rows: list[list[object]], *, padding: str = "", replace: tuple[str, str] = ("", "")) -> bytes:
    """A one-sheet workbook; ``replace`` (old, new) edits the sheet's XML, for a quirk ``sheet_xml`` cannot write."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml(rows, padding=padding).replace(*replace))
    return buffer.getvalue()


def claim_size(xlsx: bytes, member: str, size: int) -> bytes:
    """The archive with ``member``'s uncompressed size rewritten in the central directory (a lying zip)."""
    data = bytearray(xlsx)
    name = member.encode()
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = int.from_bytes(data[position + 28:position + 30], "little")
        if bytes(data[position + 46:position + 46 + name_length]) == name:
            data[position + 24:position + 28] = size.to_bytes(4, "little")
            return bytes(data)
        position = data.find(b"PK\x01\x02", position + 4)
    raise KeyError(member)


def ods_bytes(rows: list[list[str]], *, replace: tuple[str, str] = ("", "")) -> bytes:
    """A minimal OpenDocument spreadsheet (what LibreOffice writes, without styles); ``replace`` edits its XML."""
    table_rows = "".join(
        "<table:table-row>"
        + "".join(
            f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p></table:table-cell>'
            for v in row
        )
        + "</table:table-row>"
        for row in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="stations">'
        f"{table_rows}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content.replace(*replace), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def instructions_first_xlsx() -> bytes:
    """A CPO's workbook: a sheet of instructions first, the stations second, a hidden list third."""
    workbook = Workbook()
    workbook.active.title = "Instrukcja"
    for line in ["Wypełnij arkusz Stacje.", "Jeden wiersz na złącze.", "Współrzędne w stopniach.", "Dziękujemy!"]:
        workbook.active.append([line])
    stations = workbook.create_sheet("Stacje")
    stations.append(["Identyfikator stacji", "Nazwa", "Miejscowość", "Szerokość", "Długość"])
    stations.append(["ZEN-001", "Rondo ONZ", "Warszawa", "52.2330", "20.9980"])
    stations.append(["ZEN-002", "Rynek", "Kraków", "50.0617", "19.9373"])
    hidden = workbook.create_sheet("Listy")
    hidden.append(["Typ 2", "CCS", "CHAdeMO", "Schuko", "x", "y"] * 3)
    hidden.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
