"""How far a sheet of an XLSX or ODS workbook reaches, measured on its XML before any cell is read.

python-calamine loads a whole sheet at once, as one dense block from its first
to its last cell. A file of a few kilobytes can name a cell a million rows down,
and an ODS row marked "repeated a million times" becomes a million rows: the
block, not the file, is what costs memory. So the reader measures the sheet
first, streaming its XML part in chunks and keeping none of it, and stops as
soon as a limit is passed.

The measure is an upper bound of the block calamine would build (never less):
rows and columns are counted from the first, not from where the data starts.
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree

__all__ = ["Extent", "Limits", "xlsx_parts", "measure_xlsx", "measure_ods", "column_letters"]

CHUNK = 1 << 22  # bytes of XML looked at in one step
_SMALL_PART = 16_000_000  # workbook.xml and its relations are a few kilobytes; bigger ones are not read
_LONGEST_ODS_ROW = 64_000_000  # one row's XML, at most: about MAX_COLUMNS cells of MAX_CELL_CHARS


@dataclass(frozen=True)
class Limits:
    rows: int
    columns: int
    cells: int  # rows x columns of the block


@dataclass(frozen=True)
class Extent:
    """Rows and columns of the block a sheet makes; ``beyond`` names the first limit passed ("" if none).

    Measuring stops at that limit, so the counts are then only "at least".
    """

    rows: int
    columns: int
    beyond: str = ""


def _beyond(rows: int, columns: int, limits: Limits) -> str:
    if rows > limits.rows:
        return "rows"
    if columns > limits.columns:
        return "columns"
    if rows * columns > limits.cells:
        return "cells"
    return ""


def _chunks(archive: zipfile.ZipFile, member: str, split: bytes) -> Iterator[bytes]:
    """The member's bytes in chunks that end just after ``split`` (so no tag is cut in two)."""
    carry = b""
    with archive.open(member) as stream:
        while block := stream.read(CHUNK):
            carry += block
            end = carry.rfind(split)
            if end < 0:
                continue
            end += len(split)
            yield carry[:end]
            carry = carry[end:]
    if carry:
        yield carry


# --- XLSX ---------------------------------------------------------------------------------------


def xlsx_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its XML part, as ``xl/workbook.xml`` and its relations name them."""
    def read(name: str):
        info = archive.getinfo(name)
        if info.file_size > _SMALL_PART:
            raise ValueError(f"{name} is {info.file_size:,} bytes")
        return ElementTree.fromstring(archive.read(name))

    targets = {}
    for element in read("xl/_rels/workbook.xml.rels").iter():
        if element.tag.rpartition("}")[2] == "Relationship" and element.get("Id") and element.get("Target"):
            target = element.get("Target")
            path = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            targets[element.get("Id")] = path
    parts = {}
    for element in read("xl/workbook.xml").iter():
        if element.tag.rpartition("}")[2] != "sheet":
            continue
        ids = [value for key, value in element.attrib.items() if key.rpartition("}")[2] == "id" and "}" in key]
        if ids and ids[0] in targets and element.get("name") is not None:
            parts[element.get("name")] = targets[ids[0]]
    return parts


_ROOT = re.compile(rb"<(?:([\w.-]+):)?worksheet\b")
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row\b([^>]*)>")
_NUMBER = re.compile(rb'\sr="0*(\d+)"')
_CELL_REFERENCE = re.compile(rb'r="([A-Z]+)0*(\d+)"')
_STEPS = 32  # searches for a farther reference in one chunk before reading every reference of it


def _greater(value: str, alphabet: str) -> str:
    """A regular expression for the words over ``alphabet`` that sort after ``value`` as numbers do.

    Column letters compare like numbers in base 26 (longer is greater), and so do row numbers in base 10.
    """
    any_ = f"[{alphabet[0]}-{alphabet[-1]}]"
    # Longer is greater (row numbers come without leading zeros here, column letters never have any).
    options = [f"[{alphabet[1]}-{alphabet[-1]}]{any_}{{{len(value)},}}" if alphabet[0] == "0"
               else f"{any_}{{{len(value) + 1},}}"]
    for i, char in enumerate(value):  # as long, and greater at the first place that differs
        if char != alphabet[-1]:
            above = alphabet[alphabet.index(char) + 1]
            options.append(f"{value[:i]}[{above}-{alphabet[-1]}]{any_}{{{len(value) - i - 1}}}")
    return "|".join(options)


def column_letters(number: int) -> str:
    """The letters of column ``number`` (1 is A, 27 is AA), as references name it."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + char - 64
    return number


