"""The CPO's OCPI back end on the pages (AppTest): its connection on the CPOs page, and "From the CPO's OCPI
endpoint" on the import page, pulled from the real OCPI sandbox process, with the page's issues, map and accept."""

import json
import re
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo, ImportRecord, Role, StatusEvent
from oioi_onboard.store.ocpi_connection import set_ocpi_connection
from oioi_onboard.store.secrets import decrypt_ocpi_token
from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox
from oioi_onboard.testing.store import make_cpo, make_user

APP = Path(__file__).resolve().parents[2] / "app"
TOKEN = "csms-token-for-us-5b7d"


def _text(app: AppTest) -> str:
    kinds = ("title", "markdown", "caption", "code", "success", "error", "warning", "info")
    return "\n".join(re.sub(r"\\(.)", r"\1", str(e.value)) for kind in kinds for e in getattr(app, kind))


@pytest.fixture
def laadnet(db) -> int:
    with db() as session:
        cpo = make_cpo(session, name="Laadnet", operator_ids="BE*OCS")
        cpo.defaults = {"phone": "+32 9 265 81 11"}
        make_user(session, "lena", Role.CPO_STAFF, cpo_names=["Laadnet"])
        return cpo.id


def test_the_cpos_page_sets_the_connection_and_shows_only_the_tokens_last_4(laadnet):
    app = AppTest.from_file(str(APP / "views" / "cpos.py"), default_timeout=60)
    app.session_state["oioi_user"] = "lena"
    app = app.run()
    assert not app.exception, app.exception
    assert "No OCPI connection yet." in _text(app)

    app.text_input(key=f"ocpi_url_{laadnet}").input("csms.example.be/ocpi")
    app.text_input(key=f"ocpi_token_{laadnet}").input(TOKEN)
    app = app.button(key=f"ocpi_save_{laadnet}").click().run()
    assert "is not an http(s) URL such as https://csms.example.com/ocpi/versions" in _text(app)
    assert app.text_input(key=f"ocpi_token_{laadnet}").value == ""  # the token never stays in the form

    app.text_input(key=f"ocpi_url_{laadnet}").input("https://csms.example.be/ocpi/versions")
    app.text_input(key=f"ocpi_token_{laadnet}").input(TOKEN)
    app.number_input(key=f"ocpi_minutes_{laadnet}").set_value(5)
    app = app.button(key=f"ocpi_save_{laadnet}").click().run()
    assert not app.exception, app.exception
    shown = _text(app)
    assert "OCPI connection saved." in shown and "••••5b7d (sent Base64-encoded)" in shown
    assert "pulled every 5 min" in shown and TOKEN not in shown
    assert all(TOKEN not in str(widget.value) for widget in app.text_input)
    with session_scope() as session:
        cpo = session.get(Cpo, laadnet)
        assert (cpo.ocpi_versions_url, cpo.ocpi_pull_minutes) == ("https://csms.example.be/ocpi/versions", 5)
        assert decrypt_ocpi_token(cpo.ocpi_token_encrypted) == TOKEN

    # The token field left empty keeps the token; the URL changes.
    app.text_input(key=f"ocpi_url_{laadnet}").input("https://csms2.example.be/ocpi/versions")
    app = app.button(key=f"ocpi_save_{laadnet}").click().run()
    with session_scope() as session:
        cpo = session.get(Cpo, laadnet)
        assert cpo.ocpi_versions_url == "https://csms2.example.be/ocpi/versions"
        assert decrypt_ocpi_token(cpo.ocpi_token_encrypted) == TOKEN


@pytest.fixture(scope="module")
def back_end(tmp_path_factory):
    with running_ocpi_sandbox(tmp_path_factory.mktemp("ocpi"), locations=24, page_limit=10) as process:
        yield process


def _import_page(user: str = "lena") -> AppTest:
    """The import page for ``user``; each test signs in as a person of its own: the page keeps a person's
    import in progress for the whole process (a browser reload finds it)."""
    app = AppTest.from_file(str(APP / "views" / "import_stations.py"), default_timeout=120)
    app.session_state["oioi_user"] = user
    return app


def test_the_import_page_pulls_from_the_ocpi_endpoint_and_accepts_like_a_file(laadnet, back_end):
    app = _import_page().run()
    assert "set its OCPI connection on the CPOs page" in _text(app)
    with session_scope() as session:
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=laadnet, versions_url=back_end.versions_url,
                            token=back_end.token)
    app = app.run()
    assert f"**Or from the CPO's OCPI endpoint** ({back_end.versions_url})" in _text(app)
    assert app.toggle(key=f"import_ocpi_full_{laadnet}").value is True  # the first pull takes everything

    app = app.button(key="import_ocpi_pull").click().run()
    assert not app.exception, app.exception
    shown = _text(app)
    assert f"**OCPI {back_end.base_url}/ocpi/2.2.1/locations**: 24 OCPI Locations." in shown
    assert "OCPI Locations: 24 pulled in 3 pages, OCPI 2.2.1, every Location" in shown
    assert "Working on the full pull of" in shown
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Stations"], metrics["Errors"]) == ("23", "0")  # LOC00004 is not published
    issues = app.session_state["import_work"]["validation"].issues
    assert set(issues["rule"]) == {"ocpi_not_published", "ocpi_evse_not_pushed"} and app.dataframe
    [chart] = app.get("deck_gl_json_chart")
    [points] = [layer["data"] for layer in json.loads(chart.proto.json)["layers"] if layer["id"] == "stations"]
    assert len(points) == 23

    app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception
    assert any("Stored 23 stations" in s.value for s in app.success)
    with session_scope() as session:
        [record] = session.exec(select(ImportRecord)).all()
        assert (record.user_name, record.full_upload, record.stations_stored) == ("lena", True, 23)
        assert record.file_name == f"OCPI {back_end.base_url}/ocpi/2.2.1/locations"
        assert session.get(Cpo, laadnet).ocpi_last_pull_started_at is not None
        assert {e.source for e in session.exec(select(StatusEvent)).all()} == {"ocpi"}

    # Later: only what changed, stored as a partial upload.
    changes = back_end.changes(2, static=True)
    app = _import_page().run()
    assert app.toggle(key=f"import_ocpi_full_{laadnet}").value is False
    app = app.button(key="import_ocpi_pull").click().run()
    assert not app.exception, app.exception
    changed = {change["location_id"] for change in changes}
    assert f"**: {len(changed)} OCPI Locations." in _text(app)
    app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception
    with session_scope() as session:
        records = session.exec(select(ImportRecord).order_by(ImportRecord.id)).all()
        assert [(r.full_upload, r.stations_stored) for r in records] == [(True, 23), (False, len(changed))]


def test_a_pull_that_fails_says_why_and_leaves_the_page_as_it_was(laadnet, back_end):
    with session_scope() as session:
        set_ocpi_connection(session, actor=SYSTEM, cpo_id=laadnet, versions_url=back_end.versions_url,
                            token="not-the-token")
        make_user(session, "nina", Role.CPO_STAFF, cpo_names=["Laadnet"])  # no import of hers in progress
    app = _import_page("nina").run()
    app = app.button(key="import_ocpi_pull").click().run()
    assert not app.exception, app.exception
    assert any(f"Nothing was pulled: {back_end.versions_url} refused the OCPI token (HTTP 401)" in
               re.sub(r"\\(.)", r"\1", e.value) for e in app.error)
    assert "import_upload" not in app.session_state and not app.metric
