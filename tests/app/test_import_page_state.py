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
PAGE = str(ROOT / "app" / "views" / "import_stations.py")
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


def test_the_cpo_chosen_last_on_any_page_is_the_one_shown_on_return(user):
    """The import page's picker key outlives the page (set through the session state): a CPO chosen on the push
    page since must win, or a file is checked and accepted under the CPO of an earlier visit."""
    app = _open(user)
    first = app.selectbox(key="import_cpo").value
    other = ({_cpo_id("Alpha"), _cpo_id("Bravo")} - {first}).pop()
    app.session_state["selected_cpo"] = other  # what the push page's picker records
    app = app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key="import_cpo").value == other
    app = app.selectbox(key="import_cpo").set_value(first).run()
    assert app.session_state["selected_cpo"] == first and app.selectbox(key="import_cpo").value == first


def test_another_sheet_of_a_workbook_can_be_chosen_and_is_read_as_another_file(user):
    from tests.helpers.sheet_files import instructions_first_xlsx

    app = _open(user, ("stacje.xlsx", instructions_first_xlsx()))
    assert not app.exception, app.exception
    picker = app.selectbox(key="import_sheet")
    assert picker.options == ["Instrukcja", "Stacje"] and picker.value == "Stacje"
    assert app.session_state["import_work"]["validation"].stations == 2
    app = picker.set_value("Instrukcja").run()
    assert not app.exception, app.exception
    assert any("read sheet 'Instrukcja', as chosen" in c.value for c in app.caption)
    assert app.selectbox(key="import_sheet").value == "Instrukcja"
    app = app.selectbox(key="import_sheet").set_value("Stacje").run()
    assert app.session_state["import_work"]["validation"].stations == 2


def test_the_unmapped_field_warning_goes_once_fixes_fill_it(user):
    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))
    assert not app.exception, app.exception
    assert any("No column of the file holds: phone. Choose" in w.value and "CPOs → Edit → Defaults" in w.value
               for w in app.warning)
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
    assert not any("No column of the file holds" in w.value for w in app.warning)


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


def test_a_new_session_shows_the_cpo_chosen_last_and_says_whose_file_is_on_screen(user):
    """A page opened from its address is a new browser session: it must start on the CPO chosen last on any
    page, not on the one the import draft was made for, and say that the file on screen was uploaded for
    another CPO before it is accepted for this one."""
    alpha, bravo = _cpo_id("Alpha"), _cpo_id("Bravo")
    app = _open(user)
    app = app.selectbox(key="import_cpo").set_value(alpha).run()
    app = _upload(app, "alpha.csv", DEMO.read_bytes())
    assert app.session_state["import_upload"]["cpo_id"] == alpha
    assert not app.warning

    push = AppTest.from_file(str(ROOT / "app" / "views" / "push.py"), default_timeout=60)
    push.session_state["oioi_user"] = user
    push = push.run()
    push = push.selectbox(key="push_cpo").set_value(bravo).run()
    assert not push.exception, push.exception

    again = _open(user)  # the import page typed into the address bar: a new session, with the draft restored
    assert not again.exception, again.exception
    assert again.selectbox(key="import_cpo").value == bravo
    assert any("alpha.csv was uploaded for Alpha; it is checked here for the CPO chosen above" in w.value
               for w in again.warning)
    assert again.session_state["import_work"]["key"][2] == bravo

    again = again.selectbox(key="import_cpo").set_value(alpha).run()
    assert not any("was uploaded for" in w.value for w in again.warning)
    # Another CPO picked here, beside the file, is a choice made with the file in view: the file is now its.
    again = again.selectbox(key="import_cpo").set_value(bravo).run()
    assert not any("was uploaded for" in w.value for w in again.warning)
    assert again.session_state["import_upload"]["cpo_id"] == bravo


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


