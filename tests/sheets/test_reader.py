"""The reader: one file per quirk, each breaking exactly that quirk."""

import io
import zipfile

import pytest
from openpyxl import Workbook

from oioi_onboard.sheets import reader
from oioi_onboard.sheets.canonical import ROW
from oioi_onboard.sheets.reader import MAX_RATIO, SheetError, read_sheet
from tests.helpers.sheet_files import SHEETS, claim_size, instructions_first_xlsx, ods_bytes, xlsx_bytes

HEADER = ["Standortname", "Straße", "Hausnummer", "PLZ", "Ort", "Breitengrad", "Längengrad", "Steckertyp",
          "Leistung kW"]


def read(name: str, **limits):
    return read_sheet((SHEETS / name).read_bytes(), name, **limits)


def test_utf8_with_bom_header_is_clean():
    raw = read("utf8_bom.csv")
    assert raw.columns == HEADER  # no "\ufeff" glued to the first header
    assert raw.frame["Straße"].tolist() == ["Königstraße", "Heilbronner Straße"]
    assert "encoding UTF-8 with BOM" in raw.notes


def test_cp1252_umlauts_are_decoded():
    raw = read("cp1252_semicolon.csv")
    assert raw.frame["Standortname"].iloc[0] == "Marktplatz Süd"
    assert raw.frame["Straße"].iloc[0] == "Königstraße"
    assert "encoding Windows-1252" in raw.notes


def _export(country: str, names: list[tuple[str, str]], encoding: str, ids: bool = True) -> bytes:
    """A Windows export of (station name, city) rows, with the country's EVSE ids unless ``ids`` is False."""
    lines = ["EVSE-ID;Name;Ort"] + [f"{f'{country}*ABC*E{n:04d}' if ids else n};{name};{city}"
                                    for n, (name, city) in enumerate(names, start=1)]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.mark.parametrize(("country", "encoding", "label", "names"), [
    ("PL", "cp1250", "Windows-1250 (Central European)", [("Ładowarka Źródlana", "Łódź"), ("Plac Wolności", "Gdańsk")]),
    ("CZ", "cp1250", "Windows-1250 (Central European)", [("Nabíječka Žďár", "České Budějovice")]),
    ("EE", "cp1257", "Windows-1257 (Baltic)", [("Laadija Tõrva", "Pärnu"), ("Jūrmalas iela", "Šiauliai")]),
    ("GR", "cp1253", "Windows-1253 (Greek)", [("Φόρτιση Πλατεία", "Αθήνα")]),
    # Western Europe's stays cp1252: "à" and "ñ" are other letters in cp1250 ("ŕ", "ń")
    ("FR", "cp1252", "Windows-1252", [("Borne Hôtel de Ville à côté", "Besançon")]),
    ("ES", "cp1252", "Windows-1252", [("Cargador Peñíscola nº 3", "A Coruña")]),
])
def test_a_windows_export_is_read_in_the_code_page_of_its_ids_country(country, encoding, label, names):
    raw = read_sheet(_export(country, names, encoding), "export.csv")
    assert f"encoding {label}" in raw.notes
    assert list(zip(raw.frame["Name"], raw.frame["Ort"], strict=True)) == names


def test_an_export_without_ids_that_cp1252_cannot_read_is_central_european_not_latin_1():
    names = [("Ładowarka Źródlana", "Łódź")]  # "Ź" is a byte cp1252 leaves undefined
    raw = read_sheet(_export("PL", names, "cp1250", ids=False), "export.csv")
    assert "encoding Windows-1250 (Central European)" in raw.notes
    assert list(zip(raw.frame["Name"], raw.frame["Ort"], strict=True)) == names


