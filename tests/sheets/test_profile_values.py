"""Values decide as much as headers: each column is profiled from a sample of its values (sheets.profile_values),
and the suggestion weighs that beside the header and says why it chose each column."""

import csv
import io

import pytest

from oioi_onboard.sheets.profile_values import profile_columns
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import CONFIDENT, suggest_mapping

ROWS = [
    ["MI-001", "Parcheggio Centrale", "Via Roma 12, 20121 Milano", "45,4642", "9,1900", "+39 02 1234 5678",
     "IT*ABC*E001", "Tipo 2", "22", "sì", "info@ricarica.example.it", "https://ricarica.example.it"],
    ["MI-001", "Parcheggio Centrale", "Via Roma 12, 20121 Milano", "45,4642", "9,1900", "+39 02 1234 5678",
     "IT*ABC*E002", "CCS Combo 2", "50", "sì", "info@ricarica.example.it", "https://ricarica.example.it"],
    ["MI-002", "Stazione Garibaldi", "Corso Buenos Aires 83, 20124 Milano", "45,4845", "9,2040", "+39 02 1234 5678",
     "IT*ABC*E003", "Tipo 2", "11", "no", "info@ricarica.example.it", "https://ricarica.example.it"],
    ["TO-001", "Porta Nuova", "Corso Vittorio Emanuele II 53, 10128 Torino", "45,0625", "7,6787", "+39 011 123 4567",
     "IT*ABC*E004", "Tipo 2 (Mennekes)", "7,4", "sì", "info@ricarica.example.it", "https://ricarica.example.it"],
    ["TO-001", "Porta Nuova", "Corso Vittorio Emanuele II 53, 10128 Torino", "45,0625", "7,6787", "+39 011 123 4567",
     "IT*ABC*E005", "CHAdeMO", "50", "sì", "info@ricarica.example.it", "https://ricarica.example.it"],
]
FIELDS = ["station_id", "station_name", "street", "latitude", "longitude", "phone", "evse_id", "connector_type",
          "speed_kw", "is_open_24", "email", "web"]


def sheet(headers: list[str], rows: list[list[str]] = ROWS):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([headers, *rows])
    return read_sheet(buffer.getvalue().encode("utf-8"), "t.csv")


def test_each_column_is_profiled_from_its_values():
    profile = profile_columns(sheet([f"c{i}" for i in range(12)]))
    kinds = {column: {kind for kind, found in column_profile.kinds.items() if found.share == 1}
             for column, column_profile in profile.items()}
    assert "station_code" in kinds["c0"] and "text" in kinds["c1"] and "address" in kinds["c2"]
    assert "latitude" in kinds["c3"] and "longitude" in kinds["c4"]
    assert {"phone"} <= kinds["c5"] and "evse_id" in kinds["c6"] and "plug" in kinds["c7"]
    assert "power" in kinds["c8"] and "yes_no" in kinds["c9"] and "email" in kinds["c10"] and "web" in kinds["c11"]
    assert profile["c6"].kinds["evse_id"].reason() == "values look like EVSE ids, 5/5"
    assert all(column_profile.filled == 5 for column_profile in profile.values())


def test_headers_in_a_language_nobody_listed_map_from_the_values_alone():
    suggestion = suggest_mapping(sheet([f"col{i}" for i in range(1, 13)]))
    columns = suggestion.mapping.columns
    assert {name: columns[name] for name in FIELDS} == {name: f"col{i}" for i, name in enumerate(FIELDS, start=1)}
    assert columns["street_number"] == columns["zip"] == columns["city"] == "col3"  # a one-line address
    assert suggestion.unplaced_required == []
    assert suggestion.reasons["evse_id"] == "values look like EVSE ids, 5/5"
    assert suggestion.reasons["station_id"].startswith("values look like station codes, one per station, 5/5")
    assert "land in IT" in suggestion.reasons["latitude"]
    # Distinctive values are as sure as a header; a yes/no column could be any yes/no field: a guess to check.
    assert suggestion.confidence["evse_id"] >= CONFIDENT and suggestion.confidence["is_open_24"] < CONFIDENT


