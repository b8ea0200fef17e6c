"""Mapping profiles: built-in ones (``template``, ``bnetza``, ``irve``) and those saved per CPO.

A profile is a Mapping under a name. A CPO whose files always look the same
maps once, saves (``store.profiles``), and applies the profile on every later
upload; the caller passes the CPO's saved profiles in, so this module never
touches the database.
"""

from collections.abc import Callable

import pandas as pd

from ..errors import UserError
from ..oioi import ids as oioi_ids
from . import aliases, bnetza, irve
from .canonical import NAMES
from .issues import concat_issues
from .mapping import Mapping, apply_mapping
from .reader import RawSheet, SheetError, read_rows

__all__ = [
    "ProfileError",
    "builtin_profiles",
    "apply_profile",
    "resolve_columns",
    "load_operators_csv",
    "fitting_profile",
    "recognised_layout",
]


class ProfileError(UserError):
    """A profile that does not fit the file, or does not exist; the message says which columns or name."""


def _template_mapping() -> Mapping:
    return Mapping(columns={name: name for name in NAMES})


def builtin_profiles() -> dict[str, Mapping]:
    """Profiles every CPO has: ``template`` (our own layout), ``bnetza`` (Germany's public register)
    and ``irve`` (France's static schema; the suggestion picks it by itself)."""
    return {"template": _template_mapping(), bnetza.NAME: bnetza.bnetza_mapping(), irve.NAME: irve.default_mapping()}


# Extra issues a built-in profile knows how to find in its own files.
_PROFILE_CHECKS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {bnetza.NAME: bnetza.bnetza_issues}


def _referenced(mapping: Mapping) -> set[str]:
    columns = {c for c in mapping.columns.values() if c}
    columns |= {c for cp in mapping.charge_points for c in cp.values() if c}
    columns |= set(mapping.name_from)
    columns |= set(mapping.plugs)
    if mapping.operator_column:
        columns.add(mapping.operator_column)
    return columns


def resolve_columns(raw: RawSheet, mapping: Mapping, *, profile: str = "") -> Mapping:
    """The mapping with its column names matched to this file's headers (case, spaces, umlauts ignored).

    Raises ProfileError naming the columns the file lacks. Optional columns
    of the template profile that are missing are simply not read.
    """
    by_fold = aliases.headers_by_fold(raw.columns)
    table = {c: by_fold.get(aliases.fold(c)) for c in _referenced(mapping)}
    optional = {c for c in table if profile == "template" and c not in _template_required()}
    missing = sorted(c for c, found in table.items() if found is None and c not in optional)
    if missing:
        label = f"profile {profile!r}" if profile else "the mapping"
        raise ProfileError(
            f"{raw.file_name} lacks the column(s) {', '.join(repr(c) for c in missing)} that {label} reads"
            f" (its header is row {raw.header_row})."
        )
    resolved = Mapping.from_dict(mapping.to_dict())
    resolved.columns = {k: (table.get(v) if v else None) for k, v in mapping.columns.items()}
    resolved.charge_points = [{k: table.get(v) for k, v in cp.items() if v} for cp in mapping.charge_points]
    resolved.name_from = [table[c] for c in mapping.name_from if table.get(c)]
    resolved.operator_column = table.get(mapping.operator_column) if mapping.operator_column else None
    resolved.plugs = {table[c]: kind for c, kind in mapping.plugs.items() if table.get(c)}
    return resolved


def _template_required() -> set[str]:
    from .canonical import REQUIRED

    # The template's ids may be left to generation, everything else it must have.
    return set(REQUIRED) - {"station_id", "evse_id"}


