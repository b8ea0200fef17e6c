"""Queries are scoped by role: a CPO-staff user cannot read or change another CPO's data."""

from datetime import UTC, datetime

import pytest

from oioi_onboard.errors import PermissionDenied
from oioi_onboard.oioi.ids import new_partner_identifier
from oioi_onboard.store import auth, queries, registry
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import (
    Cpo,
    ImportRecord,
    Outbox,
    OutboxState,
    Stage,
)
from oioi_onboard.testing.store import add_station_row, make_cpo


def test_staff_see_only_their_cpo(two_cpos, db):
    alice = two_cpos["alice"]
    with db() as session:
        assert auth.visible_cpo_ids(session, actor=alice) == [two_cpos["alpha"]]
        assert [c.name for c in queries.list_cpos(session, actor=alice)] == ["Alpha"]
        assert queries.get_cpo(session, actor=alice, name="Alpha").id == two_cpos["alpha"]
        with pytest.raises(PermissionDenied):
            queries.get_cpo(session, actor=alice, cpo_id=two_cpos["bravo"])
        with pytest.raises(PermissionDenied):
            queries.get_cpo(session, actor=alice, name="Bravo")
        with pytest.raises(PermissionDenied):
            queries.cpo_credentials(session, actor=alice, cpo_id=two_cpos["bravo"])
        assert list(queries.overview(session, actor=alice)["CPO"]) == ["Alpha"]
        assert [row["cpo_name"] for row in registry.registration_sheet(session, actor=alice)] == ["Alpha"]
        assert all(entry.cpo_id == two_cpos["alpha"] for entry in queries.audit_log(session, actor=alice))
        with pytest.raises(PermissionDenied):
            queries.audit_log(session, actor=alice, cpo_id=two_cpos["bravo"])


def test_staff_cannot_change_another_cpo(two_cpos, db):
    alice, bravo = two_cpos["alice"], two_cpos["bravo"]
    with db() as session:
        with pytest.raises(PermissionDenied):
            registry.update_cpo(session, actor=alice, cpo_id=bravo, name="Taken over")
        with pytest.raises(PermissionDenied):
            registry.set_api_key(session, actor=alice, cpo_id=bravo, api_key="stolen-key-000000")
        with pytest.raises(PermissionDenied):
            registry.deactivate_cpo(session, actor=alice, cpo_id=bravo)
        with pytest.raises(PermissionDenied):
            registry.register_cpo(session, actor=alice, name="Own", operator_ids=["DE*OWN"], endpoint="sandbox",
                                  api_key=None)
        with pytest.raises(PermissionDenied):
            auth.require_edit(alice, bravo)
        auth.require_edit(alice, two_cpos["alpha"])
        # Her own CPO she may edit, but not deactivate (that is a partner manager's call).
        registry.update_cpo(session, actor=alice, cpo_id=two_cpos["alpha"], endpoint="staging")
        with pytest.raises(PermissionDenied):
            registry.deactivate_cpo(session, actor=alice, cpo_id=two_cpos["alpha"])
    with db() as session:
        assert session.get(Cpo, bravo).name == "Bravo"
        assert session.get(Cpo, bravo).active


def test_managers_see_all_viewers_none(two_cpos, db):
    with db() as session:
        assert len(queries.list_cpos(session, actor=two_cpos["maria"])) == 2
        assert auth.visible_cpo_ids(session, actor=two_cpos["victor"]) == []
        assert queries.overview(session, actor=two_cpos["victor"]).empty
        with pytest.raises(PermissionDenied):
            queries.get_cpo(session, actor=two_cpos["victor"], cpo_id=two_cpos["alpha"])
        with pytest.raises(PermissionDenied):
            auth.require_edit(two_cpos["victor"], None)


def test_get_cpo_unknown_is_a_lookup_error(two_cpos, db):
    with db() as session:
        with pytest.raises(LookupError, match="no registered CPO named 'Nope'"):
            queries.get_cpo(session, actor=SYSTEM, name="Nope")
        with pytest.raises(LookupError):
            queries.get_cpo(session, actor=SYSTEM, cpo_id=999)


def test_inactive_cpos_are_listed_only_when_asked(two_cpos, db):
    with db() as session:
        registry.deactivate_cpo(session, actor=two_cpos["maria"], cpo_id=two_cpos["bravo"])
        assert [c.name for c in queries.list_cpos(session, actor=SYSTEM)] == ["Alpha"]
        assert len(queries.list_cpos(session, actor=SYSTEM, include_inactive=True)) == 2


