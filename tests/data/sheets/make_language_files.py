"""Writes station exports as CPOs send them in their own languages; each must map with no manual step.

Run ``python tests/data/sheets/make_language_files.py`` to (re)write them; a test
checks that the committed files are exactly what this script writes. Stations,
ids, phone numbers and operators are invented; streets, postcodes and
coordinates are real places. Each file holds three stations of one operator,
with the CPO's own station codes (repeated on each connector row), headers,
one-line addresses, yes/no words and plug names in the language, and decimal
commas:

- ``stazioni_it.xlsx``: Italian, an XLSX whose coordinates are numbers;
- ``estaciones_es.csv``: Spanish, "Calle de Alcalá, 45, 28014 Madrid", opening hours "Lu-Vi 08:00-20:00";
- ``postos_pt.csv``: Portuguese, "Rua Augusta, n.º 100, 1100-053 Lisboa";
- ``stacje_pl.csv``: Polish, postcodes "00-590", hours "Pn-Pt 8:00-18:00";
- ``stanice_cz.csv``: Czech, "Václavské náměstí 846/1, 110 00 Praha";
- ``laddstationer_se.txt``: Swedish, tab-separated, postcodes "111 51";
- ``toltoallomasok_hu.csv``: Hungarian, "1061 Budapest, Andrássy út 12." (postcode and city first);
- ``values_only_ro.csv``: Romanian values under the headers ``col1`` .. ``col10``: mapped from the values alone;
- ``laadpalen_benelux.csv``: Dutch headers, stations in NL and BE, an ``Operator`` column naming the operator
  ("EV Benelux") and no operator table: the operator ids are those of the EVSE ids (``NL*EVB*E00001``).

``STATIONS`` holds, per file, what it says as the canonical table has it (one
dict per connector); tests/sheets/test_language_files.py checks that
``validate --export`` gives exactly that.
"""

import csv
import io
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers.sheet_files import xlsx_bytes  # noqa: E402 - the project root first, when run as a script

FIELDS = ["station_id", "station_name", "street", "street_number", "zip", "city", "country", "latitude",
          "longitude", "phone", "evse_id", "connector_type", "speed_kw", "is_open_24", "open_hours"]


def _stations(country: str, operator: str, stations: list[tuple], connectors: list[tuple]) -> list[dict[str, str]]:
    """(code, name, street, number, zip, city, lat, lon, phone, open 24, hours) per station and
    (station code, EVSE suffix, OIOI type, kW) per connector -> one canonical dict per connector."""
    by_code = {s[0]: s for s in stations}
    rows = []
    for code, suffix, kind, kw in connectors:
        _, name, street, number, zip_code, city, lat, lon, phone, always, hours = by_code[code]
        rows.append(dict(zip(FIELDS, [code, name, street, number, zip_code, city, country, lat, lon, phone,
                                      f"{operator}*E{suffix}", kind, kw, always, hours], strict=True)))
    return rows


