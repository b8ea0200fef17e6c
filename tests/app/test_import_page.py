"""The import page in Streamlit's AppTest: upload, mapping, fix and revalidate, map preview, accept.

AppTest cannot drive a file uploader, so the test puts the file's bytes where
the uploader puts them (``st.session_state["import_upload"]``); everything
from there on is the page's own code path.
"""

import json
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import AuditLog, Cpo, ImportRecord, Stage, Station
from oioi_onboard.testing.store import add_station_row, new_import

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "views" / "import_stations.py")
BROKEN = ROOT / "sample_data" / "broken_stations.csv"


@pytest.fixture
def cpos(cpo, other_cpo, actors):
    """Ours (DE*8PS) with its 'staff' and 'viewer', and Theirs, holding ids the broken file reuses on purpose."""
    with session_scope() as session:
        add_station_row(session, cpo_id=other_cpo.id, station_id="DE*8PS*S9", operator_id="DE*ABC",
                        evse_ids=["DE*8PS*E9"])
    return cpo.id, other_cpo.id


def _page(user: str, upload: bool = True) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["oioi_user"] = user
    if upload:
        app.session_state["import_upload"] = {"name": BROKEN.name, "data": BROKEN.read_bytes()}
    return app.run()


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _issue_rules(app: AppTest) -> set[str]:
    return set(app.session_state["import_work"]["validation"].issues["rule"])


def _deck(app: AppTest) -> tuple[dict, dict]:
    [chart] = app.get("deck_gl_json_chart")
    return json.loads(chart.proto.json), json.loads(chart.proto.tooltip)


def test_upload_map_fix_revalidate_accept(cpos):
    ours, theirs = cpos
    app = _page("staff")
    assert not app.exception, app.exception
    assert [o for o in app.selectbox(key="import_cpo").options] == ["Ours"]  # staff see only their CPO
    metrics = _metrics(app)
    assert metrics["Stations"] == "36" and metrics["Connectors"] == "42"
    assert int(metrics["Errors"]) > 0 and int(metrics["Warnings"]) > 0
    # With the registry, every rule of the broken file is found, including the ids another CPO holds.
    assert {"station_id_foreign", "evse_id_foreign", "operator_not_registered", "connector_type"} <= _issue_rules(app)
    blocked_before = int(metrics["Stations blocked"])

    # The map shows every station with a position, coloured by state; tooltips are text, not HTML.
    deck, tooltip = _deck(app)
    assert "html" not in tooltip and "{problems}" in tooltip["text"]
    [points] = [layer["data"] for layer in deck["layers"] if layer["id"] == "stations"]  # over the base map
    assert {p["state"] for p in points} == {"ok", "warning", "error"}

    # Mapping: the suggestion maps the canonical headers; unmapping the notes drops their warnings.
    notes = app.selectbox(key="import_map_notes")
    assert notes.value == "notes"
    app = notes.set_value("— not in the file —").run()
    assert not app.exception, app.exception
    assert not {"control_characters", "formula_like"} & _issue_rules(app)
    app = app.selectbox(key="import_map_notes").set_value("notes").run()
    assert {"control_characters", "formula_like"} <= _issue_rules(app)

    # Fix: replace the unknown connector name everywhere, revalidate.
    app.selectbox(key="import_fix_column").set_value("connector_type")
    app.text_input(key="import_fix_old").input("Pantograph")
    app.text_input(key="import_fix_new").input("Type2")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    assert not app.exception, app.exception
    assert "connector_type" not in _issue_rules(app)
    assert int(_metrics(app)["Stations blocked"]) == blocked_before - 1

    # Fix a cell in place in the editor (AppTest seeds a keyed editor's edit state), then revalidate.
    editor = f"import_editor_{app.session_state['import_work']['revision']}"
    shown = app.data_editor(key=editor).value
    position = [i for i, speed in enumerate(shown["speed_kw"]) if speed == "0"]  # edits name rows by position
    assert len(position) == 1
    app.session_state[editor] = {"edited_rows": {position[0]: {"speed_kw": "11"}}, "added_rows": [],
                                          "deleted_rows": []}
    app = app.run()
    app = app.button(key="import_revalidate").click().run()
    assert not app.exception, app.exception
    assert "speed_not_positive" not in _issue_rules(app)
    assert int(_metrics(app)["Stations blocked"]) == blocked_before - 2

    # Accept: the valid stations are stored for this CPO, with an import record.
    valid = len(app.session_state["import_work"]["validation"].valid_station_ids())
    app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception
    assert any(f"Stored {valid} stations" in s.value for s in app.success)
    assert app.button(key="import_accept").disabled  # stored: a second click would make a second import
    with session_scope() as session:
        stored = session.exec(select(Station).where(Station.cpo_id == ours)).all()
        assert len(stored) == valid
        [record] = session.exec(select(ImportRecord)).all()
        assert (record.user_name, record.file_name, record.stations_stored) == ("staff", BROKEN.name, valid)
        assert session.get(Cpo, ours).stage == Stage.STATIONS_VALIDATED
        theirs_station = session.exec(select(Station).where(Station.station_id == "DE*8PS*S9")).one()
        assert theirs_station.cpo_id == theirs  # never taken over
        assert session.exec(select(AuditLog).where(AuditLog.action == "stations.import")).one()


