"""The OCPI sandbox: its demo network, its Sender interface over real HTTP (the command's process), and its
status PATCHes sent to a tiny receiver of our own on loopback."""

import asyncio
import base64
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from oioi_onboard.ocpi.mapping import map_locations
from oioi_onboard.ocpi.models import Location
from oioi_onboard.ocpi.sandbox import Network, send_status_patches
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.sandbox import free_port

# --------------------------------------------------------------------------- the demo network


def test_the_network_is_the_same_for_a_seed_and_valid_ocpi():
    first, again, other = Network(size=40), Network(size=40), Network(size=40, seed=2)
    assert first.locations == again.locations and first.locations != other.locations
    for raw in first.locations:
        Location.model_validate(raw)  # every Location is valid OCPI 2.2.1
    assert [loc["id"] for loc in first.locations if not loc["publish"]] == ["LOC00004"]
    evses = [evse for loc in first.locations for evse in loc["evses"]]
    standards = {c["standard"] for evse in evses for c in evse["connectors"]}
    assert {"IEC_62196_T2", "IEC_62196_T2_COMBO", "CHADEMO", "DOMESTIC_F", "IEC_62196_T1"} <= standards
    assert sum(evse["status"] == "PLANNED" for evse in evses) == 5  # Locations 7, 14, 21, 28, 35
    assert all(evse["evse_id"].startswith("BE*OCS*E") for evse in evses)
    assert {loc["country"] for loc in first.locations} == {"BEL"}
    assert {loc["country"] for loc in Network(size=5, country="NL").locations} == {"NLD"}


def test_the_network_maps_onto_stations_with_only_the_warnings_it_is_made_with():
    network = Network(size=40)
    frame, issues, summary = map_locations(enumerate(network.locations, start=1))
    assert set(issues["rule"]) == {"ocpi_not_published", "ocpi_evse_not_pushed"}
    assert frame["station_id"].nunique() == 39 and summary[0].startswith("read as OCPI 2.2.1 Locations")


def test_a_change_bumps_the_evse_and_its_location_and_a_removal_takes_the_newest():
    network = Network(size=10)
    change = network.change()
    location = network.location(change.location_id)
    evse = next(e for e in location["evses"] if e["uid"] == change.evse_uid)
    assert evse["status"] == change.status and evse["last_updated"] == location["last_updated"] == change.last_updated
    renamed = network.change(static=True)
    assert renamed.static and "(" in network.location(renamed.location_id)["name"]
    assert network.remove(2) == ["LOC00009", "LOC00010"] and len(network) == 8
    assert network.location("LOC00010") is None


# --------------------------------------------------------------------------- the Sender interface


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=25, page_limit=10) as process:
        yield process


def _get(back_end, path: str, token: str | None = None, **params) -> httpx.Response:
    token = back_end.token if token is None else token
    headers = {"Authorization": "Token " + base64.b64encode(token.encode()).decode()} if token else {}
    return httpx.get(back_end.base_url + path, params=params, headers=headers, timeout=10)


def test_the_list_pages_with_offset_limit_and_links_that_repeat_the_filters(back_end):
    answer = _get(back_end, "/ocpi/2.2.1/locations", limit=4, date_from="2026-01-05T08:05:00Z",
                  date_to="2026-01-05T08:15:00Z")
    body = answer.json()
    assert body["status_code"] == 1000 and "timestamp" in body
    assert [loc["id"] for loc in body["data"]] == ["LOC00005", "LOC00006", "LOC00007", "LOC00008"]
    assert (answer.headers["X-Total-Count"], answer.headers["X-Limit"]) == ("10", "10")  # 08:05 <= t < 08:15
    following = answer.links["next"]["url"]
    assert "date_from=2026-01-05T08%3A05%3A00Z" in following and "date_to=2026-01-05T08%3A15%3A00Z" in following
    assert "offset=4" in following and "limit=4" in following
    last = _get(back_end, "/ocpi/2.2.1/locations", limit=4, offset=8, date_from="2026-01-05T08:05:00Z",
                date_to="2026-01-05T08:15:00Z")
    assert [loc["id"] for loc in last.json()["data"]] == ["LOC00013", "LOC00014"] and "Link" not in last.headers

    capped = _get(back_end, "/ocpi/2.2.1/locations", limit=500)
    assert len(capped.json()["data"]) == 10 and capped.headers["X-Limit"] == "10"


def test_bad_parameters_are_2001_and_an_unknown_object_2003(back_end):
    answer = _get(back_end, "/ocpi/2.2.1/locations", date_from="yesterday")
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001
    assert "date_from 'yesterday' is not an RFC 3339 DateTime" in answer.json()["status_message"]
    assert _get(back_end, "/ocpi/2.2.1/locations", offset="-1").json()["status_code"] == 2001
    unknown = _get(back_end, "/ocpi/2.2.1/locations/NOPE")
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2003)


def test_one_location_evse_and_connector_are_served(back_end):
    location = _get(back_end, "/ocpi/2.2.1/locations/LOC00002").json()["data"]
    evse = location["evses"][0]
    assert _get(back_end, f"/ocpi/2.2.1/locations/LOC00002/{evse['uid']}").json()["data"] == evse
    connector = _get(back_end, f"/ocpi/2.2.1/locations/LOC00002/{evse['uid']}/1").json()["data"]
    assert connector == evse["connectors"][0]
    assert _get(back_end, "/ocpi/2.2.1/locations/LOC00002/NOPE").json()["status_code"] == 2003


