"""The push page in Streamlit's AppTest, with a real worker process sending to the real sandbox."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from oioi_onboard.store import connection
from oioi_onboard.store.auth import SYSTEM, create_user
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Cpo, Outbox, Role
from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.testing.stations import station_payload
from oioi_onboard.testing.store import make_cpo, new_import, store_station, store_stations

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "push.py")


@pytest.fixture
def sandbox(tmp_path):
    with running_sandbox(tmp_path / "sandbox") as sandbox:
        yield sandbox


@pytest.fixture
def cpo_id(sandbox):
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Push CPO", endpoint=sandbox.url, api_key=sandbox.api_key,
                       partner_ids=sandbox.partner_id)
        store_stations(session, cpo.id, 30)
        create_user(session, actor=SYSTEM, name="admin", role=Role.ADMIN, password="x" * 12)
        # A passed connection test, as a user runs it on the CPOs page: Push is offered without a confirmation.
        assert connection.check_cpo_connection(session, actor=SYSTEM, cpo_id=cpo.id).ok
        return cpo.id


@pytest.fixture
def worker(tmp_path, cpo_id):
    log = open(tmp_path / "worker.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "oioi_onboard.cli", "worker", "--poll-interval", "0.1"],
                               stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def page() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["oioi_user"] = "admin"
    return app.run()


def metrics(app) -> dict:
    return {m.label: int(m.value) for m in app.metric}


def progress_text(app) -> str:
    bars = app.get("progress")
    return bars[0].proto.text if bars else ""


def wait_for(app, predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate(app):
        assert time.monotonic() < deadline, f"the page never showed it; progress: {progress_text(app)!r}"
        time.sleep(0.3)
        app.run()  # what the fragment's one-second timer does
        assert not app.exception, app.exception



def said(app) -> str:  # noqa: ANN001
    """Every success message of the page: a worker quick enough has sent the queued run before the page draws
    its plan, which then says "nothing to push" above the run's own message."""
    return "\n".join(message.value for message in app.success)


def test_push_page_shows_the_plan_and_json_and_follows_the_worker(sandbox, cpo_id, worker):
    app = page()
    assert not app.exception, app.exception
    assert metrics(app)["New"] == 30 and metrics(app)["Unchanged (not sent)"] == 0
    [shown] = [j for j in app.json]
    assert '"DE*8PS*S000001"' in shown.proto.body and "partner-identifier" in shown.proto.body
    app.selectbox(key="push_json_station").select("DE*8PS*S000007").run()
    assert '"DE*8PS*S000007"' in app.json[0].proto.body

    app.button(key="push_dry_run").click().run()
    assert "would be sent" in app.info[0].value
    assert sandbox.stats()["station_accepts"] == {}

    app.button(key="push_go").click().run()
    assert not app.exception, app.exception
    assert "queued" in said(app)
    # The same run of the page already shows the run queued: nothing new is left, Push is off.
    shown = metrics(app)
    assert shown["New"] == 0 and shown["Queued (being sent)"] + shown["Unchanged (not sent)"] == 30
    assert app.button(key="push_go").disabled
    wait_for(app, lambda a: "30 of 30 done, 30 acknowledged" in progress_text(a))
    assert app.get("progress")[0].proto.value == 100  # a full bar once every row is acked
    assert len(sandbox.stats()["station_accepts"]) == 30

    # Coming back later (a new session) still shows the run, and nothing is left to send.
    again = page()
    assert "30 of 30 done" in progress_text(again)
    assert metrics(again)["Unchanged (not sent)"] == 30
    runs = again.dataframe[0].value
    assert list(runs["acked"]) == [30, 0]  # the push and, below it, the dry run

    again.button(key="push_reconcile").click().run()
    assert not again.exception, again.exception
    reconciled = again.dataframe[-1].value
    assert set(reconciled["verdict"]) == {"in sync"} and len(reconciled) == 30


