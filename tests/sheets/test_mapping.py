"""Mapping: suggestions, aliases, splits, wide-to-long, multi-type cells, ids, profiles, template, demo network."""

import csv
import io
import re

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlmodel import select

from oioi_onboard.oioi.ids import is_evse_id
from oioi_onboard.oioi.messages import ConnectorType
from oioi_onboard.sheets import aliases
from oioi_onboard.sheets.canonical import COLUMNS, NAMES, REQUIRED, ROW
from oioi_onboard.sheets.mapping import Mapping, apply_mapping
from oioi_onboard.sheets.profiles import ProfileError, apply_profile, builtin_profiles, load_operators_csv
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import CONFIDENT, suggest_mapping
from oioi_onboard.sheets.template import EXAMPLE_ROWS, template_csv, template_xlsx
from oioi_onboard.sheets.validate import validate
from tests.helpers.sheet_files import SHEETS

ROOT = SHEETS.parents[2]


def sheet(rows: list[list[str]], name: str = "t.csv"):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows)
    return read_sheet(buffer.getvalue().encode("utf-8"), name)


# --- suggestions ---------------------------------------------------------------------


def test_suggestion_for_german_headers():
    raw = sheet([
        ["Stations-ID", "Standortname", "Breitengrad", "Längengrad", "Straße", "Hausnummer", "PLZ", "Ort", "Land",
         "Telefon", "Betreiber-ID", "24 Stunden geöffnet", "EVSE-ID", "Steckertyp", "Leistung (kW)", "E-Mail"],
        ["S1", "Markt", "49,1", "8,4", "Luisenring", "49", "68159", "Mannheim", "DE", "+49 621 1", "DE*ABC", "ja",
         "DE*ABC*E1", "Typ 2", "22", "a@b.de"],
    ])
    suggestion = suggest_mapping(raw)
    columns = suggestion.mapping.columns
    assert columns["station_id"] == "Stations-ID"
    assert columns["station_name"] == "Standortname"
    assert columns["latitude"] == "Breitengrad"
    assert columns["longitude"] == "Längengrad"
    assert columns["street"] == "Straße" and columns["street_number"] == "Hausnummer"
    assert columns["zip"] == "PLZ" and columns["city"] == "Ort"
    assert columns["country"] == "Land"
    assert columns["phone"] == "Telefon"
    assert columns["cpo_id"] == "Betreiber-ID"
    assert columns["is_open_24"] == "24 Stunden geöffnet"
    assert columns["evse_id"] == "EVSE-ID"
    assert columns["connector_type"] == "Steckertyp"
    assert columns["speed_kw"] == "Leistung (kW)"
    assert columns["email"] == "E-Mail"
    assert suggestion.unplaced_required == []
    assert all(suggestion.confidence[name] >= CONFIDENT for name in REQUIRED)


def test_suggestion_for_english_headers_tolerates_case_and_punctuation():
    raw = sheet([
        ["STATION ID", "Station Name", "LAT", "Lng", "Street", "House Number", "Postal Code", "City", "Country",
         "Phone", "Operator ID", "Open 24/7", "EVSE ID", "Connector Type", "Power [kW]", "Website"],
        ["S1", "Market", "49.1", "8.4", "Luisenring", "49", "68159", "Mannheim", "DE", "+49", "DE*ABC", "yes",
         "DE*ABC*E1", "CCS", "50", "https://x.de"],
    ])
    suggestion = suggest_mapping(raw)
    columns = suggestion.mapping.columns
    assert columns["latitude"] == "LAT" and columns["longitude"] == "Lng"
    assert columns["street_number"] == "House Number" and columns["zip"] == "Postal Code"
    assert columns["speed_kw"] == "Power [kW]" and columns["web"] == "Website"
    assert columns["is_open_24"] == "Open 24/7"
    assert suggestion.unplaced_required == []


