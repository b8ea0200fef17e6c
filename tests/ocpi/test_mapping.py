"""OCPI Locations -> the canonical frame and its issues, field by field, and through the validator."""

import json
from pathlib import Path

import pytest

from oioi_onboard.ocpi.mapping import map_locations, oioi_status, opening_hours, power_kw, station_id
from oioi_onboard.ocpi.models import Connector, EvseStatus, Hours
from oioi_onboard.oioi.vocabulary import ConnectorStatus
from oioi_onboard.sheets.canonical import NAMES, ROW
from oioi_onboard.sheets.issues import ISSUE_COLUMNS
from oioi_onboard.sheets.stations import build_stations
from oioi_onboard.sheets.validate import validate

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"
PHONE = {"phone": "+49 30 123456"}


def load(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def mapped(*locations, constants=None):
    """(frame, issues, summary) of Locations given as parsed JSON, numbered from 1 as a file numbers them."""
    return map_locations(list(enumerate(locations, start=1)), constants=constants)


def rows(frame) -> list[dict]:
    return frame.to_dict("records")


def test_the_spec_example_row_by_row():
    frame, issues, summary = mapped(load("location_example.json"))
    assert list(frame.columns) == [*NAMES, ROW] and issues.empty
    station = {
        "station_id": "BE*BEC*LOC1", "station_name": "Gent Zuid", "description": "", "latitude": "51.047599",
        "longitude": "3.729944", "street": "F.Rooseveltlaan", "street_number": "3A", "city": "Gent", "zip": "9000",
        "country": "BE", "phone": "", "fax": "", "web": "", "email": "", "cpo_id": "BE*BEC", "is_open_24": "",
        "open_hours": "", "notes": "", "is_reservable": "", "floor_level": "", "is_free_charge": "",
        "total_parking": "", "is_green_power_available": "", "is_plugin_charge": "", "is_roofed": "",
        "is_private": "",
    }
    # EVSE 3256 has a cable and a socket of Type 2: one OIOI connector. 220 V x 16 A x 3 phases = 10.56 kW.
    assert rows(frame) == [
        {**station, "evse_id": "BE*BEC*E041503001", "connector_type": "Type2", "speed_kw": "10.56", ROW: 1},
        {**station, "evse_id": "BE*BEC*E041503002", "connector_type": "Type2", "speed_kw": "10.56", ROW: 1},
    ]
    assert summary == ["read as OCPI 2.2.1 Locations, no column mapping needed: 1 Location, 2 EVSEs -> "
                       "1 station, 2 connector rows"]


def test_other_spec_examples_country_postcode_hours():
    [garage] = rows(mapped(load("location_example_parking_garage_opening_hours.json"))[0])
    assert (garage["station_id"], garage["country"], garage["zip"], garage["city"]) \
        == ("SE*EVC*cbb0df21-d17d-40ba-a4aa-dc588c8f98cb", "SE", "214 26", "Malmö")
    assert (garage["street"], garage["street_number"]) == ("Claesgatan", "6")
    assert (garage["is_open_24"], garage["open_hours"]) == ("false", "Mo-Su 07:00-18:00")
    assert garage["speed_kw"] == "22.08"  # 230 V x 32 A x 3
    [destination] = rows(mapped(load("location_example_uc2_destination_charger.json"))[0])
    assert (destination["country"], destination["zip"], destination["street"], destination["street_number"],
            destination["station_name"], destination["cpo_id"]) == ("NL", "4876 BS", "Tamboerijn", "7", "ihomer",
                                                                    "NL*ALF")


def test_operator_directions_energy_mix_and_hours_of_our_network():
    frame, issues, _ = mapped(*load("network.json"))
    assert issues.empty
    by_evse = {(r["evse_id"], r["connector_type"]): r for r in rows(frame)}
    assert {key: r["speed_kw"] for key, r in by_evse.items()} == {
        ("DE*OCP*E0001*1", "Type2"): "22.08", ("DE*OCP*E0001*2", "Combo"): "150",
        ("DE*OCP*E0001*2", "Chademo"): "50", ("DE*OCP*E0007*1", "Type2"): "11.04",
        ("DE*OCP*E0007*1", "Schuko"): "3.68", ("DE*OCP*E0042*1", "Type2"): "22.08",
    }
    market = by_evse[("DE*OCP*E0001*1", "Type2")]
    assert (market["station_name"], market["web"], market["is_open_24"], market["open_hours"], market[ROW]) \
        == ("Marktplatz", "https://ocpi-demo.example.com", "true", "", 1)
    yard = by_evse[("DE*OCP*E0007*1", "Schuko")]
    assert yard["station_name"] == "OCPI Demo Energie"  # no name: the operator's
    assert (yard["street"], yard["street_number"], yard["zip"]) == ("Bergheimer Straße", "7", "69115")
    assert (yard["notes"], yard["is_green_power_available"]) == ("Left in the yard", "true")  # English first
    assert (yard["is_open_24"], yard["open_hours"], yard[ROW]) == ("false", "Mo-Fr 07:00-20:00; Sa 08:00-14:00", 2)
    square = by_evse[("DE*OCP*E0042*1", "Type2")]
    assert (square["street"], square["street_number"], square[ROW]) == ("Rathausplatz", "", 3)


def test_power():
    frame, issues, _ = mapped(load("power.json"))
    assert issues.empty
    assert [(r["evse_id"], r["speed_kw"]) for r in rows(frame)] == [
        ("DE*OCP*E0401*1", "22.08"),  # AC_3_PHASE, no max_electric_power: 230 V x 32 A x 3
        ("DE*OCP*E0401*2", "3.68"),  # AC_1_PHASE: 230 V x 16 A
        ("DE*OCP*E0401*3", "150"),  # max_electric_power wins over 920 V x 400 A
        ("DE*OCP*E0401*4", "22.08"),  # a 16 A socket and a 32 A cable of Type 2: one connector, the higher power
    ]
    connector = Connector.model_validate({"id": "1", "standard": "CHADEMO", "power_type": "DC", "max_voltage": 500,
                                          "max_amperage": 125, "last_updated": "2024-01-01T00:00:00Z"})
    assert power_kw(connector) == 62.5


@pytest.mark.parametrize("power_type, kw", [("AC_1_PHASE", 3.68), ("AC_2_PHASE", 7.36), ("AC_2_PHASE_SPLIT", 3.84),
                                            ("AC_3_PHASE", 11.04)])
def test_power_counts_the_phases_that_carry_the_current(power_type, kw):
    """AC_2_PHASE is two of three phases at the line-to-neutral voltage; split phase states its whole voltage."""
    volts = 240 if power_type == "AC_2_PHASE_SPLIT" else 230
    connector = Connector.model_validate({"id": "1", "standard": "IEC_62196_T2", "power_type": power_type,
                                          "max_voltage": volts, "max_amperage": 16,
                                          "last_updated": "2024-01-01T00:00:00Z"})
    assert power_kw(connector) == pytest.approx(kw)


def test_weekday_hours_are_grouped_by_consecutive_days_with_the_same_periods():
    [row] = rows(mapped(load("regular_hours.json"))[0])
    assert row["open_hours"] == "Mo-Tu 08:00-12:00, 14:00-18:00; We 08:00-12:00; Th-Fr 08:00-12:00, 14:00-18:00; " \
                                "Sa 09:00-12:00"
    assert row["is_open_24"] == "false"
    assert opening_hours(Hours.model_validate(load("location_hours_247_open_exception_closing.json"))) \
        == ("true", "")
    assert opening_hours(Hours.model_validate(load("location_hours_opening_hours_with_exceptional_closing.json"))) \
        == ("false", "Mo-Tu 01:00-06:00")
    assert opening_hours(Hours.model_validate(load("location_regularhours_example.json")["opening_times"])) \
        == ("false", "Mo-Fr 08:00-20:00")
    assert opening_hours(None) == ("", "")  # no opening_times: the CPO's defaults decide


def test_addresses_number_first_and_countries():
    example = load("location_example.json")
    french = {**example, "country_code": "FR", "party_id": "ABC", "country": "FRA", "address": "12 rue de la Paix",
              "city": "Paris", "postal_code": "75002", "evses": example["evses"][1:]}
    [row] = rows(mapped(french)[0])
    assert (row["street"], row["street_number"], row["country"], row["cpo_id"], row["station_id"]) \
        == ("rue de la Paix", "12", "FR", "FR*ABC", "FR*ABC*LOC1")
    odd = {**example, "country": "XYZ", "evses": example["evses"][1:]}
    [row] = rows(mapped(odd)[0])
    assert row["country"] == "XYZ"  # not made up: the validator names it
    assert "country_code" in set(validate(mapped(odd, constants=PHONE)[0]).issues["rule"])
    assert station_id("be", "bec", "Loc-1") == "BE*BEC*Loc-1"


def test_what_is_not_pushed_is_named_and_counted():
    frame, issues, summary = mapped(*load("not_pushed.json"), constants=PHONE)
    assert [(r["station_id"], r["evse_id"]) for r in rows(frame)] == [("DE*OCP*NP-1", "DE*OCP*E0201*1")]
    assert list(issues.columns) == ISSUE_COLUMNS
    assert issues[["row", "column", "value", "rule", "severity"]].values.tolist() == [
        [1, "evse_id", "NP-1-2, NP-1-3, NP-1-4", "ocpi_evse_not_pushed", "warning"],
        [2, "station_id", "NP-2", "ocpi_not_published", "warning"],
        [3, "evse_id", "", "ocpi_no_evses", "warning"],
    ]
    assert issues["message"][0].startswith(
        "Location 'NP-1': 3 EVSEs not pushed: 'NP-1-2' (PLANNED), 'NP-1-3' (REMOVED), 'NP-1-4' (no evse_id)")
    assert "publish: false" in issues["message"][1]
    assert summary[1] == ("not pushed: 1 Location with publish: false, 2 EVSEs PLANNED or REMOVED, "
                          "1 EVSE without evse_id")
    # Warnings only: the station is pushed with its chargeable EVSE.
    validation = validate(frame, extra_issues=issues)
    assert validation.errors == 0 and validation.valid_station_ids() == ["DE*OCP*NP-1"]
    assert validation.station_state["DE*OCP*NP-1"] == "warning"


def test_the_spec_example_not_published():
    frame, issues, _ = mapped(load("location_example_uc3_destination_charger_not_published.json"))
    assert frame.empty and issues["rule"].tolist() == ["ocpi_not_published"]


def test_a_standard_without_an_oioi_plug_blocks_its_station_and_names_the_evse():
    frame, issues, _ = mapped(*load("no_oioi_plug.json"), constants=PHONE)
    errors = issues[issues["severity"] == "error"]
    assert errors[["row", "column", "value", "rule"]].values.tolist() == [
        [1, "connector_type", "GBT_DC", "ocpi_connector_standard"],
        [2, "connector_type", "IEC_62196_T1_COMBO", "ocpi_connector_standard"],
        [3, "connector_type", "MAGNETIC_PAD", "ocpi_connector_standard"],
    ]
    assert errors["message"].tolist()[0] == ("Location 'CN-1', EVSE 'CN-1-2' (DE*OCP*E0101*2), connector '1': "
                                             "standard 'GBT_DC': OIOI has no plug for it, so the station cannot be "
                                             "pushed")
    assert "not a connector standard of OCPI 2.2.1" in errors["message"].tolist()[2]
    # CN-1's Type 2 EVSE is in the frame, and the error on its row blocks the station.
    assert [(r["station_id"], r["connector_type"]) for r in rows(frame)] == [("DE*OCP*CN-1", "Type2")]
    validation = validate(frame, extra_issues=issues)
    assert validation.blocked_station_ids() == ["DE*OCP*CN-1"] and validation.valid_station_ids() == []


def test_coordinates_outside_their_pattern_leave_the_location_out_with_a_clear_message():
    frame, issues, summary = mapped(*load("bad_coordinates.json"))
    assert frame["station_id"].unique().tolist() == ["DE*OCP*GOOD"]
    assert issues[["row", "column", "value", "rule", "severity"]].values.tolist() == [
        [2, "latitude", "49.487459", "ocpi_location_invalid", "error"],
        [2, "longitude", "8.466039", "ocpi_location_invalid", "error"],
        [3, "latitude", "49.48", "ocpi_location_invalid", "error"],
    ]
    assert issues["message"][0] == ("Location 'NUMBERS' is not valid OCPI and was left out: coordinates.latitude: "
                                    "latitude must be text such as \"51.047599\" (OCPI coordinates are strings), "
                                    "not the number 49.487459")
    assert issues["message"][2].endswith("latitude '49.48' is not of the form -?[0-9]{1,2}\\.[0-9]{5,7}: decimal "
                                         "degrees with a point and 5 to 7 decimals, such as \"51.047599\"")
    assert summary[-1] == "left out: 2 Locations that are not valid OCPI"


def test_other_invalid_locations_name_the_evse_and_the_field():
    example = load("location_example.json")
    broken = json.loads(json.dumps(example))
    del broken["evses"][1]["connectors"][0]["max_amperage"]
    frame, issues, _ = mapped(broken, "not a Location")
    assert frame.empty
    assert issues[["row", "column", "rule"]].values.tolist() == [[1, "evse_id", "ocpi_location_invalid"],
                                                                 [2, "station_id", "ocpi_location_invalid"]]
    assert issues["message"][0] == ("Location 'LOC1' is not valid OCPI and was left out: EVSE '3257', "
                                    "connector '1', max_amperage: Field required")
    assert issues["message"][1] == "item 2 of the file is not a JSON object, as a Location is; it was left out"


def test_constants_fill_only_what_the_locations_leave_empty():
    frame, _, _ = mapped(*load("network.json"), constants={**PHONE, "web": "https://other.example.com",
                                                            "is_open_24": "yes"})
    assert set(frame["phone"]) == {"+49 30 123456"}
    assert set(frame["web"]) == {"https://ocpi-demo.example.com"}  # the Location gives one
    assert set(frame["is_open_24"]) == {"true", "false"}


def test_the_network_becomes_valid_station_posts():
    frame, issues, _ = mapped(*load("network.json"), constants=PHONE)
    validation = validate(frame, extra_issues=issues)
    assert validation.issues.empty and validation.stations == 3 and validation.connectors == 6
    stations = {s.id: s.to_json() for s in build_stations(validation.frame)}
    yard = stations["DE*OCP*HD-007"]
    assert yard["name"] == "OCPI Demo Energie" and yard["cpo-id"] == "DE*OCP" and yard["is-open-24"] is False
    assert (yard["latitude"], yard["longitude"]) == (49.40918, 8.69051)  # numbers on the wire
    assert yard["address"] == {"street": "Bergheimer Straße", "street-number": "7", "city": "Heidelberg",
                               "zip": "69115", "country": "DE"}
    assert yard["contact"] == {"phone": "+49 30 123456", "web": "https://ocpi-demo.example.com"}
    assert yard["open-hour-notes"] == [{"times": ["07:00", "20:00"], "days": ["Mo", "Fr"]},
                                       {"times": ["08:00", "14:00"], "days": ["Sa", "Sa"]}]
    assert yard["notes"] == "Left in the yard" and yard["is-green-power-available"] is True
    assert yard["connectors"] == [{"id": "DE*OCP*E0007*1", "name": "Schuko", "speed": 3.68},
                                  {"id": "DE*OCP*E0007*1", "name": "Type2", "speed": 11.04}]


@pytest.mark.parametrize(("status", "expected"), [
    ("AVAILABLE", ConnectorStatus.AVAILABLE), ("CHARGING", ConnectorStatus.OCCUPIED),
    ("BLOCKED", ConnectorStatus.OCCUPIED), ("RESERVED", ConnectorStatus.RESERVED),
    ("INOPERATIVE", ConnectorStatus.OFFLINE), ("OUTOFORDER", ConnectorStatus.OFFLINE),
    ("UNKNOWN", ConnectorStatus.UNKNOWN), ("PLANNED", None), ("REMOVED", None),
])
def test_evse_status_to_oioi_status(status, expected):
    assert oioi_status(status) is expected
    assert oioi_status(EvseStatus(status)) is expected
