"""Rerun time of every page with 25,000 stations stored (75,000 connectors).

A fresh SQLite database holds one CPO with 25,000 stations, all pushed once
and acknowledged (outbox rows acked), and a status for every tenth EVSE. Each
page runs in Streamlit's AppTest as the signed-in admin: the first run, then
reruns (the same session, as when a person clicks a widget). Reported: the
median rerun in ms, the same minus the baseline, and the first run.

Baseline, measured in the same run: AppTest of a page that only writes a title
(what AppTest and Streamlit cost on their own). The bar: a rerun under 300 ms
server time.

The import page is measured twice: without a file, and with a CSV of the same
25,000 stations uploaded (the heaviest view: issue table, data editor, map).

Run: ``PYTHONPATH=app .venv/bin/python bench/bench_rerun.py [stations]`` (the pages import ``common``,
as under Streamlit).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 25_000
RERUNS = 7
GOAL_MS = 300
PAGES = {
    "overview": "app/views/overview.py",
    "cpos": "app/views/cpos.py",
    "import (no file)": "app/views/import_stations.py",
    "import (with file)": "app/views/import_stations.py",
    "push": "app/views/push.py",
    "live map": "app/views/live_map.py",
}


def prepare(data_dir: Path) -> int:
    """The database: an admin, one CPO, its stations acked, some statuses. Returns the CPO id."""
    os.environ["OIOI_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    from sqlalchemy import update

    from oioi_onboard.store.auth import SYSTEM, create_user
    from oioi_onboard.store.db import migrate, session_scope
    from oioi_onboard.store.models import Connector, Outbox, OutboxState, Role, Station, utcnow
    from oioi_onboard.store.registry import register_cpo
    from oioi_onboard.sync.diff import plan_push
    from oioi_onboard.sync.outbox import enqueue_plan
    from oioi_onboard.testing.store import store_stations

    migrate()
    with session_scope() as session:
        create_user(session, actor=SYSTEM, name="admin", role=Role.ADMIN, password="bench-password-1")
        cpo, _ = register_cpo(session, actor=SYSTEM, name="Big CPO", operator_ids=["DE*8PS"], endpoint="sandbox",
                              api_key="bench-key-0000")
        store_stations(session, cpo.id, STATIONS, mixed=True)
    with session_scope() as session:
        enqueue_plan(session, actor=SYSTEM, plan=plan_push(session, actor=SYSTEM, cpo_id=cpo.id))
    with session_scope() as session:
        # As if a worker had sent everything: rows acked, stations carry their ack.
        stamp = utcnow()
        session.execute(update(Outbox).values(state=OutboxState.ACKED, acked_at=stamp, attempts=1))
        session.execute(update(Station).values(acked_sha256=Station.payload_sha256,
                                               acked_connectors_signature=Station.connectors_signature,
                                               acked_at=stamp))
        session.execute(update(Connector).where(Connector.id % 10 == 0).values(status="Occupied", status_at=stamp))
    return cpo.id


def time_page(script: str, *, upload: bytes | None = None) -> tuple[float, list[float], str]:
    """(first run s, rerun times s, problem or "") for one page in one AppTest session."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / script), default_timeout=600)
    app.session_state["oioi_user"] = "admin"
    if upload is not None:
        app.session_state["import_upload"] = {"name": "stations.csv", "data": upload}
    start = time.perf_counter()
    app.run()
    first = time.perf_counter() - start
    if app.exception:
        return first, [], f"exception: {app.exception[0].value}"
    reruns = []
    for _ in range(RERUNS):
        start = time.perf_counter()
        app.run()
        reruns.append(time.perf_counter() - start)
    return first, reruns, ""


def main() -> None:
    from oioi_onboard.testing.sheets import stations_csv

    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        started = time.perf_counter()
        prepare(Path(tmp) / "data")
        print(f"{STATIONS:,} stations stored and acknowledged in {time.perf_counter() - started:.1f} s", flush=True)
        empty = Path(tmp) / "empty_page.py"
        empty.write_text("import streamlit as st\nst.title('Baseline')\n")
        upload = stations_csv(STATIONS)

        from streamlit.testing.v1 import AppTest

        baseline_app = AppTest.from_file(str(empty)).run()
        timings = []
        for _ in range(RERUNS):
            start = time.perf_counter()
            baseline_app.run()
            timings.append(time.perf_counter() - start)
        baseline = statistics.median(timings)

        rows = []
        for name, script in PAGES.items():
            first, reruns, problem = time_page(script, upload=upload if "with file" in name else None)
            rows.append((name, first, reruns, problem))
            print(f"  measured {name}", flush=True)

    print()
    print(f"Rerun of each page with {STATIONS:,} stations (median of {RERUNS} reruns; goal < {GOAL_MS} ms)")
    print(f"baseline: an empty page reruns in {baseline * 1000:.0f} ms in AppTest")
    print(f"{'page':<20} {'rerun ms':>9} {'- baseline':>11} {'x baseline':>11} {'first run ms':>13}  verdict")
    for name, first, reruns, problem in rows:
        if problem:
            print(f"{name:<20} {'-':>9} {'-':>11} {'-':>11} {first * 1000:>13.0f}  {problem}")
            continue
        median = statistics.median(reruns)
        verdict = "ok" if median * 1000 < GOAL_MS else "OVER THE GOAL"
        print(f"{name:<20} {median * 1000:>9.0f} {(median - baseline) * 1000:>11.0f} {median / baseline:>11.1f} "
              f"{first * 1000:>13.0f}  {verdict}")


if __name__ == "__main__":
    main()
