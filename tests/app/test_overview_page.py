"""The Overview page through Streamlit's AppTest."""

import re
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store import queries
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import ImportRecord, Outbox, OutboxState, Role, Stage
from oioi_onboard.testing.store import add_station_row, make_user

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "overview.py")


def unescaped(value: str) -> str:
    """Text as the user reads it: without the backslashes that keep '*' from turning into italics."""
    return re.sub(r"\\(.)", r"\1", str(value))


@pytest.fixture
def network(two_cpos):
    """Alpha (statuses live, two stations) and Bravo (a failed push, an import with 4 errors, one station)."""
    alpha, bravo = two_cpos["alpha"], two_cpos["bravo"]
    with session_scope() as session:
        add_station_row(session, cpo_id=alpha, station_id="A1", operator_id="DE*ALP", connectors=2)
        add_station_row(session, cpo_id=alpha, station_id="A2", operator_id="DE*ALP", connectors=2)
        add_station_row(session, cpo_id=bravo, station_id="B1", operator_id="AT*BRV", connectors=3)
        session.add(Outbox(cpo_id=bravo, kind="station-post", key="B1", payload={}, payload_sha256="z",
                           state=OutboxState.FAILED))
        session.add(ImportRecord(cpo_id=bravo, user_name="bob", file_name="b.csv", file_sha256="s", errors=4))
        queries.set_stage(session, cpo_id=alpha, stage=Stage.STATUSES_LIVE)


