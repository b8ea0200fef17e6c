from sqlmodel import select

from oioi_onboard.settings import SANDBOX_API_KEY, SANDBOX_PARTNER_ID, get_settings
from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM, authenticate
from oioi_onboard.store.db import session_scope
from oioi_onboard.store.models import Cpo, User
from oioi_onboard.workflows.bootstrap import DEMO_CPO_NAME, prepare_embedded


def test_first_run_creates_admin_with_a_printed_one_time_password(capsys):
    prepare_embedded()
    printed = capsys.readouterr()
    line = next(line for line in printed.err.splitlines() if "password:" in line)
    password = line.split("password:", 1)[1].strip()
    with session_scope() as session:
        actor = authenticate(session, name="admin", password=password)
        assert actor is not None and actor.is_admin
    assert (get_settings().data_dir / "secret.key").exists()

    prepare_embedded()  # the second start creates nothing and prints no password
    assert "password:" not in capsys.readouterr().err
    with session_scope() as session:
        assert len(session.exec(select(User)).all()) == 1
        # The two demo CPOs: the one with a file, and the one whose back end speaks OCPI.
        assert sorted(cpo.name for cpo in session.exec(select(Cpo)).all()) == ["Demo CPO", "Demo OCPI CPO"]


def test_admin_password_from_environment_and_demo_cpo_on_the_sandbox(monkeypatch, capsys):
    monkeypatch.setenv("OIOI_ADMIN_PASSWORD", "chosen-admin-pass")
    get_settings.cache_clear()
    prepare_embedded()
    assert "chosen-admin-pass" not in capsys.readouterr().err
    with session_scope() as session:
        assert authenticate(session, name="admin", password="chosen-admin-pass") is not None
        demo = queries.get_cpo(session, actor=SYSTEM, name=DEMO_CPO_NAME)
        assert queries.cpo_operator_ids(session, cpo_id=demo.id) == ["DE*DMO"]
        url, key, partner = queries.cpo_credentials(session, actor=SYSTEM, cpo_id=demo.id)
    assert (url, key, partner) == (get_settings().sandbox_url, SANDBOX_API_KEY, SANDBOX_PARTNER_ID)


def test_demo_network_is_imported_once_and_ready_to_push():
    from oioi_onboard.store.models import Connector, ImportRecord, Stage, Station

    prepare_embedded()
    prepare_embedded()
    with session_scope() as session:
        demo = queries.get_cpo(session, actor=SYSTEM, name=DEMO_CPO_NAME)
        stations = session.exec(select(Station).where(Station.cpo_id == demo.id)).all()
        imports = session.exec(select(ImportRecord)).all()
        connector_types = {c.name for c in session.exec(select(Connector)).all()}
    assert len(imports) == 1 and imports[0].errors == 0
    assert len(stations) >= 200 and imports[0].stations_stored == len(stations)
    assert len(connector_types) == 19  # every OIOI connector type is in the demo
    assert demo.stage == Stage.STATIONS_VALIDATED
