"""Onboarding progress: each CPO's steps, worked out from the store, and the next one."""

import pytest
from sqlmodel import select

from oioi_onboard.errors import PermissionDenied
from oioi_onboard.store import onboarding, registry
from oioi_onboard.store.models import ImportRecord, Outbox, OutboxState, Station, StatusEvent, utcnow
from oioi_onboard.store.onboarding import STEPS
from oioi_onboard.testing.store import add_station_row


def steps(found, cpo_id):
    return {step.key: step.done for step in found[cpo_id].steps}


def test_a_new_cpo_is_registered_and_next_tests_its_connection(db, two_cpos):
    with db() as session:
        found = onboarding.onboarding(session, actor=two_cpos["maria"])
    alpha = found[two_cpos["alpha"]]
    assert [step.key for step in alpha.steps] == list(STEPS)
    assert alpha.done == 1 and alpha.next.key == "connection" and alpha.next.detail == "not tested yet"
    assert list(found) == [two_cpos["alpha"], two_cpos["bravo"]]  # by name


def test_a_push_acknowledged_past_an_untested_connection_proves_it(db, two_cpos):
    """The push page lets a push go past an untested connection: its acknowledgements are the test passed, or
    the next step stays 'test the connection' after every station is on the platform."""
    alpha, maria = two_cpos["alpha"], two_cpos["maria"]
    with db() as session:
        station = add_station_row(session, cpo_id=alpha, station_id="A1", operator_id="DE*ALP")
        station.acked_sha256, station.acked_at = station.payload_sha256, station.updated_at
        session.add(station)
    with db() as session:
        progress = onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha)
    connection = progress.step("connection")
    assert connection.done and connection.detail == "not tested, but the endpoint acknowledged 1 station"
    assert progress.next.key != "connection"
    # The CPOs page's table says the same (its stored stage said "registered" here).
    with db() as session:
        rows = {row["id"]: row for row in registry.cpo_rows(session, actor=maria)}
    assert rows[alpha]["next step"] == progress.next.title == "Statuses live" and "stage" not in rows[alpha]


def test_the_next_step_follows_the_store_through_the_whole_sequence(db, two_cpos):
    alpha = two_cpos["alpha"]
    maria = two_cpos["maria"]

    def next_step():
        with db() as session:
            return onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha).next

    with db() as session:
        from oioi_onboard.store.models import Cpo

        cpo = session.get(Cpo, alpha)
        cpo.connection_ok, cpo.connection_message = False, "HTTP 401: the API key was refused"
        session.add(cpo)
    assert next_step().key == "connection" and "refused" in next_step().detail

    with db() as session:
        cpo = session.get(Cpo, alpha)
        cpo.connection_ok = True
        session.add(cpo)
    assert next_step().key == "import"

    with db() as session:
        record = ImportRecord(cpo_id=alpha, user_name="maria", file_name="net.csv", file_sha256="s", stations=3,
                              stations_stored=2, errors=4)
        session.add(record)
        for n in (1, 2):
            add_station_row(session, cpo_id=alpha, station_id=f"A{n}", operator_id="DE*ALP")
    assert (next_step().key, next_step().detail) == ("fix", "4 errors in the latest import (net.csv): "
                                                            "1 station blocked")

    with db() as session:
        session.add(ImportRecord(cpo_id=alpha, user_name="maria", file_name="net2.csv", file_sha256="t",
                                 stations=3, stations_stored=3, errors=0))
    assert (next_step().key, next_step().detail) == ("push", "2 stations not pushed yet")

    with db() as session:
        session.add(Outbox(cpo_id=alpha, kind="station-post", key="A1", payload={}, payload_sha256="x",
                           state=OutboxState.PENDING))
    assert next_step().detail == "1 station-post being sent"

    with db() as session:
        row = session.exec(select(Outbox)).one()
        row.state = OutboxState.FAILED
        session.add(row)
    assert next_step().detail == "1 station-post refused by the endpoint"

    with db() as session:
        row = session.exec(select(Outbox)).one()
        row.state = OutboxState.ACKED
        session.add(row)
        for station in session.exec(select(Station)).all():
            station.acked_sha256, station.acked_at = station.payload_sha256, station.updated_at
            session.add(station)
    assert next_step().key == "statuses"

    with db() as session:
        from datetime import UTC, datetime

        session.add(StatusEvent(cpo_id=alpha, evse_id="DE*ALP*EA10", status="Occupied", source="ui",
                                observed_at=datetime.now(UTC), delivery="delivered"))
    assert next_step() is None
    with db() as session:
        done = onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha)
    assert done.done == len(STEPS) and done.step("push").detail == "2 stations acknowledged by the endpoint"
    assert done.next_title == "done"

    # A station removed from the latest full upload waits for the push as a new one does: the step says so.
    with db() as session:
        gone = session.exec(select(Station).where(Station.station_id == "A2")).one()
        gone.deleted = True
        session.add(gone)
        add_station_row(session, cpo_id=alpha, station_id="A3", operator_id="DE*ALP")
    with db() as session:
        again = onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha).step("push")
    assert (again.done, again.detail) == (False, "1 station not pushed yet; 1 deletion to push")