def test_credentials_resolve_named_endpoints(two_cpos, db):
    with db() as session:
        url, key, partner = queries.cpo_credentials(session, actor=SYSTEM, cpo_id=two_cpos["bravo"])
        assert url == queries.PRODUCTION_URL and key.startswith("key-of-bravo") and partner == two_cpos["bravo_pids"][0]
        url, _, _ = queries.cpo_credentials(session, actor=two_cpos["alice"], cpo_id=two_cpos["alpha"])
        assert url.startswith("http://127.0.0.1:")
        cpo = make_cpo(session, name="Keyless", operator_ids="FR*KEY",
                       endpoint="https://oioi.example.com/api/v4/request")
        with pytest.raises(LookupError, match="no API key"):
            queries.cpo_credentials(session, actor=SYSTEM, cpo_id=cpo.id)
    assert queries.resolve_endpoint("staging") == "https://dev-api.plugsurfing.com/api/v4/request"


def test_operator_id_owner_accepts_any_spelling(two_cpos, db):
    with db() as session:
        assert queries.operator_id_owner(session, operator_id="DE*ALP") == two_cpos["alpha"]
        assert queries.operator_id_owner(session, operator_id="de alp".replace(" ", "")) == two_cpos["alpha"]
        assert queries.operator_id_owner(session, operator_id="at*brv") == two_cpos["bravo"]
        assert queries.operator_id_owner(session, operator_id="DE*XYZ") is None
        assert queries.operator_id_owner(session, operator_id="garbage") is None


def test_stage_only_moves_forward(two_cpos, db):
    alpha = two_cpos["alpha"]
    with db() as session:
        assert queries.set_stage(session, cpo_id=alpha, stage=Stage.FULL_LOAD_PUSHED)
        assert not queries.set_stage(session, cpo_id=alpha, stage=Stage.STATIONS_VALIDATED)
        assert not queries.set_stage(session, cpo_id=alpha, stage="full_load_pushed")
    with db() as session:
        assert session.get(Cpo, alpha).stage == Stage.FULL_LOAD_PUSHED
        assert queries.overview(session, actor=SYSTEM).set_index("CPO").loc["Alpha", "stage"] == "full load pushed"


def test_overview_counts_stations_connectors_and_open_problems(two_cpos, db):
    alpha, bravo = two_cpos["alpha"], two_cpos["bravo"]
    with db() as session:
        add_station_row(session, cpo_id=alpha, station_id="S1", operator_id="DE*ALP", connectors=2)
        add_station_row(session, cpo_id=alpha, station_id="S2", operator_id="DE*ALP", connectors=3)
        # S3 is gone: not counted.
        add_station_row(session, cpo_id=alpha, station_id="S3", operator_id="DE*ALP", connectors=4, deleted=True)
        add_station_row(session, cpo_id=bravo, station_id="B1", operator_id="AT*BRV", connectors=1)
        for state in (OutboxState.FAILED, OutboxState.FAILED, OutboxState.ACKED):
            session.add(Outbox(cpo_id=alpha, kind="station-post", key="S1", payload={}, payload_sha256="z",
                               state=state))
        session.add(ImportRecord(cpo_id=alpha, user_name="alice", file_name="old.csv", file_sha256="a", errors=50))
        session.flush()
        latest = ImportRecord(cpo_id=alpha, user_name="alice", file_name="new.csv", file_sha256="b", errors=3,
                              at=datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC))
        session.add(latest)
    with db() as session:
        frame = queries.overview(session, actor=SYSTEM).set_index("CPO")
    assert frame.loc["Alpha", "stations"] == 2
    assert frame.loc["Alpha", "connectors"] == 5
    assert frame.loc["Alpha", "open problems"] == 2 + 3  # two failed pushes, three errors in the latest import
    assert frame.loc["Bravo", "stations"] == 1 and frame.loc["Bravo", "open problems"] == 0
    # The latest of all activity:
    assert frame.loc["Alpha", "last activity"] == datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert frame.loc["Bravo", "last activity"] < datetime(2099, 1, 1, tzinfo=UTC)


def test_partner_identifiers_are_listed_in_order(two_cpos, db):
    extra = new_partner_identifier()
    with db() as session:
        first = two_cpos["alpha_pids"][0]
        registry.update_cpo(session, actor=SYSTEM, cpo_id=two_cpos["alpha"], partner_identifiers=[first, extra])
        assert queries.cpo_partner_identifiers(session, cpo_id=two_cpos["alpha"]) == [first, extra]
