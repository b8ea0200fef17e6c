"""One model for the wire (issue 12.5): the sandbox refuses what the sheet validator refuses.

Every refusal is a real HTTP request to the ``oioi-onboard sandbox`` process, answered
HTTP 400 with code 230 naming the field (413 for a body over 1 MiB); what the product
itself builds from its files still passes the same models.
"""

import copy
import json
import uuid
from pathlib import Path

import httpx
import pytest

from oioi_onboard.oioi import ids
from oioi_onboard.oioi.messages import TEXT_LIMITS, StationPost, ValidationError, decode_request, encode
from oioi_onboard.oioi.sandbox import MAX_BODY_BYTES
from oioi_onboard.sheets import rules
from oioi_onboard.sheets.canonical import STATION_COLUMNS
from tests.oioi.spec_examples import request_example

ROOT = Path(__file__).resolve().parents[2]
KEY = "wire-key-Zr7q-41mx-0000"
PARTNER = "Wire-partner-Q7n2Lk9dXw"


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    return {"api_keys": (KEY,), "partner_ids": (PARTNER,)}


def station_body(operator: str = "DE*8PS") -> dict:
    """The spec's station-post with ids of its own (the module shares one sandbox)."""
    body = copy.deepcopy(request_example("station_post.rst"))
    payload = body["station-post"]
    payload["partner-identifier"] = PARTNER
    station = payload["station"]
    station.update(id=f"WR-{uuid.uuid4().hex[:10]}", deleted=False, **{"cpo-id": operator})
    for connector in station["connectors"]:
        connector["id"] = f"{operator}*E{uuid.uuid4().hex[:10].upper()}"
    return body


def post(box, body) -> httpx.Response:
    return httpx.post(box.url, json=body, headers={"Authorization": f"key={KEY}"}, timeout=30)


