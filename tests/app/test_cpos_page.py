"""The CPOs page through Streamlit's AppTest: sign-in, registering, inline errors,
test connection against the real sandbox, export content, edit, deactivate and scoping."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from oioi_onboard.oioi.ids import check_partner_identifier
from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo, Role
from oioi_onboard.testing.store import make_cpo, make_user, password_of
from tests.conftest import API_KEY_A, API_KEY_B

APP = Path(__file__).resolve().parents[2] / "app"


def unescaped(value: str) -> str:
    """Text as the user reads it: without the backslashes that keep '*' from turning into italics."""
    return re.sub(r"\\(.)", r"\1", str(value))


def page(user: str) -> AppTest:
    app = AppTest.from_file(str(APP / "views" / "cpos.py"), default_timeout=60)
    app.session_state["oioi_user"] = user
    return app.run()


def texts(app: AppTest) -> str:
    """Everything the page shows as text, tables included."""
    kinds = ("title", "markdown", "caption", "code", "success", "error", "warning", "info")
    parts = [unescaped(e.value) for kind in kinds for e in getattr(app, kind)]
    parts += [frame.value.to_csv() for frame in app.dataframe]
    parts += [str(option) for box in app.selectbox for option in box.options]
    return "\n".join(str(p) for p in parts)


def test_sign_in_gate_then_pages_by_role(two_cpos):
    app = AppTest.from_file(str(APP / "main.py"), default_timeout=60).run()
    assert [unescaped(t.value) for t in app.title] == ["Sign in"]
    app.text_input(key="login_name").input("maria")
    app.text_input(key="login_password").input("wrong-password")
    app.button[0].click().run()
    assert "Unknown user name or wrong password." in [unescaped(e.value) for e in app.error]
    assert "oioi_user" not in app.session_state
    app.text_input(key="login_password").input(password_of("maria"))
    app.button[0].click().run()
    assert not app.exception
    assert app.session_state["oioi_user"] == "maria"
    assert [unescaped(t.value) for t in app.title] == ["Overview"]
    assert any("Signed in as **maria** (partner manager)" in unescaped(c.value) for c in app.sidebar.caption)


def test_viewer_sees_the_live_map_only(two_cpos):
    app = AppTest.from_file(str(APP / "main.py"), default_timeout=60)
    app.session_state["oioi_user"] = "victor"
    app.run()
    assert not app.exception
    assert [unescaped(t.value) for t in app.title] == ["Live map"]  # the only page a viewer gets
    with pytest.raises(ValueError, match=r"Known pages: \['[^,]*live_map\.py'\]"):
        app.switch_page("views/cpos.py")  # not registered in the viewer's navigation at all
    denied = page("victor")
    assert any("This page is for" in unescaped(e.value) for e in denied.error)
    assert "Alpha" not in texts(denied)


def test_register_shows_inline_errors_and_stores_nothing(two_cpos):
    app = page("maria")
    app.radio(key="reg_endpoint").set_value("custom URL").run()  # outside the form: it shows the URL field
    app.text_input(key="reg_custom_url").input("not a url")
    app.text_input(key="reg_name").input("bravo")
    app.text_input(key="reg_operator_ids").input("DE-XYZ, QQ*ABC, AT*BRV")
    app.button(key="reg_submit").click().run()
    assert not app.exception
    errors = [unescaped(e.value) for e in app.error]
    assert any("a CPO named 'Bravo' already exists" in e for e in errors)
    assert any("'DE-XYZ' is not of the form CC*XXX, e.g. DE*8PS" in e for e in errors)
    assert any("CC\\*XXX" in e.value for e in app.error)  # escaped, so markdown shows the '*' and no italics
    assert any("'QQ' is not an ISO 3166-1 alpha-2 country" in e for e in errors)
    assert any("AT*BRV is already registered to CPO 'Bravo'" in e for e in errors)
    assert any("neither sandbox, staging, production nor an http(s) URL" in e for e in errors)
    with session_scope() as session:
        assert len(queries.list_cpos(session, actor=SYSTEM)) == 2


def test_register_shows_the_generated_partner_identifier_and_masks_the_key(two_cpos):
    app = page("maria")
    app.text_input(key="reg_name").input("Charlie")
    app.text_input(key="reg_operator_ids").input("de*cha")
    app.radio(key="reg_endpoint").set_value("production")
    app.text_input(key="reg_api_key").input("charlie-secret-key-9876")
    app.button(key="reg_submit").click().run()
    assert not app.exception and not app.error
    assert [unescaped(s.value) for s in app.success if "Registered Charlie" in unescaped(s.value)] == [
        "Registered Charlie: give the platform this partner identifier (its copy button shows at the right when you "
        "point at it)."]
    with session_scope() as session:
        cpo = queries.get_cpo(session, actor=SYSTEM, name="Charlie")
        [partner_id] = queries.cpo_partner_identifiers(session, cpo_id=cpo.id)
        assert queries.cpo_operator_ids(session, cpo_id=cpo.id) == ["DE*CHA"]
        assert cpo.endpoint == "production"
    assert check_partner_identifier(partner_id)
    assert partner_id in [c.value for c in app.code]  # st.code: shown with a copy button
    shown = texts(app)
    assert "charlie-secret-key" not in shown and "••••9876" in shown
    # The form clears on submit, the key with it: AppTest does not clear forms, so the browser journey checks
    # that the key is gone from the page (tests/e2e/test_journey.py).


@pytest.mark.slow  # real sandbox over HTTP, ~2 s
def test_connection_button_against_the_sandbox(two_cpos, sandbox):
    with session_scope() as session:
        good = make_cpo(session, name="Good", operator_ids="DE*GOD", endpoint=sandbox.url, api_key=sandbox.api_key,
                        partner_ids=sandbox.partner_id)
        bad = make_cpo(session, name="Wrong key", operator_ids="DE*BAD", endpoint=sandbox.url,
                       api_key="not-accepted-key-00")
    app = page("maria")
    app.selectbox(key="selected_cpo").set_value(good.id).run()
    app.button(key=f"test_{good.id}").click().run()
    assert [unescaped(s.value) for s in app.success] == [
        "connected: the endpoint accepted the API key and the partner identifier"]
    app.selectbox(key="selected_cpo").set_value(bad.id).run()
    app.button(key=f"test_{bad.id}").click().run()
    assert "the API key was rejected" in [unescaped(e.value) for e in app.error]
    assert not app.exception


def test_export_buttons_carry_the_registration_sheet_without_keys(two_cpos, monkeypatch):
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # records what a download would serve
        files[filename] = path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode()
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    page("maria")
    rows = list(csv.DictReader(io.StringIO(files["oioi-registration-sheet.csv"].decode())))
    assert [(r["cpo_name"], r["operator_ids"]) for r in rows] == [("Alpha", "DE*ALP"), ("Bravo", "AT*BRV")]
    sheet = json.loads(files["oioi-registration-sheet.json"])
    assert [c["cpo_name"] for c in sheet["cpos"]] == ["Alpha", "Bravo"]
    with session_scope() as session:
        assert sheet["cpos"][0]["partner_identifiers"] == queries.cpo_partner_identifiers(session,
                                                                                          cpo_id=two_cpos["alpha"])
    for data in files.values():
        assert API_KEY_A.encode() not in data and API_KEY_B.encode() not in data


def edit(app: AppTest, cpo_id: int, **fields: str) -> AppTest:
    """Type ``fields`` into the CPO's edit form (``edit_<field>_<id>``) and save."""
    for name, value in fields.items():
        app.text_input(key=f"edit_{name}_{cpo_id}").input(value)
    return app.button(key=f"save_{cpo_id}").click().run()


