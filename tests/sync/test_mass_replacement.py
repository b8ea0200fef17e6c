"""The guard against mass replacement: a push that would delete most of a CPO's live stations while adding
about as many new ones (a file whose station ids differ: their column not mapped, ids generated) is refused
even with the deletions confirmed; only asking to replace them all lets it through."""

import pytest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.sync.diff import mass_replacement, plan_push
from oioi_onboard.sync.outbox import ConfirmationRequired, MassReplacement, enqueue_plan
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station


@pytest.fixture
def live_cpo():
    """A CPO whose four stations the endpoint acknowledged."""
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Live CPO")
        record = new_import(session, cpo.id)
        for n in range(1, 5):
            store_station(session, cpo.id, station_payload(n), import_id=record.id, acked=True)
        return cpo.id


def _upload(cpo_id: int, numbers: range, prefix: str = "S") -> None:
    with session_scope() as session:
        record = new_import(session, cpo_id)  # a full upload: what it lacks is deleted at the endpoint
        for n in numbers:
            store_station(session, cpo_id, station_payload(n, prefix=prefix), import_id=record.id)


def test_the_same_stations_under_other_ids_are_refused_even_with_deletions_confirmed(live_cpo):
    _upload(live_cpo, range(1, 5), prefix="G")  # the same four, their ids generated
    with session_scope() as session:
        plan = plan_push(session, actor=SYSTEM, cpo_id=live_cpo)
        assert (plan.counts["deleted"], plan.counts["new"]) == (4, 4)
        assert mass_replacement(plan) == ("4 of the 4 stations the endpoint holds would be deleted and 4 new ones "
                                          "pushed: station ids differ: is the station id column mapped?")
        with pytest.raises(MassReplacement, match="is the station id column mapped"):
            enqueue_plan(session, actor=SYSTEM, plan=plan, confirm_deletions=True, confirm_connector_changes=True)
        assert issubclass(MassReplacement, ConfirmationRequired)
        run = enqueue_plan(session, actor=SYSTEM, plan=plan, replace_all=True)
        assert (run.total, run.new, run.deleted) == (8, 4, 4)


@pytest.mark.parametrize(("numbers", "why"), [
    (range(1, 5), "nothing changed"),
    (range(2, 6), "one station removed, one added: a normal change"),
    (range(3, 5), "two of four removed, none added"),
])
def test_ordinary_changes_are_not_taken_for_a_replacement(live_cpo, numbers, why):
    _upload(live_cpo, numbers)
    with session_scope() as session:
        assert mass_replacement(plan_push(session, actor=SYSTEM, cpo_id=live_cpo)) is None, why