@pytest.mark.parametrize(("ids", "expected"), [
    (["BE*LNK*S00001", "BE*LNK*S00002"], {"station_id": "Station", "station_name": "Naam"}),
    (["10457", "10458"], {"station_id": "Station", "station_name": "Naam"}),
    (["Laadplein Meir", "Gent Korenmarkt"], {"station_id": None, "station_name": "Station"}),  # names, not ids
])
def test_a_station_column_holding_ids_is_the_station_id(ids, expected):
    raw = sheet([["Laadpunt ID", "Station", "Naam"],
                 ["BE*LNK*E1", ids[0], "Laadplein Meir"], ["BE*LNK*E2", ids[1], "Gent Korenmarkt"]])
    mapping = suggest_mapping(raw).mapping
    assert {name: mapping.source(name) for name in expected} == expected


def test_suggestion_names_what_it_cannot_place():
    raw = sheet([["Foo", "Bar", "Breitengrad"], ["1", "2", "49"]])
    suggestion = suggest_mapping(raw)
    assert "latitude" not in suggestion.unplaced_required
    assert {"longitude", "phone", "connector_type", "cpo_id"} <= set(suggestion.unplaced_required)
    assert suggestion.confidence["phone"] == 0.0


def test_suggestion_finds_combined_cells_wide_layout_and_operator_names():
    raw = read_sheet((SHEETS.parent / "bnetza-slice.xlsx").read_bytes(), "bnetza-slice.xlsx")
    mapping = suggest_mapping(raw).mapping
    assert mapping.columns["zip"] == mapping.columns["city"] == "Postleitzahl Ort"
    assert mapping.columns["street"] == mapping.columns["street_number"] == "Adresse"
    assert mapping.operator_column == "Betreiber"
    assert mapping.columns["country"] is None  # "Bundesland" is a state, not a country
    assert [cp["connector_type"] for cp in mapping.charge_points] == [f"Steckertypen{n}" for n in range(1, 5)]
    assert [cp["speed_kw"] for cp in mapping.charge_points] == [f"P{n} [kW]" for n in range(1, 5)]
    assert mapping.columns["speed_kw"] is None  # not "Anschlussleistung": that is the device's total


def test_operator_id_column_goes_to_cpo_id():
    raw = sheet([["Betreiber", "Name"], ["DE*ABC", "x"], ["DE*ABD", "y"]])
    mapping = suggest_mapping(raw).mapping
    assert mapping.columns["cpo_id"] == "Betreiber" and mapping.operator_column is None


# --- value aliases -------------------------------------------------------------------------


@pytest.mark.parametrize(("found", "oioi"), [
    ("AC Steckdose Typ 2", "Type2"), ("AC Kupplung Typ 2", "Type2"), ("DC Kupplung Combo", "Combo"),
    ("DC CHAdeMO", "Chademo"), ("AC Schuko", "Schuko"), ("AC CEE 5 polig", "CeeRed"), ("AC CEE 3 polig", "CeeBlue"),
    ("CCS", "Combo"), ("Typ 2", "Type2"), ("  typ2 ", "Type2"), ("TYPE 2", "Type2"), ("Steckdose Typ 1", "Type1"),
    ("Mennekes", "Type2"), ("CCS Combo 2", "Combo"), ("Tesla Supercharger", "Tesla"), ("Type E", "TypeE"),
    ("Typ 2 (22 kW)", "Type2"), ("J1772", "Type1"), ("ceeblue", "CeeBlue"), ("3PinSquare", "3PinSquare"),
    ("Wallbox Spezial", "Wallbox Spezial"), ("", ""),
])
def test_connector_aliases(found, oioi):
    assert aliases.connector_type(found) == oioi


def test_every_oioi_name_maps_to_itself_in_any_case():
    for connector in ConnectorType:
        assert aliases.connector_type(connector.value) == connector.value
        assert aliases.connector_type(connector.value.upper()) == connector.value


def test_booleans():
    values = pd.Series(["yes", "No", "JA", "nein", "true", "False", "1", "0", "x", "", " y ", "vielleicht"])
    assert aliases.boolean(values).tolist() == [
        "true", "false", "true", "false", "true", "false", "true", "false", "true", "", "true", "vielleicht",
    ]


# --- applying: normalisation, splits, wide, multi-type, ids -----------------------------------------

LONG_HEADER = ["Name", "Adresse", "PLZ Ort", "Breite", "Länge", "Stecker", "kW", "Offen 24h", "Land", "Telefon"]


