"""What any file may hold, whatever its layout: one-line addresses, both coordinates in one cell,
opening hours, per-plug columns, no country column, no operator id column; and the plausibility checks."""

import csv
import io

import pytest

from oioi_onboard.sheets.addresses import address_line, parse_address, zip_fits
from oioi_onboard.sheets.hours import split_hours
from oioi_onboard.sheets.mapping import Mapping, apply_mapping
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import suggest_mapping
from oioi_onboard.sheets.validate import validate
from oioi_onboard.testing.sheets import set_station, valid_frame


def sheet(rows: list[list[str]]):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return read_sheet(buffer.getvalue().encode("utf-8"), "t.csv")


def mapped(rows: list[list[str]]):
    raw = sheet(rows)
    suggestion = suggest_mapping(raw)
    frame, issues = apply_mapping(raw, suggestion.mapping)
    return suggestion.mapping, frame, issues


# --- one-line addresses -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "country", "parts"), [
    # street first (DE, AT, NL, BE, CH, and others)
    ("Luisenring 49a, 68159 Mannheim", "DE", ("Luisenring", "49a", "68159", "Mannheim")),
    ("Hauptstraße 12-14 10115 Berlin, Deutschland", "DE", ("Hauptstraße", "12-14", "10115", "Berlin")),
    ("Straße des 17. Juni 135, 10623 Berlin", "DE", ("Straße des 17. Juni", "135", "10623", "Berlin")),
    ("Route 66 12, 68159 Mannheim", "DE", ("Route 66", "12", "68159", "Mannheim")),
    ("Stephansplatz 1, 1010 Wien", "AT", ("Stephansplatz", "1", "1010", "Wien")),
    ("Kerkstraat 12, 1017 GC Amsterdam", "NL", ("Kerkstraat", "12", "1017 GC", "Amsterdam")),
    ("Rue de la Loi 16, 1000 Bruxelles", "BE", ("Rue de la Loi", "16", "1000", "Bruxelles")),
    ("Bahnhofstrasse 1, 8001 Zürich", "CH", ("Bahnhofstrasse", "1", "8001", "Zürich")),
    ("Marktplatz, 68159 Mannheim", "DE", ("Marktplatz", "", "68159", "Mannheim")),
    # number first (FR)
    ("12 Rue de la République 68100 Mulhouse", "FR", ("Rue de la République", "12", "68100", "Mulhouse")),
    ("12 bis rue X, 75001 Paris", "FR", ("rue X", "12bis", "75001", "Paris")),
    ("12 Route 66, 75001 Paris", "FR", ("Route 66", "12", "75001", "Paris")),
    # the British postcode after the city
    ("12 High Street, London SW1A 1AA", "GB", ("High Street", "12", "SW1A 1AA", "London")),
    ("221B Baker Street, London NW1 6XE", "", ("Baker Street", "221B", "NW1 6XE", "London")),
    ("10 Downing Street, London SW1A 1AA", "", ("Downing Street", "10", "SW1A 1AA", "London")),
    # the number after a comma or a marker, whatever the header and the country
    ("Calle de Alcalá, 45, 28014 Madrid", "", ("Calle de Alcalá", "45", "28014", "Madrid")),
    ("Calle de Alcalá 45, 28014 Madrid", "ES", ("Calle de Alcalá", "45", "28014", "Madrid")),
    ("Rua Augusta, n.º 100, 1100-053 Lisboa", "", ("Rua Augusta", "100", "1100-053", "Lisboa")),
    ("Str. Lipscani nr. 12, 030031 București", "", ("Str. Lipscani", "12", "030031", "București")),
    ("Via Roma, 12 - 20121 Milano (MI)", "", ("Via Roma", "12", "20121", "Milano")),
    # each country's postcode: PL 00-590, SE 111 51, NL 1012 JS, CZ 110 00
    ("ul. Marszałkowska 10, 00-590 Warszawa", "", ("ul. Marszałkowska", "10", "00-590", "Warszawa")),
    ("Drottninggatan 25, 111 51 Stockholm", "", ("Drottninggatan", "25", "111 51", "Stockholm")),
    ("Damrak 1, 1012 JS Amsterdam", "", ("Damrak", "1", "1012 JS", "Amsterdam")),
    ("Václavské náměstí 846/1, 110 00 Praha", "CZ", ("Václavské náměstí", "846/1", "110 00", "Praha")),
    # postcode and city first (HU)
    ("1061 Budapest, Andrássy út 12.", "", ("Andrássy út", "12", "1061", "Budapest")),
])
def test_one_line_address_orders(text, country, parts):
    found = parse_address(text, country)
    assert (found.street, found.number, found.zip, found.city) == parts
    assert found.sure