@pytest.mark.slow
def test_connector_change_waits_for_confirmation_on_the_page(sandbox, cpo_id, worker):
    app = page()
    app.button(key="push_go").click().run()
    wait_for(app, lambda a: "30 acknowledged" in progress_text(a))
    with session_scope() as session:
        record = new_import(session, cpo_id)
        for n in range(1, 31):
            store_station(session, cpo_id, station_payload(n, connectors=2 if n == 5 else 1), import_id=record.id)
    app = page()
    assert metrics(app)["Connectors changed"] == 1
    app.button(key="push_go").click().run()
    assert "Please confirm" in app.error[0].value
    time.sleep(0.5)
    assert sum(sandbox.stats()["station_accepts"].values()) == 30  # nothing was sent
    app.checkbox(key="push_confirm_connectors").check().run()
    app.button(key="push_go").click().run()
    assert "2 requests queued" in said(app)
    wait_for(app, lambda a: "2 of 2 done, 2 acknowledged" in progress_text(a))
    held = {s["station_id"]: s["deleted"] for s in sandbox.stations()}
    assert held["DE*8PS*S000005"] is True and held["DE*8PS*S000005-2"] is False


def test_a_push_that_would_replace_every_station_is_refused_until_replace_all_is_ticked(cpo_id):
    with session_scope() as session:
        first = new_import(session, cpo_id)
        for n in range(1, 31):  # the endpoint holds the 30 stations ...
            store_station(session, cpo_id, station_payload(n), import_id=first.id, acked=True)
        record = new_import(session, cpo_id)  # ... and a new file has the same ones under other ids
        for n in range(1, 31):
            store_station(session, cpo_id, station_payload(n, prefix="G"), import_id=record.id)
    app = page()
    assert not app.exception, app.exception
    assert metrics(app)["Deleted"] == 30 and metrics(app)["New"] == 30
    assert any("station ids differ: is the station id column mapped?" in e.value for e in app.error)
    app.checkbox(key="push_confirm_deletions").check().run()
    app.button(key="push_go").click().run()
    assert any("Nothing was sent" in e.value and "station id column" in e.value for e in app.error)
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0
    app.checkbox(key="push_replace_all").check().run()
    app.button(key="push_go").click().run()
    assert "60 requests queued" in said(app)


def test_resuming_a_paused_queue_is_audited_once_by_the_library(cpo_id):
    from oioi_onboard.store.queries import audit_log

    with session_scope() as session:
        cpo = session.get(Cpo, cpo_id)
        cpo.paused_reason = "the endpoint rejected the API key"
        session.add(cpo)
    app = page()
    assert "is paused: the endpoint rejected the API key" in app.error[0].value
    app.button(key="push_resume").click().run()
    assert not app.exception, app.exception
    assert not app.error
    with session_scope() as session:
        assert session.get(Cpo, cpo_id).paused_reason is None
        entries = [e for e in audit_log(session, actor=SYSTEM, cpo_id=cpo_id) if e.action == "push queue resumed"]
        assert [(e.user_name, e.detail) for e in entries] == [
            ("admin", "was paused: the endpoint rejected the API key")]


def test_push_is_refused_with_whose_push_runs_while_a_command_line_push_holds_the_cpo(cpo_id):
    import os
    import socket

    from oioi_onboard.sync.queue_control import release_push_lock, take_push_lock

    holder = f"{socket.gethostname()}-{os.getpid()}-beef"  # a live process of this host: this one
    with session_scope() as session:
        take_push_lock(session, actor=SYSTEM.__class__(name="cli:alice", role=SYSTEM.role), cpo_id=cpo_id,
                       holder=holder)
    app = page()
    app.button(key="push_go").click().run()
    assert not app.exception, app.exception
    [error] = [e.value for e in app.error]
    assert "a push for CPO 'Push CPO' is running (started " in error and " UTC by cli:alice)" in error
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0

    with session_scope() as session:
        release_push_lock(session, cpo_id=cpo_id, holder=holder)
    app.button(key="push_go").click().run()
    assert "30 requests queued" in said(app)
