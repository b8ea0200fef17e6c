"""Pulling a CPO's Locations from the real OCPI sandbox process into the store: full, incremental, statuses,
the token encoding remembered, failures that change nothing."""

from urllib.parse import quote

import pytest
from sqlmodel import select

from oioi_onboard.errors import Conflict, UserError
from oioi_onboard.ocpi import errors
from oioi_onboard.ocpi.client import ocpi_datetime
from oioi_onboard.ocpi.mapping import oioi_status
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Connector, Cpo, ImportRecord, Role, Station, StatusEvent
from oioi_onboard.store.ocpi_connection import set_ocpi_connection
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.store import make_cpo, make_user
from oioi_onboard.workflows import imports
from oioi_onboard.workflows.ocpi import fetch_locations, pull_locations, store_pulled

LOCATIONS = 30


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=LOCATIONS, page_limit=8) as process:
        yield process


@pytest.fixture
def connected(db, back_end) -> int:
    """'OCPI CPO' holding BE*OCS, connected to the back end, with the phone OCPI lacks as a default."""
    back_end.faults(latency_ms=0, fail_next=0, status_code=1000, html_from_page=0, plain_only=False)
    with db() as session:
        cpo = make_cpo(session, name="OCPI CPO", operator_ids="BE*OCS")
        cpo.defaults = {"phone": "+32 9 265 81 11"}
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=back_end.versions_url,
                            token=back_end.token)
        return cpo.id


def _stations(session, cpo_id):
    return {s.station_id: s for s in session.exec(select(Station).where(Station.cpo_id == cpo_id)).all()}


def _expected_stations(back_end) -> set[str]:
    """Published Locations with at least one chargeable EVSE, as the back end holds them now."""
    stations = set()
    for index in range(1, LOCATIONS + 1):
        location = back_end.location(f"LOC{index:05d}")
        if location["publish"] and any(e["status"] not in ("PLANNED", "REMOVED") for e in location["evses"]):
            stations.add(f"BE*OCS*{location['id']}")
    return stations


def test_the_first_pull_takes_everything_as_a_full_upload_with_the_statuses(db, back_end, connected):
    with db() as session:
        result = pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
    assert (result.full, result.version, result.pages, result.locations) == (True, "2.2.1", 4, LOCATIONS)
    assert result.errors == 0 and result.ok
    with db() as session:
        record = session.get(ImportRecord, result.import_id)
        assert (record.full_upload, record.file_name) == (True, f"OCPI {back_end.base_url}/ocpi/2.2.1/locations")
        stored = _stations(session, connected)
        assert set(stored) == _expected_stations(back_end) and "BE*OCS*LOC00004" not in stored  # not published
        assert stored["BE*OCS*LOC00001"].payload["contact"]["phone"] == "+32 9 265 81 11"
        cpo = session.get(Cpo, connected)
        assert cpo.ocpi_last_pull_started_at is not None
        assert cpo.ocpi_last_full_pull_at == cpo.ocpi_last_pull_started_at
        assert cpo.ocpi_last_pull_message.startswith(f"full pull of {cpo.ocpi_last_pull_started_at:%Y-%m-%d %H:%M} "
                                                     f"UTC: {LOCATIONS} Locations, {len(stored)} stations stored")
        # Every EVSE status that is not the "Unknown" we start from is recorded, from the source ocpi.
        events = session.exec(select(StatusEvent).where(StatusEvent.cpo_id == connected)).all()
        assert result.statuses == len(events) > 0 and {e.source for e in events} == {"ocpi"}
        assert {e.delivery for e in events} == {"held"}  # the stations are not acknowledged yet
        location = back_end.location("LOC00002")
        for evse in location["evses"]:
            connector = session.exec(select(Connector).where(Connector.evse_id == evse["evse_id"])).first()
            assert connector.status == oioi_status(evse["status"]).value