def test_fixes_are_made_again_when_the_cpos_defaults_change(user):
    """The page sends a person to the CPO's defaults for a missing field; coming back, the fixes made before
    must still be there (they were dropped with the validation the defaults made stale)."""
    from oioi_onboard.store.registry import update_cpo

    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))
    app.selectbox(key="import_fix_column").set_value("phone")
    app.text_input(key="import_fix_old").input("")
    app.text_input(key="import_fix_new").input("+49 621 1234567")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    assert "field_not_mapped" not in set(app.session_state["import_work"]["validation"].issues["rule"])

    with session_scope() as session:
        update_cpo(session, actor=SYSTEM, cpo_id=app.selectbox(key="import_cpo").value,
                   defaults={"web": "https://example.org"})
    app = app.run()  # the defaults changed: the file is mapped anew, and the phone fix made again
    assert not app.exception, app.exception
    validation = app.session_state["import_work"]["validation"]
    assert "field_not_mapped" not in set(validation.issues["rule"]) and validation.errors == 0
    assert validation.frame["phone"].eq("+49 621 1234567").all()
    assert any("Made your 1 fix again on the file as now mapped." in s.value for s in app.success)


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


# --- replacing the file, fixing, the map, a file that reads as one column -----------------------------------

def _renamed(path: Path, names: dict[str, str], rows: int = 12, change=None) -> bytes:  # noqa: ANN001
    """The file's first rows under other headers; ``change`` may rewrite each row (a dict) first."""
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([names.get(f, f) for f in reader.fieldnames])
    for _, row in zip(range(rows), reader, strict=False):
        writer.writerow(list((change(row) if change else row).values()))
    return out.getvalue().encode()


class Browser:
    """What the browser shows in the mapping's select boxes: it draws each from its first message, and
    afterwards changes it only when the page sends a value (``set_value``) or the person picks one."""

    def __init__(self) -> None:
        self.shown: dict[str, str] = {}

    def look(self, app: AppTest) -> dict[str, str]:
        for box in app.selectbox:
            key = box.key or ""
            if not key.startswith("import_map_"):
                continue
            if box.proto.set_value:
                self.shown[key] = box.proto.raw_value
            elif key not in self.shown:
                self.shown[key] = box.options[box.proto.default]
        return dict(self.shown)

    def pick(self, app: AppTest, key: str, value: str) -> AppTest:
        """A person's choice: the browser sends it with every other box's value as it shows it."""
        for box in app.selectbox:
            if box.key in self.shown and box.key != key:
                box.set_value(self.shown[box.key])
        app.selectbox(key=key).set_value(value)
        self.shown[key] = value
        return app.run()


def _chosen(app: AppTest) -> dict[str, str | None]:
    from oioi_onboard.sheets.canonical import NAMES

    return {name: app.selectbox(key=f"import_map_{name}").value for name in NAMES}


ITALIAN = {"station_name": "Nome", "latitude": "Latitudine", "longitude": "Longitudine", "phone": "Telefono",
           "evse_id": "Codice EVSE", "description": "Descrizione", "notes": "Note"}
OTHER = {"station_name": "Label", "latitude": "Coord Y", "longitude": "Coord X", "phone": "Hotline no",
         "evse_id": "Point", "description": "Descrizione", "notes": "Note"}


def test_a_replaced_file_keeps_its_own_suggestion_and_a_hand_choice_changes_only_its_field(user):
    browser = Browser()
    app = _open(user, ("first.csv", _renamed(DEMO, OTHER)))
    assert not app.exception, app.exception
    browser.look(app)
    app = _upload(app, "corrected.csv", _renamed(DEMO, ITALIAN))
    assert not app.exception, app.exception
    suggested = _chosen(app)
    assert browser.look(app) == {f"import_map_{k}": v for k, v in suggested.items()}  # the new file's suggestion
    assert (suggested["station_name"], suggested["latitude"], suggested["evse_id"]) == (
        "Nome", "Latitudine", "Codice EVSE")

    app = browser.pick(app, "import_map_notes", "— not in the file —")
    assert not app.exception, app.exception
    assert _chosen(app) == {**suggested, "notes": "— not in the file —"}
    validation = app.session_state["import_work"]["validation"]
    assert validation.errors == 0 and validation.stations == 6


