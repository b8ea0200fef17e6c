"""The BNetzA register through the ``bnetza`` profile, checked against plain pandas.

The slice (tests/data/bnetza-slice.xlsx) holds every quirk of the full file,
so each check runs on it always and on the full register where it exists.
"""

import functools

import pandas as pd
import pytest

from oioi_onboard.oioi.ids import is_evse_id
from oioi_onboard.sheets.profiles import apply_profile
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.validate import validate
from tests.helpers.sheet_files import BNETZA_FULL, BNETZA_SLICE

HEADER_ROW = 6
SLOTS = range(1, 5)


@pytest.fixture(
    params=[
        pytest.param(BNETZA_SLICE, id="slice"),
        pytest.param(BNETZA_FULL, id="full", marks=pytest.mark.slow),  # 200,000 rows
    ]
)
def register(request):
    path = request.param
    if not path.exists():
        pytest.skip(f"{path} is not on this machine (it exists only on the build host and in CI); "
                    "the slice covers the same checks")
    return path


def plain(path) -> pd.DataFrame:
    return _plain(path).copy()


@functools.cache
def _plain(path) -> pd.DataFrame:
    """The register as pandas reads it, with the file's row numbers; the independent reference."""
    df = pd.read_excel(path, header=HEADER_ROW - 1, dtype=str, engine="openpyxl").fillna("")
    df.index = df.index + HEADER_ROW + 1
    return df.apply(lambda column: column.str.strip())


def pieces(cell: str) -> list[str]:
    return [p.strip() for p in cell.split(",") if p.strip()]


# Two spellings OIOI cannot tell apart: a Type 2 socket and a Type 2 cable are both "Type2".
SAME_OIOI_TYPE = {"AC Kupplung Typ 2": "AC Steckdose Typ 2"}


def expected_connectors(df: pd.DataFrame) -> int:
    return sum(
        len({SAME_OIOI_TYPE.get(p, p) for p in pieces(cell) if p != "0"})
        for n in SLOTS
        for cell in df[f"Steckertypen{n}"]
    )


def expected_junk_rows(df: pd.DataFrame) -> set[int]:
    rows = set()
    for n in SLOTS:
        types, powers = df[f"Steckertypen{n}"], df[f"P{n} [kW]"]
        rows |= set(df.index[types.map(lambda c: "0" in pieces(c))])
        rows |= set(df.index[(types == "") & (powers != "")])
    rows |= set(df.index[~df["Postleitzahl Ort"].str.split().str[0].str.fullmatch(r"\d{5}")])
    return rows


def operators_for(df: pd.DataFrame) -> dict[str, str]:
    """Operator ids for the two largest operators; all others stay unknown."""
    names = df["Betreiber"].value_counts().index[:2]
    return {name: f"DE*T{k:02d}" for k, name in enumerate(names)}


def mapped(path):
    """The profile's result with operators_for(...), computed once per file for the read-only checks."""
    frame, issues = _mapped(path)
    return frame.copy(), issues.copy()


@functools.cache
def _mapped(path):
    return run(path, operators_for(_plain(path)))


def run(path, operators):
    """Read and map (each call really reads and maps again: the stability test relies on it)."""
    raw = read_sheet(path.read_bytes(), path.name)
    return apply_profile(raw, "bnetza", operators=operators, constants={"phone": "+49 228 14 0"})


def test_counts_match_plain_pandas(register):
    df = plain(register)
    frame, _ = mapped(register)
    assert frame["station_id"].nunique() == len(df)  # one charging device per row: one station
    assert len(frame) == expected_connectors(df)
    assert frame["_row"].nunique() == len(df)
    assert set(frame["_row"]) == set(df.index)


def test_junk_values_are_reported(register):
    df = plain(register)
    _, issues = mapped(register)
    junk = issues[issues["rule"] == "junk_value"]
    assert set(junk["row"]) == expected_junk_rows(df)
    assert (junk["severity"] == "warning").all()
    assert {"connector_type", "zip"} == set(junk["column"])


def test_unknown_operators_are_errors_never_dropped(register):
    df = plain(register)
    operators = operators_for(df)
    frame, issues = mapped(register)
    unknown_rows = set(df.index[~df["Betreiber"].isin(operators)])
    reported = issues[issues["rule"] == "operator_unknown"]
    assert set(reported["row"]) == unknown_rows and len(reported) == len(unknown_rows)
    assert (reported["severity"] == "error").all()
    assert unknown_rows <= set(frame["_row"])

    result = validate(frame, extra_issues=issues)
    assert result.stations == len(df)
    blocked = set(frame.loc[frame["_row"].isin(unknown_rows), "station_id"])
    assert blocked <= set(result.blocked_station_ids())


