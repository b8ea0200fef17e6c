"""The OCPI receiver's Locations endpoint over real HTTP: what a CSMS pushes is kept, forwarded and refused."""

import logging

import pytest

from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATION_POST
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Connector, OcpiLocation, Outbox, OutboxState, Station, StatusEvent
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.testing.store import make_cpo, new_import, store_status_station
from oioi_onboard.workflows import received_locations
from tests.helpers.ocpi import auth, endpoint_acknowledges, example, registered, rows_of

LOC1 = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
EVSE_1, EVSE_2 = "BE*BEC*E041503001", "BE*BEC*E041503002"  # EVSEs 3256 and 3257 of the official example


def put_example(relay, token_c):
    return relay.put(LOC1, json=example("location_example.json"), headers=auth(token_c))


@pytest.fixture
def pushed(relay, token_c, gent):
    """The official example Location pushed and its station acknowledged by the endpoint."""
    assert put_example(relay, token_c).json()["status_code"] == 1000
    assert endpoint_acknowledges(gent) == 1
    return token_c


def test_the_official_example_location_is_kept_stored_as_a_station_and_queued(relay, token_c, gent):
    answer = put_example(relay, token_c)
    assert answer.status_code == 201 and answer.json()["status_code"] == 1000, answer.text

    # GET answers what we hold, at every level.
    held = relay.get(LOC1, headers=auth(token_c)).json()
    assert held["status_code"] == 1000 and held["data"] == example("location_example.json")
    assert relay.get(LOC1 + "/3257", headers=auth(token_c)).json()["data"]["evse_id"] == EVSE_2
    assert relay.get(LOC1 + "/3256/2", headers=auth(token_c)).json()["data"]["format"] == "SOCKET"

    # One station in the OIOI shape, its station-post queued, its EVSE statuses held until it is acknowledged.
    [station] = rows_of(Station, cpo_id=gent)
    assert (station.station_id, station.name, station.city, station.payload["address"]["zip"]) == (
        "BE*BEC*LOC1", "Gent Zuid", "Gent", "9000")
    assert sorted((c.evse_id, c.name, c.speed) for c in rows_of(Connector, cpo_id=gent)) == [
        (EVSE_1, "Type2", 10.56), (EVSE_2, "Type2", 10.56)]
    [post] = rows_of(Outbox, kind=STATION_POST)
    assert (post.key, post.change, post.state) == ("BE*BEC*LOC1", "new", OutboxState.PENDING)
    assert sorted((e.evse_id, e.status, e.source, e.delivery) for e in rows_of(StatusEvent)) == [
        (EVSE_1, "Available", "ocpi", "held"), (EVSE_2, "Reserved", "ocpi", "held")]

    # The same Location again: kept (200, not 201), nothing new to send.
    again = put_example(relay, token_c)
    assert again.status_code == 200 and again.json()["status_code"] == 1000
    assert len(rows_of(Outbox, kind=STATION_POST)) == 1 and len(rows_of(StatusEvent)) == 2


def test_an_evse_status_patch_reaches_the_outbox_as_connector_post_status(relay, pushed, gent):
    answer = relay.patch(LOC1 + "/3256", json=example("location_patch_example_status.json"), headers=auth(pushed))
    assert answer.status_code == 200 and answer.json() == {"status_code": 1000,
                                                           "timestamp": answer.json()["timestamp"]}

    [status] = rows_of(Outbox, kind=CONNECTOR_POST_STATUS, key="BEBECE041503001")
    assert status.state == OutboxState.PENDING
    assert status.payload[CONNECTOR_POST_STATUS]["connector-id"] == EVSE_1
    assert status.payload[CONNECTOR_POST_STATUS]["status"] == "Occupied"  # CHARGING
    [event] = rows_of(StatusEvent, evse_id=EVSE_1, status="Occupied")
    assert (event.source, event.delivery) == ("ocpi", "pending")
    assert {c.status for c in rows_of(Connector, evse_id=EVSE_1)} == {"Occupied"}

    # The EVSE holds the new status, and the Location the EVSE's newer last_updated.
    evse = relay.get(LOC1 + "/3256", headers=auth(pushed)).json()["data"]
    assert (evse["status"], evse["last_updated"]) == ("CHARGING", "2019-06-24T12:39:09Z")
    assert relay.get(LOC1, headers=auth(pushed)).json()["data"]["last_updated"] == "2019-06-24T12:39:09Z"
    assert len(rows_of(Outbox, kind=STATION_POST)) == 1  # a status is no station change