def long_raw(rows: list[list[str]]):
    return sheet([LONG_HEADER] + rows)


def long_mapping() -> Mapping:
    return Mapping(
        columns={"station_name": "Name", "street": "Adresse", "street_number": "Adresse", "zip": "PLZ Ort",
                 "city": "PLZ Ort", "latitude": "Breite", "longitude": "Länge", "connector_type": "Stecker",
                 "speed_kw": "kW", "is_open_24": "Offen 24h", "country": "Land", "phone": "Telefon"},
        operator_id="DE*ABC",
    )


def test_decimal_commas_booleans_and_countries_are_normalised():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49,48", "8,46", "Typ 2", "22,5", "ja",
                     "Deutschland", "+49 621 1234567"]])
    frame, issues = apply_mapping(raw, long_mapping())
    row = frame.iloc[0]
    assert (row.latitude, row.longitude, row.speed_kw) == ("49.48", "8.46", "22.5")
    assert (row.is_open_24, row.country, row.connector_type) == ("true", "DE", "Type2")
    assert list(frame.columns) == NAMES + [ROW]
    assert issues.empty


@pytest.mark.parametrize(("cell", "street", "number"), [
    ("Luisenring 49", "Luisenring", "49"),
    ("Luisenring 49a", "Luisenring", "49a"),
    ("Luisenring 49 a", "Luisenring", "49a"),
    ("Str. d. 17. Juni 3-5", "Str. d. 17. Juni", "3-5"),
    ("EUREF-Campus 21/22", "EUREF-Campus", "21/22"),
    ("Am Bahnhof", "Am Bahnhof", ""),
])
def test_street_and_number_split(cell, street, number):
    raw = long_raw([["Markt", cell, "68159 Mannheim", "49.4", "8.4", "Typ 2", "22", "ja", "DE", "+49 621 1"]])
    frame, _ = apply_mapping(raw, long_mapping())
    assert (frame.street.iloc[0], frame.street_number.iloc[0]) == (street, number)


@pytest.mark.parametrize(("cell", "zip_code", "city"), [
    ("68159 Mannheim", "68159", "Mannheim"),
    ("01067  Dresden", "01067", "Dresden"),
    ("D-68159 Mannheim", "68159", "Mannheim"),
    ("60311 Frankfurt am Main", "60311", "Frankfurt am Main"),
    ("Mannheim 68159", "68159", "Mannheim"),
])
def test_zip_and_city_split(cell, zip_code, city):
    raw = long_raw([["Markt", "Luisenring 49", cell, "49.4", "8.4", "Typ 2", "22", "ja", "DE", "+49 621 1"]])
    frame, issues = apply_mapping(raw, long_mapping())
    assert (frame.zip.iloc[0], frame.city.iloc[0]) == (zip_code, city)
    assert issues.empty


def test_zip_city_without_postcode_is_reported():
    raw = long_raw([["Markt", "Luisenring 49", "Mannheim", "49.4", "8.4", "Typ 2", "22", "ja", "DE", "+49 621 1"]])
    frame, issues = apply_mapping(raw, long_mapping())
    assert (frame.zip.iloc[0], frame.city.iloc[0]) == ("", "Mannheim")
    assert issues[["row", "column", "rule"]].values.tolist() == [[2, "zip", "split_failed"]]


def test_cell_with_several_types_is_one_evse_with_several_connectors():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "AC Steckdose Typ 2, AC Schuko",
                     "22", "ja", "DE", "+49 621 1"]])
    frame, _ = apply_mapping(raw, long_mapping())
    assert frame.connector_type.tolist() == ["Type2", "Schuko"]
    assert frame.evse_id.nunique() == 1 and frame.station_id.nunique() == 1
    assert frame[ROW].tolist() == [2, 2]  # both connectors point at the row of the file


def test_socket_and_cable_of_one_type_are_one_oioi_connector():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4",
                     "AC Steckdose Typ 2, AC Kupplung Typ 2, AC Schuko", "22", "ja", "DE", "+49 621 1"]])
    frame, issues = apply_mapping(raw, long_mapping())
    assert frame.connector_type.tolist() == ["Type2", "Schuko"]
    assert issues.empty


