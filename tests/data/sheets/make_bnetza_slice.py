"""Cut tests/data/bnetza-slice.xlsx from the full BNetzA register (kept out of the repo).

The slice keeps the title block and header exactly, the first 300 stations and
every row that holds one of the register's quirks (placeholders, postcodes of
the wrong length, a power without a connector type, rare connector types), so
the tests that use it check what a test on the full file would.

    python tests/data/sheets/make_bnetza_slice.py /work/shared/data/bnetza-ladesaeulenregister-2019-07.xlsx
"""

import sys
from pathlib import Path

from openpyxl import Workbook
from python_calamine import CalamineWorkbook

HEADER_ROW = 6  # 1-based, in the register
FIRST = 300


def quirks(row: list) -> list[str]:
    """The register's quirks this row shows (empty for an ordinary row)."""
    text = [str(c) for c in row]
    types = [text[i] for i in (10, 13, 16, 19)]
    powers = [text[i] for i in (11, 14, 17, 20)]
    zip_city = text[2].split()
    found = []
    if any("0" in [p.strip() for p in t.split(",")] for t in types):
        found.append("placeholder type")
    if any(t == "" and p != "" for t, p in zip(types, powers, strict=True)):
        found.append("power without type")
    if zip_city and len(zip_city[0]) != 5:
        found.append("postcode length")
    for name in ("CEE 5", "CEE 3", "Typ 1", "CHAdeMO", "Kupplung Typ 2", "Combo"):
        if any(name in t for t in types):
            found.append(name)
    return found


CAP = 6  # rows per quirk beyond the first block; placeholders and bad postcodes are all kept
ALWAYS = {"placeholder type", "power without type", "postcode length", "Typ 1"}


def main(source: Path, target: Path) -> None:
    workbook = CalamineWorkbook.from_path(str(source))
    rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    head, data = rows[:HEADER_ROW], rows[HEADER_ROW:]
    keep = data[:FIRST]
    counts: dict[str, int] = {}
    for row in data[FIRST:]:
        found = quirks(row)
        if any(q in ALWAYS for q in found) or any(counts.get(q, 0) < CAP for q in found):
            keep.append(row)
            for q in found:
                counts[q] = counts.get(q, 0) + 1
    out = Workbook(write_only=True)
    sheet = out.create_sheet("Tabelle1")
    for row in head + keep:
        sheet.append([None if c == "" else c for c in row])
    out.save(target)
    print(f"{target}: {len(keep)} data rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parents[1] / "bnetza-slice.xlsx")
