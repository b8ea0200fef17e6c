"""A column's codes into its distinct values, worked out once and reused by every later step.

The reader, the mapping and the validator all work per distinct value, and
hashing every cell of a column to find its distinct values is most of what
they cost on a large file. The reader gets the codes for free (Arrow
dictionary-encodes while parsing) and a mapping step that rewrites values
through a table knows them too, so they are remembered here with the array
they describe, and a later step asking for the same array's codes gets them
without hashing it again.

An array is recognised by the memory it occupies (pandas hands out new array
objects that view the same memory), and only while the array owning that
memory is alive and read-only: remembered codes can never describe other values.
"""

import weakref

import numpy as np
import pandas as pd

__all__ = ["factorize", "remember", "is_remembered", "by_value"]

# (address, length, stride) -> (the array owning the memory, its codes, its distinct values)
_known: dict[tuple[int, int, int], tuple[weakref.ref, np.ndarray, np.ndarray]] = {}


def _key(values: np.ndarray) -> tuple[int, int, int]:
    return values.__array_interface__["data"][0], len(values), values.strides[0] if values.ndim == 1 else 0


def remember(values: np.ndarray, codes: np.ndarray, uniques: np.ndarray, *, distinct: bool = False) -> np.ndarray:
    """Remember that ``values`` (an object array of ``str``) is ``uniques[codes]``; returns ``values``, now read-only.

    ``uniques`` may hold values no code points to and, unless ``distinct``,
    the same value twice (the reader strips values after encoding them): both
    are tidied, and the codes numbered in order of first appearance, as
    ``pd.factorize`` numbers them.
    """
    codes, uniques = np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)
    if values.dtype != object or values.ndim != 1 or not len(values):
        return values
    if pd.api.types.infer_dtype(uniques, skipna=False) != "string":
        return values  # text only: the validator takes what is remembered for text without looking
    if not distinct:
        merged, uniques = pd.factorize(uniques)
        codes = merged[codes]
    highest = np.maximum.accumulate(codes)
    if codes.min() == codes[0] and (np.diff(highest) <= 1).all():
        # Already in order of appearance (the reader's usually are): only the values before the first are unused.
        codes, uniques = codes - codes[0], uniques[codes[0]:highest[-1] + 1]
    else:
        first = np.full(len(uniques), len(codes), dtype=np.intp)
        first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the last write wins: each value's first row
        order = np.argsort(first, kind="stable")[: int((first < len(codes)).sum())]
        number = np.empty(len(uniques), dtype=np.intp)
        number[order] = np.arange(len(order))
        codes, uniques = number[codes], uniques[order]
    owner = values
    owner.flags.writeable = False
    while isinstance(owner.base, np.ndarray):  # a view's base too: writing through it would change these values
        owner = owner.base
        owner.flags.writeable = False
    # Known while the array owning the memory lives (pandas wraps views of views: the view itself may go).
    key = _key(values)
    _known[key] = (weakref.ref(owner, lambda _, key=key: _known.pop(key, None)), codes, uniques)
    return values


def _remembered(values: pd.Series | np.ndarray) -> tuple[weakref.ref, np.ndarray, np.ndarray] | None:
    if values.dtype != object:  # only object arrays are remembered (and converting others would copy them)
        return None
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    if isinstance(array, np.ndarray) and array.ndim == 1 and not array.flags.writeable:
        found = _known.get(_key(array))
        if found is not None and found[0]() is not None:
            return found
    return None


def is_remembered(values: pd.Series | np.ndarray) -> bool:
    """Whether the codes of exactly these values are known (then every value is a ``str``: only text is remembered)."""
    return _remembered(values) is not None


def factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)``, from what was remembered when it describes these very values."""
    found = _remembered(values)
    return (found[1], found[2]) if found is not None else pd.factorize(values)


def by_value(values: pd.Series, function) -> pd.Series:
    """``function`` over each distinct value once, spread back to the rows.

    Station columns repeat on every connector row and operators share
    addresses and hotlines, so this does a fraction of the per-row work.
    """
    codes, uniques = factorize(values.astype("object"))
    # A missing value (code -1) reads as an empty cell: the last entry.
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:] = [function(u) for u in uniques] + [function("")]
    # The result's codes are known as well: the next step to ask (the validator) need not hash it again.
    result = remember(table[codes], np.where(codes < 0, len(uniques), codes), table)
    return pd.Series(result, index=values.index, dtype=object, copy=False)
