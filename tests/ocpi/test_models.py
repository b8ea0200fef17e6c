"""The OCPI models read the specification's own examples, and are strict on what we use."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from oioi_onboard.ocpi.models import (
    EVSE,
    Credentials,
    EnergyMix,
    Envelope,
    EvsePatch,
    EvseStatus,
    Hours,
    InterfaceRole,
    Location,
    LocationPatch,
    PowerType,
    Role,
    StatusCode,
    Version,
    VersionDetails,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"
LOCATION_EXAMPLES = ["location_example.json", "location_example_uc2_destination_charger.json",
                     "location_example_uc3_destination_charger_not_published.json",
                     "location_example_parking_garage_opening_hours.json"]


def load(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", LOCATION_EXAMPLES)
def test_every_location_example_of_the_spec_is_read(name):
    location = Location.model_validate(load(name))
    assert location.evses and location.coordinates.latitude.count(".") == 1
    assert location.last_updated.tzinfo == UTC


def test_the_public_location_example_field_by_field():
    location = Location.model_validate(load("location_example.json"))
    assert (location.country_code, location.party_id, location.id, location.publish) == ("BE", "BEC", "LOC1", True)
    assert (location.name, location.address, location.city, location.postal_code, location.country) \
        == ("Gent Zuid", "F.Rooseveltlaan 3A", "Gent", "9000", "BEL")
    assert (location.coordinates.latitude, location.coordinates.longitude) == ("51.047599", "3.729944")
    assert location.operator.name == "BeCharged" and location.operator.website is None
    assert location.opening_times is None
    first, second = location.evses
    assert (first.uid, first.evse_id, first.status) == ("3256", "BE*BEC*E041503001", EvseStatus.AVAILABLE)
    assert second.status == EvseStatus.RESERVED
    assert [(c.id, c.standard, c.power_type, c.max_voltage, c.max_amperage, c.max_electric_power)
            for c in first.connectors] == [("1", "IEC_62196_T2", PowerType.AC_3_PHASE, 220, 16, None),
                                           ("2", "IEC_62196_T2", PowerType.AC_3_PHASE, 220, 16, None)]
    assert first.connectors[0].last_updated == datetime(2015, 3, 16, 10, 10, 2, tzinfo=UTC)


def test_hours_and_energy_mix_examples():
    always = Hours.model_validate(load("location_hours_247_open_exception_closing.json"))
    assert always.twentyfourseven and not always.regular_hours
    assert always.exceptional_closings[0].period_begin == datetime(2018, 12, 25, 3, tzinfo=UTC)
    nights = Hours.model_validate(load("location_hours_opening_hours_with_exceptional_closing.json"))
    assert [(r.weekday, r.period_begin, r.period_end) for r in nights.regular_hours] \
        == [(1, "01:00", "06:00"), (2, "01:00", "06:00")]
    workdays = Hours.model_validate(load("location_regularhours_example.json")["opening_times"])
    assert {r.weekday for r in workdays.regular_hours} == {1, 2, 3, 4, 5}
    assert len(workdays.exceptional_openings) == len(workdays.exceptional_closings) == 1
    assert EnergyMix.model_validate(load("location_energymix_example_simple.json")["energy_mix"]).is_green_energy


def test_patch_examples_need_only_last_updated():
    status = EvsePatch.model_validate(load("location_patch_example_status.json"))
    assert status.status == EvseStatus.CHARGING and status.uid is None and status.connectors is None
    renamed = LocationPatch.model_validate(load("location_patch_example_location.json"))
    assert renamed.name == "Interparking Gent Zuid" and renamed.coordinates is None
    assert renamed.last_updated == datetime(2019, 6, 24, 12, 39, 9, tzinfo=UTC)
    with pytest.raises(ValidationError, match="last_updated"):
        EvsePatch.model_validate({"status": "CHARGING"})


def test_the_spec_example_of_an_added_evse_lacks_what_the_power_needs():
    # Its connector has neither power_type nor voltage nor amperage, which OCPI requires and we use.
    with pytest.raises(ValidationError) as error:
        EVSE.model_validate(load("location_put_example_add_evse.json"))
    missing = {item["loc"][-1] for item in error.value.errors() if item["type"] == "missing"}
    assert missing == {"power_type", "max_voltage", "max_amperage", "last_updated"}


def test_version_and_credentials_examples():
    versions = Envelope.model_validate(load("transport_and_format_version_info_example.json"))
    assert versions.ok and versions.status_message == "Success"
    assert [Version.model_validate(v).version for v in versions.data] == ["2.1.1", "2.2"]
    assert [Version.model_validate(v).url for v in load("versions_info_example.json")] \
        == ["https://www.server.com/ocpi/2.1.1", "https://www.server.com/ocpi/2.2.1"]
    details = VersionDetails.model_validate(
        Envelope.model_validate(load("transport_and_format_version_details_example.json")).data)
    assert details.endpoint("locations", InterfaceRole.SENDER) == "https://example.com/ocpi/cpo/2.2/locations"
    both = VersionDetails.model_validate(load("version_details_example2.json"))
    assert both.endpoint("locations", InterfaceRole.SENDER) == "https://example.com/ocpi/cpo/2.2/locations"
    assert both.endpoint("locations", InterfaceRole.RECEIVER) == "https://example.com/ocpi/msp/2.2/locations"
    assert both.endpoint("cdrs") is None
    # OCPI 2.1.1 details name no roles: any role matches.
    old = VersionDetails.model_validate({"version": "2.1.1", "endpoints": [
        {"identifier": "locations", "url": "https://example.com/ocpi/2.1.1/locations"}]})
    assert old.endpoint("locations", InterfaceRole.SENDER) == "https://example.com/ocpi/2.1.1/locations"

    credentials = Credentials.model_validate(load("credentials_example3.json"))
    [role] = credentials.roles
    assert (role.role, role.country_code, role.party_id) == (Role.CPO, "NL", "EXA")
    assert role.business_details.website == "http://example.com"
    assert Credentials.model_validate(load("credentials_example.json")).url == "https://example.com/ocpi/versions"


def test_the_envelope_we_answer_with():
    answer = Envelope.answer({"id": "LOC1"}).to_json()
    assert answer["status_code"] == 1000 and answer["data"] == {"id": "LOC1"}
    assert answer["timestamp"].endswith("Z") and "status_message" not in answer
    refusal = Envelope.answer(status_code=StatusCode.UNKNOWN_LOCATION, status_message="unknown location").to_json()
    assert refusal == {"status_code": 2003, "status_message": "unknown location", "timestamp": refusal["timestamp"]}
    assert not Envelope.model_validate(refusal).ok


def test_strict_on_what_we_use_tolerant_of_the_rest():
    good = load("location_example.json")
    extra = Location.model_validate({**good, "facilities": ["CAFE"], "images": [{"url": 3}], "vendor_field": {}})
    assert extra.id == "LOC1"  # unknown and unused fields are ignored, whatever they hold

    def problems(**changes) -> str:
        with pytest.raises(ValidationError) as error:
            Location.model_validate({**good, **changes})
        return str(error.value)

    assert "OCPI coordinates are strings" in problems(coordinates={"latitude": 51.047599, "longitude": "3.729944"})
    assert "5 to 7 decimals" in problems(coordinates={"latitude": "51.0475", "longitude": "3.729944"})
    assert "5 to 7 decimals" in problems(coordinates={"latitude": "51,047599", "longitude": "3.729944"})
    assert "publish" in problems(publish="true")  # a boolean, not text
    assert "last_updated" in problems(last_updated=1435609149)  # a DateTime is text
    assert "status" in problems(evses=[{**good["evses"][0], "status": "available"}])  # the spec's words only
    assert "max_voltage" in problems(evses=[{**good["evses"][0], "connectors": [
        {**good["evses"][0]["connectors"][0], "max_voltage": "220"}]}])


def test_a_datetime_without_a_zone_is_utc_and_null_lists_are_empty():
    good = load("location_example.json")
    location = Location.model_validate({**good, "last_updated": "2015-06-29T20:39:09", "directions": None})
    assert location.last_updated == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)
    assert location.directions == []
