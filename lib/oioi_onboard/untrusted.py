"""Text from outside read within limits: JSON whose nesting is checked before it is parsed, and ISO 8601 /
RFC 3339 timestamps. Every reader of an HTTP body, a protocol field or a file uses these, so that no input
can raise anything but ``ValueError`` (no RecursionError, no OverflowError) and each says why.

Nothing here imports more than the standard library: the file readers and the relay both use it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "nests_deeper_than", "loads", "shown", "parse_utc"]

# Deeper JSON is refused before parsing: the standard parser recurses once per level.
MAX_DEPTH = 32

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


class TooDeep(ValueError):
    """JSON that nests arrays and objects deeper than the limit."""


def nests_deeper_than(raw: bytes, limit: int) -> bool | None:
    """True if the JSON text ``raw`` nests arrays and objects deeper than ``limit``; None if its brackets
    (outside strings) do not match, so it is not JSON; False otherwise. Linear in C, no recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # cannot be deeper than the number of brackets it opens
    if b'"' in raw:
        if b"\\" in raw:
            raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escaped quotes do not end a string
        raw = b"".join(raw.split(b'"')[::2])  # what lies outside strings
    brackets = raw.translate(_SQUARE, _NOT_BRACKETS)
    for _ in range(limit):  # each pass removes the innermost level
        inner = brackets.replace(b"[]", b"")
        if not inner:
            return False
        if len(inner) == len(brackets):
            return None
        brackets = inner
    return True if b"[]" in brackets else None


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted text: ``TooDeep`` past ``max_depth`` levels, ValueError if it is not JSON
    (bytes must be UTF-8). Never RecursionError."""
    if isinstance(text, bytes):
        raw, text = text, text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    else:
        raw = text.encode("utf-8", "surrogatepass")
    deeper = nests_deeper_than(raw, max_depth)
    if deeper:
        raise TooDeep(f"it nests arrays or objects deeper than {max_depth} levels")
    if deeper is None:
        raise ValueError("its brackets do not match")
    return json.loads(text)  # RecursionError cannot happen: the depth is checked above


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: hostile input is not echoed back at length."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def parse_utc(value: Any, *, what: str = "timestamp") -> datetime:
    """An ISO 8601 / RFC 3339 time (text, or a datetime) -> an aware UTC datetime; one without an offset is UTC
    (as OCPI and our ingest API say).

    ValueError naming ``what`` and the reason when it is not such text, or lies outside the years 1 to 9999
    once in UTC (``0001-01-01T00:00:00+01:00``).
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{what} {shown(value)} is not ISO 8601, e.g. 2024-05-01T12:00:00Z") from None
    else:
        raise ValueError(f"{what} {shown(value)} is not an ISO 8601 string such as 2024-05-01T12:00:00Z")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what} {shown(value)} lies outside the years 1 to 9999 in UTC") from None
