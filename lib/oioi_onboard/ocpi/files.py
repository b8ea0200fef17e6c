"""A JSON file of OCPI Locations: a list of them, one Location, an OCPI response, or one Location per line.

Only the file's shape is decided here; ``ocpi.mapping`` reads the Locations one by one, so one broken
Location is an issue of its own, not a refused file. JSON that holds no Locations is refused with the
words the spreadsheet reader uses for JSON; what is not JSON at all is left to that reader. Nothing here
imports pydantic until the file is known to be JSON: reading a CSV does not pay for it.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .. import untrusted
from ..sheets.reader import MAX_BYTES, MAX_ROWS, SheetError

__all__ = ["LocationsFile", "LocationsFileError", "read_locations"]

# A Location has an id and at least one of these; a table exported as JSON has neither.
_LOCATION_KEYS = ("coordinates", "evses", "party_id")
_SHAPES = ("a list of Location objects, one Location, an OCPI response ({\"data\": [...], \"status_code\": 1000, "
           "...}) or one Location per line (JSON lines)")


class LocationsFileError(SheetError):
    """JSON that holds no OCPI Locations to read, or an OCPI response that reports a failure."""


@dataclass
class LocationsFile:
    """OCPI Locations as found in a file: the reading step's result for such a file, beside ``RawSheet``."""

    locations: list[tuple[int, Any]]  # (position in the file, 1-based: the item or the line; the parsed JSON)
    file_name: str
    sha256: str
    notes: list[str] = field(default_factory=list)


def _may_be_json(data: bytes) -> bool:
    """A look at the first character: '{' or '[' (after a byte-order mark and white space)."""
    return data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"[")


def read_locations(data: bytes, file_name: str) -> LocationsFile | None:
    """The Locations ``data`` holds; None when it is not JSON (nor too big to look at: the reader says so).

    Raises ``LocationsFileError`` for JSON that holds no Locations, and for an OCPI response whose
    status_code is not 1000 (its message is quoted).
    """
    if len(data) > MAX_BYTES or not _may_be_json(data):
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    try:
        parsed = untrusted.loads(text)
    except untrusted.TooDeep as error:
        raise _too_deep(file_name, error) from None
    except ValueError:
        items = _json_lines(text, file_name)
        if items is None:
            return None
        shape = "JSON lines"
    else:
        items, shape = _items(parsed, file_name)
    if len(items) > MAX_ROWS:
        raise LocationsFileError(f"{file_name} holds {len(items):,} Locations; up to {MAX_ROWS:,} are accepted. "
                                 "Split it into several files.")
    return LocationsFile(locations=items, file_name=file_name, sha256=hashlib.sha256(data).hexdigest(),
                         notes=[f"OCPI Locations: {len(items):,} ({shape})"])


def _too_deep(where: str, error: ValueError) -> LocationsFileError:
    return LocationsFileError(f"{where} is not OCPI Locations: {error}; a Location nests far less. Nothing was "
                              "read from it.")


def _looks_like_location(item: Any) -> bool:
    return isinstance(item, dict) and "id" in item and any(key in item for key in _LOCATION_KEYS)


def _no_locations(file_name: str) -> LocationsFileError:
    return LocationsFileError(f"{file_name} looks like JSON, not a table: no data rows could be read from it, and it "
                              f"holds no OCPI Locations ({_SHAPES}).")


def _items(parsed: Any, file_name: str) -> tuple[list[tuple[int, Any]], str]:
    if isinstance(parsed, dict) and "status_code" in parsed:
        from pydantic import ValidationError

        from .models import Envelope

        try:
            envelope = Envelope.model_validate(parsed)
        except ValidationError:
            raise LocationsFileError(f"{file_name} looks like an OCPI response, but its status_code "
                                     f"{parsed['status_code']!r} is not a number.") from None
        if not envelope.ok:
            message = f": {envelope.status_message}" if envelope.status_message else ""
            raise LocationsFileError(f"{file_name} is an OCPI response that reports a failure, status_code "
                                     f"{envelope.status_code}{message}. It holds no Locations to read.")
        data = [envelope.data] if isinstance(envelope.data, dict) else envelope.data
        if not isinstance(data, list) or not any(_looks_like_location(item) for item in data):
            raise LocationsFileError(f"{file_name} is an OCPI response whose data holds no Locations.")
        return list(enumerate(data, start=1)), "an OCPI response"
    if _looks_like_location(parsed):
        return [(1, parsed)], "one Location"
    if isinstance(parsed, list) and any(_looks_like_location(item) for item in parsed):
        return list(enumerate(parsed, start=1)), "a list of Locations"
    raise _no_locations(file_name)


def _json_lines(text: str, file_name: str) -> list[tuple[int, Any]] | None:
    """One Location per line; None when the first line is no JSON object (the file is no JSON lines at all)."""
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = untrusted.loads(line)
        except untrusted.TooDeep as error:
            raise _too_deep(f"{file_name}, line {number}", error) from None
        except ValueError as error:
            if not items:
                return None
            where = f"{error.msg}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else error
            raise LocationsFileError(f"{file_name}, line {number}: not JSON ({where}); every line of a JSON lines "
                                     "file holds one Location.") from None
        if not items and not isinstance(item, dict):
            return None
        items.append((number, item))
    if not items or not any(_looks_like_location(item) for _, item in items):
        raise _no_locations(file_name)
    return items
