"""Issue 13.3 and 13.4: work is visible (status widget, spinners with counts); labels and widget keys are unique.

AppTest sees no spinner once a run is over, so the spinners' texts are recorded
as the pages open them; the status widget is the browser's (tests/e2e sees it),
drawn only while the top bar is: the test here keeps the setting that shows it.
"""

import re
import tomllib
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.models import Role
from oioi_onboard.testing.store import make_cpo, make_user

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
DEMO = ROOT / "sample_data" / "demo_network.csv"
BROKEN = ROOT / "sample_data" / "broken_stations.csv"
PAGES = ["views/overview.py", "views/cpos.py", "views/import_stations.py", "views/push.py", "views/live_map.py"]


@pytest.fixture
def admin(db):
    """An admin, 'admin', and two CPOs: Demo CPO (DE*DMO, the demo file's) and Other CPO (DE*8PS); Demo CPO's id."""
    with db() as session:
        cpo = make_cpo(session, name="Demo CPO", operator_ids="DE*DMO")
        make_cpo(session, name="Other CPO", operator_ids="DE*8PS")
        make_user(session, "admin", Role.ADMIN)
        return cpo.id


@pytest.fixture
def spinners(monkeypatch):
    """The texts of every st.spinner the pages open, in order."""
    opened: list[str] = []
    real = streamlit.spinner

    @contextmanager
    def recording(text: str = "", *args, **kwargs):
        opened.append(text)
        with real(text, *args, **kwargs):
            yield

    monkeypatch.setattr(streamlit, "spinner", recording)
    return opened


def whole_app() -> AppTest:
    app = AppTest.from_file(MAIN, default_timeout=120)
    app.session_state["oioi_user"] = "admin"
    return app.run()


def upload(app: AppTest, path: Path) -> AppTest:
    """What the file uploader does (AppTest cannot drive it): the file's bytes where the page reads them."""
    app.session_state["import_upload"] = {"name": path.name, "data": path.read_bytes()}
    return app.run()


def test_the_top_bar_and_with_it_the_status_widget_is_shown():
    # Streamlit draws the status widget ("Running...") in the top bar's right side, which it shows
    # only when client.toolbarMode is not "minimal" or the app has menu items (this one has none).
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["toolbarMode"] in ("viewer", "auto", "developer")
    assert not config.get("ui", {}).get("hideTopBar", False)


def test_reading_validating_storing_and_queuing_show_spinners_with_counts(admin, spinners):
    app = whole_app()
    app.switch_page("views/import_stations.py").run()
    app = upload(app, DEMO)
    assert not app.exception, app.exception
    assert any(text.startswith("Reading demo_network.csv (") and text.endswith(" MB)…") for text in spinners)
    assert any(re.fullmatch(r"Validating [\d,]+ rows…", text) for text in spinners), spinners
    app.button(key="import_accept").click().run()
    assert "Storing 280 stations…" in spinners

    app.switch_page("views/push.py").run()
    app.button(key="push_dry_run").click().run()
    assert not app.exception, app.exception
    assert "Planning a dry run of 280 stations…" in spinners


def widgets(node) -> list:
    """Every widget under ``node`` (labels and keys), depth first."""
    found = []
    for child in getattr(node, "children", {}).values():
        if hasattr(child, "label") and hasattr(child, "key") and getattr(child, "type", "") not in ("expander",
                                                                                                   "tab"):
            found.append(child)
        found += widgets(child)
    return found


def test_labels_are_unique_on_each_page_and_widget_keys_across_pages(admin):
    app = whole_app()
    seen: dict[str, list] = {}
    for page in PAGES:
        app.switch_page(page).run()
        if page == "views/import_stations.py":
            app = upload(app, BROKEN)  # the whole import page: mapping, issues, fix form, editor, map, accept
        assert not app.exception, (page, app.exception)
        seen[page] = widgets(app.main)
        assert seen[page], page

    for page, found in seen.items():
        labels = Counter(widget.label for widget in found if widget.label)
        assert not [label for label, count in labels.items() if count > 1], (page, labels)
    keys = Counter(widget.key for found in seen.values() for widget in found if widget.key)
    assert not [key for key, count in keys.items() if count > 1], keys