STATIONS: dict[str, list[dict[str, str]]] = {
    "stazioni_it.xlsx": _stations("IT", "IT*RIC", [
        ("MI-001", "Parcheggio Centrale", "Via Roma", "12", "20121", "Milano", "45.4642", "9.1895",
         "+39 02 1234 5678", "true", ""),
        ("MI-002", "Stazione Garibaldi", "Corso Buenos Aires", "83", "20124", "Milano", "45.4845", "9.2041",
         "+39 02 1234 5678", "false", ""),
        ("TO-001", "Porta Nuova", "Corso Vittorio Emanuele II", "53", "10128", "Torino", "45.0625", "7.6787",
         "+39 011 123 4567", "true", ""),
    ], [("MI-001", "001", "Type2", "22"), ("MI-001", "002", "Combo", "50"), ("MI-002", "003", "Type2", "11"),
        ("TO-001", "004", "Type2", "7.4"), ("TO-001", "005", "Chademo", "50")]),
    "estaciones_es.csv": _stations("ES", "ES*CAR", [
        ("MAD-01", "Puerta de Alcalá", "Calle de Alcalá", "45", "28014", "Madrid", "40.4194", "-3.6983",
         "+34 91 123 45 67", "true", ""),
        ("MAD-02", "Plaza Mayor", "Calle Mayor", "5", "28013", "Madrid", "40.4155", "-3.7074",
         "+34 91 123 45 67", "false", "Mo-Fr 08:00-20:00"),
        ("BCN-01", "Passeig de Gràcia", "Passeig de Gràcia", "92", "08008", "Barcelona", "41.3954", "2.1619",
         "+34 93 123 45 67", "true", ""),
    ], [("MAD-01", "0001", "Type2", "22"), ("MAD-01", "0002", "Combo", "50"), ("MAD-02", "0003", "Type2", "7.4"),
        ("BCN-01", "0004", "Combo", "150"), ("BCN-01", "0005", "Chademo", "50")]),
    "postos_pt.csv": _stations("PT", "PT*LUZ", [
        ("LX001", "Baixa Augusta", "Rua Augusta", "100", "1100-053", "Lisboa", "38.7107", "-9.1371",
         "+351 21 123 4567", "true", ""),
        ("LX002", "Marquês", "Avenida da Liberdade", "245", "1250-143", "Lisboa", "38.7203", "-9.1459",
         "+351 21 123 4567", "false", ""),
        ("PO001", "Aliados", "Avenida dos Aliados", "10", "4000-065", "Porto", "41.1486", "-8.6109",
         "+351 22 123 4567", "true", ""),
    ], [("LX001", "001", "Type2", "22"), ("LX001", "002", "Combo", "50"), ("LX002", "003", "Type2", "3.7"),
        ("PO001", "004", "Type2", "11"), ("PO001", "005", "Combo", "150")]),
    "stacje_pl.csv": _stations("PL", "PL*LAD", [
        ("WAW-1", "Centrum", "ul. Marszałkowska", "10", "00-590", "Warszawa", "52.2231", "21.0167",
         "+48 22 123 45 67", "true", ""),
        ("WAW-2", "Plac Bankowy", "Plac Bankowy", "2", "00-095", "Warszawa", "52.2443", "21.0009",
         "+48 22 123 45 67", "false", "Mo-Fr 08:00-18:00"),
        ("KRK-1", "Rynek", "ul. Floriańska", "3", "31-019", "Kraków", "50.0627", "19.9392",
         "+48 12 123 45 67", "true", ""),
    ], [("WAW-1", "01", "Type2", "22"), ("WAW-1", "02", "Combo", "50"), ("WAW-2", "03", "Type2", "11"),
        ("KRK-1", "04", "Combo", "100"), ("KRK-1", "05", "Type2", "22")]),
    "stanice_cz.csv": _stations("CZ", "CZ*NAB", [
        ("PHA01", "Václavák", "Václavské náměstí", "846/1", "110 00", "Praha", "50.081", "14.428",
         "+420 212 345 678", "true", ""),
        ("PHA02", "Národní", "Národní", "37", "110 00", "Praha", "50.0817", "14.4191",
         "+420 212 345 678", "false", ""),
        ("BRN01", "Náměstí Svobody", "Náměstí Svobody", "10", "602 00", "Brno", "49.1951", "16.6083",
         "+420 542 123 456", "true", ""),
    ], [("PHA01", "101", "Type2", "22"), ("PHA01", "102", "Combo", "50"), ("PHA02", "103", "Type2", "11"),
        ("BRN01", "104", "Combo", "150"), ("BRN01", "105", "Chademo", "50")]),
    "laddstationer_se.txt": _stations("SE", "SE*LAD", [
        ("STO-10", "Drottninggatan", "Drottninggatan", "25", "111 51", "Stockholm", "59.3326", "18.0649",
         "+46 8 123 456 78", "true", ""),
        ("STO-11", "Kungsträdgården", "Hamngatan", "18", "111 47", "Stockholm", "59.3321", "18.0716",
         "+46 8 123 456 78", "false", ""),
        ("GOT-01", "Avenyn", "Kungsportsavenyen", "1", "411 36", "Göteborg", "57.7003", "11.9754",
         "+46 31 123 45 67", "true", ""),
    ], [("STO-10", "1", "Type2", "22"), ("STO-10", "2", "Combo", "50"), ("STO-11", "3", "Type2", "11"),
        ("GOT-01", "4", "Combo", "150"), ("GOT-01", "5", "Type2", "22")]),
    "toltoallomasok_hu.csv": _stations("HU", "HU*TOL", [
        ("BP-001", "Andrássy", "Andrássy út", "12", "1061", "Budapest", "47.503", "19.06",
         "+36 1 234 5678", "true", ""),
        ("BP-002", "Deák tér", "Deák Ferenc tér", "3", "1052", "Budapest", "47.4979", "19.0548",
         "+36 1 234 5678", "false", ""),
        ("SZ-001", "Dóm tér", "Dóm tér", "5", "6720", "Szeged", "46.2497", "20.1496",
         "+36 62 123 456", "true", ""),
    ], [("BP-001", "01", "Type2", "22"), ("BP-001", "02", "Combo", "50"), ("BP-002", "03", "Type2", "11"),
        ("SZ-001", "04", "Combo", "150"), ("SZ-001", "05", "Type2", "22")]),
    "values_only_ro.csv": _stations("RO", "RO*INC", [
        ("B-01", "Lipscani", "Strada Lipscani", "12", "030031", "București", "44.4315", "26.1006",
         "+40 21 123 4567", "true", ""),
        ("B-02", "Piața Unirii", "Bulevardul Unirii", "1", "030119", "București", "44.4268", "26.1025",
         "+40 21 123 4567", "false", ""),
        ("CJ-01", "Piața Unirii Cluj", "Piața Unirii", "1", "400098", "Cluj-Napoca", "46.7695", "23.5899",
         "+40 264 123 456", "true", ""),
    ], [("B-01", "001", "Type2", "22"), ("B-01", "002", "Combo", "50"), ("B-02", "003", "Type2", "11"),
        ("CJ-01", "004", "Combo", "150"), ("CJ-01", "005", "Type2", "22")]),
    "laadpalen_benelux.csv": [
        *_stations("NL", "NL*EVB", [
            ("AMS-01", "Damrak", "Damrak", "1", "1012 JS", "Amsterdam", "52.3752", "4.8963", "+31 20 123 4567",
             "true", ""),
            ("AMS-02", "Kerkstraat", "Kerkstraat", "12", "1017 GC", "Amsterdam", "52.3645", "4.8897",
             "+31 20 123 4567", "false", ""),
        ], [("AMS-01", "00001", "Type2", "22"), ("AMS-01", "00002", "Combo", "50"),
            ("AMS-02", "00003", "Type2", "11")]),
        *_stations("BE", "BE*EVB", [
            ("BRU-01", "Wetstraat", "Rue de la Loi", "16", "1000", "Bruxelles", "50.8466", "4.368", "+32 2 511 22 33",
             "true", ""),
        ], [("BRU-01", "00004", "Type2", "22"), ("BRU-01", "00005", "Combo", "150")]),
    ],
}