def test_a_patch_older_than_what_is_held_changes_nothing(relay, pushed):
    before = relay.get(LOC1, headers=auth(pushed)).json()["data"]
    events, requests = len(rows_of(StatusEvent)), len(rows_of(Outbox))
    stale = relay.patch(LOC1 + "/3256", json={"status": "OUTOFORDER", "last_updated": "2015-01-01T00:00:00Z"},
                        headers=auth(pushed))
    assert stale.json()["status_code"] == 1000
    assert "older than that of the EVSE held here (2015-06-28T08:12:01Z): nothing changed" in \
        stale.json()["status_message"]
    renamed = relay.patch(LOC1, json={"name": "Old name", "last_updated": "2014-01-01T00:00:00Z"},
                          headers=auth(pushed))
    assert "nothing changed" in renamed.json()["status_message"]
    older_put = dict(example("location_example.json"), name="Older", last_updated="2015-01-01T00:00:00Z")
    assert "nothing changed" in relay.put(LOC1, json=older_put, headers=auth(pushed)).json()["status_message"]
    assert relay.get(LOC1, headers=auth(pushed)).json()["data"] == before
    assert (len(rows_of(StatusEvent)), len(rows_of(Outbox))) == (events, requests)


def test_a_location_change_is_a_one_station_import_pushed_as_a_change(relay, pushed, gent):
    with session_scope() as session:  # another station of the CPO, from a full upload: the import leaves it be
        store_status_station(session, gent, 1, acked=True)
        new_import(session, gent)
    events = len(rows_of(StatusEvent))
    answer = relay.patch(LOC1, json=example("location_patch_example_location.json"), headers=auth(pushed))
    assert answer.json()["status_code"] == 1000, answer.text
    station = {s.station_id: s for s in rows_of(Station, cpo_id=gent)}["BE*BEC*LOC1"]
    assert station.name == "Interparking Gent Zuid"
    changed = [row for row in rows_of(Outbox, kind=STATION_POST) if row.state == OutboxState.PENDING]
    assert [(row.key, row.change) for row in changed] == [("BE*BEC*LOC1", "changed")]
    assert changed[0].payload[STATION_POST]["station"]["name"] == "Interparking Gent Zuid"
    assert len(rows_of(StatusEvent)) == events  # the statuses did not change
    with session_scope() as session:
        assert plan_push(session, actor=SYSTEM, cpo_id=gent).counts["deleted"] == 0
    assert not any(s.deleted for s in rows_of(Station, cpo_id=gent))


def test_changed_connectors_and_a_removed_location_wait_for_a_confirmation(relay, pushed, gent):
    # EVSE 3257 becomes REMOVED: its connector leaves the station, which OIOI takes only as a replacement.
    removed = relay.patch(LOC1 + "/3257", json={"status": "REMOVED", "last_updated": "2020-01-01T00:00:00Z"},
                          headers=auth(pushed))
    assert removed.json()["status_code"] == 1000
    assert "waits for a confirmation on the push page" in removed.json()["status_message"]
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=gent)
    assert plan.needs_confirmation == {"connectors_changed": 1}
    assert [row.state for row in rows_of(Outbox, kind=STATION_POST)] == [OutboxState.ACKED]  # nothing sent

    # The Location no longer published: the station's deletion is proposed, not sent.
    hidden = relay.patch(LOC1, json={"publish": False, "last_updated": "2020-01-02T00:00:00Z"}, headers=auth(pushed))
    assert "its deletion waits for a confirmation on the push page" in hidden.json()["status_message"]
    assert rows_of(Station, cpo_id=gent)[0].deleted
    with session_scope() as session:
        assert plan_push(session, actor=SYSTEM, cpo_id=gent).needs_confirmation == {"deleted": 1}
    assert [row.state for row in rows_of(Outbox, kind=STATION_POST)] == [OutboxState.ACKED]