def set_path(station: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for key in parents:
        station = station[int(key)] if isinstance(station, list) else station[key]
    station[int(last) if isinstance(station, list) else last] = value


def assert_refused(box, body, field: str, *words: str) -> str:
    answer = post(box, body)
    assert answer.status_code == 400, answer.text
    result = answer.json()["result"]
    assert result["code"] == 230, result
    assert f"station-post.station.{field}" in result["message"], result["message"]
    for word in words:
        assert word in result["message"], result["message"]
    held = {s["station_id"] for s in box.stations()}
    assert body["station-post"]["station"]["id"] not in held  # nothing of a refused station is kept
    return result["message"]


# --------------------------------------------------------------------------- the refusals, over HTTP


@pytest.mark.parametrize("country", ["XX", "ZZ", "EU"])
def test_a_country_that_is_not_iso_3166_is_refused(sandbox, country):
    body = station_body()
    body["station-post"]["station"]["address"]["country"] = country
    assert_refused(sandbox, body, "address.country", "ISO 3166-1 alpha-2", repr(country))


def test_an_operator_id_and_evse_ids_of_a_country_that_does_not_exist_are_refused(sandbox):
    body = station_body(operator="XX*8PS")
    message = assert_refused(sandbox, body, "cpo-id", "ISO 3166-1 alpha-2")
    assert "station-post.station.connectors.0.id" in message


def test_a_cpo_id_other_than_the_connectors_operator_is_refused(sandbox):
    body = station_body()
    station = body["station-post"]["station"]
    station["connectors"][1]["id"] = f"DE*ABC*E{uuid.uuid4().hex[:8].upper()}"
    assert_refused(sandbox, body, "connectors", "DE*ABC", "cpo-id 'DE*8PS'")


def test_the_operator_is_compared_without_separators_and_case(sandbox):
    body = station_body()
    station = body["station-post"]["station"]
    station["cpo-id"] = "de8ps"
    station["connectors"][0]["id"] = station["connectors"][0]["id"].replace("DE*8PS*", "DE8PS")
    assert post(sandbox, body).json()["result"]["code"] == 0


@pytest.mark.parametrize("times", [["07:30", "24:59"], ["24:30", "23:00"], ["25:00", "26:00"], ["7:30", "19:00"],
                                   ["07:60", "19:00"]])
def test_times_outside_00_00_to_24_00_are_refused(sandbox, times):
    body = station_body()
    body["station-post"]["station"]["open-hour-notes"][0]["times"] = times
    assert_refused(sandbox, body, "open-hour-notes.0.times", "between 00:00 and 24:00")


def test_24_00_ends_a_day(sandbox):
    body = station_body()
    body["station-post"]["station"]["open-hour-notes"][0]["times"] = ["00:00", "24:00"]
    assert post(sandbox, body).json()["result"]["code"] == 0


def test_open_24_hours_with_opening_hours_is_refused(sandbox):
    body = station_body()
    body["station-post"]["station"]["is-open-24"] = True
    assert_refused(sandbox, body, "open-hour-notes", "is-open-24")
    # Open 24 hours without notes (or with an empty list) is what the flag means.
    body["station-post"]["station"]["open-hour-notes"] = []
    assert post(sandbox, body).json()["result"]["code"] == 0


@pytest.mark.parametrize("path, limit", sorted(TEXT_LIMITS.items()))
def test_each_text_over_its_limit_is_refused(sandbox, path, limit):
    body = station_body()
    set_path(body["station-post"]["station"], path, "x" * (limit + 1))
    assert_refused(sandbox, body, path, f"at most {limit} characters")


@pytest.mark.parametrize("path", ["address.street", "address.city", "address.zip", "contact.phone", "name"])
def test_required_texts_may_not_be_empty(sandbox, path):
    body = station_body()
    set_path(body["station-post"]["station"], path, "")
    assert_refused(sandbox, body, path, "at least 1 character")


def test_every_text_at_its_limit_passes(sandbox):
    body = station_body()
    station = body["station-post"]["station"]
    for path, limit in TEXT_LIMITS.items():
        if path != "id":
            set_path(station, path, "ü" * limit)  # characters, not bytes
    station["contact"]["website"] = station["contact"].pop("web")  # the field list's name is read too
    assert post(sandbox, body).json()["result"]["code"] == 0
    held = {s["station_id"]: s for s in sandbox.stations()}[station["id"]]
    assert held["station"]["contact"]["web"] == "ü" * TEXT_LIMITS["contact.web"]  # and kept as web


def test_a_body_over_1_mib_is_413_code_230(sandbox):
    body = station_body()
    body["station-post"]["station"]["notes"] = "x" * (2 * 1024 * 1024)  # 2 MB in a text field
    answer = post(sandbox, body)
    assert answer.status_code == 413
    result = answer.json()["result"]
    assert result["code"] == 230 and "body" in result["message"] and f"{MAX_BODY_BYTES:,}" in result["message"]


def test_a_body_over_1_mib_without_content_length_is_413(sandbox):
    body = station_body()
    body["station-post"]["station"]["notes"] = "y" * (2 * 1024 * 1024)
    big = json.dumps(body).encode("utf-8")

    def chunks():
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    answer = httpx.post(sandbox.url, content=chunks(), timeout=30,
                        headers={"Authorization": f"key={KEY}", "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["result"]["code"] == 230
    assert post(sandbox, station_body()).json()["result"]["code"] == 0  # and the sandbox still answers


def test_the_refusals_are_counted_as_rejected(sandbox):
    before = sandbox.stats()
    body = station_body()
    body["station-post"]["station"]["address"]["country"] = "XX"
    post(sandbox, body)
    after = sandbox.stats()
    assert after["station-post"]["rejected"] == before["station-post"]["rejected"] + 1
    assert after["station-post"]["accepted"] == before["station-post"]["accepted"]


# --------------------------------------------------------------------------- one source for both sides


def test_the_sheet_checks_the_wire_limits():
    column_of = {c.station_field: c.name for c in STATION_COLUMNS}
    wire = {column_of[path]: limit for path, limit in TEXT_LIMITS.items()}
    # Every limit is the wire's, the station id's a little less: its replacement id (-2, -3, ...) must fit too.
    assert rules.TEXT_LIMITS == wire | {"station_id": wire["station_id"] - rules.REPLACEMENT_SUFFIX_ROOM}


def test_oioi_does_not_import_sheets():
    for path in (ROOT / "lib" / "oioi_onboard" / "oioi").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "sheets" not in "".join(line for line in text.splitlines() if line.startswith(("import", "from"))), \
            path.name


@pytest.mark.parametrize("file_name", ["sample_data/demo_network.csv", "tests/data/sheets/irve_v3.csv",
                                       "tests/data/sheets/plugs_yes_no.csv"])
def test_what_the_product_builds_from_its_files_passes_the_wire_rules(file_name):
    from oioi_onboard.sheets.stations import build_stations
    from oioi_onboard.workflows import imports

    path = ROOT / file_name
    raw = imports.read_file(path.read_bytes(), path.name)
    mapped = imports.map_sheet(None, actor=None, cpo_id=None, raw=raw)
    validation = imports.check(None, actor=None, cpo_id=None, frame=mapped.frame, mapping_issues=mapped.issues)
    stations = build_stations(validation.frame, validation.valid_station_ids())
    assert stations
    partner = ids.new_partner_identifier()
    for station in stations:
        body = encode(StationPost(station=station, partner_identifier=partner))
        try:
            assert decode_request(body).station == station  # exactly what the sandbox does with it
        except ValidationError as error:  # pragma: no cover - the message says which station and field
            pytest.fail(f"{station.id}: {error}")