def test_junk_piece_in_a_type_list_is_dropped_and_reported():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "DC Kupplung Combo, 0", "50",
                     "ja", "DE", "+49 621 1"]])
    frame, issues = apply_mapping(raw, long_mapping())
    assert frame.connector_type.tolist() == ["Combo"]
    assert issues[["row", "column", "value", "rule", "severity"]].values.tolist() == [
        [2, "connector_type", "DC Kupplung Combo, 0", "junk_value", "warning"]
    ]


def test_unknown_connector_values_are_left_for_the_validator():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "Wallbox Spezial", "11", "ja",
                     "DE", "+49 621 1"]])
    frame, _ = apply_mapping(raw, long_mapping())
    assert frame.connector_type.tolist() == ["Wallbox Spezial"]


WIDE_HEADER = ["Name", "Straße", "Nr", "PLZ", "Ort", "Lat", "Lon", "Stecker 1", "Leistung 1", "Stecker 2",
               "Leistung 2", "Stecker 3", "Leistung 3"]


def wide_raw(rows):
    return sheet([WIDE_HEADER] + rows)


WIDE_ROWS = [
    ["A", "Luisenring", "49", "68159", "Mannheim", "49.49", "8.46", "Typ 2", "22", "Schuko", "3,7", "", ""],
    ["B", "Kaiserring", "10", "68161", "Mannheim", "49.48", "8.47", "CCS, CHAdeMO", "50", "", "", "Typ 2", "43"],
    ["C", "Kaiserring", "10", "68161", "Mannheim", "49.48", "8.47", "Typ 2", "11", "", "", "", ""],
]


def test_wide_layout_is_suggested_and_made_long():
    raw = wide_raw(WIDE_ROWS)
    mapping = suggest_mapping(raw).mapping
    assert mapping.charge_points == [
        {"connector_type": f"Stecker {n}", "speed_kw": f"Leistung {n}"} for n in (1, 2, 3)
    ]
    mapping.operator_id = "DE*ABC"
    frame, issues = apply_mapping(raw, mapping)
    assert frame[["station_name", "connector_type", "speed_kw"]].values.tolist() == [
        ["A", "Type2", "22"], ["A", "Schuko", "3.7"],
        ["B", "Combo", "50"], ["B", "Chademo", "50"], ["B", "Type2", "43"],
        ["C", "Type2", "11"],
    ]
    assert frame[ROW].tolist() == [2, 2, 3, 3, 3, 4]
    # B's first charge point has two cables: one EVSE id; its third charge point another.
    b = frame[frame.station_name == "B"]
    assert b.evse_id.tolist()[0] == b.evse_id.tolist()[1] != b.evse_id.tolist()[2]
    # B and C share address and position, but in a wide file each row is its own station.
    assert frame.station_id.nunique() == 3
    # No country column: it is taken from the operator id, said once on the header row.
    assert issues[["row", "rule", "severity"]].values.tolist() == [[1, "country_inferred", "warning"]]


def test_power_without_connector_type_is_junk_and_left_out():
    rows = [WIDE_ROWS[0][:9] + ["", "22", "0", "0"]]
    raw = wide_raw(rows)
    mapping = suggest_mapping(raw).mapping
    mapping.operator_id = "DE*ABC"
    frame, issues = apply_mapping(raw, mapping)
    issues = issues[issues["rule"] != "country_inferred"]  # no country column (a header-row warning)
    assert frame.connector_type.tolist() == ["Type2"]
    assert issues["rule"].tolist() == ["junk_value", "junk_value"]
    assert "charge point 2" in issues["message"].iloc[0] and "22 kW" in issues["message"].iloc[0]


def generated(rows, operator_id="DE*ABC"):
    raw = wide_raw(rows)
    mapping = suggest_mapping(raw).mapping
    mapping.operator_id = operator_id
    frame, _ = apply_mapping(raw, mapping)
    return frame


