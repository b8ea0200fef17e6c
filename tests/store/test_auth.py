import pytest
from sqlmodel import select

from oioi_onboard.errors import PermissionDenied
from oioi_onboard.store.auth import (
    MIN_PASSWORD_LENGTH,
    SYSTEM,
    AccountError,
    actor_for_email,
    actor_for_user,
    authenticate,
    change_password,
    create_user,
    grantable_roles,
    list_users,
    set_password,
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
    assert manager.sees_all and manager.can_edit(two_cpos["bravo"]) and manager.can_manage
    assert not viewer.sees_all and not viewer.can_edit(two_cpos["alpha"]) and not viewer.can_edit()
    assert not two_cpos["alice"].can_manage


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


def test_every_way_to_set_a_password_keeps_the_password_rule(two_cpos, db):
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    with db() as session:
        with pytest.raises(AccountError, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
            create_user(session, actor=SYSTEM, name="carl", role=Role.VIEWER, password=short)
        with pytest.raises(AccountError, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
            set_password(session, actor=SYSTEM, name="alice", password=short)
        with pytest.raises(AccountError, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
            change_password(session, name="alice", old_password=password_of("alice"), new_password=short)
    with db() as session:
        assert actor_for_user(session, name="carl") is None
        assert authenticate(session, name="alice", password=password_of("alice")) is not None
        create_user(session, actor=SYSTEM, name="carl", role=Role.VIEWER, password=short + "x")
        assert len(set_password(session, actor=SYSTEM, name="carl")) >= MIN_PASSWORD_LENGTH  # generated


def test_partner_managers_manage_users_but_make_no_admins(two_cpos, db):
    maria, alice = two_cpos["maria"], two_cpos["alice"]
    assert Role.ADMIN not in grantable_roles(maria) and Role.PARTNER_MANAGER in grantable_roles(maria)
    assert grantable_roles(two_cpos["admin"]) == list(Role)
    assert grantable_roles(alice) == grantable_roles(two_cpos["victor"]) == []
    with db() as session:
        create_user(session, actor=maria, name="carl", role=Role.CPO_STAFF, cpo_names=["Bravo"])
        assert "carl" in [user.name for user, _ in list_users(session, actor=maria)]
        with pytest.raises(PermissionDenied, match="may not create admin users"):
            create_user(session, actor=maria, name="dora", role=Role.ADMIN)
        for call in (lambda: create_user(session, actor=alice, name="erik", role=Role.VIEWER),
                     lambda: set_password(session, actor=alice, name="bob"),
                     lambda: list_users(session, actor=alice)):
            with pytest.raises(PermissionDenied, match="may not register CPOs or manage users"):
                call()


def test_a_partner_manager_resets_only_the_passwords_of_roles_they_may_give(two_cpos, db):
    maria = two_cpos["maria"]
    with db() as session:
        with pytest.raises(PermissionDenied, match=r"maria \(partner_manager\) may not reset the password of admin"):
            set_password(session, actor=maria, name="admin", password="taken-over-123")
        for name in ("maria", "alice", "victor"):
            assert set_password(session, actor=maria, name=name)
        assert set_password(session, actor=two_cpos["admin"], name="admin", password="admin-reset-123")
    with db() as session:
        assert authenticate(session, name="admin", password="taken-over-123") is None
        assert authenticate(session, name="admin", password="admin-reset-123") is not None
