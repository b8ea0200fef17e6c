import pytest
from sqlmodel import select

from oioi_onboard.store.auth import (
    SYSTEM,
    AccountError,
    actor_for_email,
    actor_for_user,
    authenticate,
    change_password,
    create_user,
)
from oioi_onboard.store.models import Role, User
from oioi_onboard.testing.store import password_of


def test_authenticate_gives_the_actor_with_role_and_cpos(two_cpos, db):
    with db() as session:
        actor = authenticate(session, name="alice", password="alice-password-1")
    assert actor is not None
    assert actor.role == Role.CPO_STAFF
    assert actor.cpo_ids == frozenset({two_cpos["alpha"]})
    assert not actor.sees_all
    assert actor.can_edit(two_cpos["alpha"]) and not actor.can_edit(two_cpos["bravo"])


def test_wrong_password_unknown_user_and_inactive_user_are_refused(two_cpos, db):
    with db() as session:
        assert authenticate(session, name="alice", password="wrong") is None
        assert authenticate(session, name="nobody", password="alice-password-1") is None
        session.exec(select(User).where(User.name == "alice")).one().active = False
    with db() as session:
        assert authenticate(session, name="alice", password="alice-password-1") is None
        assert actor_for_user(session, name="alice") is None


def test_only_an_argon2_hash_is_stored(db):
    with db() as session:
        user, password = create_user(session, actor=SYSTEM, name="eve", role=Role.ADMIN)
        assert len(password) >= 16
        assert user.password_hash.startswith("$argon2")
        assert password not in user.password_hash


def test_roles_decide_what_an_actor_may_do(two_cpos):
    manager, viewer = two_cpos["maria"], two_cpos["victor"]
    assert manager.sees_all and manager.can_edit(two_cpos["bravo"]) and manager.can_manage_cpos
    assert not viewer.sees_all and not viewer.can_edit(two_cpos["alpha"]) and not viewer.can_edit()
    assert not two_cpos["alice"].can_manage_cpos


def test_create_user_refuses_duplicates_unknown_cpos_and_staff_without_cpo(two_cpos, db):
    with db() as session:
        with pytest.raises(AccountError, match="already exists"):
            create_user(session, actor=SYSTEM, name="alice", role=Role.VIEWER)
        with pytest.raises(AccountError, match="no CPO named 'Nope'"):
            create_user(session, actor=SYSTEM, name="carl", role=Role.CPO_STAFF, cpo_names=["Nope"])
        with pytest.raises(AccountError, match="at least one CPO"):
            create_user(session, actor=SYSTEM, name="carl", role=Role.CPO_STAFF)
        with pytest.raises(AccountError, match="not one of"):
            create_user(session, actor=SYSTEM, name="carl", role="superuser")


def test_oidc_users_are_matched_by_email_case_insensitively(db):
    with db() as session:
        create_user(session, actor=SYSTEM, name="olga", role=Role.PARTNER_MANAGER, email="Olga@Example.org")
    with db() as session:
        actor = actor_for_email(session, email="olga@example.org")
        assert actor is not None and actor.name == "olga"
        assert actor_for_email(session, email="someone@example.org") is None


def test_change_password_needs_the_current_one(two_cpos, db):
    with db() as session:
        assert not change_password(session, name="alice", old_password="wrong", new_password="new-password-123")
        assert change_password(session, name="alice", old_password="alice-password-1",
                               new_password="new-password-123")
    with db() as session:
        assert authenticate(session, name="alice", password="new-password-123") is not None
        assert authenticate(session, name="alice", password="alice-password-1") is None


def test_repeated_failed_sign_ins_are_throttled_in_the_database(two_cpos, db):
    from oioi_onboard.store.auth import MAX_FAILED_SIGN_INS, TooManyAttempts

    for _ in range(MAX_FAILED_SIGN_INS):
        with db() as session:
            assert authenticate(session, name="alice", password="guess") is None
    with db() as session:
        with pytest.raises(TooManyAttempts, match="too many failed sign-ins for 'alice'"):
            authenticate(session, name="alice", password="alice-password-1")
        # Another name is not affected, and the failures are in the audit log without the guesses.
        assert authenticate(session, name="bob", password=password_of("bob")) is not None
        from oioi_onboard.store.models import AuditLog

        failed = session.exec(select(AuditLog).where(AuditLog.action == "sign-in failed")).all()
        assert len(failed) == MAX_FAILED_SIGN_INS and all("guess" not in e.detail for e in failed)
