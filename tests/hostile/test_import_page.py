"""Every file of the hostile corpus on the import page: a message, no exception, nothing stored.

AppTest cannot drive a file uploader, so each file's bytes go where the
uploader puts them (``st.session_state["import_upload"]``); from there on it
is the page's own code path.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Connector, ImportRecord, Station
from tests.hostile.test_corpus import CORPUS, EXPECTED, LARGE_EXPECTED, UNREADABLE

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "views" / "import_stations.py")
STORED_TABLES = (Station, Connector, ImportRecord)


@pytest.fixture
def staff(actors):
    """A staff member of the registered CPO, which holds the corpus's operator id DE*8PS."""
    return actors["staff"].name


def _counts() -> dict[str, int]:
    with session_scope() as session:
        return {table.__name__: session.exec(select(func.count()).select_from(table)).one()[0]
                for table in STORED_TABLES}


def _open(user: str, path: Path) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["oioi_user"] = user
    app.session_state["import_upload"] = {"name": path.name, "data": path.read_bytes()}
    return app.run()


def _texts(app: AppTest) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "success") for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def _check_page(app: AppTest, name: str, expected: tuple) -> None:
    want_code, want = expected
    assert not app.exception, f"{name}: {[e.value for e in app.exception]}"
    if want_code == UNREADABLE:
        # Unreadable, or readable with required fields unplaced: either way the page says so.
        messages = _texts(app)
        assert messages, f"{name}: the page showed no message"
        if not app.metric:
            assert want.lower() in messages.lower(), f"{name}: {want!r} not in {messages!r}"
        return
    metrics = {m.label: m.value for m in app.metric}
    if want_code == 0:
        assert metrics["Stations"] == "3", f"{name}: every station of the file is there: {metrics}"
    rules = set(app.session_state["import_work"]["validation"].issues["rule"])
    assert set(want) <= rules, f"{name}: rules {sorted(rules)}, expected {want}"
    assert (int(metrics["Errors"]) > 0) == (want_code != 0), f"{name}: {metrics}"


@pytest.mark.slow  # the whole corpus through the page: ~30 s
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_import_page_reports_each_file_and_stores_nothing(name, staff):
    before = _counts()
    app = _open(staff, CORPUS / name)
    _check_page(app, name, EXPECTED[name])
    assert _counts() == before


@pytest.mark.slow  # builds a 50 MB CSV and a zip bomb
@pytest.mark.parametrize("name", sorted(LARGE_EXPECTED))
def test_import_page_refuses_large_files(name, staff, large_files):
    before = _counts()
    app = _open(staff, large_files / name)
    assert not app.exception, [e.value for e in app.exception]
    assert LARGE_EXPECTED[name][1].lower() in " ".join(e.value for e in app.error).lower()
    assert _counts() == before


@pytest.mark.parametrize("name, stored", [
    ("formula_injection.csv", 2),  # station 3's speed "=1+21" is an error; the formulas in names are text
    ("html_script_names.csv", 3),
    ("emoji_rtl_names.csv", 3),
])
def test_accepted_hostile_text_is_stored_verbatim(name, stored, staff):
    """Accepting on purpose stores the valid stations with their text exactly as written, never evaluated."""
    app = _open(staff, CORPUS / name)
    app.button(key="import_accept").click().run()
    assert not app.exception, [e.value for e in app.exception]
    counts = _counts()
    assert counts["Station"] == stored and counts["ImportRecord"] == 1
    written = {row["station_name"] for row in csv.DictReader(io.StringIO((CORPUS / name).read_text(encoding="utf-8")))}
    with session_scope() as session:
        names = session.exec(select(Station.name)).scalars().all()
    for station_name in names:
        assert station_name in written, f"{station_name!r} was changed on the way in"
    if name == "html_script_names.csv":
        assert "<script>alert(1)</script>" in names


def test_a_cell_over_the_limit_gets_the_commands_message_on_the_page(staff, tmp_path):
    from tests.cli.test_validate import LONG_CELL

    before = _counts()
    path = tmp_path / "long.csv"
    path.write_bytes(b"name,zip\nMarkt,68159\n" + b"x" * 200_000 + b",1\n")
    app = _open(staff, path)
    assert not app.exception, [e.value for e in app.exception]
    assert LONG_CELL in " ".join(e.value for e in app.error)
    assert _counts() == before
