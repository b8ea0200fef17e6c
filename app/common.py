"""What every page shares: the database session, the login gate and the acting person.

Pages call ``current_actor()`` (or ``require_role``) first; the login form or
Streamlit's OIDC login is shown until someone is signed in. Whatever a page
shows is then fetched from the library with that actor, which decides what the
person may see (``oioi_onboard.store.auth``).
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from sqlmodel import Session

from oioi_onboard.errors import OnboardError
from oioi_onboard.settings import get_settings
from oioi_onboard.store import (
    SESSION_SECONDS,
    AccountError,
    Actor,
    Role,
    TooManyAttempts,
    actor_for_email,
    actor_for_user,
    authenticate,
    change_password,
    get_engine,
    session_scope,
    session_token,
    session_user,
)
from oioi_onboard.wording import counted  # noqa: F401 - for the pages too

SESSION_USER = "oioi_user"  # st.session_state key: the signed-in local user's name
SESSION_COOKIE = "oioi_session"  # a signed, expiring token: a reload keeps the user signed in
_COOKIE_PENDING = "oioi_cookie_pending"  # the cookie script to send on the next run ("" clears it)
_SIGNED_OUT = "oioi_signed_out"  # ignore the cookie this browser session sent when it connected

ROLE_LABELS = {
    Role.ADMIN: "admin",
    Role.PARTNER_MANAGER: "partner manager",
    Role.CPO_STAFF: "CPO staff",
    Role.VIEWER: "viewer",
}


@st.cache_resource(show_spinner=False)
def _migrated_engine(url: str):
    """The engine for ``url``, upgraded to the newest schema once per process."""
    from oioi_onboard.store import migrate

    migrate(url)
    return get_engine(url)


def engine():
    url = get_settings().db_url
    _database_ready(url)
    return _migrated_engine(url)


def _database_ready(url: str) -> None:
    """Upgrade once; an unreachable database is a plain message, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    try:
        _migrated_engine(url)
    except OperationalError as error:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
        st.error(plain(f"The database {where} cannot be used: {reason}"))
        st.stop()


@contextmanager
def db_session() -> Iterator[Session]:
    """``store.db.session_scope`` on the app's database, upgraded once per process; a database that
    cannot be reached is a message on the page and stops it, never a traceback."""
    url = get_settings().db_url
    _database_ready(url)
    with session_scope(url) as session:
        yield session


def oidc_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section for st.login."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all is the usual case
        return False


def _login_form() -> None:
    st.title("Sign in")
    st.caption("OIOI partner onboarding")
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            with db_session() as session:
                actor = authenticate(session, name=name or "", password=password or "")
        except TooManyAttempts as error:
            st.error(plain(f"Not signed in: {error}."))
            st.stop()
        if actor is None:
            st.error("Unknown user name or wrong password.")
        else:
            st.session_state[SESSION_USER] = actor.name
            st.session_state[_COOKIE_PENDING] = session_token(actor.name)
            st.session_state.pop(_SIGNED_OUT, None)
            st.rerun()
    st.stop()


def write_session_cookie() -> None:
    """Send the session cookie (or its removal) once, after sign-in or sign-out.

    Streamlit cannot set cookies from Python; a script in the page can. The
    token is a Fernet token (encrypted, signed, expiring) that names the user only.
    """
    token = st.session_state.pop(_COOKIE_PENDING, None)
    if token is None:
        return
    max_age = SESSION_SECONDS if token else 0
    script = (f"document.cookie = '{SESSION_COOKIE}={token}; path=/; max-age={max_age}; SameSite=Strict'"
              " + (location.protocol === 'https:' ? '; Secure' : '');")
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True, width="content")


def _user_from_cookie() -> str | None:
    if st.session_state.get(_SIGNED_OUT):
        return None
    try:
        token = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 - no browser behind this run (tests, bare mode)
        return None
    return session_user(token)


def _oidc_actor() -> Actor:
    if not st.user.is_logged_in:
        st.title("Sign in")
        st.button("Sign in with your organisation's account", on_click=st.login, type="primary")
        st.stop()
    email = st.user.get("email") or ""
    with db_session() as session:
        actor = actor_for_email(session, email=email)
    if actor is None:
        st.error(plain(f"{email or 'This account'} has no access to this dashboard yet. Ask an admin to add you."))
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return actor


def is_signed_in() -> bool:
    """Whether someone has signed in this session (their account is checked by ``current_actor``)."""
    if oidc_configured():
        return bool(st.user.is_logged_in)
    return bool(st.session_state.get(SESSION_USER) or _user_from_cookie())