@pytest.mark.parametrize(("rows", "country"), [
    # Norway's box reaches round Finland and Sweden's over Helsinki: the points are Finland's.
    ([["HEL-01", "60,1690", "24,9327"], ["TKU-01", "60,4518", "22,2666"], ["OUL-01", "65,0128", "25,4716"]], "FI"),
    # Spain's, France's and Portugal's boxes include islands south of 34°N: they are European all the same.
    ([["MAD-1", "40,4183", "-3,7003"], ["BCN-1", "41,3926", "2,1410"], ["SEV-1", "37,3826", "-6,0025"]], "ES"),
    ([["LIS-1", "38,7223", "-9,1393"], ["OPO-1", "41,1579", "-8,6291"], ["FAO-1", "37,0194", "-7,9322"]], "PT"),
    ([["PAR-1", "48,8566", "2,3522"], ["LYS-1", "45,7640", "4,8357"], ["BOD-1", "44,8378", "-0,5792"]], "FR"),
    ([["VIE-1", "48,2082", "16,3738"], ["GRZ-1", "47,0707", "15,4395"], ["INN-1", "47,2692", "11,4041"]], "AT"),
])
def test_bare_coordinates_land_in_the_country_that_holds_them(rows, country):
    suggestion = suggest_mapping(sheet(["a", "b", "c"], rows))
    assert (suggestion.mapping.columns["latitude"], suggestion.mapping.columns["longitude"]) == ("b", "c")
    assert suggestion.reasons["latitude"].endswith(f"the points land in {country}")


def test_a_header_and_values_that_agree_are_sure_and_say_both():
    headers = ["Codice stazione", "Nome", "Indirizzo", "Latitudine", "Longitudine", "Telefono", "EVSE ID", "Presa",
               "Potenza (kW)", "Aperto 24h", "E-mail", "Sito web"]
    suggestion = suggest_mapping(sheet(headers))
    assert {name: suggestion.mapping.columns[name] for name in FIELDS} == dict(zip(FIELDS, headers, strict=True))
    assert suggestion.reasons["connector_type"] == "its header; values look like plug names, 5/5"
    assert all(suggestion.confidence[name] >= 0.95 for name in FIELDS)


def test_values_overrule_a_header_that_names_something_else():
    # "Telefono" holds e-mail addresses and "Tel" the phone numbers: each column goes where its values belong.
    headers = ["Codice", "Nome", "Indirizzo", "Lat", "Lon", "Tel", "EVSE", "Presa", "kW", "24h", "Telefono", "Web"]
    columns = suggest_mapping(sheet(headers)).mapping.columns
    assert columns["email"] == "Telefono" and columns["phone"] == "Tel"


def test_latitude_and_longitude_are_told_apart_by_where_the_points_land():
    rows = [[r[4], r[3], r[6], r[7], r[8]] for r in ROWS]  # longitude first, headers say nothing
    suggestion = suggest_mapping(sheet(["a", "b", "c", "d", "e"], rows))
    assert (suggestion.mapping.columns["latitude"], suggestion.mapping.columns["longitude"]) == ("b", "a")


def test_codes_repeated_on_a_stations_rows_are_its_id_and_unique_codes_only_a_guess():
    repeated = suggest_mapping(sheet([f"c{i}" for i in range(12)]))
    assert repeated.mapping.columns["station_id"] == "c0" and repeated.confidence["station_id"] >= CONFIDENT
    unique = [[f"S{i}", *row[1:]] for i, row in enumerate(ROWS)]
    once = suggest_mapping(sheet([f"c{i}" for i in range(12)], unique))
    assert once.mapping.columns["station_id"] == "c0" and once.confidence["station_id"] < CONFIDENT


@pytest.mark.parametrize("header", ["Via", "Street", "Strasse"])
def test_a_street_column_holding_whole_addresses_gives_number_postcode_and_city_too(header):
    headers = ["Codice stazione", "Nome", header, "Lat", "Lon", "Telefono", "EVSE ID", "Presa", "kW", "24h", "Mail",
               "Web"]
    columns = suggest_mapping(sheet(headers)).mapping.columns
    assert columns["street"] == columns["street_number"] == columns["zip"] == columns["city"] == header