def test_edit_with_inline_error_then_save_and_deactivate(two_cpos):
    alpha = two_cpos["alpha"]
    app = page("maria")
    app.selectbox(key="selected_cpo").set_value(alpha).run()
    edit(app, alpha, operator_ids="DE*ALP, AT*BRV")
    assert any("AT*BRV is already registered to CPO 'Bravo'" in unescaped(e.value) for e in app.error)
    edit(app, alpha, operator_ids="DE*ALP, DE*AL2", name="Alpha Energie")
    assert "Saved." in [unescaped(s.value) for s in app.success]
    with session_scope() as session:
        assert session.get(Cpo, alpha).name == "Alpha Energie"
        assert queries.cpo_operator_ids(session, cpo_id=alpha) == ["DE*ALP", "DE*AL2"]
    app.text_input(key=f"new_key_{alpha}").input("replaced-key-zz99")
    app.button(key=f"set_key_{alpha}").click().run()
    assert "API key replaced (••••zz99)." in [unescaped(s.value) for s in app.success]
    app.button(key=f"deactivate_{alpha}").click().run()
    assert not app.exception
    with session_scope() as session:
        cpo = session.get(Cpo, alpha)
        assert not cpo.active and cpo.api_key_last4 == "zz99"
    assert "Alpha Energie" not in app.dataframe[0].value["CPO"].tolist()  # hidden from the list...
    app.toggle(key="show_inactive").set_value(True).run()
    assert "Alpha Energie" in app.dataframe[0].value["CPO"].tolist()  # ...unless asked for


