"""From the validated frame to station-post Station objects."""

import pytest

from oioi_onboard.oioi.messages import Station, StationPost, canonical_sha256, encode
from oioi_onboard.sheets.stations import (
    POINT_COLUMNS,
    StationBuildError,
    build_stations,
    connectors_signature,
    station_points,
)
from oioi_onboard.sheets.validate import validate
from oioi_onboard.testing.sheets import set_row, set_station, valid_frame


def test_stations_are_valid_oioi():
    stations = build_stations(valid_frame())
    assert [s.id for s in stations] == ["DE*8PS*S0001", "DE*8PS*S0002", "DE*8PS*S0003"]
    for station in stations:
        again = Station.model_validate(station.to_json())
        assert again == station
        encode(StationPost(station=station, partner_identifier="p" * 20))


def test_one_evse_with_two_types_becomes_two_connectors_sharing_the_id():
    first = build_stations(valid_frame())[0].to_json()
    assert [(c["id"], c["name"], c["speed"]) for c in first["connectors"]] == [
        ("DE*8PS*E0001*1", "Schuko", 3.7),
        ("DE*8PS*E0001*1", "Type2", 22.0),
        ("DE*8PS*E0001*2", "Combo", 150.0),
    ]


def test_fields_are_encoded_as_the_spec_example():
    first = build_stations(valid_frame())[0].to_json()
    assert first["open-hour-notes"] == [
        {"times": ["07:30", "19:00"], "days": ["Mo", "Fr"]},
        {"times": ["09:00", "15:00"], "days": ["Sa", "Sa"]},
    ]
    assert first["address"] == {"street": "Luisenring", "street-number": "49a", "city": "Mannheim",
                                "zip": "68159", "country": "DE"}
    assert first["contact"] == {"phone": "+49 621 1234567", "web": "https://example.com",
                                "email": "service@example.com"}  # empty fax left out
    assert first["cpo-id"] == "DE*8PS" and first["is-open-24"] is False and first["deleted"] is False
    assert first["floor-level"] == -1 and first["total-parking"] == 4 and first["is-roofed"] is True
    assert isinstance(first["latitude"], float) and first["latitude"] == 49.4875
    second = build_stations(valid_frame())[1].to_json()
    assert "open-hour-notes" not in second and second["is-open-24"] is True


def test_text_forms_users_type_are_read():
    frame = set_station(valid_frame(), "DE*8PS*S0002", latitude="52,5251", is_roofed="ja", cpo_id="de8ps",
                        country="de", open_hours="Mo-Fr 08:00-12:00, 13:00-18:00", total_parking="",
                        is_open_24="no")
    assert validate(frame).issues.empty
    station = build_stations(frame, ["DE*8PS*S0002"])[0].to_json()
    assert station["latitude"] == 52.5251 and station["is-roofed"] is True
    assert station["cpo-id"] == "DE*8PS" and station["address"]["country"] == "DE"
    assert station["open-hour-notes"] == [
        {"times": ["08:00", "12:00"], "days": ["Mo", "Fr"]},
        {"times": ["13:00", "18:00"], "days": ["Mo", "Fr"]},
    ]
    assert "total-parking" not in station


def test_only_the_asked_stations_are_built():
    frame = valid_frame()
    assert [s.id for s in build_stations(frame, ["DE*8PS*S0003"])] == ["DE*8PS*S0003"]
    assert build_stations(frame, []) == []
    result = validate(set_row(frame, 9, speed_kw="-1"))
    assert [s.id for s in build_stations(result.frame, result.valid_station_ids())] == ["DE*8PS*S0001",
                                                                                        "DE*8PS*S0003"]


def test_an_invalid_station_is_refused_naming_it_and_its_row():
    frame = set_station(valid_frame(), "DE*8PS*S0002", latitude="north")
    with pytest.raises(StationBuildError, match=r"station 'DE\*8PS\*S0002' \(row 9\)"):
        build_stations(frame)


def test_hashes_are_stable():
    stations = build_stations(valid_frame())
    reordered = build_stations(valid_frame().iloc[::-1])
    assert [canonical_sha256(s.to_json()) for s in stations] == [canonical_sha256(s.to_json()) for s in
                                                                sorted(reordered, key=lambda s: s.id)]
    payload = stations[0].to_json()
    assert canonical_sha256(payload) == canonical_sha256(dict(reversed(list(payload.items()))))
    changed = dict(payload, name="Other")
    assert canonical_sha256(changed) != canonical_sha256(payload)
    # The signature covers EVSE ids and types only: a new name keeps it, a new type changes it.
    assert connectors_signature(changed) == connectors_signature(stations[0]) == connectors_signature(payload)
    other_type = build_stations(set_row(valid_frame(), 7, connector_type="Chademo"))[0]
    assert connectors_signature(other_type) != connectors_signature(stations[0])


def test_map_points_one_per_station_with_state_and_tooltip_texts():
    frame = set_row(valid_frame(), 9, speed_kw="0")  # an error on S2
    frame = set_station(frame, "DE*8PS*S0003", latitude="north")  # no usable position
    points = station_points(validate(frame))
    assert list(points.columns) == POINT_COLUMNS
    assert points["station_id"].tolist() == ["DE*8PS*S0001", "DE*8PS*S0002"]
    first, second = points.iloc[0], points.iloc[1]
    assert first["state"] == "ok" and second["state"] == "error"
    assert first["address"] == "Luisenring 49a, 68159 Mannheim"
    assert first["connectors"] == "Type2 22 kW, Schuko 3.7 kW, Combo 150 kW"
    assert first["problems"] == "" and second["problems"].startswith("error: speed must be above 0 kW")
    assert (first["latitude"], first["longitude"]) == (49.4875, 8.466)