def test_known_operators_get_valid_evse_ids_and_the_rows_validate(register):
    df = plain(register)
    operators = operators_for(df)
    frame, issues = mapped(register)
    known = frame[frame["cpo_id"].isin(operators.values())]
    assert len(known) > 0
    assert known["evse_id"].map(is_evse_id).all()
    assert (known["evse_id"].str.split("*").str[:2].str.join("*") == known["cpo_id"]).all()
    assert (known["country"] == "DE").all() and (known["is_open_24"] == "true").all()
    result = validate(known, extra_issues=issues[issues["row"].isin(known["_row"])])
    # What remains are the register's own gaps: addresses without a house number.
    error_rules = set(result.issues.loc[result.issues["severity"] == "error", "rule"])
    assert error_rules <= {"required"}
    assert set(result.issues.loc[result.issues["severity"] == "error", "column"]) <= {"street_number"}


def test_ids_are_stable_across_two_runs(register):
    df = plain(register)
    first, first_issues = run(register, operators_for(df))
    second, second_issues = run(register, operators_for(df))
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first_issues, second_issues)
    assert first.groupby("station_id")["_row"].nunique().max() == 1


def test_ids_do_not_depend_on_row_order(register):
    df = plain(register)
    raw = read_sheet(register.read_bytes(), register.name)
    forward, _ = apply_profile(raw, "bnetza", operators=operators_for(df))
    raw.frame = raw.frame.iloc[::-1].reset_index(drop=True)
    backward, _ = apply_profile(raw, "bnetza", operators=operators_for(df))
    content = raw.frame.set_index("_row").astype(str).agg("\x1f".join, axis=1)

    def pairs(frame):
        # Rows identical in every cell may swap ids between them: compare as multisets per content.
        keyed = frame.assign(content=frame["_row"].map(content))
        return sorted(zip(keyed["content"], keyed["connector_type"], keyed["station_id"], keyed["evse_id"],
                          strict=True))

    assert pairs(forward) == pairs(backward)


def test_with_every_operator_known_only_the_registers_gaps_remain(register):
    df = plain(register)
    names = sorted(df["Betreiber"].unique())
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    operators = {name: f"DE*{digits[k // 1296 % 36]}{digits[k // 36 % 36]}{digits[k % 36]}"
                 for k, name in enumerate(names)}
    frame, issues = run(register, operators)
    assert (frame["cpo_id"] != "").all() and frame["evse_id"].map(is_evse_id).all()
    result = validate(frame, extra_issues=issues)
    errors = result.issues[result.issues["severity"] == "error"]
    # Generated ids never collide; what blocks stations is the register's missing house numbers.
    assert set(errors["rule"]) <= {"required"} and set(errors["column"]) <= {"street_number"}
    assert result.errors < len(df) * 0.2


def test_multi_type_cells_share_one_evse_id(register):
    df = plain(register)
    frame, _ = mapped(register)
    cells = [(row, n) for n in SLOTS for row, cell in df[f"Steckertypen{n}"].items()
             if len({SAME_OIOI_TYPE.get(p, p) for p in pieces(cell) if p != "0"}) > 1]
    assert cells, "the register has cells listing several connector types"
    by_evse = frame[frame["evse_id"] != ""].groupby("evse_id")["connector_type"].nunique()
    assert (by_evse > 1).sum() > 0
    assert set(frame["connector_type"]) <= {"Type2", "Schuko", "Combo", "Chademo", "CeeRed", "CeeBlue", "Type1"}


def test_the_registers_operator_names_come_as_a_table_to_fill_in():
    from oioi_onboard.errors import UserError
    from oioi_onboard.sheets.bnetza import operator_table_csv
    from oioi_onboard.sheets.profiles import load_operators_csv
    from oioi_onboard.sheets.reader import read_sheet
    from tests.helpers.sheet_files import BNETZA_SLICE

    raw = read_sheet(BNETZA_SLICE.read_bytes(), BNETZA_SLICE.name)
    table = operator_table_csv(raw).decode("utf-8-sig").splitlines()
    assert table[:3] == ["operator name;operator id", "Energie Baden-Württemberg;", "MVV Energie AG;"]
    assert len(table) == 1 + raw.frame["Betreiber"].nunique()
    with pytest.raises(UserError, match="gives no operator id yet"):
        load_operators_csv(operator_table_csv(raw))  # nothing filled in
    filled = "\n".join(table).replace("MVV Energie AG;", "MVV Energie AG;DE*MVV").encode()
    assert load_operators_csv(filled) == {"MVV Energie AG": "DE*MVV"}  # the rest: not assigned yet
