"""The CPO's OCPI connection: the token encrypted at rest like an API key, checked changes, audited without it."""

import pytest
from sqlmodel import select

from oioi_onboard.errors import PermissionDenied
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import AuditLog, Cpo, Role
from oioi_onboard.store.ocpi_connection import (
    clear_ocpi_connection,
    ocpi_connection,
    record_pull,
    remember_token_encoding,
    set_ocpi_connection,
)
from oioi_onboard.store.registry import RegistrationError
from oioi_onboard.store.secrets import decrypt_ocpi_token
from oioi_onboard.testing.store import make_user

TOKEN = "ocpi-token-of-ours-7c1e"


def test_the_token_is_stored_encrypted_and_read_back_for_the_pull(db, cpo):
    with db() as session:
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id,
                            versions_url="https://csms.example.com/ocpi/versions", token=TOKEN)
    with db() as session:
        row = session.get(Cpo, cpo.id)
        assert TOKEN not in row.ocpi_token_encrypted and decrypt_ocpi_token(row.ocpi_token_encrypted) == TOKEN
        assert (row.ocpi_token_last4, row.ocpi_token_plain, row.ocpi_pull_minutes) == ("7c1e", False, 15)
        connection = ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert (connection.versions_url, connection.token) == ("https://csms.example.com/ocpi/versions", TOKEN)
        assert TOKEN not in repr(connection)
        entries = session.exec(select(AuditLog).where(AuditLog.action == "ocpi connection set"))
        details = [entry.detail for entry in entries]
        assert details == ["versions URL https://csms.example.com/ocpi/versions; token ends in 7c1e"]
        assert not any(TOKEN in entry.detail for entry in session.exec(select(AuditLog)))


def test_a_new_url_starts_the_pulls_over_and_a_new_token_tries_base64_first_again(db, cpo):
    from datetime import UTC, datetime

    when = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with db() as session:
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url="http://127.0.0.1:9/ocpi/versions",
                            token=TOKEN)
        record_pull(session, cpo_id=cpo.id, started_at=when, full=True, message="3 Locations")
        remember_token_encoding(session, cpo_id=cpo.id, plain=True)
        connection = ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert (connection.token_plain, connection.last_pull_started_at, connection.last_full_pull_at) == (
            True, when, when)

        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, token="another-token-0042")  # the URL stays
        connection = ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert (connection.token, connection.token_plain, connection.last_pull_started_at) == (
            "another-token-0042", False, when)

        set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url="http://127.0.0.1:10/ocpi/versions")
        connection = ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert (connection.token, connection.last_pull_started_at, connection.last_full_pull_at) == (
            "another-token-0042", None, None)

        clear_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id)
        assert ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id) is None


def test_wrong_input_is_refused_field_by_field(db, cpo):
    with db() as session:
        with pytest.raises(RegistrationError) as refused:
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url="csms.example.com/ocpi",
                                token="has a space")
        assert set(refused.value.errors) == {"ocpi_versions_url", "ocpi_token"}
        assert "not an http(s) URL" in refused.value.errors["ocpi_versions_url"]
        with pytest.raises(RegistrationError, match="longer than 64 characters"):
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url="https://x.example/v",
                                token="t" * 65)
        with pytest.raises(RegistrationError, match="no OCPI token yet"):
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, versions_url="https://x.example/v")
        assert session.get(Cpo, cpo.id).ocpi_versions_url is None


def test_a_versions_url_with_a_user_and_password_is_refused_without_showing_them(db, cpo):
    with db() as session:
        with pytest.raises(RegistrationError) as refused:
            set_ocpi_connection(session, actor=SYSTEM, cpo_id=cpo.id, token=TOKEN,
                                versions_url="https://csms:s3cret-pw@csms.example.com/ocpi/versions")
        message = refused.value.errors["ocpi_versions_url"]
        assert "must not hold a user name or password" in message and "csms.example.com" in message
        assert "s3cret-pw" not in str(refused.value.errors) and session.get(Cpo, cpo.id).ocpi_versions_url is None


def test_only_who_may_edit_the_cpo_sets_its_connection(db, cpo, other_cpo):
    with db() as session:
        staff = make_user(session, "staff", Role.CPO_STAFF, cpo_names=["Ours"])
        viewer = make_user(session, "viewer", Role.VIEWER, cpo_names=["Ours"])
        set_ocpi_connection(session, actor=staff, cpo_id=cpo.id, versions_url="https://x.example/v", token=TOKEN)
        with pytest.raises(PermissionDenied):
            set_ocpi_connection(session, actor=viewer, cpo_id=cpo.id, versions_url="https://x.example/v",
                                token=TOKEN)
        with pytest.raises(PermissionDenied):
            set_ocpi_connection(session, actor=staff, cpo_id=other_cpo.id, versions_url="https://x.example/v",
                                token=TOKEN)