def test_staff_see_and_change_only_their_own_cpo(two_cpos):
    app = page("alice")
    assert not app.exception
    shown = texts(app)
    assert "Alpha" in shown and "Bravo" not in shown and "AT*BRV" not in shown
    assert app.selectbox(key="selected_cpo").options == ["Alpha"]
    assert not [e for e in app.expander if e.label == "Register a CPO"]
    assert not [e for e in app.expander if e.label == "Accounts"]
    assert not [b for b in app.button if b.key and b.key.startswith("deactivate_")]
    # Even with Bravo's id forced into the page state, the page falls back to Alpha.
    app = AppTest.from_file(str(APP / "views" / "cpos.py"), default_timeout=60)
    app.session_state["oioi_user"] = "alice"
    app.session_state["selected_cpo"] = two_cpos["bravo"]
    app.run()
    assert not app.exception
    assert "Bravo" not in texts(app) and app.session_state["selected_cpo"] == two_cpos["alpha"]


def test_admin_creates_a_user_and_sees_the_password_once(two_cpos):
    app = page("admin")
    app.text_input(key="user_name").input("carl")
    app.selectbox(key="user_role").set_value(Role.CPO_STAFF)
    app.multiselect(key="user_cpos").set_value(["Bravo"])
    app.button(key="user_submit").click().run()
    assert not app.exception and not [e for e in app.error if "carl" in unescaped(e.value)]
    password = next(c.value for c in app.code if len(c.value) == 20)
    from oioi_onboard.store.auth import authenticate

    with session_scope() as session:
        actor = authenticate(session, name="carl", password=password)
        assert actor is not None and actor.cpo_ids == frozenset({two_cpos["bravo"]})
    app.run()
    assert password not in [c.value for c in app.code]


def test_a_new_user_is_a_viewer_unless_chosen_otherwise_and_the_table_shows_each_ones_cpos(two_cpos):
    app = page("admin")
    assert app.selectbox(key="user_role").value == Role.VIEWER  # the least role, not admin
    [accounts] = [frame.value for frame in app.dataframe if "user" in frame.value.columns]
    cpos = dict(zip(accounts["user"], accounts["CPOs"], strict=True))
    assert (cpos["alice"], cpos["bob"], cpos["admin"]) == ("Alpha", "Bravo", "")
    app.text_input(key="user_name").input("dora")
    app.button(key="user_submit").click().run()
    assert not app.exception and not app.error
    with session_scope() as session:
        from oioi_onboard.store.auth import list_users

        [dora] = [user for user, _ in list_users(session, actor=two_cpos["admin"]) if user.name == "dora"]
        assert dora.role == Role.VIEWER


def test_accounts_show_to_whoever_may_manage_users(two_cpos):
    """The library lets partner managers manage users (admins excepted); CPO staff and viewers may not."""
    app = page("maria")
    assert not app.exception
    assert [e for e in app.expander if e.label == "Accounts"]
    assert Role.ADMIN not in app.selectbox(key="user_role").options
    app.text_input(key="user_name").input("carl")
    app.selectbox(key="user_role").set_value(Role.PARTNER_MANAGER)
    app.button(key="user_submit").click().run()
    assert not app.exception and not app.error
    assert any(len(c.value) == 20 for c in app.code)
    for name in ("alice", "victor"):
        shown = page(name)
        assert not [e for e in shown.expander if e.label == "Accounts"], name
        assert "user_role" not in shown.session_state, name