def test_an_evse_and_a_connector_are_put_into_the_held_location(relay, pushed, gent):
    evse = {"uid": "3258", "evse_id": "BE*BEC*E041503003", "status": "AVAILABLE",
            "connectors": [{"id": "1", "standard": "CHADEMO", "power_type": "DC", "max_voltage": 500,
                            "max_amperage": 100, "last_updated": "2020-02-01T00:00:00Z"}],
            "last_updated": "2020-02-01T00:00:00Z"}
    added = relay.put(LOC1 + "/3258", json=evse, headers=auth(pushed))
    assert added.status_code == 201 and added.json()["status_code"] == 1000
    location = relay.get(LOC1, headers=auth(pushed)).json()["data"]
    assert [e["uid"] for e in location["evses"]] == ["3256", "3257", "3258"]
    assert location["last_updated"] == "2020-02-01T00:00:00Z"
    # A new EVSE is a connector change of a pushed station: a replacement, confirmed on the push page.
    assert "waits for a confirmation" in added.json()["status_message"]

    connector = dict(evse["connectors"][0], id="2", standard="IEC_62196_T2_COMBO", last_updated="2020-02-02T00:00:00Z")
    assert relay.put(LOC1 + "/3258/2", json=connector, headers=auth(pushed)).status_code == 201
    replaced = relay.put(LOC1 + "/3258/2", json=dict(connector, max_amperage=125), headers=auth(pushed))
    assert replaced.status_code == 200 and replaced.json()["status_code"] == 1000
    held = relay.get(LOC1 + "/3258", headers=auth(pushed)).json()["data"]
    assert [c["id"] for c in held["connectors"]] == ["1", "2"] and held["last_updated"] == "2020-02-02T00:00:00Z"


@pytest.mark.parametrize("plain", [False, True], ids=["base64", "plain"])
def test_both_token_encodings_are_accepted(relay, token_c, plain):
    assert put_example(relay, token_c).status_code == 201
    answer = relay.get(LOC1 + "/3256", headers=auth(token_c, plain=plain))
    assert answer.status_code == 200 and answer.json()["data"]["uid"] == "3256"


