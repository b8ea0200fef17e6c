"""Station and EVSE ids for files that have none, derived from what the file says.

The same station in the next upload must get the same ids, or every re-import
would replace every station. So ids come from stable content (operator id,
address, coordinates, the charge point's number) through a hash, never from
the row's position alone. Rows with identical content are told apart by their
occurrence number among those identical rows, which does not change when
other rows are added, removed or reordered.
"""

import hashlib

import numpy as np
import pandas as pd

from ..oioi import ids as oioi_ids
from .factorize import is_remembered

__all__ = ["content_key", "occurrence", "station_ids", "evse_ids", "HASH_LENGTH"]

HASH_LENGTH = 12  # hex digits: 48 bits, collisions improbable for any single network


def _normalise(values: pd.Series) -> pd.Series:
    """Case and runs of spaces ignored; computed once per distinct value (station columns repeat a lot)."""
    codes, uniques = pd.factorize(values.astype("object").fillna(""), use_na_sentinel=False)
    table = np.array([" ".join(str(u).casefold().split()) for u in uniques], dtype=object)
    return pd.Series(table[codes], index=values.index, dtype=object)


def content_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text per row joining the normalised ``columns`` (missing columns count as empty)."""
    if not len(frame):
        return pd.Series([], dtype="object", index=frame.index)
    parts = [_normalise(frame[c]).tolist() if c in frame.columns else [""] * len(frame) for c in columns]
    return pd.Series(["\x1f".join(row) for row in zip(*parts, strict=True)], index=frame.index, dtype=object)


def exact_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text per row joining ``columns`` exactly as found (for ordering rows, not for identity)."""
    if not columns:
        return pd.Series("", index=frame.index, dtype=object)
    # One join per row: adding 22 columns to a growing key as Series made 44 passes over every row.
    cells = [_text(frame[column]) for column in columns]
    return pd.Series(["\x1f" + "\x1f".join(row) for row in zip(*cells, strict=True)], index=frame.index,
                     dtype=object)


def _text(values: pd.Series) -> list[str]:
    if values.dtype == object and (is_remembered(values)
                                   or pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")):
        return values.tolist()
    return values.astype(object).fillna("").astype(str).tolist()


def occurrence(keys: pd.Series, order: pd.Series | None = None) -> pd.Series:
    """1 for the first row with a given key, 2 for the second identical one, ...

    With ``order``, rows sharing a key are counted in the order of ``order``
    (e.g. the rest of their content) instead of file order, so moving rows
    around the file does not renumber them.
    """
    if order is None:
        return keys.groupby(keys, sort=False).cumcount() + 1
    ranked = pd.DataFrame({"key": keys, "order": order}).sort_values(["key", "order"], kind="stable")
    return (ranked.groupby("key", sort=False).cumcount() + 1).reindex(keys.index)


def _digest(texts: pd.Series) -> pd.Series:
    distinct = pd.unique(texts)
    table = {t: hashlib.sha256(t.encode("utf-8")).hexdigest()[:HASH_LENGTH].upper() for t in distinct}
    return texts.map(table)


def _compact_operator(operator_ids: pd.Series) -> pd.Series:
    """'de*dmo' / 'DEDMO' -> 'DE*DMO'; anything else -> '' (no id can be made from it)."""
    def one(value: str) -> str:
        try:
            return str(oioi_ids.parse_operator_id(value))
        except oioi_ids.IdError:
            return ""

    values = operator_ids.astype("object").fillna("").astype(str)
    table = {v: one(v) for v in pd.unique(values)}
    return values.map(table)


def station_ids(operator_ids: pd.Series, station_keys: pd.Series) -> pd.Series:
    """'DE*DMO*S' + hash(operator id, station content); '' operator gives 'S' + hash (still unique, never pushed)."""
    operators = _compact_operator(operator_ids)
    digest = _digest(operators + "\x1e" + station_keys.astype(str))
    prefix = operators.where(operators == "", operators + "*")
    return prefix + "S" + digest


def evse_ids(operator_ids: pd.Series, station_keys: pd.Series, charge_points: pd.Series) -> pd.Series:
    """'DE*DMO*E' + hash(operator id, station content) + '*' + charge point number; '' without an operator id.

    The local part stays within the glossary's 30 characters for any
    realistic number of charge points per station.
    """
    operators = _compact_operator(operator_ids)
    digest = _digest(operators + "\x1e" + station_keys.astype(str))
    numbers = charge_points.astype("int64").astype(str)
    result = operators + "*E" + digest + "*" + numbers
    return result.where(operators != "", "")
