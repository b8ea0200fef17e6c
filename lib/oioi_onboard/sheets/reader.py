"""Reading a station file the CPO uploaded: CSV, XLSX, XLS or ODS, as found.

Everything comes out as text: the reader never interprets a value, it only
finds where the table is (encoding, delimiter, sheet, header row below any
title block) and keeps the row numbers the user sees in their own file.
Spreadsheets are read as stored values only (python-calamine); a formula is
never evaluated, its cached value is what the file says. A regular CSV is
parsed by Arrow's CSV reader (multi-threaded, one Python string per distinct
value, not per cell); a ragged one by pandas' tolerant parser. Compressed files are
measured before they are unpacked, so a zip bomb is refused, not opened.

Every limit is checked before the cells it guards exist: a CSV's lines are
counted before they are parsed, a spreadsheet's sheet is measured on its XML
(``extent``) before calamine builds it, different values are counted before
each becomes a Python string. A file past a limit costs little more memory
than its own bytes.
"""

import csv
import hashlib
import io
import itertools
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from .. import untrusted
from ..errors import UserError
from . import encodings, extent, factorize
from .canonical import ROW

__all__ = ["SheetError", "RawSheet", "read_sheet", "read_rows", "MAX_BYTES", "MAX_ROWS", "MAX_COLUMNS",
           "MAX_CELL_CHARS", "MAX_CELLS", "MAX_WORKBOOK_CELLS", "MAX_DISTINCT"]

MAX_BYTES = 50_000_000
MAX_ROWS = 200_000
MAX_COLUMNS = 500  # the template has 29; a register with four charge points per row about 60
# Station data is a few hundred characters per row. This is also the csv module's field limit, so no cell the
# reader accepts can overflow it (the delimiter sniffing and the tolerant parser use that module).
MAX_CELL_CHARS = 131_072
# Rows x columns read at once (blank cells count: parsers hold them too). 200,000 rows of the template fit;
# a spreadsheet's cell costs its reader (calamine, which builds the whole sheet) about twice a CSV cell.
MAX_CELLS = 6_000_000
MAX_WORKBOOK_CELLS = 3_000_000
# Each different value of a column becomes a Python string (a cell only points to one): a station file
# repeats most of its values, 200,000 template rows hold about 520,000 different ones.
MAX_DISTINCT = 1_000_000
# A spreadsheet unpacks to a multiple of its size; real ones stay far below
# these (the BNetzA register: 9 MB from 1.2 MB, ratio 7).
MAX_UNPACKED_BYTES = 500_000_000
MAX_RATIO = 100
_RATIO_APPLIES_ABOVE = 1_000_000  # tiny members compress oddly; only big ones can be bombs
HEADER_SEARCH_ROWS = 50
DELIMITERS = [",", ";", "\t", "|"]
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class SheetError(UserError):
    """The file cannot be read as a table; the message says why, in the CPO's words."""


@dataclass
class _Cells:
    """One column of the file: every cell as stripped text ("" for empty), and which are filled.

    ``codes`` into ``uniques`` give the same texts when they are known (not
    for a column converted cell by cell); the table remembers them for later steps.
    """

    text: np.ndarray
    filled: np.ndarray
    codes: np.ndarray | None = None
    uniques: np.ndarray | None = None
    distinct: bool = False  # no value in uniques twice
    longest: int = 0  # characters of the longest text, at least


Columns = list[_Cells]


@dataclass
class RawSheet:
    frame: pd.DataFrame  # every cell as str ("" for empty); columns = header cells; frame[ROW] = row in the file
    header_row: int  # 1-based row number of the detected header
    file_name: str
    sha256: str
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None  # the workbook's sheet read; None for a CSV
    sheets: list[str] = field(default_factory=list)  # the workbook's visible sheets, to choose another

    @property
    def columns(self) -> list[str]:
        """The header cells, without the row number column."""
        return [c for c in self.frame.columns if c != ROW]