def test_replace_everywhere_says_how_many_cells_it_changed_and_clears_its_inputs(user):
    app = _open(user, ("broken.csv", BROKEN.read_bytes()))
    app.selectbox(key="import_fix_column").set_value("connector_type")
    app.text_input(key="import_fix_old").input("Pantograph")
    app.text_input(key="import_fix_new").input("Type2")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    assert not app.exception, app.exception
    assert [s.value for s in app.success] == ["Replaced 1 cell of connector\\_type: 'Pantograph' → 'Type2'."]
    assert app.text_input(key="import_fix_old").value == "" and app.text_input(key="import_fix_new").value == ""
    app = app.run()  # said once, not on every rerun
    assert not any("Replaced" in s.value for s in app.success)

    app = _open(user, ("no_phone.csv", _without_column(DEMO, "phone")))  # every phone of the file, all fixed
    app.selectbox(key="import_fix_column").set_value("phone")
    app.text_input(key="import_fix_new").input("+49 621 1234567")
    [replace] = [b for b in app.button if b.label == "Replace and revalidate"]
    app = replace.click().run()
    assert [s.value for s in app.success][:1] == ["Replaced 12 cells of phone: '' → '+49 621 1234567'."]


def _deck(app: AppTest) -> dict:
    import json

    [chart] = app.get("deck_gl_json_chart")
    return json.loads(chart.proto.json)


def test_the_map_fits_the_points_in_range_and_lists_the_others_beside_it(user):
    import math

    def swapped(row: dict) -> dict:  # Parkhaus Augustaanlage with latitude and longitude exchanged
        if row["station_id"] == "DE*DMO*SMA0001":
            row["latitude"], row["longitude"] = row["longitude"], row["latitude"]
        return row

    app = _open(user, ("swapped.csv", _renamed(DEMO, {}, rows=40, change=swapped)))
    assert not app.exception, app.exception
    deck = _deck(app)
    [drawn] = [layer["data"] for layer in deck["layers"] if layer["id"] == "stations"]
    assert "Parkhaus Augustaanlage" not in {point["name"] for point in drawn}
    [listed] = [frame.value for frame in app.dataframe
                if list(frame.value.columns) == ["station_id", "name", "latitude", "longitude"]]
    assert listed["station_id"].tolist() == ["DE*DMO*SMA0001"]
    assert any("not on the map" in c.value for c in app.caption)

    # Every point drawn lies inside the frame: the map beside the list is at least 420 px wide, 520 px high.
    view = deck["initialViewState"]
    scale = 512 * 2 ** view["zoom"]

    def pixel(lat: float, lon: float) -> tuple[float, float]:
        return lon / 360 * scale, -math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / (2 * math.pi) * scale

    centre_x, centre_y = pixel(view["latitude"], view["longitude"])
    for point in drawn:
        x, y = pixel(point["latitude"], point["longitude"])
        assert abs(x - centre_x) < 420 / 2 and abs(y - centre_y) < 520 / 2, (point["name"], view)
    assert view["zoom"] > 9  # Mannheim, not the Indian Ocean