@pytest.mark.parametrize(("parts", "line"), [
    (("Via Roma", "12", "20121", "Milano"), "Via Roma 12, 20121 Milano"),
    (("Corso Buenos Aires 83, 20119 Milano", "", "20119", "Milano"), "Corso Buenos Aires 83, 20119 Milano"),
    (("Marktplatz", "", "68159", "Mannheim"), "Marktplatz, 68159 Mannheim"),
    (("", "", "", ""), ""),
])
def test_an_address_line_names_each_part_once(parts, line):
    assert address_line(*parts) == line


def test_a_column_of_whole_addresses_mapped_to_the_street_alone_is_split():
    raw = sheet([["Station", "Indirizzo", "EVSE"],
                 ["S1", "Corso Buenos Aires 83, 20124 Milano", "IT*ABC*E1"],
                 ["S2", "Via Roma 12, 20121 Milano", "IT*ABC*E2"]])
    frame, _ = apply_mapping(raw, Mapping(columns={"station_id": "Station", "street": "Indirizzo",
                                                   "evse_id": "EVSE"}))
    assert frame[["street", "street_number", "zip", "city"]].values.tolist() == [
        ["Corso Buenos Aires", "83", "20124", "Milano"], ["Via Roma", "12", "20121", "Milano"]]


@pytest.mark.parametrize(("address", "number"), [("direccion", "numero"), ("Adresse", "Hausnummer"),
                                                ("indirizzo", "civico")])
def test_an_address_header_beside_a_number_column_is_the_street(address, number):
    """Found in a walkthrough: a Spanish 'direccion' next to 'numero' was suggested as notes ('directions')."""
    raw = sheet([["id_estacion", address, number, "id_evse"],
                 ["S1", "Calle Sierpes", "3", "ES*ESR*E0001*1"],
                 ["S2", "Avenida de la Constitución", "12", "ES*ESR*E0002*1"]])
    columns = suggest_mapping(raw).mapping.columns
    assert (columns["street"], columns["street_number"], columns["notes"]) == (address, number, None)


@pytest.mark.parametrize(("text", "country"), [
    ("Hauptstraße 12, Berlin", "DE"),  # no postcode
    ("Am Markt", ""),  # no postcode, no city
    ("Kirchweg 3, 1234 Irgendwo", "DE"),  # a postcode not of the country
])
def test_unsure_readings_are_marked(text, country):
    assert not parse_address(text, country).sure


def test_unsure_addresses_are_a_warning_once_per_address():
    # Most cells of "Address" are whole addresses, so postcode and city come from it too.
    mapping, frame, issues = mapped([
        ["Station ID", "Address", "Country"],
        ["S1", "Hauptstraße 12, Berlin", "DE"], ["S1", "Hauptstraße 12, Berlin", "DE"],
        ["S2", "Luisenring 49, 68159 Mannheim", "DE"], ["S3", "Kaiserring 1, 68161 Mannheim", "DE"],
        ["S4", "N7 12, 68161 Mannheim", "DE"], ["S5", "Marktplatz, 68159 Mannheim", "DE"],
    ])
    assert {mapping.columns[f] for f in ("street", "street_number", "zip", "city")} == {"Address"}
    assert frame[["street", "street_number", "zip", "city"]].values.tolist()[1:4] == [
        ["Hauptstraße", "12", "", "Berlin"], ["Luisenring", "49", "68159", "Mannheim"],
        ["Kaiserring", "1", "68161", "Mannheim"]]
    unsure = issues[issues["rule"] == "address_unsure"]
    assert unsure[["row", "severity"]].values.tolist() == [[2, "warning"]]


def test_zip_formats():
    assert zip_fits("68159", "DE") and zip_fits("1017 GC", "NL") and zip_fits("SW1A 1AA", "GB")
    assert zip_fits("6815", "DE") is False and zip_fits("75001", "AT") is False
    assert zip_fits("12345", "XK") is None  # a country whose format is not known: not checked


# --- coordinates in one column -----------------------------------------------------------

@pytest.mark.parametrize(("cells", "country", "expected"), [
    (["[8.466, 49.487]"], "DE", ("49.487", "8.466")),  # brackets, longitude first: the country decides
    (["49.487, 8.466"], "DE", ("49.487", "8.466")),
    (["POINT(8.466 49.487)"], "", ("49.487", "8.466")),  # WKT is always longitude first
    (["49,487; 8,466"], "DE", ("49.487", "8.466")),  # decimal commas
    (["(-122.42, 37.77)", "(13.40, 52.52)"], "", ("37.77", "-122.42")),  # a value above 90 proves the order
])
def test_both_coordinates_in_one_cell(cells, country, expected):
    rows = [["Station ID", "Koordinaten", "Land"]] + [[f"S{i}", c, country] for i, c in enumerate(cells)]
    mapping, frame, issues = mapped(rows)
    assert mapping.columns["latitude"] == mapping.columns["longitude"] == "Koordinaten"
    assert tuple(frame[["latitude", "longitude"]].iloc[0]) == expected
    assert "coordinates_order_unsure" not in set(issues["rule"])