def test_a_missing_or_wrong_token_is_401(back_end):
    assert _get(back_end, "/ocpi/versions", token="").status_code == 401
    refused = _get(back_end, "/ocpi/2.2.1/locations", token="wrong-token")
    assert refused.status_code == 401 and refused.json()["status_code"] == 2000
    plain = httpx.get(back_end.versions_url, headers={"Authorization": f"Token {back_end.token}"}, timeout=10)
    assert plain.status_code == 200  # both encodings are accepted unless plain_only


def test_faults_are_checked_before_they_change_anything(back_end):
    before = back_end.faults()
    refused = httpx.post(back_end.base_url + "/_sandbox/faults", json={"fail_next": -1}, timeout=10)
    assert refused.status_code == 400 and "fail_next must be a number of 0 or more" in refused.json()["error"]
    refused = httpx.post(back_end.base_url + "/_sandbox/faults", json={"outage": True}, timeout=10)
    assert refused.status_code == 400 and "unknown key(s) 'outage'" in refused.json()["error"]
    assert back_end.faults() == before


# --------------------------------------------------------------------------- status PATCHes to a receiver


@dataclass
class Receiver:
    url: str  # its locations endpoint
    token: str
    patches: list[tuple[str, dict, str]] = field(default_factory=list)  # (path, body, Authorization)
    refuse: bool = False


@contextmanager
def tiny_receiver(token: str):
    """An OCPI Locations receiver of our own on loopback: it records each PATCH and answers 1000."""
    import uvicorn

    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/ocpi/2.2.1/locations", token=token)

    async def patch(request: Request) -> JSONResponse:
        receiver.patches.append((request.url.path, await request.json(), request.headers.get("Authorization", "")))
        if receiver.refuse:
            return JSONResponse({"status_code": 2000, "status_message": "Unauthorized"}, status_code=401)
        return JSONResponse({"status_code": 1000, "timestamp": "2026-12-02T21:00:00Z"})

    path = "/ocpi/2.2.1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}"
    app = Starlette(routes=[Route(path, patch, methods=["PATCH"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the receiver did not start"
        time.sleep(0.02)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_status_patches_go_out_at_the_rate_asked_with_the_token_base64_encoded():
    network = Network(size=10)
    with tiny_receiver("receiver-token-01") as receiver:
        started = time.monotonic()
        stats = asyncio.run(send_status_patches(network, receiver_url=receiver.url, token=receiver.token, rate=100,
                                                count=40, keep_records=True))
        took = time.monotonic() - started
    assert (stats.sent, stats.accepted, stats.refused, stats.failed) == (40, 40, 0, 0)
    assert took >= 39 / 100
    assert {auth for _, _, auth in receiver.patches} == {"Token " + base64.b64encode(b"receiver-token-01").decode()}
    # Each PATCH carries a change the network made, to the URL of its EVSE.
    received = sorted((path, body["status"], body["last_updated"]) for path, body, _ in receiver.patches)
    made = sorted((f"/ocpi/2.2.1/locations/BE/OCS/{change.location_id}/{change.evse_uid}", change.status,
                   change.last_updated) for change, *_ in stats.records)
    assert received == made
    # The network holds what it sent: a pull afterwards sees each EVSE's last status.
    last = {}
    for change, *_ in sorted(stats.records, key=lambda record: record[1]):
        last[(change.location_id, change.evse_uid)] = change.status
    for (location_id, uid), status in last.items():
        assert next(e for e in network.location(location_id)["evses"] if e["uid"] == uid)["status"] == status


def test_refusals_are_counted_and_the_plain_token_sent_when_asked():
    with tiny_receiver("receiver-token-02") as receiver:
        receiver.refuse = True
        stats = asyncio.run(send_status_patches(Network(size=5), receiver_url=receiver.url, token=receiver.token,
                                                rate=200, count=5, plain=True))
    assert (stats.sent, stats.accepted, stats.refused) == (5, 0, 5)
    assert "HTTP 401" in stats.last_problem
    assert {auth for _, _, auth in receiver.patches} == {"Token receiver-token-02"}


def test_the_command_sends_status_patches_to_the_receiver_it_is_given(tmp_path):
    with tiny_receiver("receiver-token-03") as receiver:
        with running_ocpi_sandbox(tmp_path, locations=6, extra=(
                "--patch-to", receiver.url, "--patch-token-env", "RECEIVER_TOKEN", "--patch-rate", "20"),
                env={"RECEIVER_TOKEN": receiver.token}) as back_end:
            deadline = time.monotonic() + 30
            while len(receiver.patches) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "status PATCHes to " + receiver.url in back_end.log()
    assert len(receiver.patches) >= 10
    path, body, authorization = receiver.patches[0]
    assert path.startswith("/ocpi/2.2.1/locations/BE/OCS/LOC0000") and set(body) == {"status", "last_updated"}
    assert authorization == "Token " + base64.b64encode(b"receiver-token-03").decode()