@pytest.mark.parametrize(("contact", "encoding", "label", "names"), [
    ("+48 22 123 45 67", "cp1250", "Windows-1250 (Central European)", [("Stacja Żółta", "Łódź"), ("Rynek", "Kraków")]),
    ("biuro@zielona.pl", "cp1250", "Windows-1250 (Central European)", [("Stacja Żółta", "Łódź")]),
    ("https://www.nabijeni.cz", "cp1250", "Windows-1250 (Central European)", [("Nabíječka Příbram", "Plzeň")]),
    ("0036 1 234 5678", "cp1250", "Windows-1250 (Central European)", [("Töltő Győr", "Székesfehérvár")]),
    ("+49 621 1234567", "cp1252", "Windows-1252", [("Marktplatz Süd", "Mannheim")]),
    ("info@borne.fr", "cp1252", "Windows-1252", [("Hôtel de Ville à côté", "Besançon")]),
])
def test_an_export_without_ids_is_read_in_the_code_page_of_its_phones_or_domains(contact, encoding, label, names):
    lines = ["Nr;Name;Ort;Kontakt"] + [f"{n};{name};{city};{contact}" for n, (name, city) in enumerate(names, 1)]
    raw = read_sheet(("\r\n".join(lines) + "\r\n").encode(encoding), "export.csv")
    assert f"encoding {label}" in raw.notes
    assert list(zip(raw.frame["Name"], raw.frame["Ort"], strict=True)) == names


def test_semicolons_with_decimal_commas_keep_the_numbers_whole():
    raw = read("semicolon_decimal_comma.csv")
    assert "delimiter semicolon" in raw.notes
    assert raw.frame["Breitengrad"].tolist() == ["48,7758", "48,7900"]  # text as found; mapping converts
    assert len(raw.columns) == 9


@pytest.mark.parametrize(("name", "note"), [("tab_separated.txt", "delimiter tab"),
                                            ("pipe_separated.csv", "delimiter pipe"),
                                            ("utf8_bom.csv", "delimiter comma")])
def test_delimiter_is_sniffed(name, note):
    raw = read(name)
    assert note in raw.notes
    assert raw.columns == HEADER
    assert raw.frame["Leistung kW"].tolist() == ["22", "50"]


def test_title_block_above_the_header_is_skipped_and_rows_keep_their_file_numbers():
    raw = read("title_block.csv")
    assert raw.header_row == 4
    assert raw.columns == HEADER
    assert raw.frame[ROW].tolist() == [5, 6]
    assert any("title block" in n for n in raw.notes)


@pytest.mark.parametrize("footer", [["Totale: 25 stazioni"], ["TOTAL", "", "", "", "", "", "", "", "44"],
                                    ["Summe", "", "", "", "", "", "", "", "44,0"]])
def test_a_total_line_under_the_table_is_left_out_and_said(footer):
    rows = [HEADER, ["Markt", "Hauptstr.", "1", "68159", "Mannheim", "49.48", "8.46", "Typ 2", "22"],
            ["Bahnhof", "Ring", "2", "68161", "Mannheim", "49.47", "8.47", "CCS", "22"], [], footer]
    data = "\n".join(";".join(row) for row in rows).encode()
    for raw in (read_sheet(data, "sum.csv"), read_sheet(xlsx_bytes(rows), "sum.xlsx")):
        assert raw.frame[ROW].tolist() == [2, 3]
        assert any(n.startswith("row 5 left out: a total line") and footer[0] in n for n in raw.notes), raw.notes


def test_a_note_under_the_table_is_left_out_and_said():
    rows = [HEADER, ["Markt", "Hauptstr.", "1", "68159", "Mannheim", "49.48", "8.46", "Typ 2", "22"],
            ["", "", "", "", "", "", "", "", ""], ["Stan na dzień 01.12.2026"]]
    raw = read_sheet(xlsx_bytes(rows), "notes.xlsx")
    assert raw.frame[ROW].tolist() == [2]
    assert "row 4 left out: a note ('Stan na dzień 01.12.2026'), not a station" in raw.notes


