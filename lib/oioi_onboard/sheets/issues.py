"""The issue table: every problem found in a file is one row of it."""

from enum import Enum

import pandas as pd

ISSUE_COLUMNS = ["row", "column", "value", "rule", "message", "severity"]


class Severity(str, Enum):
    ERROR = "error"  # blocks the station
    WARNING = "warning"  # reported, the station is still pushed


def empty_issues() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in ISSUE_COLUMNS})


def make_issues(rows, column: str, values, rule: str, message, severity: Severity) -> pd.DataFrame:
    """Issues for many rows at once; ``message`` is a string or a Series aligned with ``rows``."""
    rows = pd.Series(rows).reset_index(drop=True)
    if not len(rows):
        return empty_issues()
    values = pd.Series(values).reset_index(drop=True).astype("object").where(lambda v: v.notna(), "")
    messages = message.reset_index(drop=True) if isinstance(message, pd.Series) else message
    return pd.DataFrame(
        {
            "row": rows.astype("int64"),
            "column": column,
            "value": values.astype(str),
            "rule": rule,
            "message": messages,
            "severity": severity.value,
        }
    )


def concat_issues(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_issues()
    return pd.concat(parts, ignore_index=True).sort_values(["row", "column"], kind="stable").reset_index(drop=True)
