"""Importing a station file: read -> map -> registry context -> validate -> store.

The one chain behind the import page, ``oioi-onboard validate``, ``oioi-onboard
push`` and the demo bootstrap, so one file gets one verdict wherever it is
checked. The page runs the steps one by one (a person picks columns and fixes
cells in between); the others call ``import_file``. A JSON file of OCPI
Locations takes the same steps, mapped by ``ocpi.mapping`` instead of columns.

The store is imported only where a session is used: checking a file without a
CPO (``oioi-onboard validate FILE``) never loads SQLModel and the database layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import UserError
from ..ocpi.files import LocationsFile, read_locations
from ..sheets.issues import concat_issues
from ..sheets.mapping import Mapping, apply_mapping
from ..sheets.profiles import apply_profile, fitting_profile
from ..sheets.reader import RawSheet, read_sheet
from ..sheets.suggest import Suggestion, placement_issues, separator_hint, suggest_mapping, unplaced_required
from ..sheets.validate import Validation, validate

if TYPE_CHECKING:
    from sqlmodel import Session

    from ..store.auth import Actor
    from ..store.models import ImportRecord

__all__ = ["MappedSheet", "ImportResult", "read_file", "suggest", "map_sheet", "check", "store", "import_file",
           "input_fingerprint"]


@dataclass
class MappedSheet:
    """A file on the canonical columns, with what mapping it found wrong."""

    frame: pd.DataFrame
    issues: pd.DataFrame
    description: list[str]  # which column went to which field, for a person to read
    from_defaults: list[str] = field(default_factory=list)  # its lines on what the CPO's defaults fill


@dataclass
class ImportResult:
    raw: RawSheet | LocationsFile
    mapped: MappedSheet
    validation: Validation
    record: ImportRecord | None  # None when not stored (validation only)


@lru_cache(maxsize=1)
def _code_sha256() -> str:
    """The package's code and data files: another version may read, map or validate a file otherwise."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def input_fingerprint(data: bytes, file_name: str, **options: Any) -> str:
    """Everything of a push's import that is not in the database: the file, its name, the options it is
    imported with, and the code (``store.stations.repeat_of`` adds the database's part)."""
    return json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "file_name": file_name, "options": options,
                       "code": _code_sha256()}, sort_keys=True, default=str)


def read_file(data: bytes, file_name: str, sheet: str | None = None) -> RawSheet | LocationsFile:
    """The file's table as text cells (of a workbook, ``sheet`` or the widest table), or the OCPI Locations it
    holds; ``SheetError`` says why a file cannot be read."""
    return read_locations(data, file_name) or read_sheet(data, file_name, sheet=sheet)


def _operator_ids(session: Session | None, actor: Actor | None, cpo_id: int | None) -> list[str]:
    if session is None or cpo_id is None:
        return []
    from ..store import queries

    queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    return queries.cpo_operator_ids(session, cpo_id=cpo_id)


def suggest(
    session: Session | None, *, actor: Actor | None, cpo_id: int | None, raw: RawSheet
) -> Suggestion:
    """The mapping suggested from the headers; ids the file lacks come from the CPO's first operator id, as
    the import page's "Operator id for ids the file lacks" starts (the command line checks a file as the page
    does: a row without an EVSE id is not 'cpo_id is required' in one and fine in the other)."""
    suggestion = suggest_mapping(raw)
    operator_ids = _operator_ids(session, actor, cpo_id)
    mapping = suggestion.mapping
    if operator_ids and not mapping.operator_id:
        mapping.operator_id = operator_ids[0]
        suggestion.unplaced_required = unplaced_required(mapping)
    return suggestion


