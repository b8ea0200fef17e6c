"""The acting person, what each role may see and change, and local accounts.

Who may see and change what is decided here, and only here: ``Actor.sees``,
``can_edit`` and ``can_manage``; the checks built on them, which raise
PermissionDenied (``require_sees``, ``require_edit``, ``require_manage``); and
``seen_by`` and ``visible_cpo_ids``, which narrow a query to the CPOs a person
may see. So are the account rules: who may give which role, and reset the
passwords of which users (``grantable_roles``), and the password rule
(``check_password``).

Passwords are hashed with argon2 (argon2-cffi): a maintained, memory-hard
hash whose parameters are stored in the hash itself, so they can be raised
later without breaking existing accounts.
"""

import getpass
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, true
from sqlmodel import Session, func, select

from ..errors import NotFound, PermissionDenied, UserError
from .models import AuditLog, Cpo, Role, User, UserCpo, utcnow

_hasher = PasswordHasher()

# Roles that may see every CPO; CPO staff see only theirs, viewers none.
_ALL_CPOS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER})
_EDITORS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF})


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in person, or the system (CLI, bootstrap, workers)."""

    name: str
    role: Role
    cpo_ids: frozenset[int] = frozenset()

    @property
    def sees_all(self) -> bool:
        return self.role in _ALL_CPOS

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_manage(self) -> bool:
        """Register and deactivate CPOs, and manage users: admins and partner managers."""
        return self.role in _ALL_CPOS

    def sees(self, cpo_id: int) -> bool:
        return self.sees_all or cpo_id in self.cpo_ids

    def can_edit(self, cpo_id: int | None = None) -> bool:
        """May change this CPO's data (or, without a CPO, change anything at all)."""
        if self.role not in _EDITORS:
            return False
        return cpo_id is None or self.sees(cpo_id)


# The identity of command-line tools and background workers: they act for every CPO.
SYSTEM = Actor(name="system", role=Role.ADMIN)


def command_line_actor() -> Actor:
    """The person running a command: the system's powers, recorded under their login ('cli:alice')."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password database
        login = "unknown"
    return Actor(name=f"cli:{login}", role=SYSTEM.role)


# --- permission checks ------------------------------------------------------------------------


def require_sees(actor: Actor, cpo_ids: Iterable[int]) -> None:
    """Raise PermissionDenied unless this person may see every CPO of ``cpo_ids``."""
    hidden = sorted(cpo_id for cpo_id in cpo_ids if not actor.sees(cpo_id))
    if hidden:
        raise PermissionDenied(f"{actor.name} ({actor.role.value}) may not see CPO {hidden[0]}")


def require_edit(actor: Actor, cpo_id: int | None) -> None:
    """Raise PermissionDenied unless this person may change this CPO's data."""
    if not actor.can_edit(cpo_id):
        target = f"CPO {cpo_id}" if cpo_id is not None else "anything"
        raise PermissionDenied(f"{actor.name} ({actor.role.value}) may not change {target}")


def require_manage(actor: Actor) -> None:
    """Raise PermissionDenied unless this person may register CPOs and manage users."""
    if not actor.can_manage:
        raise PermissionDenied(f"{actor.name} ({actor.role.value}) may not register CPOs or manage users")


def seen_by(actor: Actor, cpo_id_column: ColumnElement) -> ColumnElement[bool]:
    """A WHERE condition that keeps the rows of the CPOs this person may see."""
    if actor.sees_all:
        return true()
    return cpo_id_column.in_(sorted(actor.cpo_ids))


def visible_cpo_ids(session: Session, *, actor: Actor, cpo_ids: Iterable[int] | None = None) -> list[int]:
    """Ids of the CPOs this person may see (active or not), in the order of their names.

    With ``cpo_ids``, only those; naming one the person may not see raises PermissionDenied
    rather than quietly answering with less.
    """
    query = select(Cpo.id).where(seen_by(actor, Cpo.id)).order_by(Cpo.name)
    if cpo_ids is not None:
        wanted = set(cpo_ids)
        require_sees(actor, wanted)
        query = query.where(Cpo.id.in_(sorted(wanted)))
    return list(session.exec(query).all())


# --- account rules ----------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 10


class AccountError(UserError):
    """A user cannot be created or changed as asked (duplicate name, unknown CPO, short password, ...)."""


