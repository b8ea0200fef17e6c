"""Overview, push and CPO pages say when a CPO's endpoint is unreachable or its queue paused (issue 12.2, 12.3)."""

import re
from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo

APP = Path(__file__).resolve().parents[2] / "app"
SINCE = datetime(2026, 11, 30, 7, 5, 9, tzinfo=UTC)


def unescaped(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", str(value))


def _mark(cpo_id: int, **values) -> None:
    with session_scope() as session:
        cpo = session.get(Cpo, cpo_id)
        for name, value in values.items():
            setattr(cpo, name, value)
        session.add(cpo)


def page(name: str, user: str = "maria", cpo_id: int | None = None) -> AppTest:
    app = AppTest.from_file(str(APP / "views" / name), default_timeout=60)
    app.session_state["oioi_user"] = user
    if cpo_id is not None:
        app.session_state["selected_cpo"] = cpo_id
        app.session_state["push_cpo"] = cpo_id
    return app.run()


def warnings(app: AppTest) -> list[str]:
    return [unescaped(w.value) for w in app.warning]


def test_an_unreachable_endpoint_shows_on_the_overview_push_and_cpo_pages(two_cpos):
    alpha = two_cpos["alpha"]
    _mark(alpha, unreachable_since=SINCE, unreachable_reason="station-post: HTTP 503 (maintenance)")

    overview = page("overview.py")
    assert not overview.exception, overview.exception
    said = [w for w in warnings(overview) if "unreachable" in w]
    assert len(said) == 1 and "Alpha" in said[0] and "2026-11-30 07:05:09 UTC" in said[0]
    assert "HTTP 503" in said[0] and "by itself" in said[0]
    table = overview.dataframe[0].value.set_index("CPO")
    assert table.loc["Alpha", "queue"] == "endpoint unreachable since 2026-11-30 07:05 UTC"
    assert table.loc["Bravo", "queue"] == ""

    push = page("push.py", cpo_id=alpha)
    assert not push.exception, push.exception
    assert any("unreachable since 2026-11-30 07:05:09 UTC" in w for w in warnings(push))

    cpos = page("cpos.py", cpo_id=alpha)
    assert not cpos.exception, cpos.exception
    assert any("unreachable since 2026-11-30 07:05:09 UTC" in w for w in warnings(cpos))

    _mark(alpha, unreachable_since=None, unreachable_reason=None)  # it answers again: the banners go
    assert not any("unreachable" in w for w in warnings(page("push.py", cpo_id=alpha)))
    assert not any("unreachable" in w for w in warnings(page("cpos.py", cpo_id=alpha)))


def test_a_paused_queue_says_why_on_the_overview_and_cpo_pages(two_cpos):
    bravo = two_cpos["bravo"]
    reason = "the endpoint does not know the partner identifier 'x' (code 211)"
    _mark(bravo, paused_reason=reason)
    overview = page("overview.py")
    assert any("Bravo is paused" in w and "code 211" in w for w in warnings(overview))
    assert overview.dataframe[0].value.set_index("CPO").loc["Bravo", "queue"] == "paused: set-up refused"
    assert any("is paused" in w and "code 211" in w for w in warnings(page("cpos.py", cpo_id=bravo)))


def test_staff_see_only_their_own_cpos_problem(two_cpos):
    _mark(two_cpos["bravo"], unreachable_since=SINCE)
    app = page("overview.py", user="alice")  # staff of Alpha
    assert not any("unreachable" in w for w in warnings(app))