# How each language writes what the canonical table says.
_YES_NO = {"nl": ("ja", "nee"),
           "it": ("sì", "no"), "es": ("sí", "no"), "pt": ("sim", "não"), "pl": ("tak", "nie"), "cs": ("ano", "ne"),
           "sv": ("ja", "nej"), "hu": ("igen", "nem"), "ro": ("da", "nu")}
_PLUGS = {
    "it": {"Type2": "Tipo 2", "Combo": "CCS Combo 2", "Chademo": "CHAdeMO"},
    "es": {"Type2": "Tipo 2", "Combo": "CCS2", "Chademo": "CHAdeMO"},
    "pt": {"Type2": "Tipo 2", "Combo": "CCS Combo 2"},
    "pl": {"Type2": "Typ 2", "Combo": "CCS2"},
    "cs": {"Type2": "Typ 2", "Combo": "CCS Combo 2", "Chademo": "CHAdeMO"},
    "sv": {"Type2": "Typ 2", "Combo": "CCS"},
    "hu": {"Type2": "2-es típus", "Combo": "CCS Combo 2"},
    "ro": {"Type2": "Tip 2", "Combo": "CCS2"},
    "nl": {"Type2": "Type 2", "Combo": "CCS"},
}
_COUNTRY_NAMES = {"it": "Italia", "es": "España", "pt": "Portugal", "pl": "Polska", "cs": "Česko", "sv": "Sverige",
                  "hu": "Magyarország"}


def _comma(number: str) -> str:
    return number.replace(".", ",")


def _address(language: str, row: dict[str, str]) -> str:
    street, number, zip_code, city = row["street"], row["street_number"], row["zip"], row["city"]
    return {
        "es": f"{street}, {number}, {zip_code} {city}",
        "pt": f"{street}, n.º {number}, {zip_code} {city}",
        "hu": f"{zip_code} {city}, {street} {number}.",
    }.get(language, f"{street} {number}, {zip_code} {city}")


def _hours(language: str, row: dict[str, str]) -> str:
    days = {"es": {"Mo": "Lu", "Fr": "Vi"}, "pl": {"Mo": "Pn", "Fr": "Pt"}}[language]
    text = row["open_hours"]
    for osm, local in days.items():
        text = text.replace(osm, local)
    return text.replace("08:00-18:00", "8:00-18:00") if language == "pl" else text


