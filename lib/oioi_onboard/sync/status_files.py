"""Status files: a CSV or JSON list of connector statuses uploaded on the live page.

``parse_status_file`` reads one (``StatusFileError`` when it cannot be read at
all; single bad lines are listed, not fatal); ``record_status_file`` records
what it read through ``status_ingest.record_statuses`` (source "file").
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlmodel import Session

from .. import untrusted
from ..errors import UserError
from ..store.auth import Actor, require_edit
from ..store.queries import audit
from .status_ingest import record_statuses


class StatusFileError(UserError):
    """A status file that cannot be read at all; the message says where and what."""


@dataclass
class StatusFile:
    items: list[dict[str, Any]]
    errors: list[str]  # "line 4: ..." for lines that could not be read
    lines: list[int]  # the line (CSV) or position (JSON, 1-based) of each item, for messages


def parse_status_file(data: bytes, file_name: str) -> StatusFile:
    """A CSV (``evse_id,status[,timestamp]`` with a header row) or JSON list of status items."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StatusFileError(f"{file_name}: not UTF-8 text (byte {error.start})") from None
    if file_name.lower().endswith(".json") or content.lstrip().startswith(("[", "{")):
        return _parse_json(content, file_name)
    return _parse_csv(content, file_name)


def _parse_json(content: str, file_name: str) -> StatusFile:
    try:
        body = untrusted.loads(content)  # nesting too deep is a ValueError too, never a RecursionError
    except ValueError as error:
        raise StatusFileError(f"{file_name}: not valid JSON ({error})") from None
    if not isinstance(body, list):
        raise StatusFileError(f"{file_name}: expected a JSON list of {{evse_id, status, timestamp}} objects")
    items, errors, lines = [], [], []
    for position, entry in enumerate(body, start=1):
        if not isinstance(entry, dict):
            errors.append(f"item {position}: not an object with evse_id and status")
            continue
        items.append({k: entry.get(k) for k in ("evse_id", "status", "timestamp")})
        lines.append(position)
    return StatusFile(items, errors, lines)


def _parse_csv(content: str, file_name: str) -> StatusFile:
    # The header names the columns, so its most frequent separator is the file's (Excel in Germany writes ';').
    first_line = content.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(content), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise StatusFileError(f"{file_name}: the file is empty; expected a header evse_id,status[,timestamp]")
    columns = [name.strip().lower().replace("-", "_").replace(" ", "_") for name in header]
    missing = [name for name in ("evse_id", "status") if name not in columns]
    if missing:
        raise StatusFileError(
            f"{file_name}: line 1 must name the columns evse_id,status[,timestamp]; missing {', '.join(missing)}"
        )
    position = {name: columns.index(name) for name in ("evse_id", "status", "timestamp") if name in columns}
    items, errors, lines = [], [], []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(columns):
            row = row + [""] * (len(columns) - len(row))
        if len(row) > len(columns):
            errors.append(f"line {line}: {len(row)} cells, the header has {len(columns)}")
            continue
        items.append({name: (row[i].strip() or None) for name, i in position.items()})
        lines.append(line)
    return StatusFile(items, errors, lines)


@dataclass
class FileOutcome:
    accepted: int
    refused: pd.DataFrame  # line, evse_id, error: every line or item that was not taken
    deliveries: dict[str, int]  # pending / held / superseded / stale -> count


def record_status_file(session: Session, *, actor: Actor, cpo_id: int, data: bytes, file_name: str) -> FileOutcome:
    """An uploaded status file (source "file"); StatusFileError if it cannot be read at all."""
    require_edit(actor, cpo_id)
    parsed = parse_status_file(data, file_name)
    results = (record_statuses(session, actor=actor, cpo_id=cpo_id, items=parsed.items, source="file")
               if parsed.items else [])
    refused = [{"line": _line_of(error), "evse_id": "", "error": error} for error in parsed.errors]
    refused += [{"line": parsed.lines[r.index], "evse_id": r.evse_id, "error": r.error} for r in results if not r.ok]
    deliveries: dict[str, int] = {}
    for result in results:
        if result.ok:
            deliveries[result.delivery or "pending"] = deliveries.get(result.delivery or "pending", 0) + 1
    accepted = sum(deliveries.values())
    audit(session, actor_name=actor.name, action="status file", cpo_id=cpo_id,
          detail=f"{file_name}: {accepted} accepted, {len(refused)} refused")
    frame = pd.DataFrame(refused, columns=["line", "evse_id", "error"]).sort_values("line", kind="stable")
    return FileOutcome(accepted=accepted, refused=frame.reset_index(drop=True), deliveries=deliveries)


def _line_of(error: str) -> int:
    # "line 5: ..." / "item 2: ..."
    head = error.split(":", 1)[0].split()
    return int(head[-1]) if head and head[-1].isdigit() else 0
