"""Every file of the hostile-input corpus is reported cleanly and changes nothing.

For each file the table below says what `oioi-onboard validate` must answer:
exit 2 (the file cannot be read, and the message says why), 1 (it was read and
has errors) or 0 (it was read; warnings at most), and what the answer must
name: for 2 a fragment of the message, for 0 and 1 the rules in the JSON
issue list. Nothing may end in a traceback, and nothing stored may change.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app as cli_app
from oioi_onboard.testing.peak import PEAK_KB_FILE, peak_command, peak_mb
from tests.data.hostile import make_corpus

CORPUS = Path(make_corpus.__file__).resolve().parent
ROOT = CORPUS.parents[2]

UNREADABLE, ERRORS, OK = 2, 1, 0

# file -> (exit code, what the answer must contain: a message fragment for 2, rule names for 0/1)
EXPECTED: dict[str, tuple[int, str | tuple[str, ...]]] = {
    # Not a table at all.
    "empty.csv": (UNREADABLE, "is empty"),
    "whitespace_only.csv": (UNREADABLE, "is empty"),
    "binary_junk.csv": (UNREADABLE, "binary data"),
    "png_renamed.csv": (UNREADABLE, "binary data"),
    "gzip_renamed.csv": (UNREADABLE, "binary data"),
    "nul_bytes.csv": (UNREADABLE, "binary data"),
    "utf16_no_bom.csv": (UNREADABLE, "binary data"),
    "json_as_csv.csv": (UNREADABLE, "no data rows"),
    "html_error_page.csv": (UNREADABLE, "no data rows"),
    "header_only.csv": (UNREADABLE, "no data rows"),
    "truncated.xlsx": (UNREADABLE, "damaged"),
    "xlsx_empty_sheet.xlsx": (UNREADABLE, "every sheet is empty"),
    # A table, but required fields cannot be placed: each is an error on the header row, named.
    "no_header.csv": (ERRORS, ("field_not_mapped",)),
    "title_block_only.csv": (ERRORS, ("field_not_mapped",)),
    "missing_latitude_column.csv": (ERRORS, ("field_not_mapped",)),
    # Read fine, odd only in their bytes: every station valid.
    "utf8_bom.csv": (OK, ()),
    "cp1252.csv": (OK, ()),
    "crlf_line_endings.csv": (OK, ()),
    "cr_line_endings.csv": (OK, ()),
    "decimal_commas_semicolons.csv": (OK, ()),
    "columns_300.csv": (OK, ()),
    "csv_renamed.xlsx": (OK, ()),
    "emoji_rtl_names.csv": (OK, ()),
    "html_script_names.csv": (OK, ()),
    "duplicated_headers.csv": (OK, ()),
    # Warnings only.
    "speed_1000kw.csv": (OK, ("speed_high",)),
    # Errors, each named by its rule.
    "swapped_coordinates.csv": (ERRORS, ("coordinates_swapped",)),
    "mixed_encodings.csv": (ERRORS, ("station_columns_disagree",)),
    "unbalanced_quotes.csv": (ERRORS, ("required",)),
    "formula_injection.csv": (ERRORS, ("formula_like", "not_a_number")),
    "coordinates_out_of_range.csv": (ERRORS, ("latitude_range", "longitude_range")),
    "coordinates_not_numbers.csv": (ERRORS, ("not_a_number",)),
    "din_evse_ids.csv": (ERRORS, ("evse_id_din",)),
    "invalid_evse_ids.csv": (ERRORS, ("evse_id_syntax",)),
    "duplicate_station_disagreeing.csv": (ERRORS, ("station_columns_disagree",)),
    "evse_reused_across_stations.csv": (ERRORS, ("evse_id_in_several_stations",)),
    "unknown_connector_type.csv": (ERRORS, ("connector_type",)),
    "negative_speed.csv": (ERRORS, ("speed_not_positive",)),
    "invalid_country.csv": (ERRORS, ("country_code",)),
    "missing_required_values.csv": (ERRORS, ("required",)),
    "very_long_cell.csv": (ERRORS, ("text_too_long",)),
}
# Built at test time (too big to commit); run as real processes under a memory limit.
LARGE_EXPECTED = {
    "big_50mb.csv": (UNREADABLE, "files up to 50.0 MB"),
    "zip_bomb.xlsx": (UNREADABLE, "would unpack to"),
    "tall_4500000_rows.xlsx": (UNREADABLE, "sheet 'Stations', has more than 200,000 rows"),
    "wide_10000_columns.csv": (UNREADABLE, "has 10,000 columns; up to 500 are accepted"),
    "long_cell.csv": (UNREADABLE, "row 4, column C: a cell of 200,000 characters; cells up to 131,072"),
}
MEMORY_LIMIT = 2 * 1024**3  # a reader that inflates the bomb dies here instead of taking the machine down


def test_the_corpus_is_complete_and_current():
    """Every committed file has an expectation, and the generator still writes exactly these bytes."""
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_file() and p.suffix != ".py"}
    assert on_disk == set(EXPECTED), on_disk ^ set(EXPECTED)
    assert len(EXPECTED) + len(LARGE_EXPECTED) >= 30
    for name, data in make_corpus.small_files().items():
        assert (CORPUS / name).read_bytes() == data, f"{name} differs from make_corpus.py: rerun the script"


def _check_answer(name: str, code: int, output: str, stderr: str, expected: tuple) -> None:
    want_code, want = expected
    assert "Traceback" not in stderr and "Traceback" not in output, f"{name}: traceback\n{stderr}"
    assert code == want_code, \
        f"{name}: exit {code}, expected {want_code}\nstdout: {output[:2000]}\nstderr: {stderr[:2000]}"
    if want_code == UNREADABLE:
        assert want.lower() in (output + stderr).lower(), f"{name}: {want!r} not in\n{output}\n{stderr}"
        assert len(stderr) + len(output) < 5000, f"{name}: the message should be short, not a dump"
        return
    report = json.loads(output)
    rules = {issue["rule"] for issue in report["issues"]}
    assert set(want) <= rules, f"{name}: rules {sorted(rules)}, expected {want}"
    assert report["errors"] == sum(i["severity"] == "error" for i in report["issues"])
    if want_code == OK:
        assert report["errors"] == 0
        assert report["stations"] == 3 and report["connectors"] == 6  # every station of the file, none lost
    else:
        assert report["errors"] > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_cli_reports_cleanly(name):
    result = CliRunner().invoke(cli_app, ["validate", str(CORPUS / name), "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{name}: the CLI raised {result.exception!r}") from result.exception
    _check_answer(name, result.exit_code, result.stdout, result.stderr, EXPECTED[name])


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _validate_process(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oioi_onboard.cli", "validate", str(path), "--json"], cwd=ROOT,
        capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory,
    )


@pytest.mark.slow  # builds a 50 MB CSV and a zip bomb
@pytest.mark.parametrize("name", sorted(LARGE_EXPECTED))
def test_validate_cli_refuses_large_files_in_a_real_process(name, large_files):
    result = _validate_process(large_files / name)
    _check_answer(name, result.returncode, result.stdout, result.stderr, LARGE_EXPECTED[name])


@pytest.mark.slow  # builds a 43 MB XLSX of 4.5 million rows and a 40 MB CSV of 10,000 columns
@pytest.mark.parametrize("name", ["tall_4500000_rows.xlsx", "wide_10000_columns.csv"])
def test_files_past_the_reader_limits_are_refused_in_bounded_memory(name, large_files):
    """Refused for rows or columns before their cells exist: 840 MB and 1.6 GB before (issue 21.5)."""
    path = large_files / name
    peak_file = path.with_suffix(".peak")
    result = subprocess.run(peak_command("validate", str(path), "--json"), cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, PEAK_KB_FILE: str(peak_file)})
    _check_answer(name, result.returncode, result.stdout, result.stderr, LARGE_EXPECTED[name])
    peak = peak_mb(peak_file)
    print(f"{name}: {path.stat().st_size / 1e6:.1f} MB, validate peak {peak:.0f} MB")
    assert peak < 500, f"{name}: validate peaked at {peak:.0f} MB"


@pytest.mark.slow  # a real process
def test_the_real_command_reports_rules_too():
    """One file with errors through the installed entry point, as a CPO would run it."""
    result = _validate_process(CORPUS / "din_evse_ids.csv")
    _check_answer("din_evse_ids.csv", result.returncode, result.stdout, result.stderr, EXPECTED["din_evse_ids.csv"])
    messages = " ".join(i["message"] for i in json.loads(result.stdout)["issues"])
    assert "DE*8PS*E123" in messages  # the DIN id's ISO form is offered


def test_a_missing_column_is_named_on_the_header_row():
    result = CliRunner().invoke(cli_app, ["validate", str(CORPUS / "missing_latitude_column.csv"), "--json"])
    unmapped = [i for i in json.loads(result.stdout)["issues"] if i["rule"] == "field_not_mapped"]
    assert [(i["row"], i["column"], i["severity"]) for i in unmapped] == [(1, "latitude", "error")]