def apply_profile(
    raw: RawSheet,
    name: str,
    *,
    operators: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    saved: dict[str, Mapping] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map ``raw`` with the profile ``name`` -> (canonical frame, issues).

    ``saved`` are the CPO's own profiles (name -> Mapping); they take precedence
    over a built-in of the same name. ``operators`` (operator name -> operator
    id) is added to the profile's own table; ``constants`` override its constants.
    """
    saved = saved or {}
    builtins = builtin_profiles()
    mapping = saved.get(name) or builtins.get(name)
    if name == irve.NAME and name not in saved:
        # The schema's columns changed between versions: the profile follows the file's.
        missing = irve.missing_columns(raw.columns)
        if missing:
            raise ProfileError(f"{raw.file_name} lacks the column(s) {', '.join(missing)} of France's IRVE schema"
                               f" that profile 'irve' reads (its header is row {raw.header_row}).")
        mapping = irve.irve_mapping(raw)[0]
    if mapping is None:
        known = sorted(set(builtins) | set(saved))
        raise ProfileError(f"there is no mapping profile {name!r}; known: {', '.join(known)}")
    mapping = Mapping.from_dict(mapping.to_dict())
    if operators:
        mapping.operators = {**mapping.operators, **operators}
    if constants:
        mapping.constants = {**mapping.constants, **constants}
    if name != irve.NAME or name in saved:
        mapping = resolve_columns(raw, mapping, profile=name)
    frame, issues = apply_mapping(raw, mapping)
    check = _PROFILE_CHECKS.get(name) if name not in saved else None
    if check is not None and len(frame):
        issues = concat_issues([issues, check(frame)])
    return frame, issues


def recognised_layout(raw: RawSheet) -> tuple[Mapping, str] | None:
    """The mapping of a built-in profile whose layout the headers show by themselves (France's IRVE schema),
    with a line naming that layout; None for any other file."""
    found = irve.irve_mapping(raw)
    if found is None:
        return None
    mapping, version = found
    return mapping, f"France's IRVE static schema ({version}): mapped by the built-in profile {irve.NAME!r}"


def fitting_profile(raw: RawSheet) -> str | None:
    """A hint naming the built-in profile whose columns are all in the file (other than ``template``)."""
    for name, mapping in builtin_profiles().items():
        if name in ("template", irve.NAME):  # irve is chosen by the suggestion itself
            continue
        try:
            resolve_columns(raw, mapping, profile=name)
        except ProfileError:
            continue
        extra = " --operators FILE (operator name, operator id)" if mapping.operator_column else ""
        return f"the columns are those of the built-in profile {name!r}: use --profile {name}{extra}"
    return None


def load_operators_csv(data: bytes) -> dict[str, str]:
    """Operator name -> operator id from a two-column file (CSV or XLSX, header optional).

    A row without an operator id is an operator not assigned yet (its stations are then
    reported, never dropped). Raises ProfileError naming the row of an operator id that is
    not of the form CC*XXX, or when no row gives an id at all.
    """
    try:
        rows = read_rows(data, "operator table")
    except SheetError as exc:
        raise ProfileError(str(exc)) from None
    pairs: list[tuple[int, str, str]] = []
    first = True
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row] + ["", ""]
        if not any(cells):
            continue
        if first and _is_header(cells[1]):
            first = False
            continue  # a header line
        first = False
        pairs.append((number, cells[0], cells[1]))
    if not pairs:
        raise ProfileError("the operator table lists no operators (two columns: operator name, operator id)")
    table: dict[str, str] = {}
    for row, name, operator_id in pairs:
        if not name:
            raise ProfileError(f"operator table, row {row}: the operator name is empty")
        if not operator_id:
            continue
        try:
            table[name] = str(oioi_ids.parse_operator_id(operator_id))
        except oioi_ids.IdError as exc:
            raise ProfileError(f"operator table, row {row}: {exc}") from None
    if not table:
        raise ProfileError("the operator table gives no operator id yet: fill in the second column")
    return table


def _is_header(value: str) -> bool:
    """'operator id', 'Betreiber-ID' are headings; 'DE*MVV' and a mistyped 'MVV' are data."""
    folded = aliases.fold(value)
    return not _is_operator_id(value) and any(w in folded for w in ("id", "kennung", "operator", "betreiber", "code"))


def _is_operator_id(value: str) -> bool:
    try:
        oioi_ids.parse_operator_id(value)
        return True
    except oioi_ids.IdError:
        return False
