"""The push page warns, and asks for a confirmation before Push, while the CPO's connection test failed
or never ran since its key, partner identifiers or endpoint were last set (issue 10.5)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from oioi_onboard.store import connection, registry
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import Role
from oioi_onboard.testing.store import make_cpo, make_user, store_stations

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "push.py")


def page(cpo_id: int) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = "admin"
    app.session_state["push_cpo"] = cpo_id
    return app.run()


def warnings(app: AppTest) -> list[str]:
    return [w.value.replace("\\", "") for w in app.warning]


def test_push_waits_for_a_confirmation_until_the_connection_test_passes(db, sandbox):
    with db() as session:
        cpo = make_cpo(session, name="Unsure", operator_ids="DE*8PS", endpoint=sandbox.url,
                       api_key="not-the-sandbox-key-01", partner_ids=sandbox.partner_id)
        store_stations(session, cpo_id=cpo.id, count=3, prefix="RDY", mixed=True)
        make_user(session, "admin", Role.ADMIN)
    cpo_id = cpo.id

    never = page(cpo_id)
    assert not never.exception, never.exception
    assert any("has not been tested" in w for w in warnings(never))
    confirm = never.checkbox(key=f"push_confirm_untested_{cpo_id}")
    assert never.button(key="push_go").disabled and not never.button(key="push_dry_run").disabled
    confirm.check().run()
    assert not never.button(key="push_go").disabled

    with db() as session:
        assert not connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok
    failed = page(cpo_id)
    assert any("last connection test of Unsure failed" in w and "the API key was rejected" in w
               for w in warnings(failed))
    assert failed.button(key="push_go").disabled

    with db() as session:
        registry.set_api_key(session, actor=SYSTEM, cpo_id=cpo_id, api_key=sandbox.api_key)
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo_id).ok
    passed = page(cpo_id)
    assert not any("connection test" in w or "has not been tested" in w for w in warnings(passed))
    assert not [c for c in passed.checkbox if c.key == f"push_confirm_untested_{cpo_id}"]
    assert not passed.button(key="push_go").disabled
    passed.button(key="push_go").click().run()
    assert not passed.exception, passed.exception
    assert any("3 requests queued" in s.value for s in passed.success)
