"""The OIOI client against the real sandbox over HTTP on 127.0.0.1."""

import asyncio
import copy
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from oioi_onboard.oioi import errors, messages
from oioi_onboard.oioi.client import OioiClient, send_many
from oioi_onboard.oioi.retry import parse_retry_after
from oioi_onboard.testing.sandbox import free_port, running_sandbox
from tests.oioi.spec_examples import request_example

SECRET_KEY = "k3y-Zq81-vYt5-secret-77aa"
PARTNER = "Pa7tnerOne-x81Kq02LmZ"
OTHER_PARTNER = "Pa7tnerTwo-c44Jr19XnW"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    """The module's ``sandbox`` (tests/conftest.py) knows this key and two partners; each test uses its own ids."""
    return {"api_keys": (SECRET_KEY,), "partner_ids": (PARTNER, OTHER_PARTNER)}


def unique(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:10].upper()


def station(station_id: str | None = None, *, evse_ids=None, latitude=52.5, longitude=13.4, deleted=False,
            names=("Schuko", "Type2")) -> messages.Station:
    """The spec example's station with fresh ids (and deleted=False unless asked)."""
    data = copy.deepcopy(request_example("station_post.rst")["station-post"]["station"])
    evse_ids = evse_ids or [f"DE*8PS*E{unique()}" for _ in names]
    data.update(id=station_id or unique("ST-"), latitude=latitude, longitude=longitude, deleted=deleted)
    data["connectors"] = [{"id": evse, "name": name, "speed": 11.0} for evse, name in zip(evse_ids, names, strict=True)]
    return messages.Station.model_validate(data)


def client_for(sandbox, **options) -> OioiClient:
    return OioiClient(sandbox.url, SECRET_KEY, **options)