def test_a_missing_or_unknown_token_is_401_and_so_is_the_registration_token(relay, token_c, gent):
    body = example("location_example.json")
    with session_scope() as session:
        from oioi_onboard.ocpi.credentials import create_registration_token

        token_a = create_registration_token(session, actor=SYSTEM, cpo_id=gent)
    for headers in ({}, {"Authorization": f"Bearer {token_c}"}, auth(token_c + "x"), auth("nobody"), auth(token_a)):
        answer = relay.put(LOC1, json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["status_code"] == 2000 and "Authorization: Token" in answer.json()["status_message"]
    assert rows_of(OcpiLocation) == []


def test_a_party_the_token_did_not_register_is_refused(relay, token_c, db):
    with db() as session:  # NL*TNM is another CPO's, with a back end of its own
        other = make_cpo(session, name="Other CPO", operator_ids="NL*TNM")
        other_token = registered(session, other.id, parties=(("NL", "TNM"),))
    body = dict(example("location_example.json"), country_code="NL", party_id="TNM")
    for url, token in (("/ocpi/2.2.1/locations/NL/TNM/LOC1", token_c), (LOC1, other_token),
                       ("/ocpi/2.2.1/locations/FR/XYZ/LOC1", token_c)):
        answer = relay.put(url, json=body, headers=auth(token))
        assert answer.status_code == 404 and answer.json()["status_code"] == 2000, url
        assert "is not a party this token registered" in answer.json()["status_message"]
    patched = relay.patch("/ocpi/2.2.1/locations/NL/TNM/LOC1/3256", json={"status": "CHARGING",
                                                                        "last_updated": "2020-01-01T00:00:00Z"},
                          headers=auth(token_c))
    assert patched.status_code == 404 and patched.json()["status_code"] != 1000
    assert rows_of(OcpiLocation) == [] and rows_of(Station) == []


def test_a_patch_of_what_was_never_pushed_is_2003(relay, token_c):
    status = {"status": "CHARGING", "last_updated": "2020-01-01T00:00:00Z"}
    unknown = relay.patch(LOC1 + "/3256", json=status, headers=auth(token_c))
    assert unknown.status_code == 200 and unknown.json()["status_code"] == 2003
    assert "Location LOC1 was never pushed here" in unknown.json()["status_message"]
    assert relay.get(LOC1, headers=auth(token_c)).status_code == 404

    put_example(relay, token_c)
    no_evse = relay.patch(LOC1 + "/9999", json=status, headers=auth(token_c))
    assert no_evse.json()["status_code"] == 2003
    assert no_evse.json()["status_message"] == ("Location LOC1 has no EVSE with uid 9999: PUT the EVSE before "
                                                "patching it")
    no_connector = relay.patch(LOC1 + "/3256/7", json={"max_amperage": 32, "last_updated": "2020-01-01T00:00:00Z"},
                               headers=auth(token_c))
    assert no_connector.json()["status_code"] == 2003 and "no connector with id 7" in no_connector.text
    got = relay.get(LOC1 + "/9999", headers=auth(token_c))
    assert got.status_code == 404 and got.json()["status_code"] == 2003


@pytest.mark.parametrize("method, path, body, says", [
    ("patch", LOC1 + "/3256", {"status": "CHARGING"}, "last_updated is missing"),
    ("patch", LOC1 + "/3256", {"status": "BROKEN", "last_updated": "2020-01-01T00:00:00Z"}, "status"),
    ("patch", LOC1 + "/3256", {"uid": "3257", "last_updated": "2020-01-01T00:00:00Z"}, "uid '3257' is not the one"),
    ("patch", LOC1, {"coordinates": {"latitude": "51.0", "longitude": "3.7"},
                     "last_updated": "2020-01-01T00:00:00Z"}, "coordinates.latitude"),
    ("put", "/ocpi/2.2.1/locations/BE/BEC/LOC2", "location_example.json", "id 'LOC1' is not the one in the URL"),
    # The spec's own example of adding an EVSE leaves out what a Connector requires.
    ("put", LOC1 + "/3256", "location_put_example_add_evse.json", "connectors.0.power_type: Field required"),
    ("put", "/ocpi/2.2.1/locations/BEL/BEC/LOC1", "location_example.json", "country_code 'BEL' in the URL"),
])
def test_invalid_or_missing_parameters_are_2001(relay, token_c, method, path, body, says):
    put_example(relay, token_c)
    before = relay.get(LOC1, headers=auth(token_c)).json()["data"]
    answer = getattr(relay, method)(path, json=example(body) if isinstance(body, str) else body, headers=auth(token_c))
    assert answer.status_code == 200 and answer.json()["status_code"] == 2001
    assert says in answer.json()["status_message"]
    assert relay.get(LOC1, headers=auth(token_c)).json()["data"] == before


def test_a_body_that_is_not_json_is_400(relay, token_c):
    answer = relay.put(LOC1, content=b"{not json", headers={**auth(token_c), "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001
    assert "not UTF-8 JSON" in answer.json()["status_message"]


def test_a_body_of_5_mb_or_more_is_413_counted_as_it_arrives(relay, token_c):
    big = b'{"name": "' + b"x" * 5_000_000 + b'"}'
    answer = relay.put(LOC1, content=big, headers={**auth(token_c), "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["status_code"] == 2000

    def chunks():  # no Content-Length: the receiver counts while it reads
        for _ in range(60):
            yield b"x" * 100_000

    streamed = relay.put(LOC1, content=chunks(), headers={**auth(token_c), "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert rows_of(OcpiLocation) == []
    just_under = b'{"name": "' + b"x" * 4_000_000 + b'"}'
    assert relay.put(LOC1, content=just_under, headers=auth(token_c)).json()["status_code"] == 2001


def test_request_ids_are_echoed(relay, token_c):
    answer = relay.get(LOC1, headers={**auth(token_c), "X-Request-ID": "req-1", "X-Correlation-ID": "corr-9"})
    assert (answer.headers["x-request-id"], answer.headers["x-correlation-id"]) == ("req-1", "corr-9")
    assert answer.headers["x-request-id"] and relay.get(LOC1, headers=auth(token_c)).headers["x-request-id"]


def test_an_unexpected_failure_is_one_log_line_and_a_3000_envelope(relay, token_c, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(received_locations, "put_object", broken)
    with caplog.at_level(logging.ERROR):
        answer = put_example_with_id(relay, token_c, "req-42")
    assert answer.status_code == 500 and answer.json()["status_code"] == 3000
    assert "req-42" in answer.json()["status_message"] and "fire" not in answer.text
    [record] = [r for r in caplog.records if r.name == "oioi_onboard.ocpi.receiver"]
    assert record.getMessage() == ("OCPI PUT /ocpi/2.2.1/locations/BE/BEC/LOC1 failed, request id req-42: "
                                   "RuntimeError: disk on fire")
    assert record.exc_info is None  # one line, no traceback


def put_example_with_id(relay, token_c, request_id):
    return relay.put(LOC1, json=example("location_example.json"), headers={**auth(token_c), "X-Request-ID": request_id})


def test_the_receiver_and_the_status_ingest_share_the_relay(relay, token_c):
    assert relay.get("/health").json() == {"status": "ok"}
    assert relay.post("/v1/statuses", json=[], headers=auth(token_c)).status_code == 401  # bearer tokens only


def test_ids_are_case_insensitive_and_keep_the_spelling_first_pushed(relay, token_c, gent):
    """mod_locations.asciidoc: location_id, uid and connector id are CiStrings."""
    location = dict(example("location_example.json"), id="LOC-1")
    upper = "/ocpi/2.2.1/locations/BE/BEC/LOC-1"
    lower = "/ocpi/2.2.1/locations/be/bec/loc-1"
    assert relay.put(upper, json=location, headers=auth(token_c)).status_code == 201
    assert endpoint_acknowledges(gent) == 1

    patched = relay.patch(lower + "/3256", json={"status": "CHARGING", "last_updated": "2019-06-24T12:39:09Z"},
                          headers=auth(token_c))
    assert patched.status_code == 200 and patched.json()["status_code"] == 1000, patched.text
    assert {c.status for c in rows_of(Connector, evse_id=EVSE_1)} == {"Occupied"}
    connector = relay.patch(lower + "/3256/1", json={"max_amperage": 32, "last_updated": "2019-06-25T00:00:00Z"},
                            headers=auth(token_c))
    assert connector.json()["status_code"] == 1000, connector.text
    assert relay.get(lower + "/3256/1", headers=auth(token_c)).json()["data"]["max_amperage"] == 32

    # The whole Location again under another spelling: the same Location and station, not a second one.
    again = dict(location, id="loc-1", last_updated="2019-07-01T00:00:00Z")
    answer = relay.put(lower, json=again, headers=auth(token_c))
    assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
    [held] = rows_of(OcpiLocation)
    assert (held.location_id, held.data["id"]) == ("LOC-1", "LOC-1")
    assert [s.station_id for s in rows_of(Station, cpo_id=gent)] == ["BE*BEC*LOC-1"]


def test_status_only_patches_of_one_transaction_share_one_record_statuses_and_no_import(relay, pushed, gent,
                                                                                        monkeypatch):
    """The fast path: the EVSE's status straight to its OIOI connector id; the receiver's transaction forwards
    the statuses of all its status-only PATCHes in one record_statuses call, newest last."""
    calls = []
    forward = received_locations.record_statuses

    def counted(session, **options):
        calls.append([(item["evse_id"], item["status"]) for item in options["items"]])
        return forward(session, **options)

    def no_import(*args, **kwargs):
        raise AssertionError("a status-only PATCH went through the import pipeline")

    monkeypatch.setattr(received_locations, "record_statuses", counted)
    monkeypatch.setattr(received_locations.imports, "map_sheet", no_import)
    patches = [("3256", "CHARGING", "2019-06-24T12:00:00Z"), ("3257", "AVAILABLE", "2019-06-24T12:00:01Z"),
               ("3256", "AVAILABLE", "2019-06-24T12:00:02Z"), ("3256", "BLOCKED", "2019-06-24T11:00:00Z")]
    with session_scope() as session:
        with received_locations.batched_statuses(session):
            outcomes = [received_locations.patch_object(
                session, actor=SYSTEM, cpo_id=gent, address=received_locations.Address("BE", "BEC", "LOC1", uid),
                body={"status": status, "last_updated": at}) for uid, status, at in patches]
            assert calls == []  # nothing forwarded before the block ends
        answers = [received_locations.settled(outcome) for outcome in outcomes]
    assert calls == [[(EVSE_1, "Occupied"), (EVSE_2, "Available"), (EVSE_1, "Available")]]
    assert [answer.message for answer in answers[:3]] == [None, None, None]
    assert "older than that of the EVSE held here" in answers[3].message  # stale: nothing changed
    assert {c.status for c in rows_of(Connector, evse_id=EVSE_1)} == {"Available"}
    assert {c.status for c in rows_of(Connector, evse_id=EVSE_2)} == {"Available"}
    held = relay.get(LOC1 + "/3256", headers=auth(pushed)).json()["data"]
    assert (held["status"], held["last_updated"]) == ("AVAILABLE", "2019-06-24T12:00:02Z")
    [status] = rows_of(Outbox, kind=CONNECTOR_POST_STATUS, key="BEBECE041503001")
    assert status.payload[CONNECTOR_POST_STATUS]["status"] == "Available"