def current_actor() -> Actor:
    """The signed-in person; shows the sign-in form and stops the page while there is none."""
    if oidc_configured():
        actor = _oidc_actor()
        _carry_cpo_choice(actor)
        return actor
    name = st.session_state.get(SESSION_USER) or _user_from_cookie()
    if name:
        # Read again on every run: a deactivated user or changed role takes effect at once.
        with db_session() as session:
            actor = actor_for_user(session, name=name)
        if actor is not None:
            st.session_state[SESSION_USER] = actor.name
            _carry_cpo_choice(actor)
            return actor
        st.session_state.pop(SESSION_USER, None)
    write_session_cookie()
    _login_form()
    raise AssertionError("unreachable: _login_form stops the script")


@st.cache_resource(show_spinner=False)
def _chosen_cpos() -> dict[str, int]:
    """user name -> the CPO chosen last, so a new browser session (a reload, a page opened from its address)
    starts on it, not on the CPO an import draft was made for."""
    return {}


def _carry_cpo_choice(actor: Actor) -> None:
    chosen = _chosen_cpos()
    if "selected_cpo" in st.session_state:
        chosen[actor.name] = st.session_state["selected_cpo"]
    elif actor.name in chosen:
        st.session_state["selected_cpo"] = chosen[actor.name]


def require_role(*roles: Role) -> Actor:
    """The signed-in person if their role is one of ``roles``; else an explanation and stop."""
    actor = current_actor()
    if roles and actor.role not in roles:
        allowed = ", ".join(ROLE_LABELS[role] for role in roles)
        st.error(plain(f"This page is for: {allowed}. You are signed in as {actor.name} ({ROLE_LABELS[actor.role]})."))
        st.stop()
    return actor


def sign_out() -> None:
    st.session_state.pop(SESSION_USER, None)
    st.session_state[_SIGNED_OUT] = True
    st.session_state[_COOKIE_PENDING] = ""
    if oidc_configured():
        st.logout()


def account_sidebar(actor: Actor) -> None:
    """Who is signed in, a password change for local accounts, and sign out."""
    write_session_cookie()
    with st.sidebar:
        st.caption(f"Signed in as **{plain(actor.name)}** ({ROLE_LABELS[actor.role]})")
        if not oidc_configured():
            with st.popover("Change password"):
                _change_password_form(actor)
        st.button("Sign out", on_click=sign_out, key="sign_out")


def _change_password_form(actor: Actor) -> None:
    with st.form("change_password", clear_on_submit=True):
        old = st.text_input("Current password", type="password")
        new = st.text_input("New password", type="password")
        again = st.text_input("New password again", type="password")
        submitted = st.form_submit_button("Change password")
    if not submitted:
        return
    if new != again:
        st.error("The two new passwords differ.")
        return
    try:
        with db_session() as session:
            changed = change_password(session, name=actor.name, old_password=old, new_password=new)
    except AccountError as error:
        show_error(error, "The new password was not taken: ")
        return
    if changed:
        st.success("Password changed.")
    else:
        st.error("The current password is wrong.")


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#~$|])")


def plain(text: object) -> str:
    """``text`` escaped for Streamlit's markdown, so ``DE*8PS, DE*ABC`` is not shown in italics."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def show_field_error(errors: dict[str, str], field: str) -> None:
    """An inline validation message under a form field, if there is one."""
    if errors.get(field):
        st.error(plain(errors[field]), icon="⚠️")


def show_error(error: Exception, prefix: str = "") -> None:
    """An expected error as one plain message (user data escaped), never a traceback."""
    st.error(plain(f"{prefix}{error}"))


@contextmanager
def errors_shown(prefix: str = "") -> Iterator[None]:
    """Run a block; an ``OnboardError`` from the library becomes a message on the page."""
    try:
        yield
    except OnboardError as error:
        show_error(error, prefix)


def choose_cpo(cpos: list, *, key: str, label: str = "CPO", on_change: Callable[[], None] | None = None) -> int:
    """A CPO picker that remembers the choice across pages and visits (widgets forget theirs); ``on_change``
    runs when the person picks another CPO here."""
    names = {cpo.id: cpo.name for cpo in cpos}
    ids = list(names)
    remembered = st.session_state.get("selected_cpo")
    # The choice made last, on any page, wins over what this page's picker held when it was last drawn (a key
    # set through the session state outlives its page).
    if remembered in names:
        st.session_state[key] = remembered
    elif st.session_state.get(key) not in names:
        st.session_state[key] = ids[0]

    def remember() -> None:
        st.session_state["selected_cpo"] = st.session_state[key]
        if on_change:
            on_change()

    chosen = st.selectbox(label, ids, format_func=names.get, key=key, on_change=remember)
    st.session_state["selected_cpo"] = chosen
    return chosen