class RecordedSleeps(list):
    """Stands in for asyncio.sleep: records the delays, waits for none."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- success and the receiver's rules -----------------------------------------------------


def test_spec_example_is_accepted(sandbox):
    body = request_example("station_post.rst")
    body["station-post"]["partner-identifier"] = PARTNER
    body["station-post"]["station"]["id"] = unique("SPEC-")

    async def go():
        async with client_for(sandbox) as client:
            return await client.send(body)

    assert run(go()) == {"result": {"code": 0, "message": "Success."}}
    held = {s["station_id"]: s for s in sandbox.stations()}
    assert held[body["station-post"]["station"]["id"]]["station"]["contact"]["web"] == "www.example.com"


def test_post_station_and_status_reach_every_connector_of_the_evse(sandbox):
    evse = f"DE*8PS*E{unique()}"
    # One EVSE with two sockets: both connectors share one status.
    pushed = station(evse_ids=[evse, evse])

    async def go():
        async with client_for(sandbox) as client:
            result = await client.post_station(pushed, PARTNER)
            await client.post_connector_status(evse.replace("*", "").lower(), "Occupied", PARTNER)
            return result

    assert run(go()) == messages.Result(code=0, message="Success.")
    held = next(s for s in sandbox.stations() if s["station_id"] == pushed.id)
    assert [c["status"] for c in held["connectors"]] == ["Occupied", "Occupied"]
    assert all(c["status_time"] for c in held["connectors"])


def test_wrong_api_key_is_210_with_http_401(sandbox):
    async def go():
        async with OioiClient(sandbox.url, "not-the-key-1234", max_retries=3) as client:
            await client.post_station(station(), PARTNER)

    with pytest.raises(errors.InvalidApiKey) as caught:
        run(go())
    assert (caught.value.code, caught.value.status_code) == (210, 401)
    assert not caught.value.retryable


def test_unknown_partner_identifier_is_211(sandbox):
    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(station(), "Unknown-partner-9f8e7d6c")

    with pytest.raises(errors.InvalidPartnerIdentifier) as caught:
        run(go())
    assert caught.value.code == 211


def test_malformed_field_is_230_naming_the_field(sandbox):
    body = messages.encode(messages.StationPost(station=station(), partner_identifier=PARTNER))
    body["station-post"]["station"]["address"]["zip"] = 10243  # a number where a string belongs

    async def go():
        async with client_for(sandbox) as client:
            await client.send(body)

    with pytest.raises(errors.InvalidRequestFormat) as caught:
        run(go())
    assert caught.value.status_code == 400
    assert "station-post.station.address.zip" in str(caught.value)


def test_same_evse_id_at_other_coordinates_is_322(sandbox):
    evse = f"DE*8PS*E{unique()}"

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(station(evse_ids=[evse], names=["Type2"], latitude=50.0), PARTNER)
            await client.post_station(station(evse_ids=[evse], names=["Type2"], latitude=51.0), PARTNER)

    with pytest.raises(errors.EvseOtherCoordinates) as caught:
        run(go())
    assert caught.value.code == 322 and evse in str(caught.value)


def test_changing_the_connectors_of_a_station_is_refused(sandbox):
    first = station()
    changed = station(first.id)  # same station id, new EVSE ids

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(first, PARTNER)
            await client.post_station(changed, PARTNER)

    with pytest.raises(errors.ResultCodeError) as caught:
        run(go())
    assert "may not change" in str(caught.value) and "new station id" in str(caught.value)
    assert not caught.value.retryable


def test_deleted_soft_deletes_and_frees_the_evse_ids(sandbox):
    first = station()
    evse_ids = [c.id for c in first.connectors]

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(first, PARTNER)
            await client.post_station(first.model_copy(update={"deleted": True}), PARTNER)
            with pytest.raises(errors.EvseNotFound):
                await client.post_connector_status(evse_ids[0], "Available", PARTNER)
            # The documented way to change connectors: a new station id, same EVSE ids allowed.
            await client.post_station(station(evse_ids=evse_ids, latitude=10.0), PARTNER)

    run(go())
    held = {s["station_id"]: s for s in sandbox.stations()}
    assert held[first.id]["deleted"] is True and held[first.id]["station"]["deleted"] is True


def test_identical_repeat_is_accepted_and_counted(sandbox):
    pushed = station()
    before = sandbox.stats()["station-post"]

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(pushed, PARTNER)
            await client.post_station(pushed, PARTNER)

    run(go())
    after = sandbox.stats()
    assert after["station-post"]["repeats"] == before["repeats"] + 1
    assert after["station-post"]["accepted"] == before["accepted"] + 2
    assert after["station_accepts"][pushed.id] == 2


def test_unknown_connector_is_181_with_http_404(sandbox):
    async def go():
        async with client_for(sandbox) as client:
            await client.post_connector_status(f"DE*8PS*E{unique()}", messages.ConnectorStatus.AVAILABLE, PARTNER)

    with pytest.raises(errors.EvseNotFound) as caught:
        run(go())
    assert (caught.value.code, caught.value.status_code) == (181, 404)


def test_another_partners_connector_and_station_are_refused(sandbox):
    pushed = station()

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(pushed, PARTNER)
            with pytest.raises(errors.NotAllowed) as status_refused:
                await client.post_connector_status(pushed.connectors[0].id, "Occupied", OTHER_PARTNER)
            with pytest.raises(errors.NotAllowed) as station_refused:
                await client.post_station(pushed, OTHER_PARTNER)
            return status_refused.value, station_refused.value

    status_refused, station_refused = run(go())
    assert (status_refused.code, status_refused.status_code) == (220, 403)
    assert "another partner" in str(station_refused)
    held = next(s for s in sandbox.stations() if s["station_id"] == pushed.id)
    assert held["partner_identifier"] == PARTNER and held["connectors"][0]["status"] is None


def test_partner_identifier_is_checked_before_sending(sandbox):
    before = sandbox.stats()["requests"]["received"]

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(station(), "short")

    with pytest.raises(ValueError, match="at least 16 characters"):
        run(go())
    assert sandbox.stats()["requests"]["received"] == before


def test_unknown_status_is_refused_before_sending(sandbox):
    async def go():
        async with client_for(sandbox) as client:
            await client.post_connector_status("DE*8PS*E1", "Charging", PARTNER)

    with pytest.raises(ValueError, match="Available, Occupied"):
        run(go())


# -- failures, retries and time -----------------------------------------------------------


@pytest.mark.slow  # a sandbox of its own with injected faults or latency
def test_503_is_retried_until_success_honouring_retry_after(tmp_path):
    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), fail_rate=0.5, seed=7) as box:
        sleeps = RecordedSleeps()
        pushed = [station() for _ in range(12)]

        async def go():
            async with client_for(box, max_retries=20, backoff_base=0.01) as client:
                client.sleep = sleeps
                for one in pushed:
                    await client.post_station(one, PARTNER)

        run(go())
        stats = box.stats()
    assert stats["faults"]["failed"] > 0
    assert len(sleeps) == stats["faults"]["failed"]
    # Retry-After: 1 outweighs a backoff of at most 0.01 * 2**n here.
    assert all(delay >= 1.0 for delay in sleeps)
    assert stats["station-post"]["accepted"] == 12 and set(stats["station_accepts"].values()) == {1}


@pytest.mark.slow  # a sandbox of its own with injected faults or latency
def test_503_without_retries_raises_server_error_with_retry_after(tmp_path):
    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), fail_rate=1.0) as box:
        async def go():
            async with client_for(box, max_retries=0) as client:
                await client.post_station(station(), PARTNER)

        with pytest.raises(errors.ServerError) as caught:
            run(go())
    assert (caught.value.status_code, caught.value.retry_after, caught.value.retryable) == (503, 1.0, True)


@pytest.mark.slow  # waits for timeouts
def test_stalled_endpoint_raises_timeout_error(tmp_path):
    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), stall_rate=1.0) as box:
        async def go():
            async with client_for(box, timeout=0.3, max_retries=0) as client:
                await client.post_station(station(), PARTNER)

        with pytest.raises(errors.Timeout) as caught:
            run(go())
        assert caught.value.retryable
        assert box.stats()["faults"]["stalled"] == 1


@pytest.mark.slow  # waits for timeouts
def test_stalls_are_survived_by_retrying_after_the_timeout(tmp_path):
    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), stall_rate=0.5, seed=1) as box:
        sleeps = RecordedSleeps()
        pushed = [station() for _ in range(4)]

        async def go():
            async with client_for(box, timeout=0.3, max_retries=10) as client:
                client.sleep = sleeps
                for one in pushed:
                    await client.post_station(one, PARTNER)

        run(go())
        stats = box.stats()
    assert stats["faults"]["stalled"] == len(sleeps) > 0
    assert stats["station-post"]["accepted"] == 4


def test_a_dropped_connection_is_a_retryable_transport_error():
    """A server that reads the request and hangs up without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        for _ in range(2):
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sleeps = RecordedSleeps()

    async def go():
        async with OioiClient(f"http://127.0.0.1:{port}/api/v4/request", SECRET_KEY, max_retries=1) as client:
            client.sleep = sleeps
            await client.send({"station-post": {}})

    try:
        with pytest.raises(errors.TransportError) as caught:
            run(go())
    finally:
        thread.join(timeout=10)
        listener.close()
    assert caught.value.retryable and len(sleeps) == 1
    assert SECRET_KEY not in str(caught.value)