def test_coordinate_order_by_convention_alone_is_a_warning():
    # No country, nothing above 90: "[a, b]" is read as GeoJSON's [lon, lat], and said to be a guess.
    _, frame, issues = mapped([["Station ID", "Coordinates"], ["S1", "[8.466, 49.487]"]])
    assert tuple(frame[["latitude", "longitude"]].iloc[0]) == ("49.487", "8.466")
    assert issues.loc[issues["rule"] == "coordinates_order_unsure", ["row", "severity"]].values.tolist() == [
        [1, "warning"]]


def test_a_cell_without_coordinates_is_reported():
    rows = [["Station ID", "Coordinates", "Land"], ["S1", "somewhere", "DE"]]
    rows += [[f"S{i}", f"49.4{i}, 8.46", "DE"] for i in range(2, 7)]
    _, frame, issues = mapped(rows)
    assert frame["latitude"].tolist()[:2] == ["somewhere", "49.42"] and frame["longitude"].tolist()[:2] == ["", "8.46"]
    assert issues.loc[issues["rule"] == "split_failed", "row"].tolist() == [2]


# --- opening hours ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("24/7", ("true", "")),
    ("24h/24 7j/7", ("true", "")),
    ("Mo-Su 00:00-24:00", ("true", "")),
    ("rund um die Uhr", ("true", "")),
    ("Mo-Fr 08:00-12:00,Mo-Fr 14:00-18:00,Th 08:00-18:00", ("false", "Mo-Fr 08:00-12:00, 14:00-18:00; Th 08:00-18:00")),
    ("Mo,We,Fr 8:00-12:00", ("false", "Mo 08:00-12:00; We 08:00-12:00; Fr 08:00-12:00")),
    ("08:00-20:00", ("false", "Mo-Su 08:00-20:00")),
    ("Mo-Sa 07:00-21:00; Su off", ("false", "Mo-Sa 07:00-21:00")),
    ("nach Vereinbarung", ("false", "nach Vereinbarung")),  # kept: the validator shows it
    ("", ("", "")),
])
def test_opening_hours(text, expected):
    assert split_hours(text) == expected


def test_an_hours_column_fills_both_fields():
    mapping, frame, _ = mapped([["Station ID", "Opening hours"], ["S1", "24/7"], ["S2", "Mo-Fr 08:00-18:00"]])
    assert mapping.columns["is_open_24"] == mapping.columns["open_hours"] == "Opening hours"
    assert frame[["is_open_24", "open_hours"]].values.tolist() == [["true", ""], ["false", "Mo-Fr 08:00-18:00"]]


def test_24_7_in_a_yes_no_column_means_yes():
    _, frame, _ = mapped([["Station ID", "24h geöffnet"], ["S1", "24/7"], ["S2", "nein"]])
    assert frame["is_open_24"].tolist() == ["true", "false"]


# --- plugs as columns --------------------------------------------------------------------------

def test_count_columns_make_one_charge_point_per_plug():
    mapping, frame, issues = mapped([
        ["Standort", "Straße", "Hausnummer", "PLZ", "Ort", "Land", "Breitengrad", "Längengrad", "Betreiber-ID",
         "Anzahl Typ 2", "Anzahl CCS", "Leistung kW"],
        ["Markt", "Marktplatz", "1", "68161", "Mannheim", "DE", "49.48", "8.46", "DE*ABC", "2", "1", "22"],
        ["Turm", "Friedrichsplatz", "5", "68165", "Mannheim", "DE", "49.48", "8.47", "DE*ABC", "0", "1", "50"],
    ])
    assert set(mapping.plugs) == {"Anzahl Typ 2", "Anzahl CCS"}
    assert frame.groupby("_row")["connector_type"].apply(list).to_dict() == {
        2: ["Type2", "Type2", "Combo"], 3: ["Combo"]}
    assert frame["evse_id"].nunique() == 4  # each counted plug is its own charge point
    assert frame["speed_kw"].tolist() == ["22", "22", "22", "50"]
    assert issues.empty or set(issues["rule"]) <= {"mapping_unsure"}


def test_a_plug_cell_that_is_neither_yes_nor_a_number():
    rows = [["EVSE ID", "Type 2", "Schuko"], ["DE*ABC*E1", "ja", "vielleicht"]]
    rows += [[f"DE*ABC*E{i}", "ja", "nein"] for i in range(2, 12)]
    _, frame, issues = mapped(rows)
    assert frame["connector_type"].tolist()[0] == "Type2"
    assert issues.loc[issues["rule"] == "junk_value", "value"].tolist() == ["vielleicht"]


