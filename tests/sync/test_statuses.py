"""record_statuses and its hooks against a real SQLite store (no endpoint needed here)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlmodel import select

from oioi_onboard.oioi.vocabulary import CONNECTOR_POST_STATUS, STATUSES
from oioi_onboard.store.auth import SYSTEM, Actor
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Connector, Cpo, Outbox, OutboxState, Role, Stage, Station, StatusEvent
from oioi_onboard.store.queries import audit_log
from oioi_onboard.sync import live, status_delivery, status_files, status_ingest
from oioi_onboard.sync.status_files import parse_status_file
from oioi_onboard.sync.status_ingest import record_statuses
from oioi_onboard.testing.sandbox import DEFAULT_PARTNER_ID
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station
from oioi_onboard.wording import counted

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def cpo_id():
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Status CPO", partner_ids=DEFAULT_PARTNER_ID, registered=False)
        store_status_station(session, cpo.id, 1, acked=True)
        store_status_station(session, cpo.id, 2, acked=True)
        store_status_station(session, cpo.id, 3, acked=False)
        store_status_station(session, cpo.id, 4, acked=True, shared_evse=True)
        return cpo.id


def record(cpo_id, items, source="api"):
    with session_scope() as session:
        return record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, items=items, source=source)


def status_rows(key=None):
    with session_scope() as session:
        query = select(Outbox).where(Outbox.kind == CONNECTOR_POST_STATUS).order_by(Outbox.id)
        if key is not None:
            query = query.where(Outbox.key == key)
        return list(session.exec(query).all())


def connector_statuses(evse_id):
    with session_scope() as session:
        return sorted(session.exec(select(Connector.status).where(Connector.evse_id == evse_id)).all())


def key(evse_id):
    return evse_id.replace("*", "").upper()


def test_valid_items_are_accepted_and_bad_ones_refused_one_by_one(cpo_id):
    results = record(cpo_id, [
        {"evse_id": evse(1), "status": "Occupied", "timestamp": at(0)},
        {"evse_id": "DE*8PS*E99999", "status": "Available"},
        {"evse_id": evse(2), "status": "Broken"},
        {"evse_id": evse(2, 2), "status": "available", "timestamp": "yesterday"},
        {"evse_id": "+49*8PS*E000011", "status": "Available"},
        "not an object",
        {"status": "Available"},
        {"evse_id": evse(2, 2), "status": "Offline", "timestamp": (datetime.now(UTC)
                                                                  + timedelta(hours=2)).isoformat()},
        {"evse_id": evse(2, 2), "status": "reserved"},
    ])
    assert [r.ok for r in results] == [True, False, False, False, False, False, False, False, True]
    assert "unknown EVSE id 'DE*8PS*E99999'" in results[1].error
    assert "'Broken' is not one of Available, Occupied, Offline, Reserved, Unknown" in results[2].error
    assert "not ISO 8601" in results[3].error
    assert "DIN form" in results[4].error and "DE*8PS*E000011" in results[4].error
    assert "object" in results[5].error
    assert "evse_id is missing" in results[6].error
    assert "future" in results[7].error
    assert results[8].delivery == "pending" and results[8].status == "Reserved"

    assert connector_statuses(evse(1)) == ["Occupied"]
    assert connector_statuses(evse(2, 2)) == ["Reserved"]
    rows = status_rows()
    assert [(r.key, r.state) for r in rows] == [(key(evse(1)), OutboxState.PENDING),
                                                (key(evse(2, 2)), OutboxState.PENDING)]
    assert rows[0].payload == {"connector-post-status": {
        "connector-id": evse(1), "partner-identifier": "tP3x9Qw7LmZ2vK8sRb4N", "status": "Occupied"}}
    with session_scope() as session:
        logged = session.exec(select(StatusEvent).order_by(StatusEvent.id)).all()
    assert [(e.evse_id, e.status, e.source, e.delivery) for e in logged] == [
        (evse(1), "Occupied", "api", "pending"), (evse(2, 2), "Reserved", "api", "pending")]
    assert logged[0].observed_at == T0


def test_a_burst_for_one_evse_is_coalesced_into_one_waiting_request_with_the_newest(cpo_id):
    for n, status in enumerate(["Occupied", "Available", "Reserved", "Occupied", "Offline"]):
        [result] = record(cpo_id, [{"evse_id": evse(1), "status": status, "timestamp": at(n)}])
        assert result.delivery == "pending"
    rows = status_rows()
    assert len(rows) == 1
    assert rows[0].payload["connector-post-status"]["status"] == "Offline"
    deliveries = [(e.status, e.delivery) for e in statuses_events(evse(1))]
    assert deliveries == [("Occupied", "superseded"), ("Available", "superseded"), ("Reserved", "superseded"),
                          ("Occupied", "superseded"), ("Offline", "pending")]
    assert {e.outbox_id for e in statuses_events(evse(1))} == {rows[0].id}


def test_several_changes_in_one_call_keep_their_order_and_only_the_last_is_sent(cpo_id):
    results = record(cpo_id, [
        {"evse_id": evse(1), "status": "Occupied", "timestamp": at(1)},
        {"evse_id": evse(2), "status": "Occupied", "timestamp": at(1)},
        {"evse_id": evse(1), "status": "Available", "timestamp": at(2)},
        {"evse_id": evse(1), "status": "Reserved", "timestamp": at(3)},
    ])
    assert [r.delivery for r in results] == ["superseded", "pending", "superseded", "pending"]
    rows = {r.key: r.payload["connector-post-status"]["status"] for r in status_rows()}
    assert rows == {key(evse(1)): "Reserved", key(evse(2)): "Occupied"}


def test_a_status_older_than_the_known_one_is_recorded_as_stale_and_dropped(cpo_id):
    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied", "timestamp": at(10)}])
    [late] = record(cpo_id, [{"evse_id": evse(1), "status": "Available", "timestamp": at(5)}])
    assert late.ok and late.delivery == "stale"
    assert connector_statuses(evse(1)) == ["Occupied"]
    assert [r.payload["connector-post-status"]["status"] for r in status_rows()] == ["Occupied"]
    stale = statuses_events(evse(1))[-1]
    assert (stale.status, stale.delivery) == ("Available", "stale") and "older than" in stale.reason
    # Within one call too: the older item loses, whatever its position.
    results = record(cpo_id, [{"evse_id": evse(1), "status": "Reserved", "timestamp": at(20)},
                              {"evse_id": evse(1), "status": "Offline", "timestamp": at(15)}])
    assert [r.delivery for r in results] == ["pending", "stale"]
    assert connector_statuses(evse(1)) == ["Reserved"]


def test_connectors_sharing_one_evse_id_get_one_status_and_one_request(cpo_id):
    shared = evse(4)
    assert connector_statuses(shared) == ["Unknown", "Unknown"]
    record(cpo_id, [{"evse_id": shared, "status": "Occupied"}])
    # Any spelling of the EVSE id names the same EVSE; the request uses the pushed spelling.
    [result] = record(cpo_id, [{"evse_id": shared.replace("*", ""), "status": "Available"}])
    assert result.ok, result.error
    assert connector_statuses(shared) == ["Available", "Available"]
    rows = status_rows()
    assert len(rows) == 1 and rows[0].payload["connector-post-status"]["connector-id"] == shared


def test_statuses_of_an_unacknowledged_station_are_held_back_until_it_is_acked(cpo_id):
    unacked = evse(3)
    [result] = record(cpo_id, [{"evse_id": unacked, "status": "Occupied", "timestamp": at(1)}])
    assert result.delivery == "held"
    [result] = record(cpo_id, [{"evse_id": unacked, "status": "Available", "timestamp": at(2)}])
    assert result.delivery == "held"
    [row] = status_rows()
    assert row.state == OutboxState.HELD and row.payload["connector-post-status"]["status"] == "Available"
    assert connector_statuses(unacked) == ["Available"]  # shown, not sent

    with session_scope() as session:
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00003")).one()
        # Not acknowledged yet: nothing moves.
        assert status_delivery.release_held_statuses(session, [station.station_id]) == 0
        station.acked_at = datetime.now(UTC)
        session.add(station)
        session.flush()
        assert status_delivery.release_held_statuses(session, [station.station_id]) == 1
    [row] = status_rows()
    assert row.state == OutboxState.PENDING
    assert [e.delivery for e in statuses_events(unacked)] == ["superseded", "pending"]


def test_a_row_already_claimed_by_a_worker_is_not_changed_a_new_one_queues_behind_it(cpo_id):
    from oioi_onboard.sync.outbox import Outcome, claim, record_results

    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied", "timestamp": at(1)}])
    with session_scope() as session:
        [claimed] = claim(session, worker_id="w1", limit=10)
    record(cpo_id, [{"evse_id": evse(1), "status": "Available", "timestamp": at(2)}])
    first, second = status_rows()
    assert first.id == claimed.id and first.state == OutboxState.SENDING
    assert first.payload["connector-post-status"]["status"] == "Occupied"
    assert second.state == OutboxState.PENDING and second.payload["connector-post-status"]["status"] == "Available"
    with session_scope() as session:
        # The second may not go out while the first is in flight: order per connector is kept.
        assert claim(session, worker_id="w2", limit=10) == []
        record_results(session, [Outcome(first.id, "acked", code=0)])
    assert [e.delivery for e in statuses_events(evse(1))] == ["delivered", "pending"]


def test_worker_results_become_delivery_states(cpo_id):
    from oioi_onboard.sync.outbox import Outcome, claim, record_results

    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(2), "status": "Occupied"}])
    with session_scope() as session:
        one, two = claim(session, worker_id="w1", limit=10)
        record_results(session, [Outcome(one.id, "acked", code=0),
                                 Outcome(two.id, "failed", code=181, error="OIOI code 181: EVSE not found")])
    assert statuses_events(evse(1))[-1].delivery == "delivered"
    with session_scope() as session:
        assert session.get(Cpo, cpo_id).stage == Stage.STATUSES_LIVE
    rejected = statuses_events(evse(2))[-1]
    assert rejected.delivery == "rejected" and "181" in rejected.reason


def statuses_events(evse_id):
    with session_scope() as session:
        return list(session.exec(select(StatusEvent).where(StatusEvent.evse_id == evse_id)
                                 .order_by(StatusEvent.id)).all())


# --- files -------------------------------------------------------------------------------


def test_a_csv_status_file_is_read_with_its_line_numbers():
    data = (b"evse_id;status;timestamp\nDE*8PS*E000011;Available;2026-01-01T12:00:00Z\n\n"
            b"DE*8PS*E000021;Occupied;\nDE*8PS*E000031;Occupied;x;y\n")
    parsed = parse_status_file(data, "statuses.csv")
    assert parsed.items == [
        {"evse_id": "DE*8PS*E000011", "status": "Available", "timestamp": "2026-01-01T12:00:00Z"},
        {"evse_id": "DE*8PS*E000021", "status": "Occupied", "timestamp": None},
    ]
    assert parsed.lines == [2, 4]
    assert parsed.errors == ["line 5: 4 cells, the header has 3"]


def test_a_json_status_file_and_unreadable_files():
    parsed = parse_status_file(b'[{"evse_id": "DE*8PS*E000011", "status": "Available"}, 3]', "s.json")
    assert parsed.items == [{"evse_id": "DE*8PS*E000011", "status": "Available", "timestamp": None}]
    assert parsed.errors == ["item 2: not an object with evse_id and status"]
    with pytest.raises(status_files.StatusFileError, match="s.json: not valid JSON"):
        parse_status_file(b"[{", "s.json")
    with pytest.raises(status_files.StatusFileError, match="missing status"):
        parse_status_file(b"evse_id,state\nDE*8PS*E000011,Available\n", "s.csv")
    with pytest.raises(status_files.StatusFileError, match="not UTF-8"):
        parse_status_file(b"evse_id,status\n\xff\xfe", "s.csv")


# --- reading for the live page ---------------------------------------------------------------


def test_live_views_are_scoped_to_the_cpos_a_person_may_see(cpo_id):
    with session_scope() as session:
        other = make_cpo(session, name="Other CPO", partner_ids="Zq8Lm3Pw9Xr2Tk7Vb5Nc", operator_ids="DE*ABC")
        store_status_station(session, other.id, 9, acked=True)
        other_id = other.id
    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(2), "status": "Available"}])
    record(cpo_id, [{"evse_id": evse(1), "status": "Offline", "timestamp": at(0)}])  # stale

    manager = Actor("pm", Role.PARTNER_MANAGER)
    staff = Actor("staff", Role.CPO_STAFF, frozenset({other_id}))
    with session_scope() as session:
        everything = live.live_connectors(session, actor=manager)
        assert set(everything["cpo"]) == {"Status CPO", "Other CPO"}
        assert len(everything) == 10
        mine = live.live_connectors(session, actor=staff)
        assert set(mine["cpo"]) == {"Other CPO"} and len(mine) == 2
        occupied = live.live_connectors(session, actor=manager, statuses=["Occupied"])
        assert list(occupied["evse_id"]) == [evse(1)]
        combos = live.live_connectors(session, actor=manager, connector_types=["Combo"])
        assert set(combos["connector_type"]) == {"Combo"}

        recent = live.recent_changes(session, actor=manager)
        assert list(recent["delivery"]) == ["stale (dropped)", "pending", "pending"]
        assert live.recent_changes(session, actor=staff).empty

        counts = live.status_changes_per_minute(session, actor=manager, minutes=10)
        assert len(counts) == 10 and list(counts.columns) == STATUSES
        assert counts["Occupied"].sum() == 1 and counts["Available"].sum() == 1 and counts["Offline"].sum() == 0


def test_live_stations_count_each_stations_connectors_per_status_within_scope_and_filters(cpo_id):
    with session_scope() as session:
        other = make_cpo(session, name="Other CPO", partner_ids="Zq8Lm3Pw9Xr2Tk7Vb5Nc", operator_ids="DE*ABC")
        store_status_station(session, other.id, 9, acked=True)
        other_id = other.id
    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied"}, {"evse_id": evse(1, 2), "status": "Offline"},
                    {"evse_id": evse(4), "status": "Available"}])  # station 4: one EVSE id, two connectors
    manager = Actor("pm", Role.PARTNER_MANAGER)
    staff = Actor("staff", Role.CPO_STAFF, frozenset({other_id}))
    with session_scope() as session:
        everything = live.live_stations(session, actor=manager).set_index("station_id")
        assert len(everything) == 5 and everything["connectors"].sum() == 10
        one = everything.loc["DE*8PS*S00001"]
        assert (one["Occupied"], one["Offline"], one["Unknown"], one["Available"]) == (1, 1, 0, 0)
        assert everything.loc["DE*8PS*S00004", "Available"] == 2
        assert everything.loc["DE*8PS*S00002", "Unknown"] == 2
        mine = live.live_stations(session, actor=staff)
        assert list(mine["station_id"]) == ["DE*ABC*S00009"]

        offline = live.live_stations(session, actor=manager, statuses=["Offline"]).set_index("station_id")
        assert len(offline) == 5  # every station, with its connectors; only the counts follow the filter
        assert offline[STATUSES].sum().to_dict() == {"Available": 0, "Occupied": 0, "Offline": 1,
                                                              "Reserved": 0, "Unknown": 0}
        combos = live.live_stations(session, actor=manager, connector_types=["Combo"], statuses=["Offline"])
        assert combos[STATUSES].to_numpy().sum() == 1  # station 1's second connector is the Combo

        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00002")).one()
        station.deleted = True
        session.add(station)
    with session_scope() as session:
        assert "DE*8PS*S00002" not in set(live.live_stations(session, actor=manager)["station_id"])


def test_the_live_map_version_changes_with_every_status_and_station_change_and_only_then(cpo_id):
    manager = Actor("pm", Role.PARTNER_MANAGER)

    def version():
        with session_scope() as session:
            return live.live_map_version(session, actor=manager)

    first = version()
    assert version() == first  # nothing changed: a cached map stays valid
    record(cpo_id, [{"evse_id": evse(2), "status": "Occupied"}])
    before = version()
    assert before != first
    with session_scope() as session:
        store_status_station(session, cpo_id, 7, acked=True)
    after_station = version()
    assert after_station != before
    with session_scope() as session:
        station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S00007")).one()
        station.deleted, station.updated_at = True, datetime.now(UTC) + timedelta(seconds=1)
        session.add(station)  # as the push does when it deletes a station
    assert version() != after_station
    with session_scope() as session:
        assert live.live_map_version(session, actor=Actor("nobody", Role.VIEWER)).cpo_ids == ()


def test_live_stations_since_recounts_only_changed_stations_and_matches_a_full_count(cpo_id):
    manager = Actor("pm", Role.PARTNER_MANAGER)

    def now_and_since(previous, **filters):
        with session_scope() as session:
            version = live.live_map_version(session, actor=manager)
            since = live.live_stations_since(session, actor=manager, version=version, previous=previous,
                                                 **filters)
            full = live.live_stations(session, actor=manager, **filters)
        pd.testing.assert_frame_equal(since, full)
        return version, since

    for filters in ({}, {"statuses": ["Offline", "Occupied"], "connector_types": ["Combo", "Type2"]}):
        held = now_and_since(None, **filters)
        assert now_and_since(held, **filters)[1] is held[1]  # nothing changed: the same frame, no query
        record(cpo_id, [{"evse_id": evse(1, 2), "status": "Offline"}, {"evse_id": evse(4), "status": "Occupied"}])
        held = now_and_since(held, **filters)
        record(cpo_id, [{"evse_id": evse(1, 2), "status": "Available"}])
        held = now_and_since(held, **filters)
        with session_scope() as session:  # a new station: every station is counted again
            store_status_station(session, cpo_id, 10 + len(filters), acked=True)
        record(cpo_id, [{"evse_id": evse(10 + len(filters)), "status": "Offline"}])
        now_and_since(held, **filters)

    # The earlier frame really is reused: a mark on an unchanged station survives, the changed one is recounted.
    version, frame = now_and_since(None)
    marked = frame.assign(name=frame["name"].where(frame["station_id"] != "DE*8PS*S00002", "mark"))
    record(cpo_id, [{"evse_id": evse(3), "status": "Reserved"}])
    with session_scope() as session:
        latest = live.live_map_version(session, actor=manager)
        since = live.live_stations_since(session, actor=manager, version=latest, previous=(version, marked))
    since = since.set_index("station_id")
    assert since.loc["DE*8PS*S00002", "name"] == "mark"
    assert since.loc["DE*8PS*S00003", "Reserved"] == 1


def test_a_status_file_and_a_change_in_the_ui_need_edit_rights_and_say_what_was_refused(cpo_id):
    from oioi_onboard.store.queries import PermissionDenied

    staff = Actor("staff", Role.CPO_STAFF, frozenset({cpo_id}))
    data = (f"evse_id,status\n{evse(1)},Occupied\nDE*8PS*E424242,Available\n{evse(1)},Available\n"
            f"{evse(3)},Offline,extra\n{evse(3)},Offline\n").encode()
    with session_scope() as session:
        outcome = status_files.record_status_file(session, actor=staff, cpo_id=cpo_id, data=data, file_name="s.csv")
    assert outcome.accepted == 3
    assert outcome.deliveries == {"superseded": 1, "pending": 1, "held": 1}
    assert outcome.refused.to_dict("records") == [
        {"line": 3, "evse_id": "DE*8PS*E424242",
         "error": "unknown EVSE id 'DE*8PS*E424242': no connector of this CPO has it"},
        {"line": 5, "evse_id": "", "error": "line 5: 3 cells, the header has 2"},
    ]
    assert {e.source for e in statuses_events(evse(1))} == {"file"}
    with session_scope() as session:
        result = status_ingest.set_status(session, actor=staff, cpo_id=cpo_id, evse_id=evse(2), status="Reserved")
        assert result.ok and result.delivery == "pending"
        for outsider in (Actor("v", Role.VIEWER, frozenset({cpo_id})), Actor("s", Role.CPO_STAFF, frozenset({99}))):
            with pytest.raises(PermissionDenied):
                status_ingest.set_status(session, actor=outsider, cpo_id=cpo_id, evse_id=evse(2), status="Offline")
            with pytest.raises(PermissionDenied):
                status_files.record_status_file(session, actor=outsider, cpo_id=cpo_id, data=data, file_name="s.csv")
    assert statuses_events(evse(2))[-1].source == "ui"


def test_a_failed_attempt_with_a_newer_status_queued_behind_it_is_not_sent_again(cpo_id):
    from oioi_onboard.sync.outbox import Outcome, claim, record_results

    record(cpo_id, [{"evse_id": evse(1), "status": "Occupied", "timestamp": at(1)}])
    with session_scope() as session:
        [in_flight] = claim(session, worker_id="w1", limit=10)
    record(cpo_id, [{"evse_id": evse(1), "status": "Available", "timestamp": at(2)}])
    with session_scope() as session:
        record_results(session, [Outcome(in_flight.id, "retry", error="cannot reach the endpoint",
                                         retry_at=datetime.now(UTC))])
    first, second = status_rows()
    assert first.state == OutboxState.SUPERSEDED and second.state == OutboxState.PENDING
    assert [e.delivery for e in statuses_events(evse(1))] == ["superseded", "pending"]
    with session_scope() as session:
        [next_row] = claim(session, worker_id="w1", limit=10)
    assert next_row.id == second.id and next_row.payload["connector-post-status"]["status"] == "Available"


def test_the_simulator_writes_plausible_changes_through_the_one_entry(cpo_id):
    from oioi_onboard.sync.simulate import NEXT, simulate

    result = simulate(actor=SYSTEM, cpo_id=cpo_id, rate=400, seconds=0.6, seed=3, tick=0.05)
    assert result.changes > 0 and result.refused == 0
    with session_scope() as session:
        logged = session.exec(select(StatusEvent)).all()
    assert len(logged) == result.changes and {e.source for e in logged} == {"simulator"}
    assert {e.status for e in logged} <= set(STATUSES)
    with session_scope() as session:
        [entry] = audit_log(session, actor=SYSTEM, cpo_id=cpo_id)
        assert entry.action == "statuses simulated"
        assert entry.detail.startswith(f"{counted(result.changes, 'change')} in ")
    # Every change follows a plausible transition from the connector's previous status.
    previous: dict[str, str] = {}
    for event in logged:
        before = previous.get(event.evse_id, "Unknown")
        assert event.status in {status for status, _ in NEXT[before]}, (before, event.status)
        previous[event.evse_id] = event.status
    with pytest.raises(ValueError, match="rate"):
        simulate(actor=SYSTEM, cpo_id=cpo_id, rate=0, seconds=1)


def test_counts_per_status_over_time_are_worked_back_from_the_current_statuses(cpo_id):
    now = datetime.now(UTC)

    def record_at(minutes_ago, items):
        with session_scope() as session:
            record_statuses(session, actor=SYSTEM, cpo_id=cpo_id, items=items, source="api",
                            now=now - timedelta(minutes=minutes_ago))

    record_at(5, [{"evse_id": evse(1), "status": "Occupied"}])
    record_at(3, [{"evse_id": evse(4), "status": "Available"}])  # one EVSE id, two connectors
    record_at(1, [{"evse_id": evse(1), "status": "Available"},
                  {"evse_id": evse(2), "status": "Offline", "timestamp": at(0)}])  # first for E2, so not stale
    record_at(1, [{"evse_id": evse(2), "status": "Reserved", "timestamp": at(-5)}])  # stale: never counted
    manager = Actor("pm", Role.PARTNER_MANAGER)
    with session_scope() as session:
        counts = live.status_counts_over_time(session, actor=manager, minutes=10)
        changes = live.status_changes_per_minute(session, actor=manager, minutes=10)
    assert len(counts) == 10 and list(counts.columns) == STATUSES
    assert (counts.sum(axis=1) == 8).all()  # 4 stations x 2 connectors at every minute

    def at_minute(minutes_ago):
        moment = pd.Timestamp(now - timedelta(minutes=minutes_ago)).floor("min")
        return {k: v for k, v in counts.loc[moment].to_dict().items() if v}

    assert at_minute(9) == {"Unknown": 8}
    assert at_minute(5) == {"Occupied": 1, "Unknown": 7}
    assert at_minute(3) == {"Occupied": 1, "Available": 2, "Unknown": 5}
    assert at_minute(1) == at_minute(0) == {"Available": 3, "Offline": 1, "Unknown": 4}
    assert changes.to_numpy().sum() == 4


def test_acked_stations_in_a_batch_release_their_held_statuses(cpo_id):
    with session_scope() as session:
        more = [store_status_station(session, cpo_id, n) for n in (11, 12, 13)]
    record(cpo_id, [{"evse_id": evse(n, k), "status": "Occupied"} for n in (3, 11, 12, 13) for k in (1, 2)])
    assert {r.state for r in status_rows()} == {OutboxState.HELD}
    with session_scope() as session:
        stations = [session.get(Station, s.id) for s in more]
        for station in stations[:2]:
            station.acked_at = datetime.now(UTC)
        stations[2].acked_at, stations[2].acked_deleted = datetime.now(UTC), True
        session.add_all(stations)
        session.flush()
        # 2 stations x 2 EVSE ids; not the one acknowledged as deleted.
        assert status_delivery.release_held_statuses(session, [s.station_id for s in stations]) == 4
    held = {r.key for r in status_rows() if r.state == OutboxState.HELD}
    assert held == {key(evse(n, k)) for n in (3, 13) for k in (1, 2)}
