"""A CPO's station list is its latest full upload: the plan, the overview, the onboarding and the live views agree.

A small full upload after a big one (6 of 280 in a walkthrough) left the other stations counted as "Unchanged
(not sent)" on the Push page and as stations on the Overview and the live map. Now stations left out of the
latest full upload are off the list everywhere; those the endpoint holds are proposed as deletions.
"""

import pytest
from sqlalchemy import select

from oioi_onboard.store import onboarding, queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Station
from oioi_onboard.store.station_list import latest_full_import_ids, listed, missing_from_upload
from oioi_onboard.store.stations import UploadDrops, upload_drops
from oioi_onboard.sync import live
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station

BACKENDS = ["db", pytest.param("on_postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]


def sid(n: int) -> str:
    return station_payload(n)["id"]


@pytest.fixture(params=BACKENDS)
def cpo_id(request) -> int:
    """A CPO whose first full upload held stations 1-8: 1-5 acknowledged by the endpoint, 6-8 never pushed;
    its latest full upload names 1 and 2 only."""
    request.getfixturevalue(request.param)
    with session_scope() as session:
        cpo = make_cpo(session, name="Listed CPO")
        first = new_import(session, cpo.id, stations=8, connectors=8)
        for n in range(1, 9):
            store_station(session, cpo.id, station_payload(n), import_id=first.id, acked=n <= 5)
        latest = new_import(session, cpo.id, stations=2, connectors=2)
        for n in (1, 2):
            store_station(session, cpo.id, station_payload(n), import_id=latest.id, acked=True)
        return cpo.id


def test_stations_left_out_of_the_latest_full_upload_are_off_every_list(cpo_id):
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=cpo_id)
        # 3-5 are held by the endpoint: deletions to push; 6-8 never were: nothing to send, not "unchanged".
        assert plan.counts == {"new": 0, "changed": 0, "connectors_changed": 0, "deleted": 3, "unchanged": 2}
        assert {item.station_id for item in plan.to_send} == {sid(3), sid(4), sid(5)}

        row = queries.overview(session, actor=SYSTEM).set_index("cpo_id").loc[cpo_id]
        assert (row["stations"], row["connectors"]) == (2, 2)
        assert set(live.live_stations(session, actor=SYSTEM, cpo_ids=[cpo_id])["station_id"]) == {sid(1), sid(2)}
        assert set(live.live_connectors(session, actor=SYSTEM, cpo_ids=[cpo_id])["station_id"]) == {sid(1), sid(2)}
        assert live.evse_ids(session, actor=SYSTEM, cpo_id=cpo_id) == sorted(
            c["id"] for n in (1, 2) for c in station_payload(n)["connectors"])
        steps = onboarding.cpo_onboarding(session, actor=SYSTEM, cpo_id=cpo_id)
        assert steps.step("import").detail == "2 stations stored"
        assert steps.step("push").detail == "3 deletions to push"


def test_a_replacement_is_listed_while_the_station_it_replaces_is_in_the_latest_full_upload(cpo_id):
    """``<id>-N`` (a station whose connectors changed, pushed under a new id) is never in a file."""
    with session_scope() as session:
        first = new_import(session, cpo_id)
        for n, replaces in ((20, sid(20)), (21, sid(21)), (22, None), (23, sid(23))):  # 22: its own name, no stand-in
            row = store_station(session, cpo_id, dict(station_payload(n), id=f"{sid(n)}-2"), import_id=first.id,
                                acked=True)
            row.replaces = replaces
            session.add(row)
        latest = new_import(session, cpo_id)
        for n in (1, 2, 20, 22, 23):
            store_station(session, cpo_id, station_payload(n), import_id=latest.id, acked=True)
        withdrawn = store_station(session, cpo_id, station_payload(23), import_id=latest.id, acked=True)
        withdrawn.deleted = True  # removed here after the upload: its stand-in goes too
        session.add(withdrawn)
    with session_scope() as session:
        shown = set(session.execute(select(Station.station_id).where(Station.cpo_id == cpo_id,
                                                                     listed(session, [cpo_id]))).scalars())
        # 20-2 stands in for 20, which is in the upload; 21-2 for 21, which is not; 22-2 is a station of its own.
        assert shown == {sid(1), sid(2), sid(20), f"{sid(20)}-2", sid(22)}
        # Usable on its own too (PostgreSQL may plan it as a join rather than a filter).
        missing = missing_from_upload(latest_full_import_ids(session, [cpo_id]))
        gone = set(session.execute(select(Station.station_id).where(Station.cpo_id == cpo_id, missing)).scalars())
        assert gone == {sid(n) for n in range(3, 9)} | {f"{sid(n)}-2" for n in (21, 22, 23)}
        # A full upload naming 20 keeps its stand-in.
        assert upload_drops(session, actor=SYSTEM, cpo_id=cpo_id, station_ids=[sid(1), sid(2), sid(20), sid(22)]) \
            == UploadDrops(0, 0)


def test_a_full_upload_says_which_listed_stations_it_leaves_out(cpo_id):
    with session_scope() as session:
        assert upload_drops(session, actor=SYSTEM, cpo_id=cpo_id, station_ids=[sid(1), sid(2), sid(9)]) \
            == UploadDrops(0, 0)
        # Station 2 is listed and acknowledged: leaving it out of the next upload proposes its deletion.
        assert upload_drops(session, actor=SYSTEM, cpo_id=cpo_id, station_ids=[sid(1)]) == UploadDrops(1, 1, (sid(2),))
        partial = new_import(session, cpo_id, full_upload=False)  # adds to the list, replaces nothing
        store_station(session, cpo_id, station_payload(10), import_id=partial.id)
        assert upload_drops(session, actor=SYSTEM, cpo_id=cpo_id, station_ids=[sid(1)]) \
            == UploadDrops(2, 1, (sid(2), sid(10)))
        for n in range(11, 17):
            store_station(session, cpo_id, station_payload(n), import_id=partial.id)
        # Named by the first few ids only: a file of another CPO would leave out the whole list.
        assert upload_drops(session, actor=SYSTEM, cpo_id=cpo_id, station_ids=[]) \
            == UploadDrops(9, 2, (sid(1), sid(2), sid(10), sid(11), sid(12)))
