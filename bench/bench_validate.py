"""Validation of 100,000 connector rows against baselines measured in the same run.

* the command, as a user runs it: ``oioi-onboard validate FILE --json`` as a process
  against a bare ``pandas.read_csv`` process of the same file: goal ratio <= 2.0
  (issue 11: interpreter start, imports, reading, mapping, validating, the report);
* ``validate()`` in the process against ``pd.read_csv(dtype=str)`` of the same CSV: goal ratio <= 1.0;
* the same rules written as a pandera DataFrameSchema: goal ratio < 1.0;
* peak memory (``ru_maxrss``) of the validate process and of this one: goal < 500 MB.

Run: ``.venv/bin/python bench/bench_validate.py [rows]``. Times are the best of
several runs, because the machine is shared.
"""

import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import email_validator
import numpy as np
import pandas as pd
import phonenumbers

from oioi_onboard.oioi.ids import EVSE_ID_PATTERN, OPERATOR_ID_PATTERN
from oioi_onboard.oioi.messages import ConnectorType
from oioi_onboard.sheets import rules
from oioi_onboard.sheets.canonical import BOOLEAN_NAMES, NAMES, REQUIRED, ROW, STATION_NAMES
from oioi_onboard.sheets.validate import RegistryContext, validate
from oioi_onboard.testing.sheets import NETWORK_OPERATORS, network_frame

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REPEAT = 5

# --- the same rules in pandera ------------------------------------------------------


def pandera_schema():
    import pandera.pandas as pa

    def filled(s):
        return s.str.strip() != ""

    def blank_or(predicate):
        return lambda s: (s.str.strip() == "") | predicate(s.str.strip())

    def number(s):
        return pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce")

    def per_unique(function):
        # The fair way to run a Python-level check: once per distinct value.
        def check(s):
            uniques = s.unique()
            return s.map(dict(zip(uniques, (function(v) for v in uniques), strict=True)))
        return check

    def email_ok(value):
        if not value.strip():
            return True
        try:
            email_validator.validate_email(value.strip(), check_deliverability=False)
            return True
        except email_validator.EmailNotValidError:
            return False

    def phone_ok(value):
        if not value.strip():
            return True
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(value.strip(), "DE"))
        except phonenumbers.NumberParseException:
            return False

    def no_hostile(s):
        return ~s.str.contains(rules.CONTROL_CHARACTERS_PATTERN) & ~s.str.contains(rules.FORMULA_PATTERN)

    columns = {}
    for name in NAMES:
        checks = [pa.Check(no_hostile, name="hostile", raise_warning=True)]
        if name in REQUIRED:
            checks.append(pa.Check(filled, name="required"))
        if name in rules.TEXT_LIMITS:
            checks.append(pa.Check(lambda s, m=rules.TEXT_LIMITS[name]: s.str.strip().str.len() <= m, name="length"))
        if name in BOOLEAN_NAMES:
            checks.append(pa.Check(blank_or(lambda s: s.str.lower().isin(rules.BOOLEAN_WORDS)), name="boolean"))
        columns[name] = pa.Column(str, checks=checks)
    extra = {
        "latitude": [pa.Check(blank_or(lambda s: number(s).between(-90, 90)), name="latitude")],
        "longitude": [pa.Check(blank_or(lambda s: number(s).between(-180, 180)), name="longitude")],
        "speed_kw": [
            pa.Check(blank_or(lambda s: number(s) > 0), name="speed"),
            pa.Check(blank_or(lambda s: number(s) <= 400), name="speed_high", raise_warning=True),
        ],
        "floor_level": [pa.Check(blank_or(lambda s: s.str.fullmatch(r"[+-]?\d+(?:\.0*)?")), name="integer")],
        "total_parking": [pa.Check(blank_or(lambda s: s.str.fullmatch(r"\+?\d+(?:\.0*)?")), name="integer")],
        "country": [pa.Check(blank_or(lambda s: s.str.upper().isin(rules.ISO_COUNTRIES)), name="country")],
        "evse_id": [pa.Check(blank_or(lambda s: s.str.fullmatch(EVSE_ID_PATTERN)), name="evse_id")],
        "cpo_id": [
            pa.Check(blank_or(lambda s: s.str.fullmatch(OPERATOR_ID_PATTERN)), name="operator_id"),
            pa.Check(blank_or(lambda s: s.str.replace("*", "").str.upper().str[:2].isin(rules.ISO_COUNTRIES)),
                     name="operator_country"),
        ],
        "connector_type": [pa.Check(blank_or(lambda s: s.isin({t.value for t in ConnectorType})), name="type")],
        "open_hours": [pa.Check(blank_or(lambda s: s.str.fullmatch(rules.OPEN_HOURS_PATTERN)), name="hours")],
        "web": [pa.Check(blank_or(lambda s: s.str.fullmatch(rules.URL_PATTERN)), name="url")],
        "email": [pa.Check(per_unique(email_ok), name="email")],
        "phone": [pa.Check(per_unique(phone_ok), name="phone")],
        "fax": [pa.Check(per_unique(phone_ok), name="fax")],
    }
    for name, checks in extra.items():
        columns[name] = pa.Column(str, checks=columns[name].checks + checks)

    def evse_key(df):
        return df["evse_id"].str.replace("*", "", regex=False).str.upper()

    def station_columns_agree(df):
        grouped = df.groupby("station_id")[[c for c in STATION_NAMES if c != "station_id"]]
        return grouped.transform("nunique").le(1).all(axis=1)

    def evse_operator(df):
        return evse_key(df).str[:5] == df["cpo_id"].str.replace("*", "", regex=False).str.upper()

    def one_station_per_evse(df):
        return df.assign(_k=evse_key(df)).groupby("_k")["station_id"].transform("nunique") <= 1

    def no_duplicate_connector(df):
        return ~df.assign(_k=evse_key(df)).duplicated(["_k", "station_id", "connector_type"])

    def registered(df):
        return df["cpo_id"].isin(NETWORK_OPERATORS)

    def inside_country(df):
        lat, lon = number(df["latitude"]), number(df["longitude"])
        ok = pd.Series(True, index=df.index)
        for country, boxes in rules.COUNTRY_BOXES.items():
            here = df["country"].str.upper() == country
            if not here.any():
                continue
            hit = pd.Series(False, index=df.index)
            for a, b, c, d in boxes:
                hit |= lat.between(a, b) & lon.between(c, d)
            ok &= ~here | hit
        return ok

    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(station_columns_agree, name="station_columns_agree"),
            pa.Check(evse_operator, name="evse_operator"),
            pa.Check(one_station_per_evse, name="one_station_per_evse"),
            pa.Check(no_duplicate_connector, name="no_duplicate_connector"),
            pa.Check(registered, name="registered"),
            pa.Check(inside_country, name="inside_country", raise_warning=True),
        ],
    )