def test_non_ascii_text_travels_as_utf8(sandbox):
    pushed = station().model_copy(update={"name": "Ladepark Köln-Süd ⚡"})

    async def go():
        async with client_for(sandbox) as client:
            await client.post_station(pushed, PARTNER)

    run(go())
    held = next(s for s in sandbox.stations() if s["station_id"] == pushed.id)
    assert held["station"]["name"] == "Ladepark Köln-Süd ⚡"


def test_connection_refused_is_connect_error_after_retries():
    sleeps = RecordedSleeps()

    async def go():
        async with OioiClient(f"http://127.0.0.1:{free_port()}/api/v4/request", SECRET_KEY,
                              max_retries=2, backoff_base=0.5, backoff_max=0.75) as client:
            client.sleep = sleeps
            await client.post_station(station(), PARTNER)

    with pytest.raises(errors.ConnectError):
        run(go())
    assert len(sleeps) == 2 and all(0 <= delay <= 0.75 for delay in sleeps)


def test_parse_retry_after():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("Fri, 02 Jan 2026 03:04:00 GMT", now=now) == 0.0  # in the past: now
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0


def _answering(status: int, body=None, headers=None, text=None) -> httpx.MockTransport:
    """A fake endpoint (httpx's own transport) for answers the sandbox never gives."""
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "status, body, expected, code",
    [
        (200, {"result": {"code": 0}}, None, None),
        (200, {"result": {"code": 11, "message": "Started"}}, None, None),
        (200, {"connector-post-status": {"success": True}}, None, None),
        (200, {"result": {"code": 100, "message": "System error"}}, errors.ResultCodeError, 100),
        (200, {"result": {"code": 141}}, errors.ResultCodeError, 141),
        (400, None, errors.InvalidRequestFormat, 230),
        (401, None, errors.InvalidApiKey, 210),
        (404, None, errors.EvseNotFound, 181),
        (422, {"connector-post-status": {"success": False}}, errors.ResultCodeError, 200),
        (403, {"result": {"code": 220}}, errors.NotAllowed, 220),
        (418, None, errors.HTTPStatusError, None),
        (200, {"something": "else"}, errors.HTTPStatusError, None),
    ],
)
def test_answers_map_onto_errors(status, body, expected, code):
    connector_body = {"connector-post-status": {"connector-id": "DE*8PS*E1", "status": "Available",
                                                "partner-identifier": PARTNER}}

    async def go():
        async with OioiClient("http://oioi.test/api/v4/request", SECRET_KEY,
                              transport=_answering(status, body)) as client:
            return await client.send(connector_body)

    if expected is None:
        assert run(go()) == body
        return
    with pytest.raises(expected) as caught:
        run(go())
    assert type(caught.value) is expected
    if code is not None:
        assert caught.value.code == code
        assert caught.value.general_code == code // 100 * 100
    if code == 200:
        assert "ambiguous" in str(caught.value)