def test_rows_deleted_in_the_editor_are_left_out_and_the_rest_revalidated(cpos):
    from oioi_onboard.sheets.canonical import ROW

    app = _page("staff")
    editor = f"import_editor_{app.session_state['import_work']['revision']}"
    before = app.session_state["import_work"]["validation"].frame
    shown = app.data_editor(key=editor).value
    gone = shown[ROW].iloc[[0, 2]].tolist()
    app.session_state[editor] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [0, 2]}
    app = app.run()
    app = app.button(key="import_revalidate").click().run()
    assert not app.exception, app.exception
    after = app.session_state["import_work"]["validation"].frame
    assert len(after) == len(before) - 2 and not set(gone) & set(after[ROW])
    assert set(before[ROW]) - set(after[ROW]) == set(gone)
    assert not set(gone) & set(app.session_state["import_work"]["validation"].issues["row"])
    assert any(s.value == "Left out 2 rows of the file." for s in app.success)


def test_issue_report_downloads_are_offered(cpos):
    app = _page("staff")
    labels = {b.label for b in app.get("download_button")}
    assert {"Issue report (CSV)", "Issue report (XLSX)", "Template (CSV)", "Template (XLSX)"} <= labels


def test_issue_reports_are_built_when_asked_for_not_on_every_validation(cpos, monkeypatch):
    # Both reports of the register cost ~0.3 s: paid on each upload, mapping change and fix, they were most of
    # a change's time for a download few make. The page hands Streamlit a callable it runs on the click.
    import oioi_onboard.sheets as sheets

    built = []
    for name in ("issues_csv", "issues_xlsx"):
        monkeypatch.setattr(sheets, name, lambda issues, name=name: built.append(name) or b"")
    app = _page("staff")
    assert not app.exception, app.exception
    assert len(app.session_state["import_work"]["validation"].issues)
    notes = app.selectbox(key="import_map_notes")
    app = notes.set_value(notes.options[1]).run()
    assert not app.exception, app.exception
    assert {b.label for b in app.get("download_button")} >= {"Issue report (CSV)", "Issue report (XLSX)"}
    assert built == []


def test_an_unreadable_file_says_why_and_changes_nothing(cpos):
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = "staff"
    app.session_state["import_upload"] = {"name": "stations.xlsx", "data": b"this is not a workbook"}
    app.run()
    assert not app.exception, app.exception
    assert app.error and "stations.xlsx" in app.error[0].value
    with session_scope() as session:
        assert session.exec(select(ImportRecord)).all() == []


