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
