"""Fixes a person makes to the canonical frame before it is validated again: cells edited in place, rows left
out, one value replaced everywhere in a column, and latitude and longitude swapped back where the validation found them
exchanged (the import page's "Fix" section).

Each fix made is also kept as a record (``ReplaceValue``, ``SwapCoordinates``, ``EditCells``): when the same file is
mapped anew (the CPO's defaults changed, say) to the same rows, ``replay`` makes them again.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .canonical import ROW, STATION_NAMES
from .mapping import read_cell, read_cells

__all__ = ["EditCells", "Fix", "ReplaceValue", "SwapCoordinates", "apply_edits", "replace_value", "replay",
           "swap_coordinates"]


def apply_edits(frame: pd.DataFrame, edited: pd.DataFrame, shown: pd.Index | None = None) -> pd.DataFrame:
    """The frame with the cells of ``edited`` (rows matched by index) written over it, as strings; the rows of
    ``shown`` (the index the editor was given) that ``edited`` no longer holds were deleted, and are left out."""
    if shown is not None:
        frame = frame.drop(index=shown.difference(edited.index))
    frame = frame.copy()
    columns = [c for c in edited.columns if c in frame.columns and c != ROW]
    if len(edited) and columns:
        values = edited[columns].astype("str").fillna("")
        for column in columns:
            values[column] = read_cells(column, values[column])
        before = frame[list(dict.fromkeys(["station_id", *columns]))]
        frame.loc[values.index, columns] = values
        _spread_to_station_rows(frame, before, values, [c for c in columns if c in STATION_NAMES])
    return frame


def _spread_to_station_rows(frame: pd.DataFrame, before: pd.DataFrame, values: pd.DataFrame,
                            columns: list[str]) -> None:
    """A station's fields repeat on each of its rows, and the editor may show only one of them (the rows with
    problems): a station field changed on one row is changed on the station's other rows that held the same
    value, or they would disagree with it."""
    station = before["station_id"].str.strip()
    others = ~frame.index.isin(values.index)
    for column in columns:
        changed = values.index[(values[column] != before.loc[values.index, column])
                               & (station[values.index] != "")]
        if changed.empty:
            continue
        key = station + "\x1f" + before[column]  # (station, value it held) -> the value it holds now
        new = pd.Series(values.loc[changed, column].to_numpy(), index=key[changed].to_numpy())
        new = new[~new.index.duplicated(keep="last")]
        hit = others & key.isin(new.index).to_numpy()
        frame.loc[hit, column] = key[hit].map(new).to_numpy()


def replace_value(frame: pd.DataFrame, column: str, old: str, new: str) -> tuple[pd.DataFrame, int]:
    """Replace every cell of ``column`` equal to ``old`` (ignoring padding) by ``new``; returns the count."""
    if column not in frame.columns or column == ROW:
        raise KeyError(f"no column {column!r} to fix")
    hit = frame[column].str.strip() == old.strip()
    frame = frame.copy()
    frame.loc[hit, column] = read_cell(column, new)
    return frame, int(hit.sum())


def swap_coordinates(frame: pd.DataFrame, rows: list[int]) -> tuple[pd.DataFrame, int]:
    """Latitude and longitude exchanged in the file rows ``rows`` (``ROW`` numbers) and in the other rows of their
    stations that hold the same point (the validation names a station's first row); returns the count of rows."""
    named = frame[ROW].isin(rows)
    station_id = frame["station_id"].str.strip()
    point = station_id + "\x1f" + frame["latitude"].str.strip() + "\x1f" + frame["longitude"].str.strip()
    hit = named | (point.isin(point[named]) & (station_id != ""))
    frame = frame.copy()
    frame.loc[hit, ["latitude", "longitude"]] = frame.loc[hit, ["longitude", "latitude"]].to_numpy()
    return frame, int(hit.sum())


# --- fixes kept, to be made again ----------------------------------------------------------------------------
# A frame mapped anew from the same file keeps the file's rows as its index: a fix finds the same cells again.


@dataclass(frozen=True)
class ReplaceValue:
    column: str
    old: str
    new: str

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return replace_value(frame, self.column, self.old, self.new)[0]


@dataclass(frozen=True)
class SwapCoordinates:
    rows: tuple[int, ...]  # ``ROW`` numbers, as the validation named them

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return swap_coordinates(frame, list(self.rows))[0]


@dataclass(frozen=True, eq=False)
class EditCells:
    """The cells a person changed in the editor and the rows deleted there, by the frame's index: made again,
    they change those cells only (the frame mapped anew may hold new values in the others)."""

    cells: dict[tuple[Hashable, str], str]  # (row, column) -> the value typed
    deleted: tuple[Hashable, ...]

    @classmethod
    def made(cls, shown: pd.DataFrame, edited: pd.DataFrame) -> "EditCells":
        """The edits of ``edited``, what the editor returned for the rows ``shown``."""
        kept = edited.index.intersection(shown.index)
        columns = [c for c in edited.columns if c in shown.columns and c != ROW]
        after = edited.loc[kept, columns].astype("str").fillna("")
        changed = after.ne(shown.loc[kept, columns])
        cells = {(row, column): after.at[row, column] for column in columns for row in kept[changed[column]]}
        return cls(cells, tuple(shown.index.difference(edited.index)))

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(index=frame.index.intersection(list(self.deleted)))
        edited = frame.loc[frame.index.intersection(list(dict.fromkeys(row for row, _ in self.cells)))].copy()
        for (row, column), value in self.cells.items():
            if row in edited.index and column in edited.columns:
                edited.at[row, column] = value
        return apply_edits(frame, edited)


Fix = ReplaceValue | SwapCoordinates | EditCells


def replay(frame: pd.DataFrame, fixes: Sequence[Fix], made_on: np.ndarray) -> pd.DataFrame | None:
    """``frame`` with ``fixes`` made again, in order; None when it does not hold the rows they were made on
    (``made_on``: the ``ROW`` numbers of the frame then), where a fix would change other cells than it did."""
    if not np.array_equal(made_on, frame[ROW].to_numpy()):
        return None
    for fix in fixes:
        frame = fix(frame)
    return frame