@pytest.mark.parametrize("last", [["Total Energies Milano", "Via Roma", "3", "20121", "Milano", "45.4", "9.1", "CCS",
                                   "50"], ["Totale: 25 stazioni", "Via Roma"], ["Summe 3"] + ["x"] * 8])
def test_a_last_row_that_only_looks_like_a_total_is_kept(last):
    rows = [HEADER, ["Markt", "Hauptstr.", "1", "68159", "Mannheim", "49.48", "8.46", "Typ 2", "22"], last]
    raw = read_sheet("\n".join(";".join(row) for row in rows).encode(), "last.csv")
    assert raw.frame[ROW].tolist() == [2, 3] and not any("left out" in n for n in raw.notes)


def test_duplicated_headers_are_made_unique_and_reported():
    raw = read("duplicated_headers.csv")
    assert raw.columns[1] == "Straße" and raw.columns[4] == "Straße (2)"
    assert raw.frame["Straße (2)"].tolist() == ["Stuttgart", "Stuttgart"]
    assert any("duplicated" in n and "Straße (2)" in n for n in raw.notes)


@pytest.mark.parametrize("name", ["empty.csv", "only_whitespace.csv"])
def test_empty_file_is_refused_clearly(name):
    with pytest.raises(SheetError, match="is empty"):
        read(name)


def test_header_without_rows_is_refused_clearly():
    with pytest.raises(SheetError, match="no data rows"):
        read("header_only.csv")


def test_binary_junk_is_refused_clearly():
    with pytest.raises(SheetError, match="not a text or spreadsheet file"):
        read("binary_junk.csv")


def test_size_limit():
    data = (SHEETS / "utf8_bom.csv").read_bytes()
    with pytest.raises(SheetError, match=r"files up to 0\.0 MB"):
        read_sheet(data, "big.csv", max_bytes=100)


def test_row_limit_csv():
    lines = ["a,b"] + [f"{i},x" for i in range(30)]
    data = "\n".join(lines).encode()
    assert len(read_sheet(data, "ok.csv", max_rows=30).frame) == 30
    with pytest.raises(SheetError, match="up to 29 rows"):
        read_sheet(data, "many.csv", max_rows=29)


def test_row_limit_xlsx():
    rows = [["a", "b"]] + [[i, "x"] for i in range(30)]
    data = xlsx_bytes(rows)
    assert len(read_sheet(data, "ok.xlsx", max_rows=30).frame) == 30
    with pytest.raises(SheetError, match="up to 29 rows"):
        read_sheet(data, "many.xlsx", max_rows=29)


def test_xlsx_formula_gives_its_stored_value_and_is_never_evaluated():
    # The stored value 7 is deliberately not what 1+1 evaluates to.
    data = xlsx_bytes([["name", "speed_kw", "lat"], ["Marktplatz", ("=", "1+1", 7), 49.4875]])
    raw = read_sheet(data, "formula.xlsx")
    assert raw.frame["speed_kw"].tolist() == ["7"]
    assert raw.frame["lat"].tolist() == ["49.4875"]
    assert raw.frame["name"].tolist() == ["Marktplatz"]


def test_xlsx_values_as_text_and_real_row_numbers():
    workbook = Workbook()
    sheet = workbook.active
    sheet["B3"], sheet["C3"], sheet["D3"] = "zip", "speed", "city"
    sheet["B4"], sheet["C4"], sheet["D4"] = 68159, 22.0, "Mannheim"
    sheet["B5"], sheet["C5"], sheet["D5"] = "01067", 3.7, "Dresden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    raw = read_sheet(buffer.getvalue(), "offset.xlsx")
    assert raw.header_row == 3
    assert raw.frame[ROW].tolist() == [4, 5]
    assert raw.frame["zip"].tolist() == ["68159", "01067"]
    assert raw.frame["speed"].tolist() == ["22", "3.7"]