def test_retry_after_is_waited_out_never_cut_short_and_4xx_never_retried():
    sleeps = RecordedSleeps()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "5"})
        if len(calls) == 2:
            return httpx.Response(503, headers={"Retry-After": "7"})
        return httpx.Response(400, json={"result": {"code": 230, "message": "station.id: missing"}})

    async def go():
        async with OioiClient("http://oioi.test/api/v4/request", SECRET_KEY, max_retries=5, backoff_max=7.5,
                              transport=httpx.MockTransport(handler)) as client:
            client.sleep = sleeps
            await client.send({"station-post": {}})

    with pytest.raises(errors.InvalidRequestFormat, match="station.id: missing"):
        run(go())
    assert sleeps == [5.0, 7.0] and len(calls) == 3
    assert calls[0].headers["authorization"] == f"key={SECRET_KEY}"
    assert calls[0].headers["content-type"] == "application/json"


def test_a_retry_after_longer_than_backoff_max_is_raised_for_the_caller_to_schedule():
    """Sending sooner than asked would only be refused again; the outbox waits it out (up to an hour)."""
    sleeps = RecordedSleeps()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "120"})

    async def go():
        async with OioiClient("http://oioi.test/api/v4/request", SECRET_KEY, max_retries=5, backoff_max=7.5,
                              transport=httpx.MockTransport(handler)) as client:
            client.sleep = sleeps
            await client.send({"station-post": {}})

    with pytest.raises(errors.ServerError) as caught:
        run(go())
    assert caught.value.retry_after == 120.0 and caught.value.retryable
    assert sleeps == [] and len(calls) == 1


@pytest.mark.parametrize("status, expected", [(429, errors.Throttled), (408, errors.RetryLater),
                                              (425, errors.RetryLater), (502, errors.ServerError)])
def test_throttling_and_try_later_answers_are_retryable_with_retry_after(status, expected):
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)

    async def go():
        async with OioiClient("http://oioi.test/api/v4/request", SECRET_KEY, max_retries=0,
                              transport=_answering(status, None, headers={"Retry-After": when})) as client:
            await client.send({"station-post": {}})

    with pytest.raises(expected) as caught:
        run(go())
    assert type(caught.value) is expected and caught.value.retryable
    assert 85 <= caught.value.retry_after <= 90


def test_a_refusal_keeps_its_retry_after_and_says_whether_it_is_the_set_up():
    async def go(status, body):
        async with OioiClient("http://oioi.test/api/v4/request", SECRET_KEY, max_retries=0,
                              transport=_answering(status, body, headers={"Retry-After": "30"})) as client:
            await client.send({"station-post": {}})

    for status, body, setup in [(400, {"result": {"code": 211}}, True), (403, {"result": {"code": 220}}, True),
                                (403, None, True), (400, {"result": {"code": 230}}, False)]:
        with pytest.raises(errors.OioiError) as caught:
            run(go(status, body))
        assert caught.value.retry_after == 30.0 and not caught.value.retryable
        assert caught.value.setup_problem is setup, (status, body)


