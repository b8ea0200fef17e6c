import csv
import io
import json

import pytest
from sqlmodel import select

from oioi_onboard.oioi.ids import check_partner_identifier
from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import AuditLog, Cpo, Station
from oioi_onboard.store.registry import (
    RegistrationError,
    register_cpo,
    registration_sheet,
    registration_sheet_csv,
    registration_sheet_json,
    set_api_key,
    update_cpo,
)
from tests.conftest import API_KEY_A, API_KEY_B


def _register(session, **overrides):
    fields = dict(actor=SYSTEM, name="Charlie", operator_ids=["DE*CHA"], endpoint="sandbox", api_key="charlie-key-1")
    fields.update(overrides)
    return register_cpo(session, **fields)


def test_register_generates_a_valid_partner_identifier_and_canonical_operator_ids(db):
    with db() as session:
        cpo, partner_ids = _register(session, operator_ids=["de*cha", "AT9XY"])
        assert len(partner_ids) == 1 and check_partner_identifier(partner_ids[0])
        assert len(partner_ids[0]) >= 16
        assert queries.cpo_operator_ids(session, cpo_id=cpo.id) == ["DE*CHA", "AT*9XY"]
        assert cpo.api_key_last4 == "ey-1"
        other, other_ids = _register(session, name="Delta", operator_ids=["DE*DEL"])
        assert other_ids != partner_ids


def test_every_problem_is_reported_per_field_at_once(two_cpos, db):
    with db() as session:
        with pytest.raises(RegistrationError) as raised:
            register_cpo(session, actor=SYSTEM, name="alpha", operator_ids=["DE-8PS", "XX*ABC", "DE*ALP"],
                         endpoint="ftp://example.com", api_key="short", partner_identifiers=["aaaa"])
    errors = raised.value.errors
    assert set(errors) == {"name", "operator_ids", "endpoint", "api_key", "partner_identifiers"}
    assert "already exists" in errors["name"]
    assert "'DE-8PS' is not of the form CC*XXX, e.g. DE*8PS" in errors["operator_ids"]
    assert "'XX' is not an ISO 3166-1 alpha-2 country" in errors["operator_ids"]
    assert "DE*ALP is already registered to CPO 'Alpha'" in errors["operator_ids"]
    assert "neither sandbox, staging, production nor an http(s) URL" in errors["endpoint"]
    assert "at least 16 characters" in errors["partner_identifiers"]
    with db() as session:
        assert len(session.exec(select(Cpo)).all()) == 2  # nothing was stored


def test_operator_ids_are_required_and_unique_within_the_request(db):
    with db() as session:
        with pytest.raises(RegistrationError, match="at least one operator id"):
            _register(session, operator_ids=[])
        with pytest.raises(RegistrationError, match="listed twice"):
            _register(session, operator_ids="DE*CHA, de*cha")


def test_partner_identifier_given_by_the_platform_is_kept_and_unique(two_cpos, db):
    given = "Pl4tf0rm-Issued-XyZ-123"
    with db() as session:
        _, partner_ids = _register(session, partner_identifiers=[given])
        assert partner_ids == [given]
        with pytest.raises(RegistrationError, match="already used by another CPO"):
            _register(session, name="Echo", operator_ids=["DE*ECH"], partner_identifiers=[given])


def test_custom_endpoint_is_stored_and_api_key_is_optional(db):
    with db() as session:
        cpo, _ = _register(session, endpoint="https://oioi.example.com/api/v4/request", api_key=None)
        assert cpo.endpoint == "https://oioi.example.com/api/v4/request"
        assert cpo.api_key_encrypted is None and cpo.api_key_last4 is None


def test_update_changes_fields_and_writes_the_audit_log(two_cpos, db):
    alpha = two_cpos["alpha"]
    with db() as session:
        update_cpo(session, actor=two_cpos["alice"], cpo_id=alpha, name="Alpha Energie",
                   operator_ids="DE*ALP, DE*AL2", endpoint="staging")
    with db() as session:
        cpo = session.get(Cpo, alpha)
        assert (cpo.name, cpo.endpoint) == ("Alpha Energie", "staging")
        assert queries.cpo_operator_ids(session, cpo_id=alpha) == ["DE*ALP", "DE*AL2"]
        entry = session.exec(select(AuditLog).where(AuditLog.action == "cpo updated")).one()
        assert entry.user_name == "alice" and "Alpha Energie" in entry.detail and "staging" in entry.detail


def test_update_refuses_taken_operator_ids_and_removing_used_ones(two_cpos, db):
    alpha = two_cpos["alpha"]
    with db() as session:
        with pytest.raises(RegistrationError, match="already registered to CPO 'Bravo'"):
            update_cpo(session, actor=SYSTEM, cpo_id=alpha, operator_ids=["DE*ALP", "AT*BRV"])
        session.add(Station(cpo_id=alpha, station_id="S1", name="S1", latitude=1, longitude=1,
                            cpo_operator_id="DE*ALP", payload={}, payload_sha256="x", connectors_signature="y"))
        session.flush()
        with pytest.raises(RegistrationError, match="DE\\*ALP still have stations"):
            update_cpo(session, actor=SYSTEM, cpo_id=alpha, operator_ids=["DE*NEW"])
        with pytest.raises(RegistrationError, match="name"):
            update_cpo(session, actor=SYSTEM, cpo_id=alpha, name="BRAVO")


def test_set_api_key_unpauses_and_keeps_only_last4_visible(two_cpos, db):
    alpha = two_cpos["alpha"]
    with db() as session:
        session.get(Cpo, alpha).paused_reason = "the API key was rejected"
        assert set_api_key(session, actor=SYSTEM, cpo_id=alpha, api_key="  brand-new-key-wxyz \n") == "wxyz"
        with pytest.raises(RegistrationError, match="spaces or line breaks"):
            set_api_key(session, actor=SYSTEM, cpo_id=alpha, api_key="two words-here")
    with db() as session:
        cpo = session.get(Cpo, alpha)
        assert cpo.paused_reason is None
        assert queries.cpo_credentials(session, actor=SYSTEM, cpo_id=alpha)[1] == "brand-new-key-wxyz"


def test_registration_sheet_has_ids_and_never_the_key(two_cpos, db):
    with db() as session:
        rows = registration_sheet(session, actor=two_cpos["maria"])
    assert rows == [
        {"cpo_name": "Alpha", "operator_ids": ["DE*ALP"], "partner_identifiers": two_cpos["alpha_pids"]},
        {"cpo_name": "Bravo", "operator_ids": ["AT*BRV"], "partner_identifiers": two_cpos["bravo_pids"]},
    ]
    as_csv = registration_sheet_csv(rows)
    as_json = registration_sheet_json(rows)
    parsed = list(csv.DictReader(io.StringIO(as_csv)))
    assert parsed[1] == {"cpo_name": "Bravo", "operator_ids": "AT*BRV",
                         "partner_identifiers": two_cpos["bravo_pids"][0]}
    assert json.loads(as_json)["cpos"] == rows
    for text in (as_csv, as_json):
        for key in (API_KEY_A, API_KEY_B, API_KEY_A[-8:], API_KEY_B[-8:]):
            assert key not in text