def test_exchanged_coordinates_block_their_station_until_one_click_swaps_them_back(user):
    def swapped(row: dict) -> dict:  # two stations with latitude and longitude exchanged
        if row["station_id"] in ("DE*DMO*SMA0001", "DE*DMO*SMA0002"):
            row["latitude"], row["longitude"] = row["longitude"], row["latitude"]
        return row

    app = _open(user, ("swapped.csv", _renamed(DEMO, {}, rows=40, change=swapped)))
    frame = app.session_state["import_work"]["validation"].frame
    before = frame[~frame["station_id"].isin(["DE*DMO*SMA0001", "DE*DMO*SMA0002"])]
    validation = app.session_state["import_work"]["validation"]
    assert set(validation.blocked_station_ids()) == {"DE*DMO*SMA0001", "DE*DMO*SMA0002"}
    rows = sorted(frame.loc[frame["station_id"].isin(["DE*DMO*SMA0001", "DE*DMO*SMA0002"]), "_row"])
    [swap] = [b for b in app.button if b.label.startswith("Swap latitude and longitude")]
    assert swap.label == "Swap latitude and longitude of the 2 stations where they look exchanged"

    app = swap.click().run()
    assert not app.exception, app.exception
    validation = app.session_state["import_work"]["validation"]
    assert validation.errors == 0 and not validation.blocked_station_ids()
    assert [s.value for s in app.success] == [f"Swapped latitude and longitude in {len(rows)} rows.",
                                              "No problems found."]
    fixed = validation.frame
    assert fixed[fixed["station_id"] == "DE*DMO*SMA0001"]["latitude"].str.startswith("49.").all()  # Mannheim
    untouched = fixed[~fixed["station_id"].isin(["DE*DMO*SMA0001", "DE*DMO*SMA0002"])]
    assert untouched[["latitude", "longitude"]].equals(before[["latitude", "longitude"]])
    assert not [b for b in app.button if b.label.startswith("Swap latitude and longitude")]


def test_a_file_that_reads_as_one_column_suggests_its_separator(user):
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:6]
    colon = "\n".join(line.replace(",", ":") for line in lines).encode()
    app = _open(user, ("colons.csv", colon))
    assert not app.exception, app.exception
    assert any("one column" in w.value and "':'" in w.value for w in app.warning), [w.value for w in app.warning]


def test_an_export_in_its_own_language_maps_itself_and_says_why(db):
    with db() as session:
        make_cpo(session, name="Ricarica", operator_ids="IT*RIC")
        make_user(session, "it", Role.CPO_STAFF, cpo_names=["Ricarica"])
    italian = ROOT / "tests" / "data" / "sheets" / "stazioni_it.xlsx"
    app = _open("it", (italian.name, italian.read_bytes()))
    assert not app.exception, app.exception
    validation = app.session_state["import_work"]["validation"]
    assert (validation.stations, validation.connectors, validation.errors) == (3, 5, 0)
    captions = [c.value for c in app.caption]
    assert "evse\\_id \\<- 'EVSE ID' (its header; values look like EVSE ids, 5/5)" in captions, captions
    assert any(c.startswith("station\\_id \\<- 'Codice stazione' (its header; values look like station codes")
               for c in captions)
    assert not any("station ids" in w.value for w in app.warning)  # the CPO's own codes are kept


def test_generated_station_ids_are_a_warning_seen_at_once(user):
    app = _open(user, ("no_ids.csv", _without_column(DEMO, "station_id")))
    assert not app.exception, app.exception
    assert any("No column of the file holds station ids" in w.value for w in app.warning)


def test_a_file_without_problems_can_still_be_fixed(user):
    """A value may be valid and still wrong (a city spelt as the CPO does not want it): the Fix section stays."""
    app = _open(user, ("clean.csv", _renamed(DEMO, {}, rows=12)))
    validation = app.session_state["import_work"]["validation"]
    assert validation.errors == 0 and validation.issues.empty
    assert "No problems found." in [s.value for s in app.success]
    editor = f"import_editor_{app.session_state['import_work']['revision']}"
    with pytest.raises(KeyError):  # 100,000 rows in an editor only when asked
        app.data_editor(key=editor)
    app.selectbox(key="import_fix_column").set_value("city")
    app.text_input(key="import_fix_old").input("Mannheim")
    app.text_input(key="import_fix_new").input("Mannheim (Quadrate)")
    app = app.button(key="FormSubmitter:import_replace-Replace and revalidate").click().run()
    assert not app.exception, app.exception
    frame = app.session_state["import_work"]["validation"].frame
    assert frame["city"].eq("Mannheim (Quadrate)").sum() == 12
    assert "Replaced 12 cells of city: 'Mannheim' → 'Mannheim (Quadrate)'." in [s.value for s in app.success]
    app = app.toggle(key="import_edit_all").set_value(True).run()
    editor = f"import_editor_{app.session_state['import_work']['revision']}"
    assert len(app.data_editor(key=editor).value) == 12 and app.button(key="import_revalidate")
