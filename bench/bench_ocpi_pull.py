"""Pull and push 5,000 Locations: ``oioi-onboard ocpi pull NAME --push`` against the OCPI sandbox and the OIOI sandbox.

Real processes: ``oioi-onboard ocpi-sandbox`` serving N Locations (at most 100 a page), ``oioi-onboard
sandbox`` receiving the station-posts, and the command itself on a fresh SQLite database. Timed from
the command's start to its exit: every page read, mapped, validated, stored, diffed, queued, sent and
acknowledged (the command exits 0 only when every station is). The pull also brings each EVSE's
status: those go out as connector-post-status beside the station-posts (counted; a file has none).

Two baselines in the same run, each on a database and an OIOI sandbox of its own:

- the bare pull: ``OcpiClient.pull_locations`` alone, the pages over HTTP and nothing else;
- the same Locations as a file: ``oioi-onboard push locations.json``, the pipeline without the pull.

"of baselines" is the pull and push over the bare pull plus the file's push: what pulling adds on top
of reading the pages and pushing a file is what it costs above 1.0. The pull also sends every EVSE's
status, which the file does not: "per request" compares the time per request sent (station-posts and
statuses) with the file's push, which sends station-posts only.

Run: ``.venv/bin/python bench/bench_ocpi_pull.py [locations] [repeats]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOCATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
PAGE = 100
KEY = "bench-ocpi-key-0001"
WORK = Path(tempfile.mkdtemp(prefix="bench-ocpi-"))
PHONE = "phone=+32 9 265 81 11"


def _env(name: str, **extra: str) -> dict:
    """The environment of a command on a fresh data directory (its own SQLite database)."""
    env = {**os.environ, "OIOI_DATA_DIR": str(WORK / name), "PYTHONUNBUFFERED": "1", "OIOI_KEY": KEY, **extra}
    env.pop("DATABASE_URL", None)
    return env


def _run(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=3600)
    return time.perf_counter() - started, done


def _check(done: subprocess.CompletedProcess, what: str) -> dict:
    if done.returncode != 0:
        raise SystemExit(f"{what} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def bare_pull(back_end) -> tuple[float, list]:
    from oioi_onboard.ocpi.client import OcpiClient

    started = time.perf_counter()
    with OcpiClient(back_end.versions_url, back_end.token) as client:
        pulled = client.pull_locations()
    seconds = time.perf_counter() - started
    assert len(pulled.locations) == LOCATIONS, len(pulled.locations)
    return seconds, pulled.locations


def file_push(locations: list, run: int) -> tuple[float, int]:
    from oioi_onboard.testing.sandbox import running_sandbox

    path = WORK / f"locations-{run}.json"
    path.write_text(json.dumps(locations), encoding="utf-8")
    with running_sandbox(WORK / f"oioi-file-{run}", api_keys=(KEY,)) as oioi:
        seconds, done = _run(["push", str(path), "--endpoint", oioi.url, "--api-key-env", "OIOI_KEY",
                              "--partner-id", oioi.partner_id, "--set", PHONE, "--concurrency", "16", "--json"],
                             _env(f"file-{run}"))
    summary = _check(done, "push FILE")
    return seconds, summary["acknowledged"]


def pull_and_push(back_end, run: int) -> tuple[float, int, int, int]:
    from oioi_onboard.testing.sandbox import running_sandbox

    with running_sandbox(WORK / f"oioi-pull-{run}", api_keys=(KEY,)) as oioi:
        env = _env(f"pull-{run}", BACK_END_TOKEN=back_end.token)
        _, added = _run(["cpo", "add", "--name", "Laadnet", "--operator-id", "BE*OCS", "--endpoint", oioi.url,
                         "--api-key-env", "OIOI_KEY", "--partner-id", oioi.partner_id, "--default", PHONE], env)
        assert added.returncode == 0, added.stderr
        _, edited = _run(["cpo", "edit", "Laadnet", "--concurrency", "16", "--ocpi-versions-url",
                          back_end.versions_url, "--ocpi-token-env", "BACK_END_TOKEN"], env)
        assert edited.returncode == 0, edited.stderr
        seconds, done = _run(["ocpi", "pull", "Laadnet", "--push", "--json"], env)
        result = _check(done, "ocpi pull --push")
        stats = oioi.stats()
        assert stats["station-post"]["accepted"] == result["push"]["acknowledged"]
    return seconds, result["pages"], result["push"]["acknowledged"], stats["connector-post-status"]["accepted"]


def main() -> None:
    from oioi_onboard.testing.ocpi_sandbox import running_ocpi_sandbox

    print(f"{LOCATIONS:,} Locations, {PAGE} a page; best of {REPEATS}; work in {WORK}")
    with running_ocpi_sandbox(WORK / "ocpi", locations=LOCATIONS, page_limit=PAGE) as back_end:
        rows = []
        for run in range(REPEATS):
            bare, locations = bare_pull(back_end)
            pushed_file, acknowledged_file = file_push(locations, run)
            both, pages, acknowledged, statuses = pull_and_push(back_end, run)
            assert acknowledged == acknowledged_file, (acknowledged, acknowledged_file)
            rows.append((both, bare, pushed_file, pages, acknowledged, statuses))
            print(f"run {run + 1}: pull+push {both:6.1f} s | bare pull {bare:5.1f} s | push of the same file "
                  f"{pushed_file:6.1f} s | of baselines {both / (bare + pushed_file):.2f} | per request "
                  f"{_per_request(both, acknowledged + statuses, pushed_file, acknowledged):.2f} | {pages} pages, "
                  f"{acknowledged:,} stations acknowledged, {statuses:,} statuses sent")
        both, bare, pushed_file, pages, acknowledged, statuses = min(rows)
        print(f"best: {LOCATIONS:,} Locations pulled and {acknowledged:,} stations pushed and acknowledged in "
              f"{both:.1f} s, with {statuses:,} statuses ({(acknowledged + statuses) / both:,.0f} requests/s); "
              f"bare pull {bare:.1f} s, the file's push {pushed_file:.1f} s ({acknowledged / pushed_file:,.0f} "
              f"requests/s): {both / (bare + pushed_file):.2f} of the baselines, "
              f"{_per_request(both, acknowledged + statuses, pushed_file, acknowledged):.2f} per request")


def _per_request(seconds: float, requests: int, file_seconds: float, file_requests: int) -> float:
    return (seconds / requests) / (file_seconds / file_requests)


if __name__ == "__main__":
    main()
