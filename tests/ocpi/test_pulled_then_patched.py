"""A back end that is pulled (its Locations never PUT to the receiver) and then PATCHes its EVSE statuses, as the
Demo OCPI CPO's simulator does: the pulled Locations are held, so the PATCHes apply. Real OCPI sandbox process,
the relay on loopback."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from oioi_onboard.ocpi.client import ocpi_datetime
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Connector, OcpiLocation
from oioi_onboard.store.ocpi_connection import set_ocpi_connection
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.store import make_cpo
from oioi_onboard.workflows.ocpi import pull_locations
from tests.helpers.ocpi import auth, registered


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=5, page_limit=3) as process:
        yield process


def _laadnet(db, back_end) -> int:  # noqa: ANN001
    """A CPO whose stations come from the OCPI back end (its Locations have no phone: the CPO's default)."""
    with db() as session:
        cpo = make_cpo(session, name="Laadnet", operator_ids="BE*OCS")
        cpo.defaults = {"phone": "+32 9 265 81 11"}
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url=back_end.versions_url,
                            token=back_end.token)
        return cpo.id


def test_the_evse_status_patches_of_a_pulled_back_end_apply_without_a_put(db, relay, back_end):
    cpo_id = _laadnet(db, back_end)
    with db() as session:
        pulled = pull_locations(session, actor=SYSTEM, cpo_id=cpo_id, say=lambda line: None)
        assert pulled.stations_stored == 4  # the fourth Location is not published
        held = {row.location_id for row in session.exec(select(OcpiLocation)).all()}
        assert held == {f"LOC0000{n}" for n in range(1, 6)}
        token_c = registered(session, cpo_id, parties=(("BE", "OCS"),))

    location = back_end.location("LOC00001")
    evse = location["evses"][0]
    now = datetime.now(UTC)
    answer = relay.patch(f"/ocpi/2.2.1/locations/BE/OCS/LOC00001/{evse['uid']}", headers=auth(token_c),
                         json={"status": "OUTOFORDER", "last_updated": ocpi_datetime(now)})
    assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
    with db() as session:
        connector = session.exec(select(Connector).where(Connector.evse_id == evse["evse_id"])).first()
        assert (connector.status, connector.status_source) == ("Offline", "ocpi")

    # Older than what the pull brought: changes nothing.
    stale = datetime.fromisoformat(location["last_updated"].replace("Z", "+00:00")) - timedelta(days=1)
    answer = relay.patch(f"/ocpi/2.2.1/locations/BE/OCS/LOC00001/{evse['uid']}", headers=auth(token_c),
                         json={"status": "AVAILABLE", "last_updated": ocpi_datetime(stale)})
    assert answer.json()["status_code"] == 1000 and "nothing changed" in answer.json()["status_message"]
    with db() as session:
        connector = session.exec(select(Connector).where(Connector.evse_id == evse["evse_id"])).first()
        assert connector.status == "Offline"


def test_a_later_pull_replaces_what_is_held_only_where_newer(db, back_end):
    cpo_id = _laadnet(db, back_end)
    with db() as session:
        pull_locations(session, actor=SYSTEM, cpo_id=cpo_id, say=lambda line: None)
        before = {row.location_id: row.last_updated for row in session.exec(select(OcpiLocation)).all()}
    changed = {change["location_id"] for change in back_end.changes(2)}
    with db() as session:
        pull_locations(session, actor=SYSTEM, cpo_id=cpo_id, say=lambda line: None)  # what changed since
    with db() as session:
        after = {row.location_id: row for row in session.exec(select(OcpiLocation)).all()}
    assert set(after) == set(before)
    for location_id, row in after.items():
        now_there = back_end.location(location_id)
        if location_id in changed:
            assert row.last_updated > before[location_id] and row.data["evses"] == now_there["evses"]
        else:
            assert row.last_updated == before[location_id]