def run_pandera(schema, frame: pd.DataFrame) -> int:
    import pandera.errors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            schema.validate(frame, lazy=True)
            return 0
        except pandera.errors.SchemaErrors as errors:
            return len(errors.failure_cases)


def _write_csv(path: str, rows: int) -> None:
    network_frame(rows).to_csv(path, index=False)


def process_seconds(command: list[str]) -> tuple[float, float]:
    """(seconds, peak memory in MB) of the command as a process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024  # kB on Linux


def process_ratio(path: Path) -> tuple[float, float, float, float]:
    """(bare read s, validate s, median of paired ratios, validate's peak MB): the processes alternate."""
    bare = [sys.executable, "-c", "import sys, pandas as pd; pd.read_csv(sys.argv[1], dtype=str, "
            "keep_default_na=False)", str(path)]
    command = [sys.executable, "-m", "oioi_onboard.cli", "validate", str(path), "--json"]
    process_seconds(bare), process_seconds(command)  # warm the file cache and the bytecode
    pairs = [(process_seconds(bare), process_seconds(command)) for _ in range(REPEAT)]
    return (min(b for (b, _), _ in pairs), min(v for _, (v, _) in pairs),
            float(np.median([v / b for (b, _), (v, _) in pairs])), max(peak for _, (_, peak) in pairs))


def best(function, repeat=REPEAT):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.csv"
        # Generated in a child process, so the generator's memory is not counted as ours.
        child = multiprocessing.get_context("spawn").Process(target=_write_csv, args=(str(path), ROWS))
        child.start()
        child.join()
        size_mb = path.stat().st_size / 1e6
        bare_process_s, cli_process_s, cli_ratio, cli_peak_mb = process_ratio(path)

        context = RegistryContext(frozenset(NETWORK_OPERATORS), frozenset({"NL123E1"}), frozenset({"DE*XX*S1"}))
        # Reading and validating alternate, so both see the same load on a shared machine;
        # the ratio is the median of the paired ratios, the times the best of each.
        read_times, validate_times = [], []
        for _ in range(REPEAT):
            read_s, frame = best(lambda: pd.read_csv(path, dtype=str, keep_default_na=False), repeat=1)
            frame[ROW] = np.arange(2, len(frame) + 2)
            validate_s, validation = best(lambda frame=frame: validate(frame, context=context), repeat=1)
            read_times.append(read_s)
            validate_times.append(validate_s)
        read_s, validate_s = min(read_times), min(validate_times)
        read_ratio = float(np.median(np.array(validate_times) / np.array(read_times)))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux; the whole process
        # What validate() itself allocates at its peak (a separate, untimed run: tracing slows it down).
        tracemalloc.start()
        validate(frame, context=context)
        validate_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        schema = pandera_schema()
        pandera_s, failures = best(lambda: run_pandera(schema, frame.drop(columns=[ROW])))

    print(f"bench_validate: {ROWS:,} connector rows, {validation.stations:,} stations, CSV {size_mb:.1f} MB")
    print(f"{'measure':<34}{'value':>12}{'goal':>12}{'ok':>5}")
    table = [
        ("bare read_csv process, s", f"{bare_process_s:.3f}", "", None),
        ("oioi-onboard validate process, s", f"{cli_process_s:.3f}", "", None),
        ("validate process / bare read", f"{cli_ratio:.2f}", "<= 2.0", cli_ratio <= 2.0),
        ("validate process peak memory, MB", f"{cli_peak_mb:.0f}", "<= 500", cli_peak_mb <= 500),
        ("pandas read_csv (baseline), s", f"{read_s:.3f}", "", None),
        ("validate(), s", f"{validate_s:.3f}", "", None),
        ("pandera schema (lazy), s", f"{pandera_s:.3f}", "", None),
        ("validate / read_csv (median pair)", f"{read_ratio:.2f}", "<= 1.0", read_ratio <= 1.0),
        ("validate / pandera", f"{validate_s / pandera_s:.2f}", "< 1.0", validate_s < pandera_s),
        ("peak memory (this process), MB", f"{peak_mb:.0f}", "< 500", peak_mb < 500),
        ("validate() peak allocations, MB", f"{validate_peak_mb:.0f}", "", None),
        ("issues found (ours / pandera cases)", f"{len(validation.issues)}/{failures}", "", None),
    ]
    for name, value, goal, ok in table:
        print(f"{name:<34}{value:>12}{goal:>12}{'' if ok is None else ('yes' if ok else 'NO'):>5}")


if __name__ == "__main__":
    main()