def test_an_incremental_pull_takes_only_what_changed_and_deletes_nothing(db, back_end, connected):
    with db() as session:
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
        first_started = session.get(Cpo, connected).ocpi_last_pull_started_at
    changes = back_end.changes(4) + back_end.changes(1, static=True)
    changed = {change["location_id"] for change in changes}
    with db() as session:
        result = pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
    assert (result.full, result.locations) == (False, len(changed))
    with db() as session:
        record = session.get(ImportRecord, result.import_id)
        assert record.full_upload is False and record.stations == len(changed - {"LOC00004"})
        plan = plan_push(session, actor=SYSTEM, cpo_id=connected)
        assert plan.counts["deleted"] == 0 and plan.counts["new"] == len(_stations(session, connected))
        renamed = [c for c in changes if c["static"]][0]
        name = back_end.location(renamed["location_id"])["name"]
        assert _stations(session, connected)[f"BE*OCS*{renamed['location_id']}"].name == name
        for change in changes:
            if change["static"]:
                continue
            evse = next(e for e in back_end.location(change["location_id"])["evses"] if e["uid"] == change["evse_uid"])
            connector = session.exec(select(Connector).where(Connector.evse_id == evse["evse_id"])).first()
            assert connector.status == oioi_status(evse["status"]).value
    # It asked for what changed since the start of the pull before it.
    [asked] = [r["query"] for r in back_end.requests() if r["path"].endswith("/locations")][-1:]
    assert asked == "date_from=" + quote(ocpi_datetime(first_started))


def test_a_full_pull_is_the_new_truth_and_only_a_confirmation_deletes(db, tmp_path, connected):
    """A Location gone from the list is proposed for deletion once acknowledged; nothing is queued unconfirmed."""
    with running_ocpi_sandbox(tmp_path, locations=12, page_limit=5) as own, db() as session:
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=connected, versions_url=own.versions_url)
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
        for station in _stations(session, connected).values():  # as if the endpoint had acknowledged them
            station.acked_sha256, station.acked_connectors_signature = station.payload_sha256, \
                station.connectors_signature
            session.add(station)
        session.flush()
        removed = own.remove(2)
        incremental = pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
        assert incremental.locations == 0 and incremental.import_id is None  # nothing changed: no import
        assert plan_push(session, actor=SYSTEM, cpo_id=connected).counts["deleted"] == 0

        full = pull_locations(session, actor=SYSTEM, cpo_id=connected, full=True, push=True,
                              say=lambda line: None)
        gone = {f"BE*OCS*{location_id}" for location_id in removed} & set(_stations(session, connected))
        assert full.full and full.locations == 10 and gone
        assert full.push.waiting_for_confirmation == {"deleted": len(gone)} and full.push.requests == 0
        plan = plan_push(session, actor=SYSTEM, cpo_id=connected)
        assert {item.station_id for item in plan.items if item.change == "deleted"} == gone
        assert not any(_stations(session, connected)[sid].deleted for sid in gone)


def test_a_peer_that_takes_the_token_plain_is_remembered(db, back_end, connected):
    back_end.faults(plain_only=True)
    with db() as session:
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
        assert session.get(Cpo, connected).ocpi_token_plain is True
    before = len(back_end.requests())
    with db() as session:
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
    assert {r["encoding"] for r in back_end.requests()[before:]} == {"plain"}


def test_a_failed_pull_says_why_on_the_cpo_and_changes_nothing_else(db, back_end, connected):
    back_end.faults(status_code=2001)
    with db() as session, pytest.raises(errors.StatusCodeError, match="answered OCPI status_code 2001"):
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
    with db() as session:
        cpo = session.get(Cpo, connected)
        assert cpo.ocpi_last_pull_started_at is None and session.exec(select(ImportRecord)).all() == []
        assert "failed: " in cpo.ocpi_last_pull_message and "status_code 2001" in cpo.ocpi_last_pull_message


def test_a_pull_older_than_the_last_stored_one_is_refused(db, back_end, connected):
    with db() as session:
        older = fetch_locations(session, actor=SYSTEM, cpo_id=connected)
        pull_locations(session, actor=SYSTEM, cpo_id=connected, say=lambda line: None)
        mapped = imports.map_sheet(session, actor=SYSTEM, cpo_id=connected, raw=older.file)
        validation = imports.check(session, actor=SYSTEM, cpo_id=connected, frame=mapped.frame,
                                   mapping_issues=mapped.issues)
        with pytest.raises(Conflict, match="a newer pull of OCPI CPO .* was stored since this one was made"):
            store_pulled(session, actor=SYSTEM, cpo_id=connected, pulled=older, validation=validation)


def test_a_cpo_without_a_connection_is_told_how_to_set_one(db, cpo):
    with db() as session, pytest.raises(UserError, match="has no OCPI connection: set its versions URL"):
        fetch_locations(session, actor=SYSTEM, cpo_id=cpo.id)


def test_only_who_may_edit_the_cpo_pulls(db, back_end, connected):
    from oioi_onboard.errors import PermissionDenied

    with db() as session:
        viewer = make_user(session, "viewer", Role.VIEWER, cpo_names=["OCPI CPO"])
        with pytest.raises(PermissionDenied):
            fetch_locations(session, actor=viewer, cpo_id=connected)