def test_staff_see_only_their_cpos_and_are_refused_anothers(db, two_cpos):
    with db() as session:
        assert list(onboarding.onboarding(session, actor=two_cpos["bob"])) == [two_cpos["bravo"]]
        with pytest.raises(PermissionDenied):
            onboarding.cpo_onboarding(session, actor=two_cpos["bob"], cpo_id=two_cpos["alpha"])


def test_a_station_missing_from_the_latest_full_upload_is_a_deletion_to_push_then_gone(db, two_cpos):
    """As the push plan sees it: the card proposed no deletion before the push, and after the endpoint
    acknowledged it said '2 stations not pushed yet' with nothing left to push."""
    from oioi_onboard.sync.diff import plan_push

    alpha, maria = two_cpos["alpha"], two_cpos["maria"]
    with db() as session:
        first = ImportRecord(cpo_id=alpha, user_name="maria", file_name="all.csv", file_sha256="a", stations=3,
                             stations_stored=3)
        session.add(first)
        session.flush()
        for n in (1, 2, 3):
            station = add_station_row(session, cpo_id=alpha, station_id=f"A{n}", operator_id="DE*ALP")
            station.import_id, station.acked_sha256, station.acked_at = first.id, "x", station.updated_at
        second = ImportRecord(cpo_id=alpha, user_name="maria", file_name="fewer.csv", file_sha256="b", stations=2,
                              stations_stored=2)
        session.add(second)
        session.flush()
        for station in session.exec(select(Station).where(Station.station_id.in_(["A1", "A2"]))).all():
            station.import_id = second.id  # A3 is missing from the latest full upload

    def push_step():
        with db() as session:
            progress = onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha)
            kinds = [item.change for item in plan_push(session, actor=maria, cpo_id=alpha).items]
        return progress.step("import").detail, progress.step("push"), kinds.count("deleted")

    stored, push, deletions = push_step()
    assert deletions == 1 and stored == "2 stations stored"
    assert (push.done, push.detail) == (False, "1 deletion to push")

    with db() as session:  # the endpoint acknowledged the deletion
        gone = session.exec(select(Station).where(Station.station_id == "A3")).one()
        gone.acked_sha256, gone.acked_deleted = "deleted", True
    stored, push, deletions = push_step()
    assert deletions == 0 and stored == "2 stations stored"
    assert (push.done, push.detail) == (True, "2 stations acknowledged by the endpoint")


def test_statuses_delivered_says_what_the_last_step_says(db, two_cpos):
    alpha, maria = two_cpos["alpha"], two_cpos["maria"]
    with db() as session:
        assert not onboarding.statuses_delivered(session, actor=maria, cpo_id=alpha)
        assert not onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha).step("statuses").done
        session.add(StatusEvent(cpo_id=alpha, evse_id="DE*ALP*E1", status="Available", source="api",
                                observed_at=utcnow(), delivery="delivered"))
    with db() as session:
        assert onboarding.statuses_delivered(session, actor=maria, cpo_id=alpha)
        assert onboarding.cpo_onboarding(session, actor=maria, cpo_id=alpha).step("statuses").done
