import json

import pytest

from oioi_onboard.oioi import ids
from oioi_onboard.oioi.messages import (
    ConnectorType,
    StationPost,
    ValidationError,
    canonical_sha256,
    connector_post_status_body,
    decode_request,
    describe_validation_error,
    encode,
    station_post_body,
    station_post_json,
)
from tests.oioi.spec_examples import request_example


def with_valid_partner(body: dict) -> dict:
    (kind, payload), = body.items()
    return {kind: {**payload, "partner-identifier": ids.new_partner_identifier()}}


@pytest.mark.parametrize("page", ["station_post.rst", "connector_post_status.rst"])
def test_spec_example_round_trips_with_same_keys_and_types(page):
    body = with_valid_partner(request_example(page))
    encoded = encode(decode_request(body))
    assert encoded == body
    # Same JSON types, not just equal values (1 == 1.0 would hide an int/float slip).
    assert json.dumps(encoded, sort_keys=True) == json.dumps(body, sort_keys=True)


def wire(body: dict) -> bytes:
    """The bytes OioiClient.send puts on the wire."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize("page", ["station_post.rst", "connector_post_status.rst"])
def test_the_hot_paths_and_the_models_send_the_spec_examples_bytes(page):
    body = with_valid_partner(request_example(page))
    message = decode_request(body)
    if isinstance(message, StationPost):  # sync.diff: from the station object stored at the import
        by_hand = station_post_body(message.station.to_json(), message.partner_identifier)
    else:  # sync.status_ingest: from the EVSE id and the status it checked itself
        by_hand = connector_post_status_body(message.connector_id, message.status.value, message.partner_identifier)
    assert wire(by_hand) == wire(encode(message)) == wire(body)


@pytest.mark.parametrize("partner", ["tP3x9Qw7LmZ2vK8sRb4N", 'quote " and ü'])
def test_a_station_post_composed_from_the_stored_station_text_is_the_same_bytes(partner):
    """The outbox composes a big push's bodies from the station objects as stored (store.db keeps JSON compact)."""
    from oioi_onboard.store.db import _json_text

    station = decode_request(request_example("station_post.rst")).station.to_json()
    station["name"] = "Zürich \"Hbf\""
    composed = station_post_json(_json_text(station), partner)
    assert composed.encode() == wire(station_post_body(station, partner))
    assert json.loads(composed) == station_post_body(station, partner)


def test_a_stations_content_hash_stays_what_it_was():
    # The hash of every pushed station is stored and compared on re-import: another hash for the same
    # station would push every station again after an upgrade.
    station = decode_request(request_example("station_post.rst")).station.to_json()
    assert canonical_sha256(station) == "1e81a1bedabbba98b683b5232237bbf7fbec4e460463557f172b68f2039e0363"


def test_station_encoding_follows_the_spec_example():
    body = request_example("station_post.rst")
    station = decode_request(body).station
    data = station.to_json()
    assert data["contact"]["web"] == "www.example.com" and "website" not in data["contact"]
    assert isinstance(data["address"]["street-number"], str)
    assert isinstance(data["latitude"], float) and isinstance(data["connectors"][0]["speed"], float)


def test_website_is_accepted_on_input_and_sent_as_web():
    body = request_example("station_post.rst")
    contact = body["station-post"]["station"]["contact"]
    contact["website"] = contact.pop("web")
    assert encode(decode_request(body))["station-post"]["station"]["contact"]["web"] == "www.example.com"


def test_empty_optional_fields_are_left_out():
    body = request_example("station_post.rst")
    station = body["station-post"]["station"]
    station.update({"description": "", "notes": "  ", "open-hour-notes": []})
    station["contact"]["fax"] = ""
    for key in ("is-reservable", "floor-level", "total-parking"):
        del station[key]
    out = encode(decode_request(body))["station-post"]["station"]
    for key in ("description", "notes", "open-hour-notes", "is-reservable", "floor-level", "total-parking"):
        assert key not in out
    assert "fax" not in out["contact"]
    assert out["deleted"] is True


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("address", "street-number"), 123, "station.address.street-number"),
        (("latitude",), "52.1", "station.latitude"),
        (("latitude",), 91.0, "station.latitude"),
        (("is-open-24",), "no", "station.is-open-24"),
        (("cpo-id",), "DE-8PS", "station.cpo-id"),
    ],
)
def test_mistyped_fields_are_refused_and_named(path, value, field):
    body = request_example("station_post.rst")
    target = body["station-post"]["station"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as caught:
        decode_request(body)
    assert field in describe_validation_error(caught.value)


def test_connector_rules():
    body = request_example("station_post.rst")
    connectors = body["station-post"]["station"]["connectors"]
    connectors[0]["name"] = "Type7"
    with pytest.raises(ValidationError):
        decode_request(body)
    connectors[0]["name"] = "Type2"
    connectors[0]["id"] = connectors[1]["id"]  # same EVSE id and same type twice
    with pytest.raises(ValidationError, match="listed twice"):
        decode_request(body)
    connectors[0]["name"] = "Schuko"  # one EVSE, two socket types: allowed
    assert len(decode_request(body).station.connectors) == 2
    connectors[0]["id"] = "+49*8PS*E123456"  # DIN ids are never sent
    with pytest.raises(ValidationError):
        decode_request(body)


def test_nineteen_connector_types():
    assert len(ConnectorType) == 19


def test_unknown_message_type():
    with pytest.raises(ValueError, match="unknown message type"):
        decode_request({"station-get": {}})
    assert isinstance(decode_request(with_valid_partner(request_example("station_post.rst"))), StationPost)


def _station_body() -> dict:
    return with_valid_partner(request_example("station_post.rst"))


def _refusal(body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        decode_request(body)
    return describe_validation_error(caught.value)


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda s: s["address"].update(country="XX"), "station.address.country", "ISO 3166-1 alpha-2"),
        (lambda s: s.update({"cpo-id": "DE*ABC"}), "station.connectors", "cpo-id 'DE*ABC'"),
        (lambda s: s["connectors"][0].update(id="QQ*8PS*E1"), "station.connectors.0.id", "ISO 3166-1 alpha-2"),
        (lambda s: s["open-hour-notes"][1].update(times=["09:00", "24:59"]), "station.open-hour-notes.1.times",
         "'24:59'"),
        (lambda s: s.update({"is-open-24": True}), "station.open-hour-notes", "is-open-24 is true"),
        (lambda s: s.update(notes="n" * 1001), "station.notes", "at most 1000 characters"),
        (lambda s: s["contact"].update(phone=""), "station.contact.phone", "at least 1 character"),
    ],
)
def test_wire_rules_are_refused_and_named(change, field, words):
    body = _station_body()
    change(body["station-post"]["station"])
    message = _refusal(body)
    assert message.startswith(field + ":") or f"; {field}:" in message, message
    assert words in message


def test_wire_rules_accept_their_edges():
    body = _station_body()
    station = body["station-post"]["station"]
    station["open-hour-notes"][0]["times"] = ["00:00", "24:00"]
    station["address"]["street-number"] = ""  # a square has no number
    station["cpo-id"] = "de*8ps"  # compared without case
    station["notes"] = "n" * 1000
    assert decode_request(body).station.notes == "n" * 1000
    station.update({"is-open-24": True, "open-hour-notes": []})
    assert decode_request(body).station.open_hour_notes is None