def page(user: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = user
    return app.run()


def test_partner_manager_sees_every_cpo_with_stage_counts_and_problems(network):
    app = page("maria")
    assert not app.exception
    table = app.dataframe[0].value.set_index("CPO")
    assert list(table.index) == ["Alpha", "Bravo"]
    # Steps done: Alpha registered, stations stored, no import errors, statuses live (connection untested,
    # stations not pushed); Bravo registered with a station stored, but its latest import has errors.
    assert table.loc["Alpha", "progress"] == 4 and table.loc["Bravo", "progress"] == 2
    assert "stage" not in table.columns  # the stored stage ("statuses live" for Alpha) beside 4 of 6 steps misled
    assert table.loc["Alpha", "next step"] == "Test the connection"
    assert (table.loc["Alpha", "stations"], table.loc["Alpha", "connectors"]) == (2, 4)
    assert (table.loc["Bravo", "stations"], table.loc["Bravo", "connectors"]) == (1, 3)
    assert table.loc["Bravo", "open problems"] == 1 + 4
    assert table["last activity"].notna().all()
    assert {m.label: m.value for m in app.metric} == {"CPOs": "2", "Stations": "3", "Connectors": "7",
                                                      "Open problems": "5"}


def test_cpo_staff_see_only_their_own(network):
    app = page("bob")
    assert not app.exception
    assert list(app.dataframe[0].value["CPO"]) == ["Bravo"]
    assert {m.label: m.value for m in app.metric}["Stations"] == "1"
    assert "Alpha" not in " ".join(str(unescaped(e.value)) for e in app.markdown)


def test_viewer_is_turned_away(network):
    app = page("victor")
    assert any("This page is for" in unescaped(e.value) for e in app.error)
    assert not app.dataframe


def test_empty_overview_points_to_the_cpos_page(db):
    with db() as session:
        make_user(session, "maria", Role.PARTNER_MANAGER)
    app = page("maria")
    assert not app.exception
    assert any("No CPOs registered yet" in unescaped(i.value) for i in app.info)


def test_an_unreachable_database_is_a_plain_message_without_the_password(monkeypatch):
    from oioi_onboard.settings import get_settings
    from oioi_onboard.testing.sandbox import free_port

    monkeypatch.setenv("DATABASE_URL", f"postgresql://dash:hunter2secret@127.0.0.1:{free_port()}/nowhere")
    get_settings.cache_clear()
    app = page("maria")
    assert not app.exception
    [error] = app.error
    assert unescaped(error.value).startswith("The database postgresql+psycopg://dash:***@127.0.0.1:")
    assert "hunter2secret" not in error.value


# --- issue 13.5: the guided onboarding ------------------------------------------------------------------

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def whole_app(user: str) -> AppTest:
    """The app as a browser gets it: the entry script with its navigation, opening on the overview."""
    app = AppTest.from_file(MAIN, default_timeout=60)
    app.session_state["oioi_user"] = user
    return app.run()


def next_steps(app) -> dict[str, str]:
    """CPO name -> the label of its next-step button, as the overview lists them."""
    names = [unescaped(m.value).split("\n")[0].strip("* ") for m in app.markdown if "steps" in m.value
             and m.value.startswith("**") and " of 6 steps" in m.value]
    buttons = [b.label for b in app.button if b.key and b.key.startswith("overview_next_")]
    found = dict(zip(names, buttons, strict=True))
    for name, label in found.items():
        assert label.endswith(f" · {name} →")  # each button names its CPO
    return {name: label.removesuffix(f" · {name} →") for name, label in found.items()}


def test_the_overview_lists_each_cpos_next_step_with_a_button(network):
    app = whole_app("maria")
    assert not app.exception, app.exception
    assert next_steps(app) == {"Alpha": "Test the connection", "Bravo": "Test the connection"}
    text = " ".join(unescaped(c.value) for c in app.caption)
    assert "Next: test the connection. Not tested yet." in text
    assert "next step" in app.dataframe[0].value.columns


def set_connection(cpo_id: int, ok: bool) -> None:
    from oioi_onboard.store.models import Cpo

    with session_scope() as session:
        cpo = session.get(Cpo, cpo_id)
        cpo.connection_ok = ok
        session.add(cpo)


def test_each_button_opens_the_right_page_with_that_cpo_chosen(network, two_cpos):
    alpha, bravo = two_cpos["alpha"], two_cpos["bravo"]
    app = whole_app("maria")
    app.button(key=f"overview_next_{bravo}").click().run()  # test the connection: the CPOs page, Bravo chosen
    assert not app.exception, app.exception
    assert app.title[0].value == "1 · CPOs" and app.selectbox(key="selected_cpo").value == bravo
    assert any("Onboarding of Bravo" in unescaped(m.value) for m in app.markdown)  # where Bravo stands

    set_connection(bravo, True)  # Bravo's last import had 4 errors: fix them on the import page
    app.switch_page("views/overview.py").run()
    assert next_steps(app)["Bravo"] == "Fix the errors"
    app.button(key=f"overview_next_{bravo}").click().run()
    assert app.title[0].value == "2 · Import stations" and app.selectbox(key="import_cpo").value == bravo

    set_connection(alpha, True)  # Alpha has stations nobody pushed yet
    app.switch_page("views/overview.py").run()
    assert next_steps(app)["Alpha"] == "Push the stations"
    app.button(key=f"overview_next_{alpha}").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Push stations" and app.selectbox(key="push_cpo").value == alpha
    steps_line = [unescaped(m.value) for m in app.markdown if "Onboarding of Alpha" in unescaped(m.value)][0]
    assert "**:orange[:material/arrow_circle_right: Push stations]**" in steps_line  # this page's step, next


def test_a_cpo_with_statuses_live_opens_the_live_map_filtered_to_it(network, two_cpos):
    from oioi_onboard.store.models import Station

    alpha = two_cpos["alpha"]
    set_connection(alpha, True)
    with session_scope() as session:
        for station in session.exec(select(Station).where(Station.cpo_id == alpha)).all():
            station.acked_sha256, station.acked_at = station.payload_sha256, station.updated_at
            session.add(station)
    app = whole_app("maria")
    assert next_steps(app)["Alpha"] == "Live map"
    app.button(key=f"overview_next_{alpha}").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Live map" and app.multiselect(key="live_cpos").value == [alpha]
    assert app.selectbox(key="set_cpo").value == alpha  # Set statuses follows the map's CPO


def test_a_first_time_user_is_sent_to_register_a_cpo(db):
    with db() as session:
        make_user(session, "maria", Role.PARTNER_MANAGER)
    app = whole_app("maria")
    app.button(key="overview_register").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "1 · CPOs"


def test_each_step_page_shows_where_its_cpo_stands_and_opens_the_next_step(network, two_cpos):
    alpha = two_cpos["alpha"]
    set_connection(alpha, True)
    app = whole_app("maria")
    app.switch_page("views/cpos.py").run()
    app.selectbox(key="selected_cpo").set_value(alpha).run()
    [line] = [unescaped(m.value) for m in app.markdown if "Onboarding of Alpha" in unescaped(m.value)]
    assert "(5 of 6 steps)" in line  # all but the push: Alpha's two stations were never pushed
    assert "**:green[:material/check_circle: Test the connection]**" in line  # this page's step, done
    app.button(key=f"steps_next_cpos_{alpha}").click().run()  # the CPOs page's own picker holds selected_cpo
    assert not app.exception, app.exception
    assert app.title[0].value == "Push stations"
    assert app.selectbox(key="push_cpo").value == alpha