def _password_form() -> None:
    """The sidebar's password form for alice, on its own (a rerun of main.py in AppTest drops the sidebar)."""
    import streamlit as st

    import common
    from oioi_onboard.store.auth import actor_for_user
    from oioi_onboard.store.db import session_scope

    with session_scope() as session:
        actor = actor_for_user(session, name="alice")
    with st.sidebar:
        common._change_password_form(actor)


def test_changing_ones_password_keeps_the_librarys_password_rule(two_cpos):
    app = AppTest.from_function(_password_form, default_timeout=60).run()

    def change(new: str) -> None:
        fields = {field.label: field for field in app.text_input}
        fields["Current password"].input(password_of("alice"))
        fields["New password"].input(new)
        fields["New password again"].input(new)
        app.button(key="FormSubmitter:change_password-Change password").click().run()

    change("too-short")
    assert not app.exception
    assert any("at least 10 characters" in unescaped(e.value) for e in app.error)
    change("long-enough-1")
    assert not app.exception and "Password changed." in [unescaped(s.value) for s in app.success]
    from oioi_onboard.store.auth import authenticate

    with session_scope() as session:
        assert authenticate(session, name="alice", password="long-enough-1") is not None


OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-cookie-secret",
        "client_id": "dashboard", "client_secret": "client-secret",
        "server_metadata_url": "https://login.example.org/.well-known/openid-configuration"}


def oidc_page(user: dict) -> AppTest:
    app = AppTest.from_file(str(APP / "main.py"), default_timeout=60)
    app.secrets["auth"] = OIDC
    app.user = user
    return app.run()


def test_with_oidc_configured_users_sign_in_through_st_login_matched_by_email(two_cpos):
    with session_scope() as session:
        make_user(session, "olga", Role.CPO_STAFF, cpo_names=["Bravo"], email="Olga@Example.org")
    signed_out = oidc_page({"is_logged_in": False})
    assert not signed_out.exception
    assert [b.label for b in signed_out.button] == ["Sign in with your organisation's account"]
    assert not signed_out.text_input  # no local password form

    stranger = oidc_page({"is_logged_in": True, "email": "stranger@example.org"})
    assert any("stranger@example.org has no access" in unescaped(e.value) for e in stranger.error)

    olga = oidc_page({"is_logged_in": True, "email": "olga@example.org"})
    assert not olga.exception
    assert [unescaped(t.value) for t in olga.title] == ["Overview"]
    assert list(olga.dataframe[0].value["CPO"]) == ["Bravo"]


def test_cpo_page_creates_an_ingest_token_shown_once(two_cpos):
    app = page("alice")
    assert [e for e in app.expander if e.label == "Status ingest tokens"]
    create = next(b for b in app.button if b.key and "token" in b.key and "revoke" not in b.key)
    create.click().run()
    assert not app.exception
    token = next(c.value for c in app.code if len(c.value) >= 32 and c.value not in texts(page("alice")))
    with session_scope() as session:
        from oioi_onboard.sync.tokens import cpo_for_token

        assert cpo_for_token(session, token) == two_cpos["alpha"]
    assert token not in texts(page("alice"))  # a fresh visit never shows it again
    assert not [e for e in page("victor").expander if e.label == "Status ingest tokens"]


CONNECTED = "connected: the endpoint accepted the API key and the partner identifier"


