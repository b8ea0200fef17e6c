"""The live read model's delivery view: recent changes with what became of each, and one station in full."""

from datetime import UTC, timedelta

import pandas as pd
import pytest
from sqlmodel import select

from oioi_onboard.errors import NotFound, PermissionDenied
from oioi_onboard.store.auth import SYSTEM, Actor
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Outbox, OutboxState, Role, StatusEvent
from oioi_onboard.sync import live
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station

MANAGER = Actor(name="maria", role=Role.PARTNER_MANAGER, cpo_ids=frozenset())


@pytest.fixture
def network():
    """Live CPO: station 1 (acked) with two statuses, one delivered 2.5 s after it came in, one refused;
    station 2 not acknowledged (its status held back). Other CPO: one station."""
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Live CPO", partner_ids=DEFAULT_PARTNER_ID)
        store_status_station(session, cpo.id, 1, acked=True)
        store_status_station(session, cpo.id, 2, acked=False)
        other = make_cpo(session, name="Other CPO", partner_ids="Zq8Lm3Pw9Xr2Tk7Vb5Nc", operator_ids="DE*ABC")
        store_status_station(session, other.id, 9, acked=True)
        record_statuses(session, actor=SYSTEM, cpo_id=cpo.id, source="ui", items=[
            {"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(1, 2), "status": "Offline"},
            {"evse_id": evse(2), "status": "Reserved"}])
        ids = {cpo.id, other.id}
    with session_scope() as session:
        sent = {row.key: row for row in session.exec(select(Outbox)).all()}
        received = session.exec(select(StatusEvent.received_at)).first()
        received = received if received.tzinfo else received.replace(tzinfo=UTC)
        ok, refused = sent["DE8PSE000011"], sent["DE8PSE000012"]
        ok.state, ok.sent_at, ok.acked_at, ok.result_code = (
            OutboxState.ACKED, received + timedelta(seconds=2), received + timedelta(seconds=2.5), 0)
        refused.state, refused.sent_at, refused.result_code, refused.last_error = (
            OutboxState.FAILED, received + timedelta(seconds=2), 404, "HTTP 404: unknown connector")
        for event in session.exec(select(StatusEvent)).all():
            if event.outbox_id == ok.id:
                event.delivery = "delivered"
            elif event.outbox_id == refused.id:
                event.delivery, event.reason = "rejected", "code 404: HTTP 404: unknown connector"
            session.add(event)
        session.add(ok)
        session.add(refused)
    return {"live": min(ids), "other": max(ids)}


def test_recent_changes_say_when_each_was_delivered_how_long_it_took_and_why_not(network):
    with session_scope() as session:
        recent = live.recent_changes(session, actor=MANAGER).set_index("evse_id")
    assert recent.loc[evse(1), "delivery"] == "delivered"
    assert recent.loc[evse(1), "took_s"] == 2.5
    assert recent.loc[evse(1), "delivered_at"] > recent.loc[evse(1), "received_at"]
    assert str(recent.loc[evse(1), "delivered_at"].tzinfo) == "UTC"
    assert recent.loc[evse(1, 2), "delivery"] == "rejected"
    assert "unknown connector" in recent.loc[evse(1, 2), "reason"]
    assert recent.loc[evse(2), "delivery"] == "held back" and "not acknowledged" in recent.loc[evse(2), "reason"]
    assert pd.isna(recent.loc[evse(1, 2), "delivered_at"]) and pd.isna(recent.loc[evse(2), "took_s"])
    assert recent.loc[evse(1), "station_id"] == "DE*8PS*S00001"


def test_a_station_shows_its_connectors_changes_and_the_exact_requests_with_their_answers(network):
    with session_scope() as session:
        view = live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001")
    assert (view.station_id, view.cpo, view.name) == ("DE*8PS*S00001", "Live CPO", "Station 1")
    assert "Berlin" in view.address and view.acknowledged_at is not None
    assert dict(zip(view.connectors["evse_id"], view.connectors["status"], strict=True)) == {
        evse(1): "Occupied", evse(1, 2): "Offline"}
    assert set(view.changes["delivery"]) == {"delivered", "rejected"}
    requests = view.requests.set_index("evse_id")
    assert requests.loc[evse(1), "state"] == "acknowledged"
    assert requests.loc[evse(1), "answer"] == "success (result code 0)"
    assert requests.loc[evse(1, 2), "state"] == "refused"
    assert requests.loc[evse(1, 2), "answer"] == "refused: code 404: HTTP 404: unknown connector"
    body = view.payloads[int(requests.loc[evse(1), "outbox_id"])]
    assert body == {"connector-post-status": {"connector-id": evse(1), "partner-identifier": "tP3x9Qw7LmZ2vK8sRb4N",
                                              "status": "Occupied"}}


def test_the_station_view_names_each_part_of_the_address_once(network):
    from oioi_onboard.store.models import Station

    with session_scope() as session:
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00001")).one()
        # A street that holds the whole line, with the postcode and city given again (as fixes leave it).
        station.payload = {**station.payload, "address": {"street": "Corso Buenos Aires 83, 20119 Milano",
                                                          "street-number": "", "zip": "20119", "city": "Milano",
                                                          "country": "IT"}}
    with session_scope() as session:
        view = live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001")
    assert view.address == "Corso Buenos Aires 83, 20119 Milano"


def test_a_station_is_found_by_one_of_its_evse_ids_too(network):
    with session_scope() as session:
        assert live.station_view(session, actor=MANAGER, station_id=evse(2).lower()).station_id == "DE*8PS*S00002"
        held = live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00002")
    assert held.acknowledged_at is None
    assert list(held.requests["state"]) == ["held back"]
    assert held.requests["answer"].iloc[0].startswith("not sent yet")


def test_another_cpos_station_is_refused_and_an_unknown_one_is_not_found(network):
    staff = Actor(name="sam", role=Role.CPO_STAFF, cpo_ids=frozenset({network["other"]}))
    with session_scope() as session:
        with pytest.raises(PermissionDenied) as theirs:
            live.station_view(session, actor=staff, station_id="DE*8PS*S00001")
        with pytest.raises(NotFound) as unknown:
            live.station_view(session, actor=staff, station_id="DE*NOPE*S1")
        # Neither the other CPO's name nor whether the station exists is told.
        assert str(theirs.value) == "station or EVSE id 'DE*8PS*S00001': not found or not yours"
        assert str(unknown.value) == "station or EVSE id 'DE*NOPE*S1': not found or not yours"
        assert "Live CPO" not in str(theirs.value)
        assert live.station_view(session, actor=staff, station_id="DE*ABC*S00009").cpo == "Other CPO"
        assert live.recent_changes(session, actor=staff).empty


def test_request_answers_read_as_words():
    assert live.request_answer("acked", None, None) == "success (result code 0)"
    assert live.request_answer("pending", None, "HTTP 503").startswith("no answer yet; retrying")
    assert live.request_answer("superseded", None, None).startswith("not sent")
    assert live.request_answer(OutboxState.FAILED, 211, "invalid partner identifier") == (
        "refused: code 211: invalid partner identifier")


def test_no_change_yet_is_an_empty_frame_with_every_column():
    migrate()
    with session_scope() as session:
        assert list(live.recent_changes(session, actor=MANAGER).columns) == live.RECENT_COLUMNS


def test_a_viewer_sees_the_request_without_the_whole_partner_identifier(network):
    viewer = Actor(name="vera", role=Role.VIEWER, cpo_ids=frozenset({network["live"]}))
    with session_scope() as session:
        view = live.station_view(session, actor=viewer, station_id="DE*8PS*S00001")
    bodies = list(view.payloads.values())
    assert bodies and all(body["connector-post-status"]["partner-identifier"] == "…Rb4N" for body in bodies)


def test_a_station_off_the_list_says_so_and_whether_the_endpoint_deleted_it(network):
    from oioi_onboard.store.models import Station
    from oioi_onboard.testing.store import new_import

    with session_scope() as session:
        assert live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001").listed
        stations = {s.station_id: s for s in session.exec(select(Station).where(Station.cpo_id == network["live"]))}
        first = new_import(session, network["live"])  # both stations came from a file ...
        for station in stations.values():
            station.import_id = first.id
        # ... and the next full upload holds station 2 alone: station 1 leaves the list.
        stations["DE*8PS*S00002"].import_id = new_import(session, network["live"]).id
        session.add_all(stations.values())
    with session_scope() as session:
        view = live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001")
        assert (view.listed, view.deleted_at_endpoint) == (False, False)  # its deletion waits for a push
        left = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00001")).one()
        left.acked_deleted = True
        session.add(left)
    with session_scope() as session:
        view = live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001")
        assert (view.listed, view.deleted_at_endpoint) == (False, True)
        assert live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00002").listed


def test_a_files_own_id_finds_the_live_station_that_replaced_it(network):
    """After connector changes the file's id is soft-deleted and a live <id>-N carries the station."""
    from oioi_onboard.store.models import Station

    with session_scope() as session:
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00001")).one()
        fields = {k: getattr(station, k) for k in ("cpo_id", "name", "latitude", "longitude", "city", "cpo_operator_id",
                                                   "payload", "payload_sha256", "connectors_signature")}
        station.deleted = True
        session.add(station)
        session.add(Station(station_id="DE*8PS*S00001-2", replaces="DE*8PS*S00001", deleted=True, **fields))
        session.add(Station(station_id="DE*8PS*S00001-3", replaces="DE*8PS*S00001", **fields))
    with session_scope() as session:
        assert live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001").station_id == "DE*8PS*S00001-3"
        assert live.station_view(session, actor=MANAGER, station_id="DE*8PS*S00001-2").station_id == \
            "DE*8PS*S00001-2"  # a replacement's own id still finds it
