"""France's IRVE static schema: chosen by the suggestion, the profile by name, and what its files hold."""

import csv
import io

import pytest

from oioi_onboard.sheets.mapping import apply_mapping
from oioi_onboard.sheets.profiles import ProfileError, apply_profile, builtin_profiles
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import placement_issues, suggest_mapping
from oioi_onboard.sheets.validate import validate
from tests.data.sheets import make_real_files
from tests.helpers.sheet_files import SHEETS

V23 = SHEETS / "irve_v23.csv"


def irve_file(change=None, version="v2.3", header_case=str) -> bytes:
    """The committed v2.3 (or v3) file with its rows changed by ``change(rows)``."""
    name = "irve_v23.csv" if version == "v2.3" else "irve_v3.csv"
    rows = list(csv.DictReader(io.StringIO((SHEETS / name).read_text(encoding="utf-8"))))
    if change:
        change(rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header_case(h) for h in rows[0]])
    writer.writerows([list(r.values()) for r in rows])
    return buffer.getvalue().encode("utf-8")


def checked(data: bytes):
    raw = read_sheet(data, "irve.csv")
    suggestion = suggest_mapping(raw)
    frame, issues = apply_mapping(raw, suggestion.mapping)
    issues = issues if not len(placement_issues(raw, suggestion.mapping, suggestion.confidence)) else None
    return suggestion, frame, validate(frame, extra_issues=issues)


def test_the_suggestion_recognises_both_layouts():
    for name, version in (("irve_v23.csv", "v2.2/2.3"), ("irve_v3.csv", "v3")):
        raw = read_sheet((SHEETS / name).read_bytes(), name)
        suggestion = suggest_mapping(raw)
        assert version in suggestion.layout and "'irve'" in suggestion.layout
        assert suggestion.unplaced_required == []
        assert placement_issues(raw, suggestion.mapping, suggestion.confidence).empty
        columns = suggestion.mapping.columns
        assert columns["station_id"] == "id_station_itinerance" and columns["evse_id"] == "id_pdc_itinerance"
        assert columns["zip"] == ("adresse_station" if version != "v3" else "code_postal")
        assert "code_insee_commune" not in columns.values()


def test_headers_in_other_case_are_still_irve():
    suggestion, _, result = checked(irve_file(header_case=str.upper))
    assert suggestion.layout and result.errors == 0


def test_profile_by_name_gives_what_the_suggestion_gives():
    raw = read_sheet(V23.read_bytes(), V23.name)
    by_profile, profile_issues = apply_profile(raw, "irve")
    by_suggestion, suggestion_issues = apply_mapping(raw, suggest_mapping(raw).mapping)
    assert by_profile.equals(by_suggestion) and profile_issues.equals(suggestion_issues)
    assert "irve" in builtin_profiles()


def test_profile_on_another_file_names_what_is_missing():
    raw = read_sheet(b"station_id,latitude\nX,1\n", "other.csv")
    with pytest.raises(ProfileError, match="id_pdc_itinerance"):
        apply_profile(raw, "irve")


def test_coordonnees_xy_is_longitude_first():
    _, frame, _ = checked(V23.read_bytes())
    first = frame.iloc[0]
    assert (first["latitude"], first["longitude"]) == ("47.7420", "7.3425")


def test_the_commune_code_is_never_the_postcode():
    # Mapped by hand to the INSEE column (what the issue's user did), the postcode is an error on every row.
    raw = read_sheet(V23.read_bytes(), V23.name)
    mapping = suggest_mapping(raw).mapping
    mapping.columns["zip"] = "code_insee_commune"
    frame, issues = apply_mapping(raw, mapping)
    wrong = issues[issues["rule"] == "zip_is_commune_code"]
    assert len(wrong) == len(frame["_row"].unique()) and (wrong["severity"] == "error").all()
    assert validate(frame, extra_issues=issues).valid_station_ids() == []


def test_a_whole_address_as_city_blocks_the_station():
    raw = read_sheet(V23.read_bytes(), V23.name)
    mapping = suggest_mapping(raw).mapping
    mapping.columns["city"] = "adresse_station"
    mapping.columns["street"] = mapping.columns["street_number"] = None  # the issue's hand mapping: no split
    frame, _ = apply_mapping(raw, mapping)
    issues = validate(frame).issues
    assert set(issues.loc[issues["column"] == "city", "rule"]) == {"city_is_address"}


def test_non_concerne_ids_are_left_empty_and_reported():
    def change(rows):
        rows[2]["id_pdc_itinerance"] = "Non concerné"  # row 4 of the file

    _, frame, result = checked(irve_file(change))
    assert frame.loc[frame["_row"] == 4, "evse_id"].tolist() == [""]
    rules = result.issues.groupby("rule")["row"].apply(set).to_dict()
    assert rules["junk_value"] == {4} and rules["required"] == {4}
    assert result.blocked_station_ids() == ["FRA68P68224002"]


def test_a_plug_without_an_oioi_name_is_left_out_with_a_warning():
    def change(rows):
        rows[2]["prise_type_autre"] = "true"  # Type 2 and another plug
        rows[3]["prise_type_combo_ccs"], rows[3]["prise_type_autre"] = "false", "true"  # only the other one

    _, frame, result = checked(irve_file(change))
    assert frame.loc[frame["_row"] == 4, "connector_type"].tolist() == ["Type2"]
    assert frame.loc[frame["_row"] == 5, "connector_type"].tolist() == [""]
    unnamed = result.issues[result.issues["rule"] == "plug_unnamed"]
    assert set(unnamed["row"]) == {4, 5} and (unnamed["severity"] == "warning").all()
    assert result.blocked_station_ids() == ["FRA68P67482001"]  # a point with no known plug cannot be sent


def test_opening_hours_other_than_24_7():
    def change(rows):
        rows[0]["horaires"] = rows[1]["horaires"] = "Mo-Sa 07:00-21:00; Su off"

    _, frame, result = checked(irve_file(change))
    gare = frame[frame["station_id"] == "FRA68P68224001"].iloc[0]
    assert (gare["is_open_24"], gare["open_hours"]) == ("false", "Mo-Sa 07:00-21:00")
    assert result.errors == 0


def test_v3_with_mcs_plug_and_the_same_ids():
    def change(rows):
        rows[3]["prise_type_mcs"] = "true"

    _, frame, result = checked(irve_file(change, version="v3"))
    assert result.errors == 0 and set(result.issues["rule"]) == {"plug_unnamed"}
    assert frame.loc[frame["_row"] == 5, "connector_type"].tolist() == ["Combo"]
    assert sorted(frame["evse_id"].unique()) == sorted(p for _, p, _, _ in make_real_files._POINTS)
