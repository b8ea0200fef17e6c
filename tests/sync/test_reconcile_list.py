"""Reconcile with the sandbox follows the CPO's station list: a station a full upload left out is a deletion to push
until the endpoint acknowledges it, and one never pushed is nothing to compare (newcomer walkthrough: both showed as
'local changes not pushed' / 'not pushed yet' after the deletions were acknowledged)."""

import asyncio

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync.diff import plan_push
from oioi_onboard.sync.outbox import enqueue_plan
from oioi_onboard.sync.progress import reconcile
from oioi_onboard.sync.worker import run_worker
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station


def sid(n: int) -> str:
    return station_payload(n)["id"]


def _upload(cpo_id: int, numbers: tuple[int, ...]) -> None:
    with session_scope() as session:
        record = new_import(session, cpo_id)  # a full upload of these stations
        for n in numbers:
            store_station(session, cpo_id, station_payload(n), import_id=record.id)


def _push(cpo_id: int) -> None:
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo_id),
                     confirm_deletions=True)
    asyncio.run(run_worker(once=True, poll_interval=0.05))


def _rows(cpo_id: int, sandbox) -> dict[str, tuple[str, bool]]:
    with session_scope() as session:
        frame = reconcile(session, actor=SYSTEM, cpo_id=cpo_id, sandbox_base_url=sandbox.base_url)
    return {station: (verdict, local) for station, verdict, local
            in frame[["station", "verdict", "local changes not pushed"]].itertuples(index=False)}


def test_reconcile_follows_the_station_list(fresh_sandbox):
    migrate()
    with session_scope() as session:
        cpo_id = make_cpo(session, endpoint=fresh_sandbox.url, api_key=fresh_sandbox.api_key,
                          partner_ids=fresh_sandbox.partner_id).id
    _upload(cpo_id, (1, 2, 3))
    _push(cpo_id)
    _upload(cpo_id, (1, 4))  # 2 and 3 leave the list; 4 is new
    assert _rows(cpo_id, fresh_sandbox) == {
        sid(1): ("in sync", False), sid(2): ("in sync", True), sid(3): ("in sync", True),  # deletions to push
        sid(4): ("not pushed yet", False)}
    _upload(cpo_id, (1,))  # 4 leaves the list before it was ever pushed: nothing of it to compare
    _push(cpo_id)
    assert _rows(cpo_id, fresh_sandbox) == {
        sid(1): ("in sync", False), sid(2): ("in sync", False), sid(3): ("in sync", False)}