def read_sheet(data: bytes, file_name: str, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS,
               sheet: str | None = None) -> RawSheet:
    """Read ``data`` (the file's bytes) into a RawSheet, or raise SheetError saying why not; of a workbook,
    ``sheet`` or else the sheet holding the widest table."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SheetError(f"{file_name}: expected the file's bytes")
    data = bytes(data)
    if not data or data.isspace():  # not data.strip(): that copies the whole file
        raise SheetError(f"{file_name} is empty.")
    if len(data) > max_bytes:
        raise SheetError(
            f"{file_name} is {_megabytes(len(data))}; files up to {_megabytes(max_bytes)} are accepted. "
            "Split it into several files."
        )
    notes: list[str] = []
    columns, chosen, sheets = _read_columns(data, file_name, max_rows, notes, sheet)
    frame, header_row = _table(columns, file_name, max_rows, notes)
    return RawSheet(
        frame=frame,
        header_row=header_row,
        file_name=file_name,
        sha256=hashlib.sha256(data).hexdigest(),
        notes=notes,
        sheet=chosen,
        sheets=sheets,
    )


def read_rows(data: bytes, file_name: str, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> list[list[str]]:
    """Every row of the file as text cells, without header detection (small lookup tables)."""
    data = bytes(data)
    if not data.strip():
        raise SheetError(f"{file_name} is empty.")
    if len(data) > max_bytes:
        raise SheetError(f"{file_name} is {_megabytes(len(data))}; files up to {_megabytes(max_bytes)} are accepted.")
    columns, _, _ = _read_columns(data, file_name, max_rows, [])
    return np.column_stack([cells.text for cells in columns]).tolist() if columns else []


def _read_columns(data: bytes, file_name: str, max_rows: int, notes: list[str],
                  sheet: str | None = None) -> tuple[Columns, str | None, list[str]]:
    """The cells, and of a workbook the sheet read and its visible sheets."""
    kind = _kind(data, file_name)
    if kind == "csv":
        columns, chosen, sheets = _read_csv(data, file_name, max_rows, notes), None, []
    else:
        columns, chosen, sheets = _read_workbook(data, file_name, max_rows, notes, zipped=kind == "zip", sheet=sheet)
    _check_cells(columns, file_name)
    return columns, chosen, sheets


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _kind(data: bytes, file_name: str) -> str:
    """Decide by content, not by name: a renamed file is read for what it is."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    return "csv"


# --- spreadsheets -----------------------------------------------------------------