def test_generated_ids_are_valid_and_stable_across_runs():
    first, second = generated(WIDE_ROWS), generated(WIDE_ROWS)
    assert first.station_id.tolist() == second.station_id.tolist()
    assert first.evse_id.tolist() == second.evse_id.tolist()
    assert all(is_evse_id(e) and e.startswith("DE*ABC*E") for e in first.evse_id)
    assert all(len(e.split("*E", 1)[1]) <= 30 for e in first.evse_id)
    assert all(s.startswith("DE*ABC*S") for s in first.station_id)


def test_generated_ids_follow_content_not_row_order():
    before = generated(WIDE_ROWS)
    new_row = ["D", "Q6", "1", "68161", "Mannheim", "49.4", "8.4", "Typ 2", "22", "", "", "", ""]
    after = generated([new_row, WIDE_ROWS[2], WIDE_ROWS[0], WIDE_ROWS[1]])
    ids_before = dict(zip(before.station_name, before.station_id, strict=True))
    ids_after = dict(zip(after.station_name, after.station_id, strict=True))
    for name in "ABC":
        assert ids_before[name] == ids_after[name]
    evse_before = set(zip(before.station_name, before.connector_type, before.evse_id, strict=True))
    evse_after = set(zip(after.station_name, after.connector_type, after.evse_id, strict=True))
    assert evse_before <= evse_after
    # a different operator gives different ids
    assert set(generated(WIDE_ROWS, "DE*XYZ").evse_id).isdisjoint(before.evse_id)


def test_rows_alike_in_address_and_charge_points_keep_their_ids_when_reordered():
    a = ["A", "Kaiserring", "10", "68161", "Mannheim", "49.48", "8.47", "Typ 2", "11", "", "", "", ""]
    b = ["B"] + a[1:]
    forward, backward = generated([a, b]), generated([b, a])
    assert dict(zip(forward.station_name, forward.station_id, strict=True)) == dict(
        zip(backward.station_name, backward.station_id, strict=True))
    assert forward.station_id.nunique() == 2


def test_identical_rows_get_different_ids():
    frame = generated([WIDE_ROWS[2], WIDE_ROWS[2]])
    assert frame.station_id.nunique() == 2 and frame.evse_id.nunique() == 2


def test_long_file_without_ids_groups_connectors_by_address():
    rows = [["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "Typ 2", "22", "ja", "DE", "+49 621 1"],
            ["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "CCS", "50", "ja", "DE", "+49 621 1"],
            ["Bahnhof", "Kaiserring 1", "68161 Mannheim", "49.5", "8.5", "Typ 2", "22", "ja", "DE", "+49 621 1"]]
    frame, _ = apply_mapping(long_raw(rows), long_mapping())
    assert frame.station_id.nunique() == 2
    assert frame.evse_id.nunique() == 3
    again, _ = apply_mapping(long_raw(rows), long_mapping())
    assert again.evse_id.tolist() == frame.evse_id.tolist()
    # The station's rows in another order keep their EVSE ids.
    swapped, _ = apply_mapping(long_raw([rows[1], rows[2], rows[0]]), long_mapping())
    assert set(zip(swapped.connector_type, swapped.station_name, swapped.evse_id, strict=True)) == set(
        zip(frame.connector_type, frame.station_name, frame.evse_id, strict=True))


def test_constants_fill_every_row_and_empty_cells():
    raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "Typ 2", "22", "ja", "", ""]])
    mapping = long_mapping()
    mapping.constants = {"country": "DE", "phone": "+49 621 1234567", "web": "https://x.example"}
    frame, _ = apply_mapping(raw, mapping)
    assert (frame.country.iloc[0], frame.phone.iloc[0], frame.web.iloc[0]) == (
        "DE", "+49 621 1234567", "https://x.example")


def test_mapping_round_trips_through_json_form():
    mapping = suggest_mapping(wide_raw(WIDE_ROWS)).mapping
    mapping.constants = {"country": "DE"}
    mapping.operators = {"MVV": "DE*MVV"}
    assert Mapping.from_dict(mapping.to_dict()) == mapping
    import json
    assert Mapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping


# --- profiles ------------------------------------------------------------------------------


def test_builtin_profiles():
    profiles = builtin_profiles()
    assert {"bnetza", "template"} <= set(profiles)