# -- many at once -------------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport and records how many requests are in flight at most."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request):
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self):
        await self.inner.aclose()


@pytest.mark.slow  # a sandbox of its own with injected faults or latency
def test_send_many_bounds_concurrency_and_isolates_failures(tmp_path):
    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), latency_ms=30) as box:
        bodies = [messages.encode(messages.StationPost(station=station(), partner_identifier=PARTNER))
                  for _ in range(20)]
        bodies[5]["station-post"]["partner-identifier"] = "Unknown-partner-9f8e7d6c"
        transport = CountingTransport()
        seen = {}

        async def go():
            async with client_for(box, transport=transport) as client:
                return await send_many(client, bodies, concurrency=4,
                                       on_result=lambda index, outcome: seen.setdefault(index, outcome))

        results = run(go())
        accepted = box.stats()["station-post"]["accepted"]
    assert transport.max_in_flight == 4
    assert isinstance(results[5], errors.InvalidPartnerIdentifier)
    assert all(r == {"result": {"code": 0, "message": "Success."}} for i, r in enumerate(results) if i != 5)
    assert accepted == 19
    assert sorted(seen) == list(range(20)) and seen[5] is results[5]


@pytest.mark.slow  # a sandbox of its own with injected faults or latency
def test_the_client_never_has_more_than_max_connections_in_flight(tmp_path):
    from tests.helpers.faulty_front import faulty_front

    with running_sandbox(tmp_path, api_keys=(SECRET_KEY,), partner_ids=(PARTNER,), latency_ms=20) as box, \
            faulty_front(box.url) as front:
        bodies = [messages.encode(messages.StationPost(station=station(), partner_identifier=PARTNER))
                  for _ in range(24)]

        async def go():
            async with OioiClient(front.url, SECRET_KEY, max_retries=0, max_connections=6) as client:
                return await send_many(client, bodies, concurrency=24)

        results = run(go())
    assert all(isinstance(r, dict) for r in results)
    assert front.max_in_flight == 6  # one request per HTTP/1.1 connection at a time: at most 6 connections


def test_send_many_with_nothing_to_send(sandbox):
    async def go():
        async with client_for(sandbox) as client:
            return await send_many(client, [])

    assert run(go()) == []


# -- the API key stays secret -------------------------------------------------------------


@pytest.mark.slow  # ~2-4 s of retries against the sandbox
def test_api_key_never_appears_in_repr_errors_or_logs(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "oioi_onboard"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    raised = []

    async def collect(client, coro):
        try:
            await coro
        except (errors.OioiError, ValueError) as error:
            raised.append(error)

    async def go():
        async with client_for(sandbox, max_retries=1) as client:
            assert SECRET_KEY not in repr(client) and client.api_key_hint == "…77aa"
            await client.post_station(station(), PARTNER)
            await collect(client, client.post_station(station(), "Unknown-partner-9f8e7d6c"))
            await collect(client, client.send({"station-post": {"station": {}}}))
            await collect(client, client.post_connector_status(f"DE*8PS*E{unique()}", "Occupied", PARTNER))
            await collect(client, client.post_station(station(), "short"))
        async with OioiClient(sandbox.url, SECRET_KEY[::-1]) as wrong:
            await collect(wrong, wrong.send({"station-post": {}}))
        async with OioiClient(f"http://127.0.0.1:{free_port()}/x", SECRET_KEY, max_retries=1) as refused:
            refused.sleep = RecordedSleeps()
            await collect(refused, refused.send({"station-post": {}}))

    run(go())
    assert len(raised) == 6
    texts = [str(e) for e in raised] + [repr(e) for e in raised] + [repr(e.args) for e in raised]
    assert not [t for t in texts if SECRET_KEY in t or SECRET_KEY[::-1] in t]
    # The logs were on, and looked at: the client's own retry line names the endpoint and the failure.
    assert any(r.name == "oioi_onboard.oioi.client" and "retry 1 of 1" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert SECRET_KEY not in logged and SECRET_KEY[::-1] not in logged