def _check_zip(data: bytes, file_name: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise SheetError(f"{file_name} looks like a spreadsheet (XLSX/ODS) but is damaged: {exc}.") from None
    with archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        if not ({"xl/workbook.xml", "content.xml"} & names):
            raise SheetError(
                f"{file_name} is a zip archive, not a spreadsheet: it holds neither an XLSX nor an ODS workbook."
            )
        total = sum(m.file_size for m in members)
        if total > MAX_UNPACKED_BYTES:
            raise SheetError(
                f"{file_name} would unpack to {_megabytes(total)} (more than {_megabytes(MAX_UNPACKED_BYTES)}); "
                "it was not opened. Save it again from your spreadsheet program or send it as CSV."
            )
        for member in members:
            if member.file_size > _RATIO_APPLIES_ABOVE and member.file_size > MAX_RATIO * max(member.compress_size, 1):
                raise SheetError(
                    f"{file_name}: part {member.filename} would unpack to {_megabytes(member.file_size)} "
                    f"from {member.compress_size} bytes, which no real spreadsheet does; it was not opened."
                )


def _sheet_sizes(data: bytes, file_name: str, max_rows: int):
    """A function that measures a sheet by name before calamine builds it, raising SheetError past a limit; it
    returns the sheet's ``extent.Extent``, within which calamine's block lies.

    An ODS is measured whole at once: calamine builds all its sheets when it opens it.
    """
    limits = extent.Limits(rows=max_rows + HEADER_SEARCH_ROWS, columns=MAX_COLUMNS, cells=MAX_WORKBOOK_CELLS)
    archive = zipfile.ZipFile(io.BytesIO(data))

    def damaged(exc: Exception) -> SheetError:
        return SheetError(f"{file_name} looks like a spreadsheet but is damaged: {exc}.")

    def refuse(name: str, size: extent.Extent) -> None:
        where = f"{file_name}, sheet {name!r},"
        if size.beyond == "rows":
            raise SheetError(f"{where} has more than {max_rows:,} rows; up to {max_rows:,} rows are accepted. "
                             "Split it into several files.")
        if size.beyond == "columns":
            raise SheetError(f"{where} has more than {MAX_COLUMNS:,} columns (it reaches column "
                             f"{extent.column_letters(size.columns)}); up to {MAX_COLUMNS:,} are accepted. "
                             "Delete the columns the stations do not need.")
        if size.beyond == "cells":
            raise SheetError(
                f"{where} spans {size.rows:,} rows by {size.columns:,} columns: more cells than the "
                f"{MAX_WORKBOOK_CELLS:,} a spreadsheet is read with. Delete the columns the stations do not "
                f"need, or save it as CSV (read up to {MAX_CELLS:,} cells).")

    ods = "xl/workbook.xml" not in archive.NameToInfo
    try:
        sizes = extent.measure_ods(archive, limits) if ods else {}
        parts = {} if ods else extent.xlsx_parts(archive)
    except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise damaged(exc) from None
    for name, size in sizes.items():
        refuse(name, size)
    if ods:
        return sizes.get

    def check(name: str) -> extent.Extent:
        if parts.get(name) not in archive.NameToInfo:
            raise SheetError(f"{file_name} is damaged: sheet {name!r} has no part in the archive.")
        try:
            size = extent.measure_xlsx(archive, parts[name], limits)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise damaged(exc) from None
        refuse(name, size)
        return size

    return check


def _read_workbook(data: bytes, file_name: str, max_rows: int, notes: list[str], *, zipped: bool,
                   sheet: str | None = None) -> tuple[Columns, str, list[str]]:
    from python_calamine import CalamineError, CalamineWorkbook

    if zipped:
        _check_zip(data, file_name)
        measure = _sheet_sizes(data, file_name, max_rows)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = [
            m.name for m in workbook.sheets_metadata if str(getattr(m, "visible", "")).endswith("Visible")
        ] or workbook.sheet_names
        if sheet is not None and sheet not in visible:
            raise SheetError(f"{file_name} has no sheet {sheet!r}; its sheets: "
                             + ", ".join(repr(name) for name in visible) + ".")
        # The sheet asked for, or the widest table: an instructions sheet placed first is a column of text.
        names = [sheet] if sheet is not None else visible
        # Every sheet measured before calamine builds any, which it does at once. The largest measured go first:
        # a sheet measured no larger than the table already built cannot be wider, so it is never built (a
        # second 50,000-row sheet cost the read of a workbook 40 to 70 % more).
        sizes = {name: measure(name) for name in names} if zipped else {}
        names = sorted(names, key=lambda name: _measured(sizes.get(name)), reverse=True)
        chosen, with_data = None, set()
        for name in names:
            size = sizes.get(name)
            if chosen is not None and size is not None and _measured(size) <= _table_size(chosen):
                if size.rows and size.columns:
                    with_data.add(name)
                continue
            candidate = workbook.get_sheet_by_name(name)
            if candidate.height and candidate.width:
                with_data.add(name)
                if chosen is None or _table_size(candidate) > _table_size(chosen):
                    chosen = candidate  # only the largest so far is kept: one big sheet in memory at a time
        if chosen is None:
            raise SheetError(f"{file_name}, sheet {sheet!r}, is empty." if sheet is not None else
                             f"{file_name} holds no data: every sheet is empty.")
        if chosen.height > max_rows + HEADER_SEARCH_ROWS:  # an XLS, which is not measured before
            raise SheetError(
                f"{file_name}, sheet {chosen.name!r}, has {chosen.height:,} rows; "
                f"up to {max_rows:,} rows are accepted. Split it into several files."
            )
        if chosen.width > MAX_COLUMNS:
            raise SheetError(f"{file_name}, sheet {chosen.name!r}, has {chosen.width:,} columns; "
                             f"up to {MAX_COLUMNS:,} are accepted. Delete the columns the stations do not need.")
        columns = _sheet_columns(chosen, file_name)
    except SheetError:
        raise
    except (CalamineError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise SheetError(f"{file_name} could not be read as a spreadsheet: {exc}.") from None
    except Exception as exc:  # calamine raises its own error types per format
        raise SheetError(f"{file_name} could not be read as a spreadsheet ({type(exc).__name__}: {exc}).") from None
    others = [name for name in visible if name in with_data and name != chosen.name]
    notes.append(f"read sheet {chosen.name!r}" + (
        ", as chosen" if sheet is not None else
        f", the widest table (other sheets with data: {', '.join(repr(name) for name in others)})" if others else ""))
    return columns, chosen.name, visible


def _table_size(sheet) -> tuple[int, int]:  # noqa: ANN001
    """A station table has many columns; instructions, a legend or the template's column notes have few."""
    return sheet.width, sheet.height


def _measured(size: extent.Extent | None) -> tuple[int, int]:
    """``_table_size`` as measured before building, an upper bound of it; unmeasured (XLS) counts as largest."""
    return (size.columns, size.rows) if size is not None else (MAX_COLUMNS + 1, 0)


_BLOCK_ROWS = 20_000  # rows turned into text at a time, so the Python objects of every cell never exist at once


def _sheet_columns(sheet, file_name: str) -> Columns:  # noqa: ANN001
    """The sheet's cells as text columns, from row 1 and column A of the file.

    Cells stay as stored (str, float, bool, dates) until here: turned into text per distinct value.
    """
    row_blocks = sheet.iter_rows()  # from row 1, but from the first column holding a cell
    parts: list[list[_Cells]] = [[] for _ in range(sheet.width)]
    distinct = 0
    while block := list(itertools.islice(row_blocks, _BLOCK_ROWS)):
        cells = np.array(block, dtype=object)
        for i, column in enumerate(parts):
            column.append(_column_text(cells[:, i]))
            distinct += len(column[-1].uniques) if column[-1].codes is not None else _BLOCK_ROWS
        del block, cells
        if distinct > MAX_DISTINCT:
            raise _too_many_values(file_name)
    columns = [_joined(column) for column in parts]
    height = len(columns[0].text) if columns else 0
    left = sheet.start[1] if sheet.start else 0
    blank = _Cells(np.full(height, "", dtype=object), np.zeros(height, dtype=bool))
    return [blank] * left + columns


def _joined(parts: list[_Cells]) -> _Cells:
    """One column from its blocks; the codes stay valid, into every block's distinct values in turn."""
    if len(parts) == 1:
        return parts[0]
    text = np.concatenate([p.text for p in parts])
    filled = np.concatenate([p.filled for p in parts])
    longest = max(p.longest for p in parts)
    if any(p.codes is None for p in parts):
        return _Cells(text, filled, longest=longest)
    offsets = np.cumsum([0] + [len(p.uniques) for p in parts[:-1]])
    codes = np.concatenate([p.codes + offset for p, offset in zip(parts, offsets, strict=True)])
    return _Cells(text, filled, codes, np.concatenate([p.uniques for p in parts]), longest=longest)


def _cell_text(value) -> str:
    """A stored cell value as the text a person sees (22.0 -> '22', dates in ISO form)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
        return value.date().isoformat() if midnight else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()


def _column_text(values: np.ndarray) -> _Cells:
    """A column's cells as stripped text, and which are filled.

    Converted once per distinct value, not per cell: columns repeat a lot
    (station columns on every connector row). Only columns mixing booleans or
    dates with other values are converted cell by cell, because hashing makes
    True, 1 and 1.0 one distinct value although they read "true", "1", "1".
    """
    kind = pd.api.types.infer_dtype(values, skipna=False) if len(values) else "empty"
    if kind in ("string", "empty", "floating", "integer", "mixed-integer-float") or (
        kind == "mixed" and not any(isinstance(v, bool | date | time | timedelta) for v in values)
    ):
        # A missing value gets code -1, which indexes the "" appended last (use_na_sentinel=False
        # would cost another pass over the column to find missing values).
        codes, uniques = pd.factorize(values)
        texts = np.array([v.strip() if isinstance(v, str) else _cell_text(v) for v in uniques] + [""], dtype=object)
        codes[codes < 0] = len(texts) - 1
        return _Cells(texts[codes], (texts != "")[codes], codes, texts, longest=max(map(len, texts)))
    text = np.array([v.strip() if isinstance(v, str) else _cell_text(v) for v in values], dtype=object)
    return _Cells(text, text != "", longest=max(map(len, text), default=0))


# --- CSV ------------------------------------------------------------------------


# Files people upload by mistake, named so the message says what was sent.
_BINARY_KINDS = {
    b"\x1f\x8b": "a gzip-compressed file (unpack it first)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
}


def _decode(data: bytes, file_name: str, notes: list[str]) -> tuple[str, str]:
    """The file's text and the encoding it was read in."""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # Excel's "Unicode text" export
    else:
        encoding = None
    for magic, kind in _BINARY_KINDS.items():
        if data.startswith(magic):
            raise SheetError(
                f"{file_name} is {kind}, not a table (it holds binary data). Upload a CSV, XLSX or ODS file."
            )
    if encoding is None and b"\x00" in data[:8192]:
        raise SheetError(
            f"{file_name} is not a text or spreadsheet file (it holds binary data). "
            "Upload a CSV, XLSX or ODS file."
        )
    for candidate in [encoding] if encoding else encodings.candidates(data):
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, UnicodeError):
            continue
        notes.append(f"encoding {encodings.NAMES[candidate]}")
        if _looks_binary(text):
            raise SheetError(
                f"{file_name} is not a text or spreadsheet file (it holds binary data). "
                "Upload a CSV, XLSX or ODS file."
            )
        return text, candidate
    raise SheetError(f"{file_name}: the text encoding could not be recognised. Save it as UTF-8 CSV.")


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t\f")
    return control > max(8, len(sample) // 100)


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits most lines into the same number (> 1) of cells.

    csv.Sniffer is thrown off by title blocks and decimal commas; counting how
    consistently each candidate splits the sample is not.
    """
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if any(c.strip() for c in row)]
        wide = [n for n in counts if n > 1]
        if not wide:
            continue
        mode = max(set(wide), key=lambda n: (wide.count(n), n))
        score = (wide.count(mode), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _too_many_rows(file_name: str, max_rows: int) -> SheetError:
    return SheetError(
        f"{file_name} has more than {max_rows:,} rows; up to {max_rows:,} rows are accepted. "
        "Split it into several files."
    )


def _not_a_table(text: str) -> str:
    """What a text file is when it is no table at all (a saved error page, an API answer), else ''."""
    start = text[:2000].lstrip().lower()
    if start.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")):
        return "a web page (HTML)"
    if start.startswith(("{", "[")):
        try:
            untrusted.loads(text)
        except untrusted.TooDeep:
            return "JSON"  # nested too deep to read, and no table either
        except ValueError:
            return ""
        return "JSON"
    return ""


def _read_csv(data: bytes, file_name: str, max_rows: int, notes: list[str]) -> Columns:
    text, encoding = _decode(data, file_name, notes)
    kind = _not_a_table(text)
    if kind:
        raise SheetError(f"{file_name} looks like {kind}, not a table: no data rows could be read from it.")
    # No longer than one cell may be: even a quote left open cannot make a field the csv module refuses.
    sample = text[:MAX_CELL_CHARS].splitlines()[:HEADER_SEARCH_ROWS + 50]
    delimiter = _sniff_delimiter(sample)
    notes.append(f"delimiter {_DELIMITER_NAMES[delimiter]}")
    width = max((len(r) for r in csv.reader(sample, delimiter=delimiter)), default=1)
    if width > MAX_COLUMNS:
        raise _too_many_columns(file_name, width)
    # UTF-8 goes to the parsers as the bytes it is: handing them text costs another encoding pass.
    utf8 = data[3:] if encoding == "utf-8-sig" else data if encoding == "utf-8" else text.encode()
    del text  # the parsers read the bytes; the text would be a second copy of the file while they do
    _check_size(utf8, delimiter, width, file_name, max_rows)
    columns = _arrow_columns(utf8, delimiter, width, file_name)
    if columns is None:
        cells = _tolerant_cells(utf8, delimiter, width, max_rows + HEADER_SEARCH_ROWS, file_name)
        columns = [_column_text(cells[c].to_numpy(dtype=object)) for c in cells.columns]
        if sum(len(c.uniques) if c.codes is not None else len(c.text) for c in columns) > MAX_DISTINCT:
            raise _too_many_values(file_name)
    if columns and len(columns[0].text) > max_rows + HEADER_SEARCH_ROWS:
        raise _too_many_rows(file_name, max_rows)
    return columns


def _too_many_values(file_name: str) -> SheetError:
    return SheetError(
        f"{file_name} holds more than {MAX_DISTINCT:,} different values: more than are read at once (a station "
        "file repeats most of its values on every connector row). Delete the columns the stations do not need, "
        "or split it.")


def _too_many_columns(file_name: str, width: int, row: int | None = None) -> SheetError:
    where = f"{file_name}, row {row:,}," if row else file_name
    return SheetError(f"{where} has {width:,} columns; up to {MAX_COLUMNS:,} are accepted. "
                      "Delete the columns the stations do not need.")


def _check_size(utf8: bytes, delimiter: str, width: int, file_name: str, max_rows: int) -> None:
    """Refuse a CSV with more rows, or more cells, than are read, before any row of it is parsed.

    Counting line ends costs a pass over the bytes; only when they are too many (and quotes
    may hold line ends inside cells) are the rows counted, up to the limit, by the csv module.
    """
    most = min(max_rows + HEADER_SEARCH_ROWS, MAX_CELLS // width)
    lines = utf8.count(b"\n") + 1
    if b"\r" in utf8:  # old Mac line ends count too; a Windows one only once
        lines += utf8.count(b"\r") - utf8.count(b"\r\n")
    if lines <= most:
        return
    rows = _count_rows(utf8, delimiter, most, file_name) if b'"' in utf8 else lines
    if rows <= most:
        return
    if rows > max_rows + HEADER_SEARCH_ROWS:
        raise _too_many_rows(file_name, max_rows)
    raise SheetError(
        f"{file_name} has {width:,} columns and more than {most:,} rows: more than the {MAX_CELLS:,} cells "
        "(rows by columns) a file is read with. Delete the columns the stations do not need, or split it."
    )


def _count_rows(utf8: bytes, delimiter: str, most: int, file_name: str) -> int:
    """The CSV's rows, counted up to ``most + 1`` (a quoted cell may span several lines)."""
    rows = csv.reader(io.StringIO(utf8.decode("utf-8"), newline=""), delimiter=delimiter)
    count = 0
    try:
        for _ in itertools.islice(rows, most + 1):
            count += 1
    except csv.Error as exc:
        raise _unreadable_row(file_name, count + 1, exc) from None
    return count


def _unreadable_row(file_name: str, row: int, exc: csv.Error) -> SheetError:
    if "field larger than field limit" in str(exc):
        return _cell_too_long(file_name, row)
    return SheetError(f"{file_name}, row {row:,}: the CSV cannot be read ({exc}).")


def _cell_too_long(file_name: str, row: int, column: int | None = None, length: int | None = None) -> SheetError:
    where = f"row {row:,}" + (f", column {extent.column_letters(column + 1)}" if column is not None else "")
    size = f"{length:,} characters" if length else f"more than {MAX_CELL_CHARS:,} characters"
    return SheetError(f"{file_name}, {where}: a cell of {size}; cells up to {MAX_CELL_CHARS:,} characters are "
                      "accepted. Station data is far shorter: is the file a station table?")


def _check_cells(columns: Columns, file_name: str) -> None:
    """Refuse a cell longer than MAX_CELL_CHARS, saying where it is."""
    for index, cells in enumerate(columns):
        if cells.longest <= MAX_CELL_CHARS:
            continue
        values = cells.uniques if cells.codes is not None else cells.text
        long = [i for i, value in enumerate(values) if len(value) > MAX_CELL_CHARS]
        if not long:  # ``longest`` counted the spaces around a value, which the text is without
            continue
        position = int(np.isin(cells.codes, long).argmax()) if cells.codes is not None else long[0]
        raise _cell_too_long(file_name, position + 1, index, len(cells.text[position]))


def _arrow_columns(utf8: bytes, delimiter: str, width: int, file_name: str) -> Columns | None:
    """The file's columns by Arrow's CSV reader, or None when a row is not ``width`` cells wide.

    Arrow parses in C++ on every core and makes a Python string per distinct
    value only: four times faster than pandas' parser on large files. It reads
    quotes, blank lines and line ends as pandas does; ragged rows it refuses.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    names = [str(i) for i in range(width)]
    # Dictionary-encoded while parsing (on every core): each distinct value becomes one Python string.
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        table = arrow_csv.read_csv(
            io.BytesIO(utf8),
            read_options=arrow_csv.ReadOptions(column_names=names),
            parse_options=arrow_csv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                                 newlines_in_values=True, ignore_empty_lines=False),
            convert_options=arrow_csv.ConvertOptions(column_types=dict.fromkeys(names, text),
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
        ).unify_dictionaries()
    except pa.ArrowException:  # a ragged row, or a quirk only the tolerant parsers take
        return None
    if sum(len(column.chunk(0).dictionary) for column in table.columns if column.num_chunks) > MAX_DISTINCT:
        raise _too_many_values(file_name)
    columns = []
    for column in table.columns:
        if not column.num_chunks:
            columns.append(_Cells(np.zeros(0, dtype=object), np.zeros(0, dtype=bool)))
            continue
        dictionary = column.chunk(0).dictionary
        found = dictionary.to_pylist()
        stripped = [v.strip() for v in found]
        texts = np.array(stripped, dtype=object)
        codes = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in column.chunks])
        longest = pc.max(pc.utf8_length(dictionary)).as_py() or 0
        # A dictionary's values are distinct; stripped, they stay so unless some were padded.
        columns.append(_Cells(texts[codes], (texts != "")[codes], codes, texts, distinct=stripped == found,
                              longest=longest))
    return columns


def _tolerant_cells(utf8: bytes, delimiter: str, width: int, limit: int, file_name: str) -> pd.DataFrame:
    """Every cell as str, rows of any width: pandas' C parser, else the csv module, which reads anything."""
    try:
        # Blank lines kept so row numbers stay the file's.
        cells = pd.read_csv(
            io.BytesIO(utf8), encoding="utf-8", sep=delimiter, header=None, names=range(width), dtype=object,
            na_filter=False, skip_blank_lines=False, engine="c", nrows=limit + 1, quotechar='"', doublequote=True,
        )
    except (pd.errors.ParserError, ValueError, csv.Error):
        # A row wider than the sample (or a quirk the C parser refuses).
        rows = []
        try:
            for record in csv.reader(io.StringIO(utf8.decode("utf-8"), newline=""), delimiter=delimiter):
                if len(record) > MAX_COLUMNS:
                    raise _too_many_columns(file_name, len(record), len(rows) + 1)
                rows.append(record)
                if len(rows) > limit:
                    break
        except csv.Error as exc:
            raise _unreadable_row(file_name, len(rows) + 1, exc) from None
        width = max((len(r) for r in rows), default=0)
        cells = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    cells.columns = range(cells.shape[1])
    return cells


# --- the table --------------------------------------------------------------------

_NUMBERISH = re.compile(r"^[\s+\-]?[\d.,\s]+(?:e[+-]?\d+)?%?$", re.IGNORECASE)


def _label_count(row: list[str]) -> int:
    """How many distinct non-empty, non-numeric cells a row has: headers are labels."""
    labels = {c for c in row if c and not _NUMBERISH.match(c)}
    return len(labels)


def _find_header(rows: list[list[str]]) -> int:
    """Index of the header row: the first row (among the top rows) with nearly the most labels.

    Title blocks ("Ladesäulenregister", "Stand: 19.07.2019", group headings)
    have few labels; the header names every column; data rows hold numbers.
    """
    top = rows[:HEADER_SEARCH_ROWS]
    counts = [_label_count(r) for r in top]
    most = max(counts, default=0)
    if most == 0:
        return 0
    for index, count in enumerate(counts):
        if count >= max(1, math.ceil(0.8 * most)) and count >= min(2, most):
            return index
    return 0


# A total line under the table: the word alone, or with counts ("Totale: 25 stazioni", "Summe 52 Ladepunkte").
# A name such as "Total Energies Milano" has a word, not a number, after it.
_TOTAL = re.compile(
    r"^(?:totals?|totale|totali|totaal|totaux|gesamt|insgesamt|summe|somme|suma|sum|razem|celkem|spolu|"
    r"yhteensä|totalt|i alt|kokku|iš viso|kopā|összesen|ukupno|skupaj|σύνολο|итого|всего)"
    r"(?:[\s:.=\-–]+\d[\w\s.,:;()/\-–]*|[\s:.]*)$", re.IGNORECASE)
_FOOTER_SEARCH_ROWS = 3


def _footer_rows(columns: Columns, keep: list[int], positions: np.ndarray) -> list[tuple[int, str, str]]:
    """The last rows of the table that are no stations, as (row in the file, its text, what it is), last row
    first: a total line (the first filled cell names a total, the others hold numbers only) or a note (one cell
    of text under a table of several columns: "Stan na dzień 01.12.2026", "Source: ...")."""
    footers = []
    for position in positions[::-1][:_FOOTER_SEARCH_ROWS]:
        filled = [text for i in keep if (text := columns[i].text[position])]
        if filled and _TOTAL.match(filled[0]) and all(_NUMBERISH.match(text) for text in filled[1:]):
            footers.append((int(position) + 1, filled[0], "a total line"))
        elif len(filled) == 1 and len(keep) >= 3 and not _NUMBERISH.match(filled[0]):
            footers.append((int(position) + 1, filled[0], "a note"))
        else:
            break
    return footers


def _rows(cells: _Cells, rows: slice | np.ndarray) -> np.ndarray:
    """The column's texts in ``rows``; their codes are remembered, so later steps need not hash them again."""
    text = cells.text[rows]
    if cells.codes is None:
        return text
    return factorize.remember(text, cells.codes[rows], cells.uniques, distinct=cells.distinct)


def _table(columns: Columns, file_name: str, max_rows: int, notes: list[str]):
    """Find the header among the top rows and cut the table below it."""
    if not columns or not any(cells.filled.any() for cells in columns):
        raise SheetError(f"{file_name} holds no data.")
    top = np.column_stack([cells.text[:HEADER_SEARCH_ROWS] for cells in columns]).tolist()
    header_index = _find_header(top)
    # Columns with neither a header nor any value are padding, not data.
    keep = [i for i, cells in enumerate(columns) if cells.filled[header_index:].any()]
    header_cells = [cells.text[header_index] if header_index < len(cells.text) else "" for cells in columns]
    names: list[str] = []
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for i in keep:
        name = " ".join(header_cells[i].split()) or f"Column {extent.column_letters(i + 1)}"
        key = name.casefold()
        if key in seen:
            seen[key] += 1
            renamed = f"{name} ({seen[key]})"
            duplicates.append(f"{name!r} (column {extent.column_letters(i + 1)}) renamed to {renamed!r}")
            name = renamed
        else:
            seen[key] = 1
        names.append(name)
    header_row = header_index + 1
    if header_index:
        notes.append(f"header in row {header_row} (rows above it are a title block)")
    else:
        notes.append(f"header in row {header_row}")
    if duplicates:
        notes.append("duplicated column names: " + "; ".join(duplicates))

    below = np.zeros(len(columns[0].filled), dtype=bool)
    for i in keep:
        below |= columns[i].filled
    below[:header_index + 1] = False
    positions = np.flatnonzero(below)
    footers = _footer_rows(columns, keep, positions)
    if footers:
        positions = positions[:-len(footers)]
        for row, text, kind in footers:
            notes.append(f"row {row} left out: {kind} ({untrusted.shown(text)}), not a station")
    if len(positions) > max_rows:
        raise SheetError(
            f"{file_name} has {len(positions):,} data rows; up to {max_rows:,} rows are accepted. "
            "Split it into several files."
        )
    if not len(positions):
        raise SheetError(f"{file_name} has a header (row {header_row}) but no data rows below it.")
    # Usually every row below the header has data: a slice, not a copy of every cell.
    rows = slice(positions[0], positions[-1] + 1) if positions[-1] - positions[0] + 1 == len(positions) else positions
    table = {name: pd.Series(_rows(columns[i], rows), dtype=object, copy=False)
             for name, i in zip(names, keep, strict=True)}
    table[ROW] = pd.Series((positions + 1).astype("int64"))
    # copy=False: one block per column, not one object block stacked (a copy of every cell) at once.
    frame = pd.DataFrame(table, copy=False)
    notes.append(f"{len(frame):,} data row{'' if len(frame) == 1 else 's'}, "
                 f"{len(names)} column{'' if len(names) == 1 else 's'}")
    return frame, header_row