def test_viewers_cannot_import(cpos):
    app = _page("viewer")
    assert not app.exception
    assert app.error and not app.get("deck_gl_json_chart")


def test_a_mapping_saved_as_profile_is_offered_and_applies(cpos):
    ours, _ = cpos
    app = _page("staff")
    app.selectbox(key="import_map_notes").set_value("— not in the file —")
    app = app.text_input(key="import_profile_name").input("no notes").run()
    app = app.button(key="import_profile_save").click().run()
    assert not app.exception, app.exception
    assert any("Saved profile 'no notes'" in s.value for s in app.success)
    profile = app.selectbox(key="import_profile")
    assert "no notes" in profile.options and "template" in profile.options and "bnetza" in profile.options
    app = profile.set_value("no notes").run()
    assert not app.exception, app.exception
    rules = _issue_rules(app)
    assert "formula_like" not in rules and "station_id_foreign" in rules
    app = app.selectbox(key="import_profile").set_value("template").run()
    assert "formula_like" in _issue_rules(app)


def test_what_the_cpos_defaults_fill_is_said_under_the_suggested_mapping(cpos):
    ours, _ = cpos
    with session_scope() as session:
        session.get(Cpo, ours).defaults = {"fax": "+49 621 9999999"}
    app = _page("staff")
    assert not app.exception, app.exception
    captions = [c.value for c in app.caption]
    assert any("fax: empty cells from the CPO's defaults" in c for c in captions), captions
    assert not any(c.startswith("fax <-") or "mapped with the profile" in c for c in captions)
    assert set(app.session_state["import_work"]["validation"].frame["fax"]) == {"+49 621 9999999"}


def test_the_register_profile_shows_an_operator_table_example_and_offers_the_files_operators(cpos):
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["oioi_user"] = "staff"
    slice_ = ROOT / "tests" / "data" / "bnetza-slice.xlsx"
    app.session_state["import_upload"] = {"name": slice_.name, "data": slice_.read_bytes()}
    app.run()
    app.selectbox(key="import_profile").set_value("bnetza").run()
    assert not app.exception, app.exception
    assert any("operator name;operator id" in c.value for c in app.code)  # the example
    [button] = [b for b in app.get("download_button") if "operators" in b.proto.label]
    assert button.proto.label == "This file's operators, ready to fill in (CSV)"


def test_a_database_that_fills_while_storing_is_a_message_and_nothing_is_stored(cpos):
    from tests.helpers.database_room import database_room

    app = _page("staff")
    assert not app.exception, app.exception
    with session_scope() as session:
        before = session.exec(select(Station.station_id)).all()
    with database_room(pages=0):  # not one page more: the first station stored fills it
        app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception  # a message, not a traceback
    [error] = [e.value for e in app.error]
    assert error.startswith("Nothing was stored: the database sqlite:///") and "is full" in error
    assert not app.success
    with session_scope() as session:
        assert session.exec(select(Station.station_id)).all() == before
        assert session.exec(select(ImportRecord)).all() == []


