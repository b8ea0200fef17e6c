"""Station objects composed column by column (``station_objects``) are exactly what the model makes of them.

The store keeps and sends the composed texts without reading them through ``Station``: these properties
hold that to the model for every station the validator passes, over cells in the forms users type.
"""

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oioi_onboard.oioi.messages import Station, canonical_sha256
from oioi_onboard.sheets.canonical import NAMES, ROW
from oioi_onboard.sheets.stations import connectors_signature, station_objects
from oioi_onboard.sheets.validate import validate
from oioi_onboard.testing.sheets import FRAME_STATION

PROPERTIES = settings(derandomize=True, database=None, max_examples=150, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])

# Texts with what JSON must escape or keep as it is: quotes, backslashes, non-ASCII, a line separator.
texts = st.text(alphabet=st.sampled_from(list('aZ 0ß"\\/éŁ€😀\u2028<>&\'')), min_size=1, max_size=12)
optional_texts = st.one_of(st.just(""), texts)
booleans = st.sampled_from(["", "true", "false", "ja", "nein", "Yes", "NO", "1", "0"])
coordinates = st.sampled_from([("49.4875", "8.466"), ("49,4875", "8,4660"), (" 52.52 ", "13.4"),
                               ("48.1", "11.0000000"), ("50", "7"), ("49.00001", "8.00009"),
                               ("51.4779", "-0.0015"), ("51.5", "-0")])
connectors = st.lists(st.tuples(st.sampled_from(["1", "2", "*3", "1"]),
                                st.sampled_from(["Type2", "Schuko", "Combo", "Chademo", "Tesla"]),
                                st.sampled_from(["22", "3,7", "150.0", "11", "0.5", "350"])),
                      min_size=1, max_size=4)


@st.composite
def stations(draw, number: int) -> list[dict]:  # noqa: ANN001
    station_id = f"DE*8PS*S{number:04d}"
    latitude, longitude = draw(coordinates)
    open_24 = draw(st.sampled_from(["true", "false", "ja", "no"]))
    hours = "" if open_24 in ("true", "ja") else draw(st.sampled_from(
        ["", "Mo-Fr 07:30-19:00; Sa 09:00-15:00", "Mo-So 00:00-24:00", "Sa 08:00-12:00, 13:00-18:00"]))
    station = dict(
        FRAME_STATION, station_id=draw(st.sampled_from([station_id, f" {station_id} "])),
        station_name=draw(texts), description=draw(optional_texts), notes=draw(optional_texts),
        latitude=latitude, longitude=longitude, street=draw(texts), street_number=draw(optional_texts),
        country=draw(st.sampled_from(["DE", "de"])), cpo_id=draw(st.sampled_from(["DE*8PS", "de8ps", "DE8PS"])),
        fax=draw(st.sampled_from(["", "+49 621 1234568"])), web=draw(st.sampled_from(["", "www.example.com"])),
        email=draw(st.sampled_from(["", "service@example.com"])), is_open_24=open_24, open_hours=hours,
        floor_level=draw(st.sampled_from(["", "-1", "0", "3"])),
        total_parking=draw(st.sampled_from(["", "0", "12"])),
        **{name: draw(booleans) for name in ("is_reservable", "is_free_charge", "is_green_power_available",
                                              "is_plugin_charge", "is_roofed", "is_private")},
    )
    rows = []
    for evse, connector_type, speed in draw(connectors):
        rows.append(dict(station, evse_id=f"DE*8PS*E{number:04d}{evse}", connector_type=connector_type,
                         speed_kw=speed))
    return rows


@st.composite
def frames(draw) -> pd.DataFrame:  # noqa: ANN001
    rows = [row for number in range(draw(st.integers(1, 6))) for row in draw(stations(number))]
    rows = draw(st.permutations(rows))  # a station's rows need not be next to each other
    for number, row in enumerate(rows):
        row[ROW] = number + 2
    return pd.DataFrame.from_records(rows, columns=NAMES + [ROW])


@PROPERTIES
@given(frames(), st.integers(1, 4))
def test_composed_objects_are_the_models_own(frame, batch):
    validation = validate(frame)
    valid = validation.valid_station_ids()
    composed = [b for b in station_objects(validation.frame, valid, batch=batch)]
    assert [i for b in composed for i in b.ids] == valid
    for objects in composed:
        for i, text in enumerate(objects.texts):
            station = Station.model_validate_json(text).to_json()
            assert text == json.dumps(station, ensure_ascii=False, separators=(",", ":"))
            assert objects.sha256[i] == canonical_sha256(station)
            assert objects.signatures[i] == connectors_signature(station)
            mine = [j for j, s in enumerate(objects.connector_station) if s == i]
            assert [(objects.evse_ids[j], objects.connector_types[j], objects.speeds[j]) for j in mine] == [
                (c["id"], c["name"], c["speed"]) for c in station["connectors"]]
            assert (objects.names[i], objects.latitudes[i], objects.cities[i], objects.operator_ids[i]) == (
                station["name"], station["latitude"], station["address"]["city"], station["cpo-id"])


def test_a_cell_differing_only_in_spaces_is_the_same_value():
    frame = pd.DataFrame.from_records(
        [dict(FRAME_STATION, station_id=sid, evse_id=f"DE*8PS*E000{n}", connector_type="Type2", speed_kw="22",
              city=city, **{ROW: n + 2}) for n, (sid, city) in enumerate(
            [("DE*8PS*S1", "Mannheim"), (" DE*8PS*S1", " Mannheim "), ("DE*8PS*S2", "Mannheim ")])],
        columns=NAMES + [ROW])
    [objects] = station_objects(frame)
    assert objects.ids == ["DE*8PS*S1", "DE*8PS*S2"] and objects.cities == ["Mannheim", "Mannheim"]
    assert objects.connector_station.tolist() == [0, 0, 1] and objects.rows == [2, 4]