def check_password(password: str) -> None:
    """Raise AccountError unless ``password`` follows the password rule."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def grantable_roles(actor: Actor) -> list[Role]:
    """The roles this person may give a user, and whose passwords they may reset: none unless they
    manage users; admin only by an admin."""
    if not actor.can_manage:
        return []
    return [role for role in Role if role != Role.ADMIN or actor.is_admin]


def _require_grantable(actor: Actor, role: Role, doing: str) -> None:
    # Resetting a password is taking over the account: allowed only for roles this person could give.
    if role not in grantable_roles(actor):
        raise PermissionDenied(f"{actor.name} ({actor.role.value}) may not {doing} {role.value} users")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A one-time password that is easy to type from a terminal: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


def _actor(session: Session, user: User) -> Actor:
    cpo_ids = session.exec(select(UserCpo.cpo_id).where(UserCpo.user_id == user.id)).all()
    return Actor(name=user.name, role=Role(user.role), cpo_ids=frozenset(cpo_ids))


# Failed sign-ins per user name within the window before further attempts are refused.
MAX_FAILED_SIGN_INS = 10
FAILED_SIGN_IN_WINDOW = timedelta(minutes=15)
_FAILED = "sign-in failed"


class TooManyAttempts(PermissionDenied):
    """Too many failed sign-ins for this user name recently; wait before trying again."""


def authenticate(session: Session, *, name: str, password: str) -> Actor | None:
    """The actor for these credentials, or None (unknown user, wrong password, inactive).

    Failures are recorded in the audit log (name only) and, past MAX_FAILED_SIGN_INS
    within FAILED_SIGN_IN_WINDOW, further attempts raise TooManyAttempts: the
    throttle lives in the database, so it holds across sessions and processes.
    """
    name = name.strip()[:100]
    since = utcnow() - FAILED_SIGN_IN_WINDOW
    failures = session.exec(
        select(func.count()).select_from(AuditLog)
        .where(AuditLog.action == _FAILED, AuditLog.user_name == name, AuditLog.at >= since)
    ).one()
    if failures >= MAX_FAILED_SIGN_INS:
        raise TooManyAttempts(f"too many failed sign-ins for {name!r}; try again in "
                              f"{int(FAILED_SIGN_IN_WINDOW.total_seconds() // 60)} minutes")
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        # Hash anyway so that an unknown name takes as long as a wrong password.
        verify_password(_dummy_hash(), password)
        session.add(AuditLog(user_name=name, action=_FAILED))
        return None
    if not verify_password(user.password_hash, password):
        session.add(AuditLog(user_name=name, action=_FAILED))
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    _audit(session, user.name, "signed in")
    return _actor(session, user)


def actor_for_user(session: Session, *, name: str) -> Actor | None:
    """The actor for an active user name (no password check: OIDC, tests, CLI)."""
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        return None
    return _actor(session, user)


def actor_for_email(session: Session, *, email: str) -> Actor | None:
    """The actor for an OIDC login, matched by e-mail address (case-insensitive)."""
    users = session.exec(select(User).where(User.active == True)).all()  # noqa: E712
    wanted = email.strip().lower()
    for user in users:
        if user.email and user.email.strip().lower() == wanted:
            return _actor(session, user)
    return None


def _audit(session: Session, actor_name: str, action: str, detail: str = "") -> None:
    session.add(AuditLog(user_name=actor_name, action=action, detail=detail))


def create_user(
    session: Session,
    *,
    actor: Actor,
    name: str,
    role: Role | str,
    password: str | None = None,
    cpo_names: tuple[str, ...] | list[str] = (),
    email: str | None = None,
) -> tuple[User, str]:
    """Create a user; returns it with its password (generated when not given).

    The password is returned once so the caller can show it once; only its hash is stored.
    """
    require_manage(actor)
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    try:
        role = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise AccountError(f"role {role!r} is not one of: {choices}") from None
    _require_grantable(actor, role, "create")
    if password:
        check_password(password)
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise AccountError(f"a user named {name!r} already exists")
    cpos = []
    for cpo_name in cpo_names:
        cpo = session.exec(select(Cpo).where(Cpo.name == cpo_name)).first()
        if cpo is None:
            raise AccountError(f"no CPO named {cpo_name!r}")
        cpos.append(cpo)
    if role == Role.CPO_STAFF and not cpos:
        raise AccountError("a CPO-staff user needs at least one CPO (--cpo NAME)")
    password = password or new_password()
    user = User(name=name, role=role, password_hash=hash_password(password), email=email)
    session.add(user)
    session.flush()
    for cpo in cpos:
        session.add(UserCpo(user_id=user.id, cpo_id=cpo.id))
    _audit(session, actor.name, "user created",
           f"user {name!r}, role {role.value}, CPOs {', '.join(cpo_names) or 'all or none'}")
    session.flush()
    return user, password


def set_password(session: Session, *, actor: Actor, name: str, password: str | None = None) -> str:
    """Replace a user's password; returns the new one (generated when not given).

    Only for users of a role the acting person may give (``grantable_roles``): a partner
    manager cannot reset an admin's password.
    """
    require_manage(actor)
    if password:
        check_password(password)
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    _require_grantable(actor, Role(user.role), "reset the password of")
    password = password or new_password()
    user.password_hash = hash_password(password)
    session.add(user)
    _audit(session, actor.name, "password reset", f"user {name!r}")
    session.flush()
    return password


def change_password(session: Session, *, name: str, old_password: str, new_password: str) -> bool:
    """Replace a user's own password after checking the current one; False if that was wrong.

    A new password that breaks the password rule raises AccountError.
    """
    check_password(new_password)
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not verify_password(user.password_hash, old_password):
        return False
    user.password_hash = hash_password(new_password)
    session.add(user)
    _audit(session, name, "password changed")
    session.flush()
    return True


def list_users(session: Session, *, actor: Actor) -> list[tuple[User, list[str]]]:
    """Every user with the names of the CPOs they are assigned to."""
    require_manage(actor)
    users = session.exec(select(User).order_by(User.name)).all()
    assigned: dict[int, list[str]] = {}
    for user_id, cpo_name in session.exec(
        select(UserCpo.user_id, Cpo.name).join(Cpo, Cpo.id == UserCpo.cpo_id).order_by(Cpo.name)
    ).all():
        assigned.setdefault(user_id, []).append(cpo_name)
    return [(user, assigned.get(user.id, [])) for user in users]


@cache
def _dummy_hash() -> str:
    """Hashed at the first sign-in of an unknown name, not when the module loads (every command paid ~0.4 s)."""
    return hash_password("not a real password")
