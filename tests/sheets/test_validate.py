"""Every validation rule, each with a frame that breaks exactly it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oioi_onboard.sheets import rules
from oioi_onboard.sheets.canonical import NAMES, ROW
from oioi_onboard.sheets.issues import ISSUE_COLUMNS, Severity, make_issues
from oioi_onboard.sheets.mapping import apply_mapping
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import suggest_mapping
from oioi_onboard.sheets.validate import RegistryContext, validate
from oioi_onboard.testing.sheets import set_row, set_station, valid_frame

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "sample_data" / "broken_stations.csv"

CONTEXT = RegistryContext(
    operator_ids=frozenset({"DE*8PS"}),
    foreign_evse_keys=frozenset({"DE8PSE9"}),  # ids stored for another CPO
    foreign_station_ids=frozenset({"DE*8PS*S9"}),
)
S1, S2, S3 = "DE*8PS*S0001", "DE*8PS*S0002", "DE*8PS*S0003"


def test_valid_frame_has_no_issues():
    result = validate(valid_frame(), context=CONTEXT)
    assert result.issues.empty, result.issues.to_string()
    assert list(result.issues.columns) == ISSUE_COLUMNS
    assert result.station_state.to_dict() == {S1: "ok", S2: "ok", S3: "ok"}
    assert (result.stations, result.connectors, result.errors, result.warnings) == (3, 6, 0, 0)
    assert result.valid_station_ids() == [S1, S2, S3]
    assert result.skipped == []


def test_without_context_the_registry_checks_are_skipped():
    result = validate(valid_frame())
    assert set(result.skipped) == {"operator_not_registered", "evse_id_foreign", "station_id_foreign"}
    assert set(result.skipped) == set(rules.REGISTRY_RULES)


# (rule, change to the valid frame, expected (row, column) of the one issue)
CASES = [
    ("required", lambda f: set_station(f, S2, street=""), (9, "street")),
    ("required", lambda f: set_row(f, 12, connector_type=" "), (12, "connector_type")),
    ("not_a_number", lambda f: set_station(f, S2, longitude="13.3.6"), (9, "longitude")),
    ("not_a_number", lambda f: set_row(f, 10, speed_kw="fast"), (10, "speed_kw")),
    ("not_a_boolean", lambda f: set_station(f, S3, is_roofed="maybe"), (12, "is_roofed")),
    ("not_an_integer", lambda f: set_station(f, S2, floor_level="1.5"), (9, "floor_level")),
    ("negative_parking", lambda f: set_station(f, S2, total_parking="-2"), (9, "total_parking")),
    ("latitude_range", lambda f: set_station(f, S3, latitude="148.2"), (12, "latitude")),
    ("longitude_range", lambda f: set_station(f, S3, longitude="-216.4"), (12, "longitude")),
    ("coordinates_swapped", lambda f: set_station(f, S2, latitude="13.3694", longitude="52.5251"), (9, "latitude")),
    ("outside_country", lambda f: set_station(f, S3, latitude="52.5251", longitude="13.3694"), (12, "latitude")),
    ("country_code", lambda f: set_station(f, S2, country="XX", phone="+49 30 8122321"), (9, "country")),
    ("evse_id_syntax", lambda f: set_row(f, 10, evse_id="DE-8PS-0002"), (10, "evse_id")),
    ("evse_id_din", lambda f: set_row(f, 10, evse_id="+49*8PS*E0002*2"), (10, "evse_id")),
    ("operator_id_syntax", lambda f: set_station(f, S3, cpo_id="DE-8PS"), (12, "cpo_id")),
    ("evse_operator_mismatch", lambda f: set_row(f, 12, evse_id="DE*ABC*E0003"), (12, "evse_id")),
    (
        "operator_not_registered",
        lambda f: set_row(set_station(f, S3, cpo_id="DE*ABC"), 12, evse_id="DE*ABC*E0003"),
        (12, "cpo_id"),
    ),
    ("station_columns_disagree", lambda f: set_row(f, 7, station_name="Marktplatz Süd"), (7, "station_name")),
    ("station_id_reused", lambda f: set_row(f, 7, station_name="Bahnhof", latitude="49.55"), (7, "station_id")),
    ("connector_duplicate", lambda f: set_row(f, 6, connector_type="Type2"), (6, "evse_id")),
    ("evse_id_foreign", lambda f: set_row(f, 12, evse_id="DE*8PS*E9"), (12, "evse_id")),
    ("station_id_foreign", lambda f: set_station(f, S3, station_id="DE*8PS*S9"), (12, "station_id")),
    ("connector_type", lambda f: set_row(f, 10, connector_type="Typ 2"), (10, "connector_type")),
    ("speed_not_positive", lambda f: set_row(f, 10, speed_kw="0"), (10, "speed_kw")),
    ("speed_high", lambda f: set_row(f, 7, speed_kw="350000"), (7, "speed_kw")),
    ("open_hours_syntax", lambda f: set_station(f, S3, open_hours="Mon-Fri 8-18"), (12, "open_hours")),
    ("open_24_with_hours", lambda f: set_station(f, S3, is_open_24="yes"), (12, "open_hours")),
    ("email_syntax", lambda f: set_station(f, S2, email="service@@example"), (9, "email")),
    ("phone_syntax", lambda f: set_station(f, S2, phone="12"), (9, "phone")),
    ("phone_syntax", lambda f: set_station(f, S2, fax="+49 1"), (9, "fax")),
    ("url_syntax", lambda f: set_station(f, S2, web="http//example"), (9, "web")),
    ("text_too_long", lambda f: set_station(f, S2, station_name="x" * 101), (9, "station_name")),
    ("control_characters", lambda f: set_station(f, S2, notes="behind\x07 the gate"), (9, "notes")),
    ("formula_like", lambda f: set_station(f, S2, notes="=HYPERLINK(\"http://x\")"), (9, "notes")),
    ("formula_like", lambda f: set_station(f, S2, notes="+cmd|' /C calc'!A0"), (9, "notes")),
]


def test_every_rule_has_a_case():
    # evse_id_in_several_stations always hits two stations: test_evse_id_in_two_stations covers it.
    assert {rule for rule, _, _ in CASES} | {"evse_id_in_several_stations"} == set(rules.RULES)


@pytest.mark.parametrize("rule,change,where", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_alone(rule, change, where):
    result = validate(change(valid_frame()), context=CONTEXT)
    issues = result.issues
    assert issues["rule"].tolist() == [rule], issues.to_string()
    issue = issues.iloc[0]
    assert (issue["row"], issue["column"]) == where
    assert issue["severity"] == rules.RULES[rule].severity.value
    assert issue["message"] and isinstance(issue["message"], str)
    # The value is the user's cell as it stands in the file.
    frame = change(valid_frame())
    assert issue["value"] == frame.loc[frame[ROW] == where[0], where[1]].iloc[0]
    # An error blocks its station (every row of it), never the others.
    station = frame.loc[frame[ROW] == where[0], "station_id"].iloc[0].strip()
    expected = "error" if rules.RULES[rule].severity == Severity.ERROR else "warning"
    assert result.station_state[station] == expected
    assert (result.station_state.drop(station) == "ok").all()


def test_din_id_is_reported_with_its_iso_form_and_never_converted():
    frame = set_row(valid_frame(), 10, evse_id="+49*8PS*E0002*2")
    result = validate(frame)
    assert "'DE*8PS*E0002*2'" in result.issues.iloc[0]["message"]
    assert result.frame.loc[result.frame[ROW] == 10, "evse_id"].iloc[0] == "+49*8PS*E0002*2"


def test_suggestions_in_messages():
    frame = set_station(valid_frame(), S2, country="Germany")
    frame = set_row(frame, 12, connector_type="type2")
    messages = validate(frame).issues.set_index("rule")["message"]
    assert "did you mean DE?" in messages["country_code"]
    assert "did you mean 'Type2'?" in messages["connector_type"]


def test_a_station_level_problem_is_reported_once_per_station():
    frame = set_station(valid_frame(), S1, email="nobody")
    issues = validate(frame).issues
    assert issues["rule"].tolist() == ["email_syntax"] and issues["row"].tolist() == [5]


def test_disagreement_names_the_column_and_the_other_row():
    frame = set_row(valid_frame(), 10, latitude="52.6")
    issue = validate(frame).issues.iloc[0]
    assert issue["rule"] == "station_columns_disagree" and issue["column"] == "latitude"
    assert "row 9" in issue["message"] and issue["row"] == 10


def test_a_station_id_used_for_another_station_is_one_error_per_row_not_one_per_column():
    # Row 10 copied from another station, its id left unchanged: another name, street, city and position.
    frame = set_row(valid_frame(), 10, station_name="Bahnhof", street="Bahnhofplatz", city="Weinheim",
                    latitude="49.55", longitude="8.67")
    issues = validate(frame).issues
    assert issues[["row", "column", "rule"]].values.tolist() == [[10, "station_id", "station_id_reused"]]
    assert issues["message"].iloc[0] == ("station id 'DE*8PS*S0002' is already used in row 9 for another station "
                                         "('Hauptbahnhof' at another position): give this row's station its own id")
    # Another name at the same position is one station written two ways: the columns are named, as before.
    issues = validate(set_row(valid_frame(), 10, station_name="Bahnhof", city="Weinheim")).issues
    assert set(issues["rule"]) == {"station_columns_disagree"}
    assert dict(zip(issues["column"], issues["message"], strict=True)) == {
        "station_name": "station 'DE*8PS*S0002' has station_name 'Hauptbahnhof' in row 9: station columns disagree "
                        "between its rows",
        "city": "station 'DE*8PS*S0002' has city 'Berlin' in row 9: station columns disagree between its rows"}


def test_a_station_id_leaves_room_for_its_replacement_id():
    from oioi_onboard.oioi.vocabulary import TEXT_LIMITS
    from oioi_onboard.sync.diff import next_station_id

    longest = "DE*8PS*S" + "7" * (rules.TEXT_LIMITS["station_id"] - 8)
    assert validate(set_station(valid_frame(), S2, station_id=longest), context=CONTEXT).issues.empty
    # Its connectors changed three times over: the replacement ids still fit the wire's limit.
    assert len(next_station_id(longest, {f"{longest}-{n}" for n in range(2, 999)})) <= TEXT_LIMITS["id"]
    issues = validate(set_station(valid_frame(), S2, station_id=longest + "7"), context=CONTEXT).issues
    assert issues["rule"].tolist() == ["text_too_long"]
    assert "'-2' appended" in issues["message"].iloc[0]


def test_evse_id_in_two_stations():
    frame = set_row(valid_frame(), 12, evse_id="DE*8PS*E0002*1", connector_type="Type2")
    issues = validate(frame).issues
    assert issues["rule"].unique().tolist() == ["evse_id_in_several_stations"]
    assert sorted(issues["row"]) == [9, 12]
    assert "'DE*8PS*S0002'" in issues.iloc[0]["message"] and "'DE*8PS*S0003'" in issues.iloc[0]["message"]


def test_same_evse_with_different_types_is_fine_but_not_the_same_type_twice():
    frame = valid_frame()
    assert validate(frame).issues.empty  # rows 5 and 6 share an EVSE id: Type2 + Schuko
    issues = validate(set_row(frame, 6, connector_type="Type2")).issues
    assert issues["rule"].tolist() == ["connector_duplicate"] and "row 5" in issues.iloc[0]["message"]


def test_evse_keys_compare_without_stars_and_case():
    frame = set_row(valid_frame(), 12, evse_id="de8psE9")
    result = validate(frame, context=CONTEXT)
    assert result.issues["rule"].tolist() == ["evse_id_foreign"]


def test_errors_block_only_their_station_and_warnings_block_nothing():
    frame = set_station(valid_frame(), S1, latitude="100")
    frame = set_row(frame, 9, speed_kw="500")  # warning on S2
    result = validate(frame, context=CONTEXT)
    assert result.station_state.to_dict() == {S1: "error", S2: "warning", S3: "ok"}
    assert result.valid_station_ids() == [S2, S3]
    assert result.errors == 1 and result.warnings == 1


def test_rows_without_a_station_id_are_reported_but_are_no_station():
    frame = set_row(valid_frame(), 12, station_id="")
    result = validate(frame, context=CONTEXT)
    assert result.issues["rule"].tolist() == ["required"] and result.issues.iloc[0]["row"] == 12
    assert S3 not in result.station_state.index and result.stations == 2


def test_missing_columns_and_empty_cells_are_required_errors():
    frame = valid_frame().drop(columns=["phone"])
    result = validate(frame, context=CONTEXT)
    assert set(result.issues["rule"]) == {"required"} and set(result.issues["column"]) == {"phone"}
    assert len(result.issues) == 3  # once per station
    frame = valid_frame()
    frame.loc[0, "city"] = np.nan
    frame.loc[1, "city"] = None
    frame.loc[2, "city"] = None
    assert validate(frame).issues["rule"].tolist() == ["required"]


def test_the_same_number_written_two_ways_is_no_disagreement():
    frame = set_row(valid_frame(), 10, latitude="52.525100", longitude="13,3694")
    assert validate(frame).issues.empty
    issues = validate(set_row(valid_frame(), 10, latitude="52.52510001")).issues
    assert issues["rule"].tolist() == ["station_columns_disagree"] and issues["column"].tolist() == ["latitude"]


def test_padding_does_not_count_as_a_disagreement():
    frame = set_row(valid_frame(), 6, station_name="  Marktplatz ")
    assert validate(frame).issues.empty


def test_extra_issues_from_the_mapping_block_their_station():
    extra = make_issues([9], "cpo_id", ["Stadtwerke X"], "operator_unknown", "operator not placed", Severity.ERROR)
    result = validate(valid_frame(), context=CONTEXT, extra_issues=extra)
    assert result.station_state.to_dict() == {S1: "ok", S2: "error", S3: "ok"}
    assert result.issues["rule"].tolist() == ["operator_unknown"]


def test_empty_frame():
    result = validate(pd.DataFrame(columns=NAMES + [ROW]))
    assert result.issues.empty and result.stations == 0 and result.connectors == 0
    assert result.valid_station_ids() == []


def test_frame_without_row_numbers_counts_the_header():
    frame = valid_frame().drop(columns=[ROW])
    frame.loc[3, "speed_kw"] = "0"
    assert validate(frame).issues.iloc[0]["row"] == 5


def test_decimal_commas_and_yes_no_words_are_accepted():
    frame = set_station(valid_frame(), S2, latitude="52,5251", longitude="13,3694", is_roofed="ja")
    assert validate(frame).issues.empty


def test_open_hours_forms():
    for text in ("Mo-Fr 07:30-19:00", "Mo-Fr 08:00-12:00, 13:00-18:00; Sa 09:00-13:00", "Su 00:00-24:00;"):
        assert validate(set_station(valid_frame(), S1, open_hours=text)).issues.empty, text
    for text in ("Mo-Fr 7:30-19:00", "Montag 08:00-12:00", "Mo-Fr 08:00-25:00", "24/7"):
        issues = validate(set_station(valid_frame(), S1, open_hours=text)).issues
        assert issues["rule"].tolist() == ["open_hours_syntax"], text


def test_the_broken_sample_file_has_every_rule():
    # Through the product's own path: reader, suggested mapping, validation.
    raw = read_sheet(BROKEN.read_bytes(), BROKEN.name)
    suggestion = suggest_mapping(raw)
    assert suggestion.unplaced_required == []
    frame, mapping_issues = apply_mapping(raw, suggestion.mapping)
    result = validate(frame, context=CONTEXT, extra_issues=mapping_issues)
    found = set(result.issues["rule"])
    assert set(rules.RULES) <= found, f"missing from {BROKEN.name}: {sorted(set(rules.RULES) - found)}"
    # ... and still has stations that pass, so the import page has something to accept.
    assert len(result.valid_station_ids()) >= 3