def test_zip_bomb_by_ratio_is_refused_before_unpacking():
    # 30 MB of spaces compress to a few kB: far beyond any real sheet's ratio.
    padding = "<!--" + " " * 30_000_000 + "-->"
    data = xlsx_bytes([["a"], ["b"]], padding=padding)
    assert len(data) < 200_000
    with pytest.raises(SheetError, match="no real spreadsheet does; it was not opened"):
        read_sheet(data, "bomb.xlsx")
    assert MAX_RATIO < 30_000_000 / len(data)


def test_zip_claiming_a_huge_size_is_refused_before_unpacking():
    data = claim_size(xlsx_bytes([["a"], ["b"]]), "xl/worksheets/sheet1.xml", 4_000_000_000)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/worksheets/sheet1.xml").file_size == 4_000_000_000
    with pytest.raises(SheetError, match="would unpack to 4000.0 MB"):
        read_sheet(data, "liar.xlsx")


def test_zip_that_is_no_spreadsheet_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(SheetError, match="zip archive, not a spreadsheet"):
        read_sheet(buffer.getvalue(), "stations.xlsx")


def test_damaged_xlsx_is_refused_clearly():
    data = xlsx_bytes([["a"], ["b"]])[:300]
    with pytest.raises(SheetError, match="bomb|damaged|could not be read"):
        read_sheet(data, "cut.xlsx")


def test_ods_is_read():
    raw = read_sheet(ods_bytes([["Titel"], [], HEADER[:3], ["Marktplatz", "Luisenring", "49"]]), "stations.ods")
    assert raw.columns == HEADER[:3]
    assert raw.header_row == 3
    assert raw.frame[ROW].tolist() == [4]


def test_same_bytes_same_hash():
    data = (SHEETS / "utf8_bom.csv").read_bytes()
    assert read_sheet(data, "a.csv").sha256 == read_sheet(data, "b.csv").sha256
    assert read_sheet(data, "a.csv").sha256 != read_sheet(data + b"x,y\n", "a.csv").sha256


def test_bnetza_slice_title_block():
    raw = read_sheet((SHEETS.parent / "bnetza-slice.xlsx").read_bytes(), "bnetza-slice.xlsx")
    assert raw.header_row == 6  # below the title lines and the "1. Ladepunkt" group headings
    assert raw.columns[:3] == ["Betreiber", "Adresse", "Postleitzahl Ort"]
    assert raw.frame[ROW].iloc[0] == 7


def test_row_wider_than_the_sample_falls_back_and_keeps_every_cell():
    lines = ["name,zip"] + [f"s{i},{68000 + i}" for i in range(150)]
    lines[140] += ",extra"  # wider than every row the delimiter sniffer saw
    raw = read_sheet("\n".join(lines).encode(), "ragged.csv")
    assert len(raw.frame) == 150
    assert raw.columns == ["name", "zip", "Column C"]
    assert raw.frame.loc[raw.frame[ROW] == 141, "Column C"].tolist() == ["extra"]
    assert raw.frame[ROW].tolist() == list(range(2, 152))


def test_blank_lines_keep_file_row_numbers():
    raw = read_sheet(b"name,zip\n\nA,1\n\n\nB,2\n", "gaps.csv")
    assert raw.frame[ROW].tolist() == [3, 6]