def test_profile_that_does_not_fit_names_the_missing_columns():
    raw = sheet([["Foo", "Bar"], ["1", "2"]])
    with pytest.raises(ProfileError, match="'Betreiber'"):
        apply_profile(raw, "bnetza")
    with pytest.raises(ProfileError, match="no mapping profile 'nope'"):
        apply_profile(raw, "nope")


@pytest.mark.parametrize("text", [
    "operator name;operator id\nMVV Energie AG;DE*MVV\nEnBW;de8ef\n",
    "MVV Energie AG,DE*MVV\nEnBW,DE*8EF\n",
    "\ufeffBetreiber\tBetreiber-ID\r\nMVV Energie AG\tDE*MVV\r\n\r\nEnBW\tDE8EF\r\n",
])
def test_operator_table(text):
    assert load_operators_csv(text.encode("utf-8")) == {"MVV Energie AG": "DE*MVV", "EnBW": "DE*8EF"}


def test_operator_table_with_a_bad_id_names_the_row():
    with pytest.raises(ProfileError, match="row 3: operator id 'DE-8EF'"):
        load_operators_csv(b"name,id\nMVV,DE*MVV\nEnBW,DE-8EF\n")


def test_saved_profiles_per_cpo():
    from oioi_onboard.errors import NotFound, PermissionDenied
    from oioi_onboard.store.auth import SYSTEM, Actor
    from oioi_onboard.store.db import migrate, session_scope
    from oioi_onboard.store.models import AuditLog, Cpo, Role
    from oioi_onboard.store.profiles import delete_profile, save_profile, saved_profiles

    migrate()
    mapping = long_mapping()
    mapping.constants = {"phone": "+49 621 1234567"}
    with session_scope() as session:
        one, two = Cpo(name="One", endpoint="sandbox"), Cpo(name="Two", endpoint="sandbox")
        session.add_all([one, two])
        session.flush()
        save_profile(session, actor=SYSTEM, cpo_id=one.id, name="export", mapping=mapping)
        ids = one.id, two.id
    staff_of_two = Actor(name="tom", role=Role.CPO_STAFF, cpo_ids=frozenset({ids[1]}))
    with session_scope() as session:
        assert saved_profiles(session, actor=SYSTEM, cpo_id=ids[0]) == {"export": mapping}
        assert saved_profiles(session, actor=staff_of_two, cpo_id=ids[1]) == {}
        with pytest.raises(PermissionDenied):
            saved_profiles(session, actor=staff_of_two, cpo_id=ids[0])
        with pytest.raises(PermissionDenied):
            save_profile(session, actor=staff_of_two, cpo_id=ids[0], name="mine", mapping=mapping)
        changed = Mapping.from_dict(mapping.to_dict())
        changed.constants = {"phone": "+49 30 12345678"}
        save_profile(session, actor=SYSTEM, cpo_id=ids[0], name="export", mapping=changed)
        assert session.exec(select(AuditLog).where(AuditLog.action == "mapping profile saved")).all()
    with session_scope() as session:
        own = saved_profiles(session, actor=SYSTEM, cpo_id=ids[0])
        assert own["export"].constants == {"phone": "+49 30 12345678"}
        raw = long_raw([["Markt", "Luisenring 49", "68159 Mannheim", "49.4", "8.4", "Typ 2", "22", "ja", "DE", ""]])
        frame, _ = apply_profile(raw, "export", saved=own)
        assert frame.phone.tolist() == ["+49 30 12345678"]
        with pytest.raises(ProfileError, match="no mapping profile 'export'"):
            apply_profile(raw, "export", saved=saved_profiles(session, actor=SYSTEM, cpo_id=ids[1]))
        delete_profile(session, actor=SYSTEM, cpo_id=ids[0], name="export")
        with pytest.raises(NotFound):
            delete_profile(session, actor=SYSTEM, cpo_id=ids[0], name="export")


# --- template and demo network -----------------------------------------------------------------


def test_template_csv_is_the_canonical_header_and_valid_examples():
    raw = read_sheet(template_csv(), "template.csv")
    assert raw.columns == NAMES
    frame, issues = apply_profile(raw, "template")
    assert issues.empty
    assert validate(frame).errors == 0
    assert (ROOT / "sample_data" / "template.csv").read_bytes() == template_csv()


