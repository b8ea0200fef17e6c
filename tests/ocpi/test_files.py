"""Recognising a file of OCPI Locations in each of its shapes, and refusing JSON that holds none."""

import json
from pathlib import Path

import pytest

from oioi_onboard.ocpi.files import LocationsFile, LocationsFileError, read_locations
from oioi_onboard.sheets.reader import RawSheet, SheetError
from oioi_onboard.workflows.imports import read_file

TESTS = Path(__file__).resolve().parents[1]
DATA = TESTS / "data" / "ocpi"


def read(name: str) -> LocationsFile | None:
    return read_locations((DATA / name).read_bytes(), name)


def ids(found: LocationsFile) -> list[tuple[int, str]]:
    return [(position, item["id"]) for position, item in found.locations]


def test_a_list_an_ocpi_response_and_json_lines_hold_the_same_locations():
    network = [(1, "MA-001"), (2, "HD-007"), (3, "LU-042")]
    listed, answered, lines = read("network.json"), read("network_response.json"), read("network.jsonl")
    assert ids(listed) == ids(answered) == ids(lines) == network
    assert listed.notes == ["OCPI Locations: 3 (a list of Locations)"]
    assert answered.notes == ["OCPI Locations: 3 (an OCPI response)"]
    assert lines.notes == ["OCPI Locations: 3 (JSON lines)"]
    assert listed.locations[0][1] == json.loads((DATA / "network.json").read_text(encoding="utf-8"))[0]
    assert (listed.file_name, len(listed.sha256)) == ("network.json", 64)


def test_one_location_and_positions_of_json_lines_are_their_line_numbers():
    [(position, location)] = read("location_example.json").locations
    assert (position, location["id"]) == (1, "LOC1")
    text = "\n".join(json.dumps(item) for item in json.loads((DATA / "network.json").read_text(encoding="utf-8")))
    spaced = ("\ufeff" + text.replace("\n", "\n\n", 1)).encode()  # a byte-order mark and a blank line
    assert ids(read_locations(spaced, "spaced.jsonl")) == [(1, "MA-001"), (3, "HD-007"), (4, "LU-042")]


def test_a_response_with_a_failure_status_carries_its_message():
    with pytest.raises(LocationsFileError) as error:
        read("response_2001.json")
    assert str(error.value) == ("response_2001.json is an OCPI response that reports a failure, status_code 2001: "
                                "Invalid or missing parameters: date_from. It holds no Locations to read.")
    assert isinstance(error.value, SheetError)  # refused like any file that cannot be read


@pytest.mark.parametrize(("data", "words"), [
    (b'[{"station_id": "DE*8PS*S1", "latitude": 49.48}]', "no data rows"),
    (b'{"name": "a table as one object"}', "holds no OCPI Locations"),
    (b"[]", "holds no OCPI Locations"),
    (b'{"data": [], "status_code": 1000, "timestamp": "2024-01-01T00:00:00Z"}', "whose data holds no Locations"),
    (b'{"data": {"version": "2.2.1", "endpoints": []}, "status_code": 1000}', "whose data holds no Locations"),
    (b'{"status_code": "1000", "data": []}', "is not a number"),
])
def test_json_without_locations_is_refused_clearly(data, words):
    with pytest.raises(LocationsFileError) as error:
        read_locations(data, "upload.json")
    assert words in str(error.value) and str(error.value).startswith("upload.json ")


def test_json_lines_of_something_else_or_broken_on_a_later_line():
    with pytest.raises(LocationsFileError, match="no data rows could be read from it, and it holds no OCPI"):
        read("table_rows.jsonl")
    first = json.dumps(json.loads((DATA / "location_example.json").read_text(encoding="utf-8")))
    with pytest.raises(LocationsFileError, match=r"^cut\.jsonl, line 2: not JSON \(Expecting"):
        read_locations((first + '\n{"id": "LOC2", "coordinates": {\n').encode(), "cut.jsonl")


@pytest.mark.parametrize("data", [b"station_id;latitude\nS1;49.4\n", b"", b"PK\x03\x04...", b"[id],name\n1,a\n",
                                  b"\xff\xfe[\x00"])
def test_what_is_not_json_is_left_to_the_spreadsheet_reader(data):
    assert read_locations(data, "stations.csv") is None


def test_the_import_workflow_reads_either_shape():
    locations = read_file((DATA / "network.jsonl").read_bytes(), "network.jsonl")
    assert isinstance(locations, LocationsFile) and len(locations.locations) == 3
    sheet = read_file((TESTS.parent / "sample_data" / "demo_network.csv").read_bytes(), "demo_network.csv")
    assert isinstance(sheet, RawSheet)
    with pytest.raises(SheetError, match="no data rows"):
        read_file((TESTS / "data" / "hostile" / "json_as_csv.csv").read_bytes(), "json_as_csv.csv")


@pytest.mark.parametrize("data", [b"[" * 100_000 + b"]" * 100_000, b'[{"id": "L", "evses": ' + b"[" * 50 + b"]" * 51
                                  + b"}]", b'{"id": "L", "evses": []}\n' + b"[" * 100_000 + b"]" * 100_000])
def test_json_nested_too_deep_is_a_clear_error_never_a_recursion_error(data):
    with pytest.raises(LocationsFileError, match="nests arrays or objects deeper than 32 levels"):
        read_locations(data, "deep.json")