# --- the country and the operator id from the ids ------------------------------------------------

def test_country_from_operator_id_evse_id_or_phone():
    mapping, frame, issues = mapped([
        ["Station ID", "EVSE ID", "Phone"],
        ["AT*ABC*S1", "AT*ABC*E1", "+43 1 5123456"],
        ["S2", "NL*XYZ*E2", ""],
        ["S3", "", "+32 2 511 22 33"],
        ["S4", "", "030 1234567"],  # a national number names no country
    ])
    assert mapping.columns["cpo_id"] is None and "cpo_id <- the operator part" in " ".join(mapping.describe())
    assert frame["cpo_id"].tolist() == ["AT*ABC", "NL*XYZ", "", ""]
    assert frame["country"].tolist() == ["AT", "NL", "BE", ""]
    inferred = issues[issues["rule"] == "country_inferred"]
    assert inferred[["row", "severity"]].values.tolist() == [[1, "warning"]]
    assert "operator ids for 2 rows (AT: 1, NL: 1)" in inferred["message"].iloc[0]
    assert "phone numbers for 1 row (BE: 1)" in inferred["message"].iloc[0]


def test_a_country_column_or_constant_is_never_overridden():
    _, frame, issues = mapped([["Station ID", "EVSE ID", "Land"], ["S1", "AT*ABC*E1", "DE"]])
    assert frame["country"].tolist() == ["DE"] and "country_inferred" not in set(issues["rule"])
    raw = sheet([["EVSE ID"], ["AT*ABC*E1"]])
    frame, issues = apply_mapping(raw, Mapping(columns={"evse_id": "EVSE ID"}, constants={"country": "CH"}))
    assert frame["country"].tolist() == ["CH"] and issues.empty


# --- plausibility ------------------------------------------------------------------------------

S2 = "DE*8PS*S0002"  # Europaplatz 1, 10557 Berlin, DE; file row 9 is its first


@pytest.mark.parametrize(("change", "rule", "severity"), [
    ({"city": "12 Rue de la République 68100 Mulhouse"}, "city_is_address", "error"),
    ({"city": "Berlin 10557"}, "city_implausible", "warning"),
    ({"city": "Hauptstraße"}, "city_implausible", "warning"),
    ({"zip": "1055"}, "zip_format", "warning"),
    ({"street": "Europaplatz 1", "street_number": ""}, "street_number_in_street", "warning"),
    # Possible, but not in a range the numbering metadata knows as assigned: the platform takes it.
    ({"phone": "+32 2 123 45 67"}, "phone_unassigned", "warning"),
    ({"fax": "+32 2 123 45 67"}, "phone_unassigned", "warning"),
])
def test_plausibility_rules(change, rule, severity):
    issues = validate(set_station(valid_frame(), S2, **change)).issues
    assert issues[["row", "rule", "severity"]].values.tolist() == [[9, rule, severity]]


@pytest.mark.parametrize(("phone", "rule", "message"), [
    ("+32 2 123 45 67", "phone_unassigned", "phone '+32 2 123 45 67' is not an assigned range in BE: check it"),
    ("12", "phone_syntax", "phone '12' is not a valid phone number for DE"),  # only dialled locally, if at all
    ("+49 1", "phone_syntax", "phone '+49 1' is not a valid phone number (The string supplied is too short to be a "
                              "phone number.)"),
])
def test_only_an_impossible_phone_number_is_an_error(phone, rule, message):
    [issue] = validate(set_station(valid_frame(), S2, phone=phone)).issues.to_dict("records")
    assert (issue["rule"], issue["message"]) == (rule, message)


def test_plausible_values_pass():
    frame = set_station(valid_frame(), S2, city="Frankfurt (Oder)", street="Straße des 17. Juni", street_number="")
    assert validate(frame).issues.empty
    frame = set_station(valid_frame(), S2, city="St. Ingbert", zip="66386")
    assert validate(frame).issues.empty


def test_zip_equal_to_the_commune_code_in_every_row():
    _, _, issues = mapped([
        ["Station ID", "Straße", "PLZ", "Ort", "Gemeindeschlüssel"],
        ["S1", "Markt 1", "08222", "Mannheim", "08222"], ["S2", "Turm 5", "08111", "Mannheim", "08111"],
    ])
    assert issues.loc[issues["rule"] == "zip_is_commune_code", "row"].tolist() == [2, 3]
    # One coincidence among right postcodes is not reported.
    _, _, issues = mapped([
        ["Station ID", "Straße", "PLZ", "Ort", "Gemeindeschlüssel"],
        ["S1", "Markt 1", "68159", "Mannheim", "08222000"], ["S2", "Turm 5", "08111", "Mannheim", "08111"],
    ])
    assert "zip_is_commune_code" not in set(issues["rule"])
