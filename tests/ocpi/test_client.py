"""The pull client against the real OCPI sandbox process on loopback: versions, details, pages, tokens, failures."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from oioi_onboard.errors import EndpointError
from oioi_onboard.ocpi import errors
from oioi_onboard.ocpi.client import OcpiClient
from oioi_onboard.ocpi.models import location_from_211
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import free_port

LOCATIONS, PAGE = 45, 10  # five pages, the last one short


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    """The OCPI sandbox with 45 Locations, at most 10 a page, speaking 2.2.1 and 2.1.1."""
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=LOCATIONS, page_limit=PAGE,
                              versions=("2.1.1", "2.2.1")) as process:
        yield process


@pytest.fixture(autouse=True)
def _no_faults(back_end):
    yield
    back_end.faults(latency_ms=0, fail_next=0, status_code=1000, html_from_page=0, plain_only=False)


def _client(back_end, **options) -> OcpiClient:
    client = OcpiClient(back_end.versions_url, back_end.token, **options)
    client.sleeps = []
    client.sleep = client.sleeps.append  # the waits are recorded, not slept
    return client


def _requests_since(back_end, before: int) -> list[dict]:
    return back_end.requests()[before:]


def test_a_full_pull_takes_2_2_1_and_follows_every_next_link(back_end):
    before = len(back_end.requests())
    with _client(back_end) as client:
        pulled = client.pull_locations()
    assert (pulled.version, pulled.endpoint) == ("2.2.1", back_end.base_url + "/ocpi/2.2.1/locations")
    assert (len(pulled.locations), pulled.pages, pulled.total_count, pulled.limit) == (LOCATIONS, 5, LOCATIONS, PAGE)
    assert [loc["id"] for loc in pulled.locations] == [f"LOC{i:05d}" for i in range(1, LOCATIONS + 1)]
    assert pulled.warnings == [] and client.token_plain is False

    seen = _requests_since(back_end, before)
    assert [r["path"] for r in seen] == ["/ocpi/versions", "/ocpi/2.2.1"] + ["/ocpi/2.2.1/locations"] * 5
    assert [r["query"] for r in seen[2:]] == [""] + [f"offset={n}&limit={PAGE}" for n in (10, 20, 30, 40)]
    assert {r["encoding"] for r in seen} == {"base64"}
    assert len({r["request_id"] for r in seen}) == len(seen)  # one X-Request-ID per request
    assert {r["correlation_id"] for r in seen} == {pulled.correlation_id}  # one X-Correlation-ID for the pull


def test_the_server_caps_the_limit_asked_and_date_from_is_repeated_by_the_links(back_end):
    since = datetime(2026, 1, 5, 8, 20, tzinfo=UTC)  # Locations 20..45 were last updated then or later
    before = len(back_end.requests())
    with _client(back_end, page_limit=100) as client:
        pulled = client.pull_locations(date_from=since)
    assert [loc["id"] for loc in pulled.locations] == [f"LOC{i:05d}" for i in range(20, LOCATIONS + 1)]
    assert (pulled.pages, pulled.limit) == (3, PAGE)
    queries = [r["query"] for r in _requests_since(back_end, before)[2:]]
    assert queries[0] == "date_from=2026-01-05T08%3A20%3A00Z&limit=100"
    assert all("date_from=2026-01-05T08%3A20%3A00Z" in q and f"limit={PAGE}" in q for q in queries[1:])


def test_an_incremental_pull_brings_only_what_changed_since(back_end):
    started = datetime.now(UTC) - timedelta(seconds=1)
    changes = back_end.changes(3)
    with _client(back_end) as client:
        pulled = client.pull_locations(date_from=started)
    assert {loc["id"] for loc in pulled.locations} == {change["location_id"] for change in changes}
    newest = {change["location_id"]: change for change in changes}
    for location in pulled.locations:
        change = newest[location["id"]]
        evse = next(e for e in location["evses"] if e["uid"] == change["evse_uid"])
        assert evse["status"] == change["status"]
        assert evse["last_updated"] == location["last_updated"] == change["last_updated"]  # the child bumps it


def test_a_peer_that_takes_the_token_only_plain_is_asked_again_once_and_that_is_reported(back_end):
    back_end.faults(plain_only=True)
    before = len(back_end.requests())
    with _client(back_end) as client:
        pulled = client.pull_locations()
        assert client.token_plain is True
    assert len(pulled.locations) == LOCATIONS
    assert [r["encoding"] for r in _requests_since(back_end, before)] == ["base64"] + ["plain"] * 7

    before = len(back_end.requests())
    with _client(back_end, token_plain=True) as client:  # remembered: no 401 first
        client.pull_locations()
    assert {r["encoding"] for r in _requests_since(back_end, before)} == {"plain"}


def test_a_token_refused_both_ways_is_unauthorized_naming_the_url(back_end):
    with OcpiClient(back_end.versions_url, "not-the-token") as client, \
            pytest.raises(errors.Unauthorized) as refused:
        client.pull_locations()
    assert isinstance(refused.value, EndpointError)
    assert str(refused.value).startswith(f"{back_end.versions_url} refused the OCPI token (HTTP 401), "
                                         "sent Base64-encoded and plain")
    assert client.requests == 2 and "not-the-token" not in str(refused.value) + repr(client)


def test_a_status_code_other_than_1000_is_an_error_carrying_its_message(back_end):
    back_end.faults(status_code=3001)
    with _client(back_end) as client, pytest.raises(errors.StatusCodeError) as failed:
        client.pull_locations()
    assert failed.value.ocpi_status == 3001
    assert str(failed.value) == (f"{back_end.base_url}/ocpi/2.2.1/locations answered OCPI status_code 3001: "
                                 "the back end cannot list Locations now (status 3001)")


def test_a_page_that_is_not_json_is_named(back_end):
    back_end.faults(html_from_page=3)
    with _client(back_end) as client, pytest.raises(errors.NotJson) as failed:
        client.pull_locations()
    message = str(failed.value)
    assert message.startswith(f"{back_end.base_url}/ocpi/2.2.1/locations?offset=20&limit={PAGE} did not answer "
                               "JSON (text/html; charset=utf-8, HTTP 200): '<html><body><h1>502 Bad Gateway")


def test_503_with_retry_after_is_waited_out(back_end):
    back_end.faults(fail_next=2, retry_after=2)
    with _client(back_end) as client:
        pulled = client.pull_locations()
    assert len(pulled.locations) == LOCATIONS
    assert len(client.sleeps) == 2 and all(wait >= 2 for wait in client.sleeps)


def test_a_retry_after_longer_than_the_backoff_cap_is_not_waited_for(back_end):
    back_end.faults(fail_next=1, retry_after=120)
    with _client(back_end, backoff_max=30) as client, pytest.raises(errors.HTTPStatusError) as failed:
        client.pull_locations()
    assert failed.value.status_code == 503 and client.sleeps == []
    assert "asks to wait 120 s, longer than 30 s: try again later" in str(failed.value)


def test_a_slow_endpoint_times_out_after_the_retries(back_end):
    back_end.faults(latency_ms=2000)
    with _client(back_end, timeout=0.3, max_retries=2) as client, pytest.raises(errors.TimedOut) as failed:
        client.pull_locations()
    assert str(failed.value) == f"{back_end.versions_url} did not answer within 0.3 s"
    assert len(client.sleeps) == 2


def test_an_unreachable_endpoint_is_named():
    url = f"http://127.0.0.1:{free_port()}/ocpi/versions"
    client = OcpiClient(url, "some-token", max_retries=1)
    client.sleep = lambda seconds: None
    with client, pytest.raises(errors.Unreachable) as failed:
        client.pull_locations()
    assert str(failed.value).startswith(f"{url} cannot be reached: ")
    assert client.requests == 2


def test_a_total_count_that_changes_during_the_pull_is_warned_about(back_end):
    """A Location changed while the pages are read enters the date_from window: X-Total-Count grows."""
    # OCPI stamps whole seconds: start the window on a fresh second, so earlier tests' changes stay outside it
    now = datetime.now(UTC)
    since = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((since - now).total_seconds())
    in_window = {change["location_id"] for change in back_end.changes(12)}
    with _client(back_end, page_limit=5, transport=_ChangeAfterFirstPage(back_end, in_window)) as client:
        pulled = client.pull_locations(date_from=since)
    warnings = [w for w in pulled.warnings if w.startswith("X-Total-Count changed from")]
    assert len(warnings) == 1 and "(page 2): Locations were added meanwhile" in warnings[0], pulled.warnings
    assert pulled.total_count == len(in_window) + 1


class _ChangeAfterFirstPage(httpx.HTTPTransport):
    """Real HTTP; after the first page of the list the back end changes a Location that was not in the window."""

    def __init__(self, back_end, in_window: set[str]):
        super().__init__()
        self.back_end, self.in_window, self.pages = back_end, in_window, 0

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.url.path.endswith("/locations"):
            self.pages += 1
            while self.pages == 1:
                [change] = self.back_end.changes(1)
                if change["location_id"] not in self.in_window:
                    break
        return response


def test_the_url_of_one_version_is_read_as_its_details(back_end):
    with _client(back_end) as client:
        client.versions_url = back_end.base_url + "/ocpi/2.1.1"
        version, endpoint = client.locations_endpoint()
    assert (version, endpoint) == ("2.1.1", back_end.base_url + "/ocpi/2.1.1/locations")


@pytest.mark.slow  # a back end process of its own
def test_a_peer_that_speaks_only_2_1_1_is_pulled_in_2_1_1_and_read_in_2_2_1s_shape(tmp_path):
    with running_ocpi_sandbox(tmp_path, locations=12, page_limit=5, versions=("2.1.1",)) as old:
        with _client(old) as client:
            pulled = client.pull_locations()
    assert (pulled.version, pulled.pages, len(pulled.locations)) == ("2.1.1", 3, 12)
    first = pulled.locations[0]
    assert "country_code" not in first and "voltage" in first["evses"][0]["connectors"][0]
    upgraded = location_from_211(first, country_code="BE", party_id="OCS")
    old_connector, connector = first["evses"][0]["connectors"][0], upgraded["evses"][0]["connectors"][0]
    assert (upgraded["country_code"], upgraded["party_id"], upgraded["publish"]) == ("BE", "OCS", True)
    assert (connector["max_voltage"], connector["max_amperage"]) == (old_connector["voltage"],
                                                                     old_connector["amperage"])
    assert "voltage" not in connector and "amperage" not in connector