def map_sheet(
    session: Session | None,
    *,
    actor: Actor | None,
    cpo_id: int | None,
    raw: RawSheet | LocationsFile,
    profile: str | None = None,
    mapping: Mapping | None = None,
    confidence: dict[str, float] | None = None,
    operators: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
) -> MappedSheet:
    """Map ``raw`` by a profile (built-in or the CPO's), a chosen mapping, or the suggestion.

    ``confidence`` goes with a chosen mapping (the suggestion's for columns a
    person left as suggested); without a mapping the suggestion is used with its own.
    The CPO's defaults fill the cells the file leaves empty, unless ``constants`` names the field.
    """
    given = dict(constants or {})
    defaults = {k: v for k, v in _cpo_defaults(session, actor, cpo_id).items() if k not in given}
    constants = {**defaults, **given}
    from_defaults = [f"{field}: empty cells from the CPO's defaults ({value!r})" for field, value in defaults.items()]
    if isinstance(raw, LocationsFile):
        if profile or mapping is not None:
            raise UserError(f"{raw.file_name} holds OCPI Locations, which are read without a mapping profile")
        from ..ocpi.mapping import map_locations

        frame, issues, summary = map_locations(raw.locations, constants=constants)
        return MappedSheet(frame=frame, issues=issues, description=[*summary, *from_defaults],
                           from_defaults=from_defaults)
    if profile:
        own = {}
        if session is not None and cpo_id:
            from ..store import profiles as saved

            own = saved.saved_profiles(session, actor=actor, cpo_id=cpo_id)
        frame, issues = apply_profile(raw, profile, operators=operators, constants=constants, saved=own)
        return MappedSheet(frame=frame, issues=issues, from_defaults=from_defaults,
                           description=[f"mapped with the profile {profile!r}", *from_defaults])
    layout, reasons = "", {}
    if mapping is None:
        suggestion = suggest(session, actor=actor, cpo_id=cpo_id, raw=raw)
        mapping, confidence, layout, reasons = (suggestion.mapping, suggestion.confidence, suggestion.layout,
                                                suggestion.reasons)
    mapping = Mapping.from_dict(mapping.to_dict())
    if operators:
        mapping.operators = {**mapping.operators, **operators}
    # Described before the defaults join in, so they are named once, as the CPO's.
    mapping.constants = {**mapping.constants, **given}
    description = ([layout] if layout else []) + mapping.describe(reasons) + from_defaults
    mapping.constants.update(defaults)
    frame, issues = apply_mapping(raw, mapping)
    issues = concat_issues([placement_issues(raw, mapping, confidence), issues])
    hint = fitting_profile(raw) if unplaced_required(mapping) else None
    for line in (hint, separator_hint(raw)):
        if line:
            description.append(line)
    return MappedSheet(frame=frame, issues=issues, description=description, from_defaults=from_defaults)


def _cpo_defaults(session: Session | None, actor: Actor | None, cpo_id: int | None) -> dict[str, str]:
    if session is None or cpo_id is None:
        return {}
    from ..store import queries

    return dict(queries.get_cpo(session, actor=actor, cpo_id=cpo_id).defaults or {})


def check(
    session: Session | None, *, actor: Actor | None, cpo_id: int | None, frame: pd.DataFrame,
    mapping_issues: pd.DataFrame
) -> Validation:
    """Validate a canonical frame; with a CPO, against the registry (its operator ids, others' ids)."""
    context = None
    if session is not None and cpo_id is not None:
        from ..store import queries
        from ..store.stations import registry_context

        queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
        context = registry_context(session, cpo_id=cpo_id)
    return validate(frame, context=context, extra_issues=_still_open(mapping_issues, frame))


def _still_open(mapping_issues: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Mapping issues less the fields no column held that fixes have since filled in every row."""
    unmapped = mapping_issues["rule"] == "field_not_mapped"
    if not unmapped.any() or not len(frame):
        return mapping_issues
    filled = {name for name in mapping_issues.loc[unmapped, "column"]
              if name in frame.columns and (frame[name].astype("str").str.strip() != "").all()}
    return mapping_issues[~(unmapped & mapping_issues["column"].isin(filled))].reset_index(drop=True)


def store(
    session: Session, *, actor: Actor, cpo_id: int, raw: RawSheet | LocationsFile, validation: Validation,
    full_upload: bool = True,
) -> ImportRecord:
    """Keep the valid stations for the push and record the import (an audit entry included)."""
    from ..store.stations import store_import

    return store_import(session, actor=actor, cpo_id=cpo_id, file_name=raw.file_name, file_sha256=raw.sha256,
                        validation=validation, full_upload=full_upload)


def import_file(
    session: Session | None,
    *,
    actor: Actor | None,
    cpo_id: int | None,
    data: bytes,
    file_name: str,
    profile: str | None = None,
    operators: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    keep: bool = True,
    full_upload: bool = True,
    raw: RawSheet | LocationsFile | None = None,
    mapped: MappedSheet | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Read, map, validate and (with ``keep`` and a CPO) store one file; ``raw`` and ``mapped``, when
    given, are this file already read and mapped for this CPO, and are not done again."""
    raw = raw or read_file(data, file_name, sheet)
    mapped = mapped or map_sheet(session, actor=actor, cpo_id=cpo_id, raw=raw, profile=profile,
                                 operators=operators, constants=constants)
    validation = check(session, actor=actor, cpo_id=cpo_id, frame=mapped.frame, mapping_issues=mapped.issues)
    record = None
    if keep and session is not None and cpo_id is not None:
        record = store(session, actor=actor, cpo_id=cpo_id, raw=raw, validation=validation, full_upload=full_upload)
    return ImportResult(raw=raw, mapped=mapped, validation=validation, record=record)