def _cells(language: str, row: dict[str, str], *, with_country: bool = True, hours: bool = False,
           country: bool = False) -> list[str]:
    """One connector row as the language writes it; ``country``: the ISO code instead of the country's name."""
    yes, no = _YES_NO[language]
    cells = [row["station_id"], row["station_name"], _address(language, row)]
    if country:
        cells.append(row["country"])
    elif with_country:
        cells.append(_COUNTRY_NAMES[language])
    cells += [_comma(row["latitude"]), _comma(row["longitude"]), row["phone"], row["evse_id"],
              _PLUGS[language][row["connector_type"]], _comma(row["speed_kw"]), yes if row["is_open_24"] == "true"
              else no]
    if hours:
        cells.append(_hours(language, row) if row["open_hours"] else "")
    return cells


def _csv(header: list[str], rows: list[list[str]], delimiter: str = ";") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerows([header, *rows])
    return buffer.getvalue().encode("utf-8")


def _xlsx(rows: list[list[object]]) -> bytes:
    """The workbook with fixed member times, so the same rows always make the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.namelist():
            archive.writestr(zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0)), source.read(member),
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def files() -> dict[str, bytes]:
    def rows(name: str, language: str, **options) -> list[list[str]]:
        return [_cells(language, row, **options) for row in STATIONS[name]]

    italian = [[*cells[:4], float(cells[4].replace(",", ".")), float(cells[5].replace(",", ".")), *cells[6:]]
               for cells in rows("stazioni_it.xlsx", "it")]
    return {
        "stazioni_it.xlsx": _xlsx([
            ["Codice stazione", "Nome", "Indirizzo", "Paese", "Latitudine", "Longitudine", "Telefono", "EVSE ID",
             "Presa", "Potenza (kW)", "Aperto 24h"], *italian]),
        "estaciones_es.csv": _csv(
            ["Código de estación", "Nombre", "Dirección", "País", "Latitud", "Longitud", "Teléfono",
             "Id punto de recarga", "Tipo de conector", "Potencia (kW)", "Abierto 24 horas", "Horario"],
            rows("estaciones_es.csv", "es", hours=True)),
        "postos_pt.csv": _csv(
            ["Código do posto", "Nome", "Morada", "País", "Latitude", "Longitude", "Telefone", "ID EVSE",
             "Tipo de tomada", "Potência (kW)", "Aberto 24h"], rows("postos_pt.csv", "pt")),
        "stacje_pl.csv": _csv(
            ["Kod stacji", "Nazwa", "Adres", "Kraj", "Szerokość geograficzna", "Długość geograficzna", "Telefon",
             "ID EVSE", "Typ złącza", "Moc (kW)", "Całodobowo", "Godziny otwarcia"],
            rows("stacje_pl.csv", "pl", hours=True)),
        "stanice_cz.csv": _csv(
            ["Kód stanice", "Název", "Adresa", "Země", "Zeměpisná šířka", "Zeměpisná délka", "Telefon", "ID EVSE",
             "Typ konektoru", "Výkon (kW)", "Nonstop"], rows("stanice_cz.csv", "cs")),
        "laddstationer_se.txt": _csv(
            ["Stationskod", "Namn", "Adress", "Land", "Latitud", "Longitud", "Telefon", "EVSE-id", "Kontakttyp",
             "Effekt (kW)", "Öppet dygnet runt"], rows("laddstationer_se.txt", "sv"), delimiter="\t"),
        "toltoallomasok_hu.csv": _csv(
            ["Állomás kód", "Név", "Cím", "Ország", "Szélesség", "Hosszúság", "Telefonszám", "EVSE azonosító",
             "Csatlakozó típusa", "Teljesítmény (kW)", "Nonstop"], rows("toltoallomasok_hu.csv", "hu")),
        "values_only_ro.csv": _csv([f"col{i}" for i in range(1, 11)],
                                   rows("values_only_ro.csv", "ro", with_country=False)),
        "laadpalen_benelux.csv": _csv(
            ["Operator", "Locatie ID", "Naam", "Adres", "Land", "Latitude", "Longitude", "Telefoon", "EVSE ID",
             "Stekker", "Vermogen (kW)", "24/7"],
            [["EV Benelux", *cells] for cells in rows("laadpalen_benelux.csv", "nl", country=True)], delimiter=","),
    }


if __name__ == "__main__":
    for name, data in files().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data):,} bytes)")
