"""The import page's fixes on the canonical frame."""

import pandas as pd

from oioi_onboard.sheets.canonical import ROW
from oioi_onboard.sheets.fixes import swap_coordinates


def test_swapping_coordinates_takes_the_named_rows_and_their_stations_other_rows_at_the_same_point():
    frame = pd.DataFrame({
        ROW: [2, 3, 4, 5, 6, 7],
        "station_id": ["S1", "S1", "S1", "S2", "", ""],
        "latitude": ["8.46", "8.46", "49.48", "49.49", "9.1", "9.1"],
        "longitude": ["49.48", "49.48", "8.46", "8.47", "48.7", "48.7"],
    })
    fixed, count = swap_coordinates(frame, [2, 6])
    # S1's row 3 holds the same exchanged point as row 2; its row 4 already holds the right one and stays.
    # Row 7 has no station id: only the named row 6 of the two is swapped.
    assert count == 3
    assert fixed["latitude"].tolist() == ["49.48", "49.48", "49.48", "49.49", "48.7", "9.1"]
    assert fixed["longitude"].tolist() == ["8.46", "8.46", "8.46", "8.47", "9.1", "48.7"]
    assert frame["latitude"].tolist()[0] == "8.46"  # the frame given is left as it was


def test_a_typed_value_is_read_as_the_mapping_reads_the_files_own():
    """'Typ 2' is accepted in the file: typed into a fix it must not become an unknown connector type."""
    from oioi_onboard.sheets.fixes import apply_edits, replace_value
    from oioi_onboard.sheets.validate import validate
    from oioi_onboard.testing.sheets import set_row, valid_frame

    frame = set_row(valid_frame(), 10, connector_type="", is_open_24="")
    fixed, count = replace_value(frame, "connector_type", "", "Typ 2")
    assert count == 1 and fixed.loc[fixed[ROW] == 10, "connector_type"].tolist() == ["Type2"]
    edited = fixed.loc[fixed[ROW] == 10].assign(is_open_24="tak", country="Polska")
    fixed = apply_edits(fixed, edited)
    assert fixed.loc[fixed[ROW] == 10, ["is_open_24", "country"]].values.tolist() == [["true", "PL"]]
    assert "connector_type" not in set(validate(fixed).issues["rule"])
    # The mapping's own readers, not a copy of some of them: '24/7' means open all day, a decimal comma is a point.
    edited = fixed.loc[fixed[ROW] == 10].assign(is_open_24="24/7", latitude="49,4875", speed_kw="22,5")
    typed = apply_edits(fixed, edited).loc[fixed[ROW] == 10, ["is_open_24", "latitude", "speed_kw"]]
    assert typed.values.tolist() == [["true", "49.4875", "22.5"]]
    replaced, count = replace_value(fixed, "is_open_24", "false", "rund um die Uhr")
    assert count and replaced["is_open_24"].eq("true").all()
    # Other columns keep what was typed, as the file's own values would be.
    named = apply_edits(fixed, edited.assign(station_name="Typ 2"))
    assert named.loc[named[ROW] == 10, "station_name"].tolist() == ["Typ 2"]


def test_a_station_field_edited_on_one_of_its_rows_is_changed_on_its_other_rows():
    """The editor shows only the rows with problems, one of a station's rows: editing its street there left the
    station's other row on the old street, and the revalidation found the rows disagreeing."""
    from oioi_onboard.sheets.fixes import apply_edits

    frame = pd.DataFrame({
        ROW: [2, 3, 4, 5],
        "station_id": ["S1", "S1", "S2", "S1"],
        "street": ["Calle Mayor", "Calle Mayor", "Calle Mayor", "Calle Sol"],
        "evse_id": ["E1", "E2", "E3", "E4"],
    })
    edited = frame.loc[[0]].assign(street="Calle Madrid", evse_id="E9")
    fixed = apply_edits(frame, edited, frame.index[[0]])
    # S1's other row on the same street follows; S2 and S1's row that already differed keep theirs; a connector
    # field (evse_id) belongs to its row alone.
    assert fixed["street"].tolist() == ["Calle Madrid", "Calle Madrid", "Calle Mayor", "Calle Sol"]
    assert fixed["evse_id"].tolist() == ["E9", "E2", "E3", "E4"]


def test_fixes_kept_are_made_again_on_the_same_rows_mapped_anew_and_not_on_other_rows():
    """The CPO's defaults changed: the same file is mapped again, and the person's fixes are made again on it, in
    order. Mapped to other rows (a column choice that splits connectors), a fix would change other cells: none is."""
    from oioi_onboard.sheets.fixes import EditCells, ReplaceValue, SwapCoordinates, replay
    from oioi_onboard.testing.sheets import set_row, valid_frame

    frame = set_row(valid_frame(), 10, connector_type="", latitude="8.46", longitude="49.48")
    made_on = frame[ROW].to_numpy()
    shown = frame[frame[ROW].isin([12, 13])]
    edited = shown[shown[ROW] == 12].assign(city="Mannheim-Nord")  # row 13 deleted in the editor
    fixes = [ReplaceValue("connector_type", "", "Typ 2"), SwapCoordinates((10,)), EditCells.made(shown, edited)]
    mapped_anew = frame.assign(country="DE")  # what a new default fills in; the same rows
    again = replay(mapped_anew, fixes, made_on)
    row = again.loc[again[ROW] == 10].iloc[0]
    assert (row["connector_type"], row["latitude"], row["longitude"]) == ("Type2", "49.48", "8.46")
    assert again.loc[again[ROW] == 12, "city"].tolist() == ["Mannheim-Nord"]
    assert 13 not in again[ROW].tolist()  # shown to the editor and deleted there: left out again
    assert again["country"].eq("DE").all()  # the new mapping's own values stay, in the edited row too
    assert replay(mapped_anew.iloc[1:], fixes, made_on) is None
