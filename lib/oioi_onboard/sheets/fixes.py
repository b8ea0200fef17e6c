"""Fixes a person makes to the canonical frame before it is validated again: cells edited in place, rows left
out, one value replaced everywhere in a column, and latitude and longitude swapped back where the validation found them
exchanged (the import page's "Fix" section)."""

import pandas as pd

from .canonical import ROW, STATION_NAMES
from .mapping import read_cell, read_cells

__all__ = ["apply_edits", "replace_value", "swap_coordinates"]


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