def test_template_xlsx_documents_every_column():
    workbook = load_workbook(io.BytesIO(template_xlsx()), read_only=True)
    assert workbook.sheetnames == ["stations", "columns"]
    stations = list(workbook["stations"].iter_rows(values_only=True))
    assert list(stations[0]) == NAMES and len([r for r in stations[1:] if any(r)]) == 2
    guide = list(workbook["columns"].iter_rows(values_only=True))
    assert list(guide[0]) == ["name", "required", "description", "example"]
    assert [r[0] for r in guide[1:]] == NAMES
    assert {r[0]: r[1] for r in guide[1:]} == {c.name: "yes" if c.required else "no" for c in COLUMNS}
    raw = read_sheet((ROOT / "sample_data" / "template.xlsx").read_bytes(), "template.xlsx")
    frame, _ = apply_profile(raw, "template")
    assert validate(frame).errors == 0 and len(frame) == 2


def test_demo_network_is_large_varied_valid_and_reproducible():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo_network", ROOT / "sample_data" / "make_demo_network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = (ROOT / "sample_data" / "demo_network.csv").read_bytes()
    assert module.demo_network_csv() == data  # the committed file is what the generator writes

    raw = read_sheet(data, "demo_network.csv")
    frame, issues = apply_profile(raw, "template")
    result = validate(frame, extra_issues=issues)
    assert result.errors == 0 and result.warnings == 0
    assert result.stations >= 250
    assert frame.city.nunique() >= 6
    assert set(frame.connector_type) == {t.value for t in ConnectorType}
    assert (frame.cpo_id == "DE*DMO").all()
    assert frame.evse_id.map(lambda e: bool(re.fullmatch(r"DE\*DMO\*E[A-Z0-9*]{1,30}", e))).all()
    types_per_evse = frame.groupby("evse_id").connector_type.nunique()
    assert (types_per_evse == 2).sum() >= 10
    assert frame.phone.str.startswith("+49").all() and frame.web.str.startswith("https://").all()


def test_operator_table_lookup_is_tolerant_and_never_falls_back():
    raw = sheet([["Betreiber", "Straße", "Nr", "PLZ", "Ort", "Lat", "Lon", "Stecker 1", "Stecker 2"],
                 ["MVV Energie  AG", "Luisenring", "49", "68159", "Mannheim", "49.49", "8.46", "Typ 2", "Schuko"],
                 ["Unbekannt GmbH", "Kaiserring", "1", "68161", "Mannheim", "49.48", "8.47", "Typ 2", ""]])
    mapping = suggest_mapping(raw).mapping
    assert mapping.operator_column == "Betreiber"
    mapping.operators = {"mvv energie ag": "DE*MVV"}
    mapping.operator_id = "DE*DEF"
    frame, issues = apply_mapping(raw, mapping)
    assert frame.cpo_id.tolist() == ["DE*MVV", "DE*MVV", ""]
    assert frame.evse_id.iloc[0].startswith("DE*MVV*E") and frame.evse_id.iloc[2] == ""
    issues = issues[issues["rule"] != "country_inferred"]  # no country column (a header-row warning)
    assert issues[["row", "column", "value", "rule", "severity"]].values.tolist() == [
        [3, "cpo_id", "Unbekannt GmbH", "operator_unknown", "error"]]


def test_template_profile_without_ids_or_optional_columns_generates_ids():
    keep = ["station_name", "latitude", "longitude", "street", "street_number", "city", "zip", "country", "phone",
            "cpo_id", "is_open_24", "connector_type", "speed_kw"]
    rows = [[row[name] for name in keep] for row in EXAMPLE_ROWS]
    frame, issues = apply_profile(sheet([keep] + rows), "template")
    assert issues.empty
    assert frame.station_id.nunique() == 1 and frame.station_id.iloc[0].startswith("DE*8PS*S")
    assert frame.evse_id.nunique() == 2 and all(is_evse_id(e) for e in frame.evse_id)
    assert validate(frame).errors == 0
    with pytest.raises(ProfileError, match="'phone'"):
        apply_profile(sheet([[k for k in keep if k != "phone"]] + [r[:8] + r[9:] for r in rows]), "template")
