"""Remembered codes: the same answer as hashing the column, and never for other values."""

import gc

import numpy as np
import pandas as pd
import pytest

from oioi_onboard.sheets import factorize
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.workflows.imports import check, map_sheet


def same_as_pandas(values: np.ndarray) -> None:
    codes, uniques = factorize.factorize(pd.Series(values, dtype=object, copy=False))
    expected_codes, expected_uniques = pd.factorize(np.array(values, dtype=object))
    assert codes.tolist() == expected_codes.tolist()
    assert list(uniques) == list(expected_uniques)


@pytest.mark.parametrize("seed", range(20))
def test_remembered_codes_are_what_pandas_finds(seed):
    rng = np.random.default_rng(seed)
    # Distinct values given with duplicates and values no row uses, codes out of order: all tidied.
    distinct = np.array(["a", "b", "a", "", "c", "unused", "b"], dtype=object)
    used = [0, 1, 2, 3, 4, 6]
    codes = rng.choice(used, size=int(rng.integers(1, 40)))
    values = distinct[codes]
    factorize.remember(values, codes, distinct)
    same_as_pandas(values)


@pytest.mark.parametrize(("codes", "distinct"), [
    ([1, 2, 1, 3, 3], True),  # in order after an unused first value (a header row): only shifted
    ([0, 1, 0, 2], True),
    ([2, 1, 2, 0], True),  # out of order: renumbered
    ([3, 1, 0], False),
])
def test_codes_in_order_and_out_of_order(codes, distinct):
    uniques = np.array(["header", "a", "b", "c"], dtype=object)
    codes = np.array(codes)
    values = uniques[codes]
    factorize.remember(values, codes, uniques, distinct=distinct)
    same_as_pandas(values)


def test_a_view_of_the_remembered_memory_is_recognised_and_nothing_else():
    distinct = np.array(["x", "y"], dtype=object)
    values = factorize.remember(distinct[np.array([1, 0, 1])], np.array([1, 0, 1]), distinct)
    view = pd.Series(values, dtype=object, copy=False).to_numpy()
    assert factorize._known.get(factorize._key(view)) is not None
    assert not values.flags.writeable  # nobody can change what the codes describe
    with pytest.raises(ValueError, match="read-only"):
        values[0] = "z"
    copy = values.copy()  # other memory: hashed afresh
    copy[0] = "z"
    assert factorize.factorize(copy)[1].tolist() == ["z", "x", "y"]
    same_as_pandas(values[1:])  # a different length at another address: not the remembered array


def test_only_text_is_remembered():
    text = factorize.by_value(pd.Series(["a", "b", "a"], dtype=object), str.upper)
    flags = factorize.by_value(pd.Series(["a", "b", "a"], dtype=object), lambda v: v == "a")
    assert factorize.is_remembered(text) and text.tolist() == ["A", "B", "A"]
    assert not factorize.is_remembered(flags) and flags.tolist() == [True, False, True]


def test_codes_are_forgotten_with_the_array():
    distinct = np.array(["p", "q"], dtype=object)
    values = factorize.remember(distinct[np.array([0, 1])], np.array([0, 1]), distinct)
    key = factorize._key(values)
    del values
    gc.collect()
    assert key not in factorize._known


class _Forgetful(dict):
    def __setitem__(self, key, value):
        pass


def test_a_file_gives_the_same_verdict_with_remembered_codes_and_without(monkeypatch):
    rows = ["station_id,station_name,latitude,longitude,street,street_number,zip,city,country,phone,"
            "is_open_24,cpo_id,evse_id,connector_type,speed_kw"]
    for i in range(300):
        station = i // 3
        rows.append(f"DE*8PS*S{station},Park {station % 7},49.{station:04d},8.4,Ring ,{station % 9},68159,"
                    f"Mannheim,{'DE' if i % 11 else 'Germany'},+49 621 1234567,{'yes' if i % 5 else 'maybe'},"
                    f"DE*8PS,DE*8PS*E{i},{'Type2' if i % 13 else 'Typ 2'},{22 if i % 17 else 0}")
    data = "\n".join(rows).encode()

    def verdict():
        raw = read_sheet(data, "stations.csv")
        mapped = map_sheet(None, actor=None, cpo_id=None, raw=raw)
        validation = check(None, actor=None, cpo_id=None, frame=mapped.frame, mapping_issues=mapped.issues)
        known = factorize._key(validation.frame["city"].to_numpy()) in factorize._known
        return (validation.issues, validation.station_state, validation.frame), known

    remembered, known = verdict()
    assert known  # the validator found the reader's codes for a column the mapping passed on
    monkeypatch.setattr(factorize, "_known", _Forgetful())  # every step hashes its columns itself
    hashed, _ = verdict()
    assert len(remembered[0]) > 0  # the file has errors to find
    for a, b in zip(remembered, hashed, strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
