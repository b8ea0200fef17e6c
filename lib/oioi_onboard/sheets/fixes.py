"""Fixes a person makes to the canonical frame before it is validated again: cells edited in place, and one
value replaced everywhere in a column (the import page's "Fix" section)."""

import pandas as pd

from .canonical import ROW

__all__ = ["apply_edits", "replace_value"]


def apply_edits(frame: pd.DataFrame, edited: pd.DataFrame) -> pd.DataFrame:
    """The frame with the cells of ``edited`` (rows matched by index) written over it, as strings."""
    frame = frame.copy()
    columns = [c for c in edited.columns if c in frame.columns and c != ROW]
    if len(edited) and columns:
        values = edited[columns].astype("str").fillna("")
        frame.loc[values.index, columns] = values
    return frame


def replace_value(frame: pd.DataFrame, column: str, old: str, new: str) -> tuple[pd.DataFrame, int]:
    """Replace every cell of ``column`` equal to ``old`` (ignoring padding) by ``new``; returns the count."""
    if column not in frame.columns or column == ROW:
        raise KeyError(f"no column {column!r} to fix")
    hit = frame[column].str.strip() == old.strip()
    frame = frame.copy()
    frame.loc[hit, column] = new
    return frame, int(hit.sum())
