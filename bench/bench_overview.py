"""Overview with 25,000 stations: the query and a rerun of the page.

A fresh SQLite database with 5 CPOs of 5,000 stations each (75,000 connectors),
a few failed outbox rows and import records. Reported, each the median of
several runs, as ratios against a baseline measured in the same run (pandas
reading the station table's cpo_id column, i.e. the least a per-CPO count needs
to touch):

* ``queries.overview`` (grouped counts, last activity, open problems);
* a rerun of ``app/views/overview.py`` in AppTest, cold (cache cleared) and warm.

The bar: a rerun under 300 ms server time.

Run: ``PYTHONPATH=app .venv/bin/python bench/bench_overview.py [stations_per_cpo]`` (the page imports
``common``, as under Streamlit).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PER_CPO = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
CPOS = 5
REPEAT = 5


def _median_seconds(action, repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    os.environ["OIOI_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-overview-")
    os.environ.pop("DATABASE_URL", None)

    import logging

    import pandas as pd
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from oioi_onboard.oioi.vocabulary import STATION_POST
    from oioi_onboard.store import queries
    from oioi_onboard.store.auth import SYSTEM, create_user
    from oioi_onboard.store.db import get_engine, migrate, session_scope
    from oioi_onboard.store.models import Outbox, OutboxState, Role
    from oioi_onboard.testing.store import make_cpo, store_stations

    for name in ("streamlit", "streamlit.runtime.caching.storage", "streamlit.runtime.scriptrunner_utils"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "no runtime" notices from AppTest, not results
    migrate()
    start = time.perf_counter()
    with session_scope() as session:
        for index in range(CPOS):
            operator_id = f"DE*B{index:02d}"
            cpo_id = make_cpo(session, name=f"Bench CPO {index}", operator_ids=operator_id, endpoint="sandbox",
                              api_key="bench-key-0000").id
            store_stations(session, cpo_id, PER_CPO, operator_id=operator_id, prefix=f"B{index}", mixed=True)
            for n in range(3):
                session.add(Outbox(cpo_id=cpo_id, kind=STATION_POST, key=f"x{n}", payload={},
                                   payload_sha256="x", state=OutboxState.FAILED))
        create_user(session, actor=SYSTEM, name="maria", role=Role.PARTNER_MANAGER, password="bench-password-1")
    print(f"setup: {CPOS * PER_CPO:,} stations in {time.perf_counter() - start:.1f} s")

    engine = get_engine()
    baseline = _median_seconds(lambda: pd.read_sql("SELECT cpo_id FROM station", engine))

    def overview() -> None:
        with session_scope() as session:
            frame = queries.overview(session, actor=SYSTEM)
        assert int(frame["stations"].sum()) == CPOS * PER_CPO

    query = _median_seconds(overview)

    app = AppTest.from_file(str(ROOT / "app" / "views" / "overview.py"), default_timeout=120)
    app.session_state["oioi_user"] = "maria"
    app.run()
    assert not app.exception, app.exception

    def cold_rerun() -> None:
        st.cache_data.clear()
        app.run()

    cold = _median_seconds(cold_rerun)
    warm = _median_seconds(app.run)
    print(f"baseline (pandas reads station.cpo_id): {baseline * 1000:7.1f} ms")
    print(f"queries.overview:                       {query * 1000:7.1f} ms  = {query / baseline:5.2f} x baseline")
    print(f"overview page rerun, cold cache:        {cold * 1000:7.1f} ms  = {cold / baseline:5.2f} x baseline"
          f"  ({'under' if cold < 0.3 else 'OVER'} the 300 ms bar)")
    print(f"overview page rerun, warm cache:        {warm * 1000:7.1f} ms  = {warm / baseline:5.2f} x baseline")


if __name__ == "__main__":
    main()