@pytest.mark.slow  # starts a sandbox of its own
def test_a_cpo_registered_on_the_sandbox_from_the_page_connects(two_cpos, monkeypatch, tmp_path):
    """Issue 10.5: the page says what the sandbox is; a CPO registered on it gets its key and partner
    identifier there, so "Test connection" passes, and the result stays on the page."""
    from oioi_onboard.settings import get_settings
    from tests.helpers.bare_sandbox import bare_sandbox

    with bare_sandbox(tmp_path / "embedded") as box:
        monkeypatch.setenv("OIOI_SANDBOX_PORT", str(box.port))
        get_settings.cache_clear()
        app = page("maria")
        assert app.radio(key="reg_endpoint").value == "sandbox"
        assert any("local OIOI receiver" in unescaped(c.value) and "automatically" in unescaped(c.value)
                   for c in app.caption)
        app.text_input(key="reg_name").input("Page CPO")
        app.text_input(key="reg_operator_ids").input("DE*PGE")
        app.button(key="reg_submit").click().run()  # no API key: one is generated for the sandbox
        assert not app.exception and not app.error
        assert any("The sandbox knows this CPO's API key and partner identifier" in unescaped(i.value)
                   for i in app.info)
        # Nothing to give the sandbox: it has the partner identifier already.
        assert [unescaped(s.value) for s in app.success] == ["Registered Page CPO. Its partner identifier:"]
        with session_scope() as session:
            cpo = queries.get_cpo(session, actor=SYSTEM, name="Page CPO")
            cpo_id, key = cpo.id, queries.cpo_credentials(session, actor=SYSTEM, cpo_id=cpo.id)[1]
        assert app.session_state["selected_cpo"] == cpo_id
        assert any("Connection not tested" in unescaped(c.value) for c in app.caption)

        app.button(key=f"test_{cpo_id}").click().run()
        assert CONNECTED in [unescaped(s.value) for s in app.success]
        assert any("Last connection test:" in unescaped(c.value) for c in app.caption)
        # A later visit shows the stored result, in the list too.
        later = page("maria")
        later.selectbox(key="selected_cpo").set_value(cpo_id).run()
        assert CONNECTED in [unescaped(s.value) for s in later.success]
        row = later.dataframe[0].value.set_index("CPO").loc["Page CPO"]
        assert row["connection"] == "connected" and row["endpoint"] == "sandbox"
        for shown in (texts(app), texts(later), box.log()):
            assert key not in shown


@pytest.mark.slow  # real sandbox over HTTP, ~2 s
def test_the_rejected_message_goes_once_the_key_is_replaced(two_cpos, sandbox):
    with session_scope() as session:
        cpo = make_cpo(session, name="Key swap", operator_ids="DE*SWP", endpoint=sandbox.url,
                       api_key="not-the-sandbox-key-77", partner_ids=sandbox.partner_id)
    app = page("maria")
    app.selectbox(key="selected_cpo").set_value(cpo.id).run()
    app.button(key=f"test_{cpo.id}").click().run()
    assert "the API key was rejected" in [unescaped(e.value) for e in app.error]
    assert "the API key was rejected" in [unescaped(e.value) for e in page_of(cpo.id).error]  # it is remembered
    app.text_input(key=f"new_key_{cpo.id}").input(sandbox.api_key)
    app.button(key=f"set_key_{cpo.id}").click().run()
    assert not app.exception
    assert "the API key was rejected" not in [unescaped(e.value) for e in app.error]
    assert any("Connection not tested" in unescaped(c.value) for c in app.caption)
    app.button(key=f"test_{cpo.id}").click().run()
    assert CONNECTED in [unescaped(s.value) for s in app.success] and not app.error
    assert sandbox.api_key not in texts(app)


def page_of(cpo_id: int, user: str = "maria") -> AppTest:
    app = AppTest.from_file(str(APP / "views" / "cpos.py"), default_timeout=60)
    app.session_state["oioi_user"] = user
    app.session_state["selected_cpo"] = cpo_id
    return app.run()


def test_defaults_for_fields_the_files_lack_are_set_on_the_page(two_cpos):
    alpha = two_cpos["alpha"]
    app = page("maria")
    app.selectbox(key="selected_cpo").set_value(alpha).run()
    edit(app, alpha, default_country="XX")
    assert any("'XX' is not an ISO 3166-1 alpha-2 code" in unescaped(e.value) for e in app.error)
    edit(app, alpha, default_country="de", default_phone="+49 30 1234567")
    assert "Saved." in [unescaped(s.value) for s in app.success]
    with session_scope() as session:
        assert session.get(Cpo, alpha).defaults == {"country": "DE", "phone": "+49 30 1234567"}
    edit(app, alpha, default_phone="")
    with session_scope() as session:
        assert session.get(Cpo, alpha).defaults == {"country": "DE"}