@pytest.mark.parametrize(("data", "message"), [
    (b"\x1f\x8b\x08\x00" + bytes(range(60)), "gzip-compressed file"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
    (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n", "looks like a web page"),
    (b'{"stations": [{"id": "DE*8PS*S1", "name": "Markt"}]}\n', "looks like JSON"),
])
def test_files_that_are_no_table_say_what_they_are(data, message):
    with pytest.raises(SheetError, match=message):
        read_sheet(data, "upload.csv")


def _csv_arguments(data: bytes) -> tuple[bytes, str, int, str]:
    text, encoding = reader._decode(data, "regular.csv", [])
    delimiter = reader._sniff_delimiter(text.splitlines())
    width = max(len(r) for r in reader.csv.reader(text.splitlines(), delimiter=delimiter))
    return text.encode(), delimiter, width, "regular.csv"


@pytest.mark.parametrize("data", [
    b'name,note\n"Markt, Nord","two\nlines"\n"say ""hi""",x"y\n',  # quoted delimiters, newlines and quotes
    b"name;zip\r\n Luisenring ; 68159 \r\n\r\nB;\xc2\xa01\r\n",  # CRLF, padding, a blank line, NBSP
    b"name\tzip\rA\t1\rB\t2",  # old Mac line ends, no final line end
    "Straße,Ort\nMüllerstraße 3,Köln\n".encode("cp1252"),
    b"\xef\xbb\xbfname,zip\nA,1\n",
])
def test_the_fast_parser_reads_regular_files_as_the_tolerant_one_does(data, monkeypatch):
    read_by_arrow = reader._arrow_columns(*_csv_arguments(data))
    assert read_by_arrow is not None
    fast = read_sheet(data, "regular.csv")
    monkeypatch.setattr(reader, "_arrow_columns", lambda *args: None)
    tolerant = read_sheet(data, "regular.csv")
    assert fast.frame.to_dict("list") == tolerant.frame.to_dict("list")
    assert fast.notes == tolerant.notes


def test_short_rows_are_padded_with_empty_text_not_nan():
    raw = read_sheet(b"a;b;c\n1;2\n3;4;5\n", "short.csv")
    assert raw.frame.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"], "c": ["", "5"], ROW: [2, 3]}


def test_the_sheet_with_the_widest_table_is_read_not_the_instructions_before_it():
    raw = read_sheet(instructions_first_xlsx(), "stacje.xlsx")
    assert raw.sheet == "Stacje" and raw.sheets == ["Instrukcja", "Stacje"]  # the hidden one is not offered
    assert raw.frame["Miejscowość"].tolist() == ["Warszawa", "Kraków"]
    assert "read sheet 'Stacje', the widest table (other sheets with data: 'Instrukcja')" in raw.notes


def test_a_sheet_measured_no_wider_than_the_table_read_is_never_built(monkeypatch):
    """Building a sheet is the read's cost: a second 50,000-row sheet made a workbook 40 to 70 % slower to read.
    The sheets are measured first; only one that may be wider than the table built so far is built."""
    from python_calamine import CalamineWorkbook

    workbook = Workbook()
    workbook.active.title = "Notes"
    workbook.active.append(["One row per connector."])
    for name in ("Stations", "Copy", "Wider"):
        sheet = workbook.create_sheet(name)
        width = 4 if name == "Wider" else 3
        sheet.append([f"{name} {k}" for k in range(width)])
        sheet.append([str(k) for k in range(width)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    built = []
    build = CalamineWorkbook.get_sheet_by_name
    monkeypatch.setattr(CalamineWorkbook, "get_sheet_by_name",
                        lambda self, name: built.append(name) or build(self, name))
    raw = read_sheet(buffer.getvalue(), "stations.xlsx")
    assert raw.sheet == "Wider" and built == ["Wider"]
    assert "read sheet 'Wider', the widest table (other sheets with data: 'Notes', 'Stations', 'Copy')" in raw.notes
    built.clear()
    assert read_sheet(buffer.getvalue(), "stations.xlsx", sheet="Copy").sheet == "Copy" and built == ["Copy"]


def test_a_sheet_chosen_by_name_is_read_and_an_unknown_one_is_refused_naming_the_others():
    raw = read_sheet(instructions_first_xlsx(), "stacje.xlsx", sheet="Instrukcja")
    assert raw.sheet == "Instrukcja" and raw.columns == ["Wypełnij arkusz Stacje."]
    assert "read sheet 'Instrukcja', as chosen" in raw.notes and "3 data rows, 1 column" in raw.notes
    with pytest.raises(SheetError, match=r"stacje.xlsx has no sheet 'Arkusz1'; its sheets: 'Instrukcja', 'Stacje'\."):
        read_sheet(instructions_first_xlsx(), "stacje.xlsx", sheet="Arkusz1")


def test_first_visible_sheet_with_data_is_read():
    workbook = Workbook()
    workbook.active.title = "Deckblatt"  # empty cover sheet
    hidden = workbook.create_sheet("alt")
    hidden.append(["old", "data"])
    hidden.append(["1", "2"])
    hidden.sheet_state = "hidden"
    stations = workbook.create_sheet("Stationen")
    stations.append(["name", "zip"])
    stations.append(["Markt", "68159"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    raw = read_sheet(buffer.getvalue(), "book.xlsx")
    assert raw.columns == ["name", "zip"]
    assert any("'Stationen'" in n for n in raw.notes)


# --- limits: each refused with a message naming it, before the cells it guards are built ---------------------


def test_a_cell_over_the_limit_is_refused_naming_row_and_column_not_a_csv_error():
    data = b"name,zip\nMarkt,68159\n" + b"x" * 200_000 + b",1\n"  # one line longer than the csv module's limit
    with pytest.raises(SheetError, match=r"row 3, column A: a cell of 200,000 characters; cells up to 131,072"):
        read_sheet(data, "long.csv")


def test_a_cell_at_the_limit_is_read_spaces_around_it_not_counted():
    data = b"name,zip\n" + b"x" * reader.MAX_CELL_CHARS + b",1\n" + b"  " + b"y" * reader.MAX_CELL_CHARS + b"  ,2\n"
    assert read_sheet(data, "long.csv").frame["name"].str.len().tolist() == [reader.MAX_CELL_CHARS] * 2


def test_a_quoted_cell_over_the_limit_spanning_lines_is_refused():
    text = "name,notes\nMarkt,\"" + "word\n" * 30_000 + "\"\n"  # short lines, one cell of 149,999 characters
    with pytest.raises(SheetError, match=r"row 2, column B: a cell of 149,999 characters"):
        read_sheet(text.encode(), "notes.csv")


def test_a_quote_left_open_is_a_cell_over_the_limit_not_a_csv_error():
    text = 'name,zip\n"Markt,68159\n' + "".join(f"s{i},{i}\n" for i in range(30_000))  # the rest is one cell
    with pytest.raises(SheetError, match="row 2: a cell of more than 131,072 characters"):
        read_sheet(text.encode(), "open_quote.csv")


def test_a_workbook_cell_over_the_limit_is_refused():
    data = xlsx_bytes([["name", "zip"], ["Markt", 68159], ["y" * 140_000, 1]])
    with pytest.raises(SheetError, match=r"row 3, column A: a cell of 140,000 characters"):
        read_sheet(data, "long.xlsx")


def test_more_columns_than_the_limit_are_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(reader, "_arrow_columns", _never("parsed"))
    header = ",".join(f"c{i}" for i in range(501))
    with pytest.raises(SheetError, match="has 501 columns; up to 500 are accepted"):
        read_sheet((header + "\n" + "1," * 500 + "1\n").encode(), "wide.csv")
    monkeypatch.undo()
    assert len(read_sheet((header.rsplit(",", 1)[0] + "\n1\n").encode(), "ok.csv").columns) == 500


def test_a_row_wider_than_the_limit_below_the_sample_is_refused_naming_it():
    lines = ["name,zip"] + [f"s{i},{i}" for i in range(200)]
    lines[150] += "," * 600
    with pytest.raises(SheetError, match=r"row 151, has 602 columns; up to 500"):
        read_sheet("\n".join(lines).encode(), "ragged.csv")


def _never(what):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the file was {what}")
    return refuse


def test_a_csv_with_too_many_rows_is_refused_before_its_rows_are_parsed(monkeypatch):
    monkeypatch.setattr(reader, "_arrow_columns", _never("parsed"))
    monkeypatch.setattr(reader, "_tolerant_cells", _never("parsed"))
    data = ("a,b\n" + "1,x\n" * 200).encode()
    with pytest.raises(SheetError, match="up to 100 rows are accepted"):
        read_sheet(data, "many.csv", max_rows=100)
    with pytest.raises(SheetError, match="up to 100 rows are accepted"):  # old Mac line ends count too
        read_sheet(data.replace(b"\n", b"\r"), "many.csv", max_rows=100)


def test_line_ends_inside_quotes_are_not_rows():
    data = ("a,b\n" + '1,"two\nlines\nhere"\n' * 60).encode()  # 181 lines, 61 rows
    assert len(read_sheet(data, "quoted.csv", max_rows=100).frame) == 60


def test_a_csv_with_more_cells_than_the_limit_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(reader, "MAX_CELLS", 1_000)
    monkeypatch.setattr(reader, "_arrow_columns", _never("parsed"))
    data = (",".join(f"c{i}" for i in range(100)) + "\n" + "," * 99 + "\n") * 11
    with pytest.raises(SheetError, match=r"100 columns and more than 10 rows: more than the 1,000 cells"):
        read_sheet(data.encode(), "cells.csv")


def test_more_different_values_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(reader, "MAX_DISTINCT", 100)
    repeated = "a,b\n" + "".join(f"{i % 10},x\n" for i in range(500))
    assert len(read_sheet(repeated.encode(), "repeated.csv").frame) == 500
    distinct = "a,b\n" + "".join(f"{i},x\n" for i in range(500))
    with pytest.raises(SheetError, match="more than 100 different values"):
        read_sheet(distinct.encode(), "distinct.csv")
    with pytest.raises(SheetError, match="more than 100 different values"):
        read_sheet(xlsx_bytes([["a", "b"]] + [[i, "x"] for i in range(500)]), "distinct.xlsx")


def test_a_sheet_reaching_far_right_is_refused_by_its_columns():
    data = xlsx_bytes([["name", "zip"], ["Markt", 68159]],
                      replace=('<c r="B2"><v>68159</v></c>', '<c r="B2"><v>68159</v></c><c r="XFD2"><v>1</v></c>'))
    with pytest.raises(SheetError, match=r"more than 500 columns \(it reaches column XFD\)"):
        read_sheet(data, "far_right.xlsx")


def test_a_sheet_reaching_far_down_is_refused_before_it_is_built():
    data = xlsx_bytes([["name", "zip"], ["Markt", 68159]], replace=('<c r="B2">', '<c r="B1000000">'))
    with pytest.raises(SheetError, match="has more than 200,000 rows; up to 200,000"):
        read_sheet(data, "far_down.xlsx")


def test_a_sheet_with_more_cells_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(reader, "MAX_WORKBOOK_CELLS", 100)
    data = xlsx_bytes([["a", "b", "c", "d"]] + [[i, i, i, i] for i in range(30)])
    with pytest.raises(SheetError, match=r"spans 31 rows by 4 columns: more cells than the 100"):
        read_sheet(data, "cells.xlsx")


def test_an_ods_row_repeated_a_million_times_is_refused_before_calamine_opens_it():
    data = ods_bytes([["name", "zip"], ["Markt", "68159"]], replace=(
        '<table:table-row><table:table-cell office:value-type="string"><text:p>Markt',
        '<table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="string">'
        "<text:p>Markt"))
    with pytest.raises(SheetError, match="has more than 200,000 rows"):
        read_sheet(data, "repeated.ods")


def test_operator_tables_have_the_same_limits():
    header = ",".join(f"c{i}" for i in range(501))
    with pytest.raises(SheetError, match="up to 500 are accepted"):
        reader.read_rows((header + "\n").encode(), "operators.csv")