def _farther(rows: int, columns: int) -> re.Pattern:
    """A cell reference farther down than ``rows`` or farther right than ``columns``."""
    column = _greater(column_letters(columns), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") if columns else "[A-Z]+"
    row = _greater(str(rows), "0123456789") if rows else r"\d+"
    return re.compile(f'r="(?:(?:{column})0*\\d+|[A-Z]++0*(?:{row}))"'.encode())


def measure_xlsx(archive: zipfile.ZipFile, member: str, limits: Limits) -> Extent:
    """The block a worksheet part makes: its farthest row and column.

    calamine places a cell where its r attribute says ("B7"), whatever row it is written in; a cell
    without one goes right of the cell before it, in the row its row tag names (or the next row).
    Cells are written in order, so the last reference of a chunk is normally the farthest down, and
    one search per chunk for a reference farther than that finds none.
    """
    rows = columns = 0  # the farthest row and column
    row = 0  # the row the last row tag opened, for cells without a reference
    widest = 0  # the most cells without a reference in one row: they go right of the referenced ones
    unreferenced = None
    for chunk in _chunks(archive, member, b">"):
        if unreferenced is None:  # the prefix the worksheet's elements are written with, usually none
            root = _ROOT.search(chunk)
            prefix = root.group(1) + b":" if root and root.group(1) else b""
            unreferenced = re.compile(b"<" + re.escape(prefix) + rb'c[\s>/](?!r=")')
            cell_tags = [b"<" + prefix + tag for tag in (b"c ", b"c>", b"c/>")]
        last = _CELL_REFERENCE.findall(chunk, max(0, len(chunk) - 4096))
        if last:
            rows = max(rows, int(last[-1][1]))
        if unreferenced.search(chunk):
            for attributes, cells in _row_parts(chunk):
                number = _NUMBER.search(attributes) if attributes is not None else None
                if attributes is not None:
                    row = int(number.group(1)) if number else row + 1
                rows = max(rows, row)
                widest = max(widest, sum(cells.count(tag) for tag in cell_tags))
        position, steps = 0, 0
        while found := _farther(rows, columns).search(chunk, position):
            steps += 1
            if steps > _STEPS:  # references that keep going farther: read them all at once
                for letters, number in _CELL_REFERENCE.findall(chunk, found.start()):
                    columns, rows = max(columns, _column_number(letters)), max(rows, int(number))
                break
            letters, number = _CELL_REFERENCE.match(chunk, found.start()).groups()
            columns, rows = max(columns, _column_number(letters)), max(rows, int(number))
            position = found.end()
        beyond = _beyond(rows, columns + widest, limits)
        if beyond:
            return Extent(rows, columns + widest, beyond)
    return Extent(rows, columns + widest)


def _row_parts(chunk: bytes) -> Iterator[tuple[bytes | None, bytes]]:
    """(row tag attributes, the cells after it) per row of the chunk; the first part continues a row (None)."""
    parts = _ROW_TAG.split(chunk)
    yield None, parts[0]
    for i in range(1, len(parts), 2):
        yield parts[i], parts[i + 1]


# --- ODS ----------------------------------------------------------------------------------------

_ODS = re.compile(
    rb'<table:table\s[^>]*?table:name="([^"]*)"[^>]*>'  # a sheet starts
    rb"|(</table:table>)"  # a sheet ends
    rb"|<table:table-row(?=[\s/>])([^>]*?)(?:/>|>(.*?)</table:table-row>)",  # a row: its attributes, its cells
    re.S,
)
_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="(\d+)"')
_COLUMNS_REPEATED = re.compile(rb'table:number-columns-repeated="(\d+)"')
_ODS_CELL_TAGS = (b"<table:table-cell", b"<table:covered-table-cell")
_CELL_ENDS = (b"</table:table-cell>", b"</table:covered-table-cell>")
_VALUE = b"office:value-type="


def _ods_row_width(cells: bytes) -> int:
    """Columns up to the row's last cell that holds something: empty cells after it (often repeated) add none."""
    ends = [cells.rfind(end) for end in _CELL_ENDS]  # a cell with content has an end tag
    value = cells.rfind(_VALUE)  # a value may sit in an attribute of an empty-element cell
    if value >= 0:
        ends.append(cells.find(b">", value))
    used = cells[:max(ends)] if max(ends) >= 0 else b""
    repeated = sum(int(n) - 1 for n in _COLUMNS_REPEATED.findall(used))
    return sum(used.count(tag) for tag in _ODS_CELL_TAGS) + repeated


def measure_ods(archive: zipfile.ZipFile, limits: Limits) -> dict[str, Extent]:
    """The block each sheet of ``content.xml`` makes, rows and cells repeated as often as they say.

    calamine builds every sheet of an ODS when it opens the file, so all are measured, and their
    cells count together against ``limits.cells``. Measuring stops at the first sheet past a limit.
    """
    sizes: dict[str, Extent] = {}
    name, row, rows, columns = None, 0, 0, 0  # this sheet: rows so far, the last one holding something, widest
    others = 0  # cells of the sheets before
    carry = b""
    for chunk in _chunks(archive, "content.xml", b">"):
        chunk = carry + chunk
        end = 0
        for found in _ODS.finditer(chunk):
            end = found.end()
            started, closed, attributes, cells = found.groups()
            if started is not None:
                name, row, rows, columns = html.unescape(started.decode("utf-8", "replace")), 0, 0, 0
            elif closed is not None and name is not None:
                sizes[name], others, name = Extent(rows, columns), others + rows * columns, None
            elif name is not None:
                repeated = _ROWS_REPEATED.search(attributes)
                row += int(repeated.group(1)) if repeated else 1
                width = _ods_row_width(cells or b"")
                if width:
                    rows, columns = row, max(columns, width)
                    beyond = _beyond(rows, columns, Limits(limits.rows, limits.columns, limits.cells - others))
                    if beyond:
                        return {**sizes, name: Extent(rows, columns, beyond)}
        unfinished = chunk.rfind(b"<table:table-row", end)  # a row the next chunk goes on with
        carry = chunk[unfinished:] if unfinished >= 0 else b""
        if len(carry) > _LONGEST_ODS_ROW:  # one row of more XML than any row within the limits holds
            return {**sizes, name or "": Extent(rows, limits.columns + 1, "columns")}
    return sizes