def test_accept_says_which_stored_stations_the_file_takes_off_the_list(cpos):
    ours, _ = cpos
    with session_scope() as session:  # stored before, not in the file: one the platform holds, one never pushed
        held = add_station_row(session, cpo_id=ours, station_id="DE*8PS*SOLD1", operator_id="DE*8PS")
        held.acked_sha256, held.acked_at = held.payload_sha256, held.updated_at
        session.add(held)
        add_station_row(session, cpo_id=ours, station_id="DE*8PS*SOLD2", operator_id="DE*8PS")
    app = _page("staff")
    assert not app.exception, app.exception
    [warning] = [w.value for w in app.warning if "replaces the station list" in w.value]
    assert warning.replace("\\", "") == (
        "This file replaces the station list of Ours: 2 stations stored now (DE*8PS*SOLD1, DE*8PS*SOLD2) are not in "
        "it and leave the list; the next push proposes deleting the 1 station the platform holds, which you confirm "
        "on the Push page.")
    with session_scope() as session:  # meanwhile another import adds a station the file does not name either
        partial = new_import(session, ours, full_upload=False)
        add_station_row(session, cpo_id=ours, station_id="DE*8PS*SOLD3", operator_id="DE*8PS").import_id = partial.id
    app.run()
    assert [w.value for w in app.warning if "replaces the station list" in w.value][0].replace("\\", "").startswith(
        "This file replaces the station list of Ours: 3 stations stored now (DE*8PS*SOLD1, DE*8PS*SOLD2, "
        "DE*8PS*SOLD3) are not in it")
    app = app.button(key="import_accept").click().run()
    assert not app.exception, app.exception
    assert not [w for w in app.warning if "replaces the station list" in w.value]  # said before, not after
    assert any(s.value.endswith("Next: push them on the Push page, and confirm there the 1 deletion this upload "
                                "makes.") for s in app.success)


def test_an_accepted_draft_comes_back_accepted_after_a_reload_until_another_import(cpos):
    ours, _ = cpos
    app = _page("staff")
    app = app.button(key="import_accept").click().run()
    assert app.button(key="import_accept").disabled
    again = _page("staff", upload=False)  # a new session (a reload, another tab): the draft comes back ...
    assert not again.exception, again.exception
    assert again.button(key="import_accept").disabled  # ... as accepted: a click would store it a second time
    assert any(s.value.startswith("Stored ") for s in again.success)
    assert not [w for w in again.warning if "replaces the station list" in w.value]
    with session_scope() as session:  # pushed meanwhile: the message no longer sends anyone to push
        for station in session.exec(select(Station).where(Station.cpo_id == ours)).all():
            station.acked_sha256, station.acked_at = station.payload_sha256, station.updated_at
            session.add(station)
    pushed = _page("staff", upload=False)
    [stored] = [s.value for s in pushed.success if s.value.startswith("Stored ")]
    assert stored.endswith("The endpoint has acknowledged every stored station: nothing is left to push.")
    with session_scope() as session:  # another import since: this file may be accepted again
        new_import(session, ours, full_upload=False)
    again.run()
    assert not again.button(key="import_accept").disabled


def test_fixes_kept_with_the_file_are_said_and_can_be_undone(cpos):
    """The same file uploaded again (or a reload) keeps the fixes made on it: the page says the counts include them,
    and "Undo my fixes" validates the file as uploaded again (walkthrough: a re-upload read "0 errors")."""
    app = _page("staff")
    errors_as_uploaded = int(_metrics(app)["Errors"])
    assert not [c for c in app.caption if "stay with the file" in c.value]
    app.selectbox(key="import_fix_column").set_value("connector_type")
    app.text_input(key="import_fix_old").input("Pantograph")
    app.text_input(key="import_fix_new").input("Type2")
    app = [b for b in app.button if b.label == "Replace and revalidate"][0].click().run()
    assert int(_metrics(app)["Errors"]) < errors_as_uploaded
    again = _page("staff", upload=False)  # a new session (a reload): the fix is kept, and said to be
    assert not again.exception, again.exception
    assert int(_metrics(again)["Errors"]) < errors_as_uploaded
    assert [c.value.replace("\\", "") for c in again.caption if "stay with the file" in c.value] == [
        f"Counted with your 1 fix made on {BROKEN.name}: they stay with the file, also after a reload or when you "
        "upload the same file again."]
    again = again.button(key="import_fixes_undo").click().run()
    assert not again.exception, again.exception
    assert int(_metrics(again)["Errors"]) == errors_as_uploaded
    assert "connector_type" in _issue_rules(again)
    assert not [c for c in again.caption if "stay with the file" in c.value]
