"""Germany's charging register end to end through the CLI, and what ``validate`` imports and writes.

The register has no phone column and no ids: with ``--profile bnetza``, an
operator table naming every operator and ``--set phone=...`` it validates
with no other step, and the export holds every station as a push sends it.
"""

import csv
import io
import json
import os
import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from oioi_onboard.cli import app
from oioi_onboard.oioi.ids import is_evse_id
from tests.helpers.sheet_files import BNETZA_SLICE, SHEETS

HOTLINE = "+49 228 14 0"
HEADER_ROW = 6


def register() -> pd.DataFrame:
    """The slice as plain pandas reads it, with the file's row numbers: the reference."""
    frame = pd.read_excel(BNETZA_SLICE, header=HEADER_ROW - 1, dtype=str, engine="openpyxl").fillna("")
    frame.index = frame.index + HEADER_ROW + 1
    return frame.apply(lambda column: column.str.strip())


def operator_table(path, names) -> dict[str, str]:
    ids = {name: f"DE*R{k:02d}" for k, name in enumerate(sorted(names))}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["operator name", "operator id"])
        writer.writerows(ids.items())
    return ids


def test_register_validates_with_profile_operators_and_a_phone(tmp_path):
    df = register()
    ids = operator_table(tmp_path / "operators.csv", df["Betreiber"].unique())
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(app, [
        "validate", str(BNETZA_SLICE), "--profile", "bnetza", "--operators", str(tmp_path / "operators.csv"),
        "--set", f"phone={HOTLINE}", "--json", "--export", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stations"] == report["stations_valid"] == len(df)  # one station per register row
    assert report["errors"] == 0
    # What remains are the register's own placeholders, as warnings.
    assert {i["rule"] for i in report["issues"]} == {"junk_value"}

    exported = pd.read_csv(io.StringIO(out.read_bytes().decode("utf-8-sig")), dtype=str, keep_default_na=False)
    assert len(exported) == report["connectors"]
    assert (exported["phone"] == HOTLINE).all() and (exported["country"] == "DE").all()
    assert (exported["is_open_24"] == "true").all()
    assert exported["evse_id"].map(is_evse_id).all()
    assert exported["station_id"].nunique() == len(df)
    # Each station's operator id is the one the table gives its operator.
    stations = exported.drop_duplicates("station_id")
    by_address = df.drop_duplicates(["Adresse", "Postleitzahl Ort", "Breitengrad [DG]"])
    for _, row in by_address.head(40).iterrows():
        zip_code, city = row["Postleitzahl Ort"].split(" ", 1)
        match = stations[(stations["zip"] == zip_code) & (stations["city"] == city.strip())
                         & (stations["latitude"].astype(float).round(5) == round(float(row["Breitengrad [DG]"]), 5))]
        assert len(match) >= 1, row.to_dict()
        assert set(match["cpo_id"]) == {ids[row["Betreiber"]]}


def test_export_of_a_file_with_errors_leaves_those_stations_out(tmp_path):
    path = tmp_path / "two.csv"
    rows = (SHEETS / "addresses_gb.csv").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace("GB*ABC*E2001", "XX-1")  # a broken EVSE id
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["validate", str(path), "--export", str(out)])
    assert result.exit_code == 1
    assert "2 station(s) written" in result.stderr and "1 with errors left out" in result.stderr
    exported = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert exported["station_id"].tolist() == ["GB*ABC*S1", "GB*ABC*S3"]


def test_export_to_a_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(SHEETS / "addresses_gb.csv"), "--export", str(tmp_path)])
    assert result.exit_code == 2 and "cannot be written" in result.stderr and "Traceback" not in result.output


def test_validate_without_cpo_does_not_load_the_store(tmp_path):
    """Checking a file is a reading job: SQLModel and the database layer stay unloaded (they cost a second)."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from oioi_onboard.cli import app\n"
        f"result = CliRunner().invoke(app, ['validate', {str(SHEETS / 'irve_v3.csv')!r}, '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = sorted(m for m in sys.modules if m == 'sqlmodel' or m.startswith('oioi_onboard.store'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "OIOI_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
