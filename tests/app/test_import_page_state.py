"""The import page's state belongs to one CPO and one file, and survives a reload of the browser.

AppTest cannot drive a file uploader, so a test puts the file's bytes where the
uploader puts them (``st.session_state["import_upload"]``). A new AppTest for
the same user is what a reload is: a new browser session on the same server.
"""

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Role
from oioi_onboard.testing.store import make_cpo, make_user

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "pages" / "import_stations.py")
DEMO = ROOT / "sample_data" / "demo_network.csv"
BROKEN = ROOT / "sample_data" / "broken_stations.csv"


def _without_column(path: Path, column: str, rows: int = 12) -> bytes:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    fields = [f for f in reader.fieldnames if f != column]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for _, row in zip(range(rows), reader, strict=False):
        writer.writerow(row)
    return out.getvalue().encode()


@pytest.fixture
def user(db):
    """A partner manager, 'pm', and two CPOs: Alpha holds the demo file's DE*DMO, Bravo DE*8PS."""
    with db() as session:
        make_cpo(session, name="Alpha", operator_ids="DE*DMO")
        make_cpo(session, name="Bravo", operator_ids="DE*8PS")
        return make_user(session, "pm", Role.PARTNER_MANAGER).name


def _cpo_id(name: str) -> int:
    from oioi_onboard.store.queries import get_cpo

    with session_scope() as session:
        return get_cpo(session, actor=SYSTEM, name=name).id


def _open(user: str, upload: tuple[str, bytes] | None = None) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["oioi_user"] = user
    if upload:
        app.session_state["import_upload"] = {"name": upload[0], "data": upload[1]}
    return app.run()


def _upload(app: AppTest, name: str, data: bytes) -> AppTest:
    app.session_state["import_upload"] = {"name": name, "data": data}
    return app.run()


def test_a_new_file_or_another_cpo_starts_clean(user):
    app = _open(user, ("broken.csv", BROKEN.read_bytes()))
    assert not app.exception, app.exception
    app.text_input(key="import_fix_old").input("Pantograph")
    app = app.selectbox(key="import_profile").set_value("bnetza").run()
    assert app.info  # the bnetza profile waits for its operator table

    app = _upload(app, "demo.csv", DEMO.read_bytes())
    assert not app.exception, app.exception
    assert app.selectbox(key="import_profile").value == "Suggested from the headers"
    assert not app.error
    work = app.session_state["import_work"]
    assert work["validation"].stations == 280 and work["validation"].errors == 0

    app = _upload(app, "broken.csv", BROKEN.read_bytes())
    assert app.text_input(key="import_fix_old").value == ""  # not the earlier file's value
    app.text_input(key="import_fix_old").input("Pantograph")
    app = app.selectbox(key="import_cpo").set_value(_cpo_id("Bravo")).run()
    assert not app.exception, app.exception
    assert app.text_input(key="import_fix_old").value == ""
    assert app.session_state["import_work"]["key"][2] != work["key"][2]  # validated for the other CPO


def test_the_unmapped_field_warning_goes_once_fixes_fill_it(user):
    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))
    assert not app.exception, app.exception
    assert any("Choose a column for: phone" in w.value for w in app.warning)
    rules = set(app.session_state["import_work"]["validation"].issues["rule"])
    assert "field_not_mapped" in rules

    app.selectbox(key="import_fix_column").set_value("phone")
    app.text_input(key="import_fix_old").input("")
    app.text_input(key="import_fix_new").input("+49 621 1234567")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    assert not app.exception, app.exception
    validation = app.session_state["import_work"]["validation"]
    assert "field_not_mapped" not in set(validation.issues["rule"]) and validation.errors == 0
    assert not any("Choose a column for" in w.value for w in app.warning)


def test_a_reload_finds_the_file_the_choices_and_the_fixes(user):
    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))
    app = app.selectbox(key="import_cpo").set_value(_cpo_id("Bravo")).run()
    app.selectbox(key="import_fix_column").set_value("phone")
    app.text_input(key="import_fix_new").input("+49 621 1234567")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    fixed = app.session_state["import_work"]["validation"]
    assert "field_not_mapped" not in set(fixed.issues["rule"])
    assert set(fixed.issues["rule"]) == {"operator_not_registered"}  # Bravo's operator id is DE*8PS

    again = _open(user)  # a new browser session of the same user: nothing in its state yet
    assert not again.exception, again.exception
    assert any("phone.csv, uploaded earlier" in c.value for c in again.caption)
    assert again.selectbox(key="import_cpo").value == _cpo_id("Bravo")
    restored = again.session_state["import_work"]["validation"]
    assert (restored.stations, restored.errors) == (fixed.stations, fixed.errors)
    assert "field_not_mapped" not in set(restored.issues["rule"])  # the fix is still there


def test_the_cpos_defaults_fill_what_the_file_lacks_and_say_so(user):
    from oioi_onboard.store.registry import update_cpo

    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))
    assert "field_not_mapped" in set(app.session_state["import_work"]["validation"].issues["rule"])
    with session_scope() as session:
        update_cpo(session, actor=SYSTEM, cpo_id=app.selectbox(key="import_cpo").value,
                   defaults={"phone": "+49 621 1234567"})
    app = app.run()  # the same file: the defaults changed, so it is validated again
    validation = app.session_state["import_work"]["validation"]
    assert "field_not_mapped" not in set(validation.issues["rule"]) and validation.errors == 0
    assert any("empty cells from the CPO" in c.value for c in app.caption)


def test_a_french_irve_file_maps_with_no_manual_step(db):
    from oioi_onboard.testing.store import make_cpo, make_user

    with db() as session:
        make_cpo(session, name="Bornes", operator_ids="FR*A68")
        make_user(session, "fr", Role.CPO_STAFF, cpo_names=["Bornes"])
    irve = ROOT / "tests" / "data" / "sheets" / "irve_v23.csv"
    app = _open("fr", (irve.name, irve.read_bytes()))
    assert not app.exception, app.exception
    assert any("IRVE" in c.value for c in app.caption)  # the page says which layout it recognised
    validation = app.session_state["import_work"]["validation"]
    assert validation.stations > 0 and validation.errors == 0
