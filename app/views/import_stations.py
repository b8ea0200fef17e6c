"""Step 2: import a station spreadsheet — read, map columns, validate, fix, preview on a map, accept.

A JSON file of OCPI Locations needs no column mapping: its Locations are mapped as OCPI defines them. So do
the Locations pulled from the CPO's own OCPI back end (``components.ocpi``), which take the file's place.

A thin view over ``oioi_onboard.workflows.imports`` (the same steps ``oioi-onboard
validate`` and ``push`` run). The uploaded file sits in ``st.session_state[UPLOAD]``
as ``{"name", "data"}``; everything after it is keyed on the file's hash, the
mapping and the CPO, so reruns reuse it. Page state belongs to one CPO and one
file: choosing another starts clean. The file and its fixes are also kept per
user on the server, so a reload of the browser finds the import where it was.
"""

import hashlib
import json
import uuid

import numpy as np
import pandas as pd
import streamlit as st

from common import choose_cpo, counted, db_session, errors_shown, plain, require_role, show_error
from components.ocpi import pull_source, store_import
from components.station_map import render_station_map
from components.steps import show_steps
from oioi_onboard.errors import OnboardError
from oioi_onboard.ocpi import LocationsFile
from oioi_onboard.sheets import (
    COLUMNS,
    ROW,
    EditCells,
    Fix,
    ReplaceValue,
    SwapCoordinates,
    bnetza,
    issues_csv,
    issues_xlsx,
    profiles,
    replace_value,
    replay,
    separator_hint,
    station_points,
    swap_coordinates,
    template,
)
from oioi_onboard.sheets import mapping as sheet_mapping
from oioi_onboard.store import Role, import_history, queries, upload_drops
from oioi_onboard.store import profiles as saved_profiles
from oioi_onboard.workflows import imports

UPLOAD = "import_upload"  # {"name": file name, "data": bytes}: set by the uploader, or by a test
WORK = "import_work"  # the working state of the current file: canonical frame, validation, map points
SCOPE = "import_scope"  # (CPO, file hash) the widgets below belong to
SUGGESTED, BNETZA, OCPI = "Suggested from the headers", "bnetza", "OCPI Locations"
NOT_MAPPED = "— not in the file —"
# Widget and message keys that belong to one CPO and one file.
_SCOPED = ("import_profile", "import_operators", "import_map_", "import_operator_id", "import_fix_",
           "import_editor_", "import_only_problems", "import_every_station", "import_saved_profile",
           WORK)
# Restored after a reload, with import_map_*. Not the CPO: the one chosen last, on any page, is shown (common).
_REMEMBERED = {"import_profile", "import_operator_id"}

actor = require_role(Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF)
state = st.session_state


@st.cache_resource(show_spinner=False)
def _drafts() -> dict[str, dict]:
    """user name -> the import in progress (file and work), so a browser reload does not lose it."""
    return {}


draft = _drafts().setdefault(actor.name, {})
if UPLOAD not in state and draft.get("upload"):
    state[UPLOAD] = draft["upload"]
    state.update(draft.get("choices", {}))  # the mapping chosen for the file
    if draft.get("work"):
        state[WORK] = draft["work"]
        state[SCOPE] = draft["work"]["key"][::2]  # (file hash, CPO) of the work -> its scope

st.title("2 · Import stations")
st.caption(
    "Upload the CPO's station list in any shape (CSV, XLSX or ODS, or OCPI Locations as JSON). Map its columns, "
    "fix what is wrong, check the map, then accept: valid stations are stored for the push; stations with errors "
    "wait."
)

# --- CPO and template ---------------------------------------------------------------------------

with db_session() as session:
    cpos = [c for c in queries.list_cpos(session, actor=actor) if actor.can_edit(c.id)]
if not cpos:
    st.info("There is no CPO you may import stations for. Register one on the CPOs page first.")
    st.stop()


def _file_now_for_chosen_cpo() -> None:
    if upload := state.get(UPLOAD):  # another CPO picked beside the file: the file is now that CPO's
        upload["cpo_id"] = state["import_cpo"]


cpo_id = choose_cpo(cpos, key="import_cpo", on_change=_file_now_for_chosen_cpo)
progress = show_steps(actor, cpo_id, here=("import", "fix"), key="import")

with st.expander("Template: the layout this importer knows best"):
    st.write("One row per connector; the station columns repeat on each row. The XLSX explains every column.")
    left, right = st.columns(2)
    left.download_button("Template (CSV)", template.template_csv(), "stations_template.csv", "text/csv")
    right.download_button(
        "Template (XLSX)", st.cache_data(show_spinner=False)(template.template_xlsx)(), "stations_template.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

# --- upload and read ------------------------------------------------------------------------------

uploaded = st.file_uploader("Station file", type=["csv", "tsv", "txt", "xlsx", "ods", "json", "jsonl"],
                            key="import_file")
if uploaded is not None and state.get("import_file_id") != uploaded.file_id:
    state["import_file_id"] = uploaded.file_id
    state[UPLOAD] = {"name": uploaded.name, "data": uploaded.getvalue(), "cpo_id": cpo_id}
pull_source(actor, cpo_id, UPLOAD)
upload = state.get(UPLOAD)
if not upload:
    st.stop()
if "sha256" not in upload:  # hashed once per file, not on every rerun
    upload["sha256"] = hashlib.sha256(upload["data"]).hexdigest()
# A workbook's other sheet is another table: it keys the caches and the choices as another file would.
file_sha256 = upload["sha256"] + (f":{upload['sheet']}" if upload.get("sheet") else "")
draft["upload"] = upload
upload.setdefault("cpo_id", cpo_id)
if upload["cpo_id"] != cpo_id and upload["cpo_id"] in {c.id for c in cpos}:
    # A CPO chosen on another page, or before a reload: the file stays, but never silently, as accepting it
    # stores its stations for the CPO shown above.
    uploaded_for = next(c.name for c in cpos if c.id == upload["cpo_id"])
    st.warning(plain(f"{upload['name']} was uploaded for {uploaded_for}; it is checked here for the CPO chosen "
                     f"above. Upload another file to replace it, or choose {uploaded_for} again."))
elif uploaded is None and not upload.get("ocpi"):
    st.caption(plain(f"Working on {upload['name']}, uploaded earlier. Upload another file to replace it."))

# Another CPO or another file: its mapping choice, fix form, editor and messages start clean.
if state.get(SCOPE) != (file_sha256, cpo_id):
    for key in [k for k in state if isinstance(k, str) and k.startswith(_SCOPED)]:
        del state[key]
    draft.pop("work", None)
    state[SCOPE] = (file_sha256, cpo_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def _read(sha256: str, _data: bytes, file_name: str, sheet: str | None):
    # Keyed on the hash: Streamlit does not hash parameters starting with "_". A resource, the same object on
    # every rerun: cache_data would unpickle a copy each time (170 ms for 100,000 rows); nothing changes it.
    return imports.read_file(_data, file_name, sheet)


@st.cache_data(show_spinner=False, max_entries=4)
def _suggestion(sha256: str, cpo_id: int, operator_ids: tuple[str, ...], _raw):  # noqa: ANN001, ANN202
    # Profiling the values of every column is done once per file and CPO (its operator ids fill what the file
    # lacks), not on every rerun.
    with db_session() as session:
        return imports.suggest(session, actor=actor, cpo_id=cpo_id, raw=_raw)


@st.cache_data(show_spinner=False, max_entries=4)
def _operator_table(sha256: str, _raw) -> bytes:  # noqa: ANN001
    return bnetza.operator_table_csv(_raw)  # counts every row of the register: once per file, not per rerun


try:
    with st.spinner(f"Reading {upload['name']} ({len(upload['data']) / 1e6:,.1f} MB)…", show_time=True):
        raw = _read(file_sha256, upload["data"], upload["name"], upload.get("sheet"))
except OnboardError as error:
    show_error(error, f"{upload['name']} cannot be read: ")
    if upload.get("sheet"):  # a sheet chosen by hand, empty or not a table: back to the one read first
        st.button("Read the sheet with the widest table", on_click=lambda: upload.pop("sheet", None))
    st.stop()
if isinstance(raw, LocationsFile):
    st.write(f"**{plain(upload['name'])}**: {len(raw.locations):,} OCPI Locations.")
else:
    st.write(f"**{plain(upload['name'])}**: {len(raw.frame):,} rows, header in row {raw.header_row}.")
    if hint := separator_hint(raw):
        st.warning(plain(hint))
for note in raw.notes:
    st.caption(plain(note))
if not isinstance(raw, LocationsFile) and len(raw.sheets) > 1:
    def _choose_sheet() -> None:
        upload["sheet"] = state["import_sheet"]

    state["import_sheet"] = raw.sheet
    st.selectbox("Sheet", raw.sheets, key="import_sheet", on_change=_choose_sheet,
                 help="The sheet holding the widest table is read first; choose another if the stations are there.")

# --- mapping --------------------------------------------------------------------------------------

st.subheader("Columns")
with db_session() as session:
    own_profiles = list(saved_profiles.saved_profiles(session, actor=actor, cpo_id=cpo_id))
    operator_ids = queries.cpo_operator_ids(session, cpo_id=cpo_id)
    cpo_defaults = queries.get_cpo(session, actor=actor, cpo_id=cpo_id).defaults or {}
builtin = [name for name in profiles.builtin_profiles() if name not in own_profiles]
profile = OCPI if isinstance(raw, LocationsFile) else st.selectbox(
    "Mapping", [SUGGESTED, *builtin, *own_profiles], key="import_profile",
    help="template: our own layout · bnetza: Germany's public charging register (needs an operator table) · "
         "or a profile saved for this CPO",
)
map_options: dict = {}
if profile == OCPI:
    mapping_key = ("ocpi",)
elif profile == BNETZA:
    operators_file = st.file_uploader("Operators (CSV or XLSX: operator name, operator id)",
                                      type=["csv", "xlsx"], key="import_operators")
    if operators_file is None:
        st.info("The bnetza profile needs a table that assigns each operator name to an operator id. "
                "Stations of operators missing from it are reported as errors, never dropped.")
        st.caption("For example (CSV; a header line is optional):")
        st.code("operator name;operator id\nMVV Energie AG;DE*MVV\nStadtwerke Heidelberg Energie GmbH;DE*SWH",
                language=None)
        st.download_button("This file's operators, ready to fill in (CSV)", _operator_table(file_sha256, raw),
                           "operators.csv", "text/csv", key="import_operators_template",
                           help="Every operator name of the file, most stations first; "
                                "write the operator ids you know in the second column and upload it here.")
        st.stop()
    operators_data = operators_file.getvalue()
    try:
        map_options = {"profile": BNETZA, "operators": profiles.load_operators_csv(operators_data)}
    except OnboardError as error:
        show_error(error, f"{operators_file.name}: ")
        st.stop()
    mapping_key = ("bnetza", hashlib.sha256(operators_data).hexdigest())
elif profile != SUGGESTED:
    map_options = {"profile": profile}
    mapping_key = ("profile", profile)
else:
    suggestion = _suggestion(file_sha256, cpo_id, tuple(operator_ids), raw)
    if suggestion.layout:  # a layout recognised from the headers, e.g. France's IRVE schema
        st.caption(plain(suggestion.layout))
    chosen = sheet_mapping.Mapping.from_dict(suggestion.mapping.to_dict())
    confidence = dict(suggestion.confidence)
    reasons = dict(suggestion.reasons)
    sources = [NOT_MAPPED, *raw.columns]
    with st.expander("Which column holds which field", expanded=bool(suggestion.unplaced_required)):
        grid = st.columns(3)
        for i, column in enumerate(COLUMNS):
            default = suggestion.mapping.source(column.name)
            sure = suggestion.confidence.get(column.name, 0.0)
            label = f"{column.name}{' *' if column.required else ''}"
            key = f"import_map_{column.name}"
            if state.get(key) not in sources:
                # A new file (its scope starts clean): its suggestion is set, and so sent to the browser, which
                # would otherwise keep showing, and send back, the choices it drew for the file before.
                state[key] = default if default in sources else NOT_MAPPED
            picked = grid[i % 3].selectbox(
                label, sources, key=key,  # a choice made or restored for this file wins
                help=f"{column.description}. Suggested with {sure:.0%} confidence." if default else column.description,
            )
            chosen.columns[column.name] = None if picked == NOT_MAPPED else picked
            if picked != (default or NOT_MAPPED):
                confidence[column.name] = 1.0  # a person chose it
                reasons[column.name] = "chosen by hand"
        if operator_ids:
            chosen.operator_id = st.selectbox(
                "Operator id for ids the file lacks", operator_ids, key="import_operator_id",
                help="Station and EVSE ids missing from the file are generated from it, the same on every import",
            )
        for line in chosen.describe(reasons):
            st.caption(plain(line))
        name = st.text_input("Save this mapping as a profile for this CPO", key="import_profile_name")
        if st.button("Save profile", disabled=not name.strip(), key="import_profile_save"):
            with errors_shown("Not saved: "), db_session() as session:
                saved_profiles.save_profile(session, actor=actor, cpo_id=cpo_id, name=name, mapping=chosen)
                state["import_saved_profile"] = " ".join(name.split())
            if "import_saved_profile" in state:
                st.rerun()  # so the profile list above shows it
        if "import_saved_profile" in state:
            saved_name = state.pop("import_saved_profile")
            st.success(plain(f"Saved profile {saved_name!r}; choose it under Mapping next time."))
    if not chosen.source("station_id") and "station_id" not in chosen.constants | cpo_defaults:
        st.warning("No column of the file holds station ids, so they are generated from the operator id. If the "
                   "file has the CPO's own station codes, choose their column for station_id above.")
    map_options = {"mapping": chosen, "confidence": confidence}
    mapping_key = ("columns", json.dumps([chosen.to_dict(), confidence], sort_keys=True))

# --- validation (reused across reruns until the file, the mapping, the CPO or a fix changes) ------

# The CPO's defaults fill empty cells: a change of them is a change of the mapping.
source_key = (file_sha256, (mapping_key, json.dumps(cpo_defaults, sort_keys=True)), cpo_id)


def _validate(frame: pd.DataFrame, mapping_issues: pd.DataFrame, description: list[str], fixes: list,
              mapped_rows: np.ndarray) -> None:
    """Validate ``frame``; ``fixes`` are the fixes made to it since the mapping gave rows ``mapped_rows``, kept to
    be made again when the same file is mapped anew to the same rows (the CPO's defaults changed, say)."""
    with st.spinner(f"Validating {len(frame):,} rows…", show_time=True), db_session() as session:
        validation = imports.check(session, actor=actor, cpo_id=cpo_id, frame=frame, mapping_issues=mapping_issues)
    state["import_revision"] = state.get("import_revision", 0) + 1
    state[WORK] = draft["work"] = {
        "key": source_key, "validation": validation, "mapping_issues": mapping_issues, "description": description,
        "fixes": fixes, "mapped_rows": mapped_rows,
        "points": (points := station_points(validation)), "revision": state["import_revision"],
        # Stations without coordinates that are numbers: named under the map, worked out once per validation.
        "off_map": [s for s in validation.station_state.index.difference(points["station_id"]) if s],
        # The map cache is shared by every session: its key must name this exact validation.
        "map_key": uuid.uuid4().hex,
    }


def _revalidate(fixed: pd.DataFrame, fix: Fix) -> None:
    """Validate the frame a fix made, and keep the fix to make it again."""
    work = state[WORK]
    _validate(fixed, work["mapping_issues"], work["description"], [*work["fixes"], fix], work["mapped_rows"])


def _undo_fixes() -> None:
    """Drop the work on this file: the run this click starts maps and validates it again, without fixes."""
    state.pop(WORK, None)
    draft.pop("work", None)


def _report(work: dict, kind: str):  # noqa: ANN202
    """The issue report of one validation as a callable Streamlit runs on a click (in its own thread)."""
    def build() -> bytes:
        reports = work.setdefault("reports", {})
        if kind not in reports:
            issues = work["validation"].issues
            reports[kind] = issues_csv(issues) if kind == "csv" else issues_xlsx(issues)
        return reports[kind]

    return build


if state.get(WORK, {}).get("key") != source_key:
    try:
        with db_session() as session:
            mapped = imports.map_sheet(session, actor=actor, cpo_id=cpo_id, raw=raw, **map_options)
    except OnboardError as error:
        show_error(error)
        st.stop()
    # The same file and CPO mapped anew (work of another file or CPO is dropped above): its fixes are made again
    # if the file maps to the same rows; a column choice that splits connectors otherwise would move them.
    earlier, frame = state.get(WORK, {}), mapped.frame
    if fixes := earlier.get("fixes", []):
        replayed = replay(frame, fixes, made_on=earlier["mapped_rows"])
        if replayed is not None:
            frame = replayed
            state["import_fix_done"] = (f"Made your {counted(len(fixes), 'fix', 'fixes')} again on the file as now "
                                        "mapped.")
        else:
            state["import_fix_dropped"] = (f"Your {counted(len(fixes), 'fix', 'fixes')} were made for rows the file "
                                           "no longer maps to with these columns: make them again below.")
            fixes = []
    # With the suggestion, the column choices above say the rest.
    _validate(frame, mapped.issues, mapped.description if profile != SUGGESTED else mapped.from_defaults, fixes,
              mapped.frame[ROW].to_numpy())
work = state[WORK]
validation = work["validation"]
draft["choices"] = {k: state[k] for k in state
                    if isinstance(k, str) and (k in _REMEMBERED or k.startswith("import_map_"))}
for line in work["description"]:
    st.caption(plain(line))

st.subheader("Validation")
cols = st.columns(5)
cols[0].metric("Stations", f"{validation.stations:,}")
cols[1].metric("Connectors", f"{validation.connectors:,}")
cols[2].metric("Errors", f"{validation.errors:,}")
cols[3].metric("Warnings", f"{validation.warnings:,}")
cols[4].metric("Stations blocked", f"{len(validation.blocked_station_ids()):,}")
if fixes := work["fixes"]:
    # The fixes stay with the file (a reload, the same file uploaded again): say so, or a file known to be wrong
    # reads "0 errors" with nothing to show why.
    note, undo = st.columns([4, 1], vertical_alignment="center")
    note.caption(plain(f"Counted with your {counted(len(fixes), 'fix', 'fixes')} made on {upload['name']}: they "
                       "stay with the file, also after a reload or when you upload the same file again."))
    undo.button("Undo my fixes", key="import_fixes_undo", on_click=_undo_fixes,
                help="Validate the file again as uploaded and mapped, without your fixes")
if "import_fix_done" in state:
    st.success(plain(state.pop("import_fix_done")))  # what the last "Replace and revalidate" changed, said once
if "import_fix_dropped" in state:
    st.warning(plain(state.pop("import_fix_dropped")))

issues = validation.issues
unmapped = sorted(issues.loc[issues["rule"] == "field_not_mapped", "column"].unique())
if unmapped:
    st.warning(plain("No column of the file holds: " + ", ".join(unmapped) + ". Choose the column that does under "
                     "Columns, or give the value every station shares as a default of this CPO (CPOs → Edit → "
                     "Defaults). Until then those fields are reported empty."))
if issues.empty:
    st.success("No problems found.")
else:
    st.dataframe(issues, hide_index=True, width="stretch", height=260)
    left, right = st.columns(2)
    # Built when clicked, once per validation: on the register the two reports cost ~0.3 s, on every
    # upload, mapping change and fix, for a download most never make.
    left.download_button("Issue report (CSV)", _report(work, "csv"), "issues.csv", "text/csv")
    right.download_button("Issue report (XLSX)", _report(work, "xlsx"), "issues.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# --- fixing: also without problems found (a value may be valid and still wrong) ------------------
st.subheader("Fix")
if state.pop("import_fix_clear", False):
    state["import_fix_old"] = state["import_fix_new"] = ""  # before the form draws them: a fresh start
with st.form("import_replace"):
    st.write("Replace a value everywhere in one column")
    columns = sorted(c for c in issues["column"].unique() if c in validation.frame.columns)  # with issues first
    columns += [c for c in validation.frame.columns if c != ROW and c not in columns]
    fix_column = st.selectbox("Column", columns, key="import_fix_column")
    fix_old = st.text_input("Value to replace (as shown in the issue table)", key="import_fix_old")
    fix_new = st.text_input("New value", key="import_fix_new")
    if st.form_submit_button("Replace and revalidate"):
        fixed, count = replace_value(validation.frame, fix_column, fix_old, fix_new)
        if count:
            _revalidate(fixed, ReplaceValue(fix_column, fix_old, fix_new))
            state["import_fix_done"] = (f"Replaced {counted(count, 'cell')} of {fix_column}: "
                                        f"{fix_old!r} → {fix_new!r}.")
            state["import_fix_clear"] = True
            st.rerun()
        st.warning(plain(f"No cell of {fix_column} holds {fix_old!r}."))
swapped = sorted(issues.loc[issues["rule"] == "coordinates_swapped", "row"].unique().tolist())
stations = counted(len(swapped), "station")  # the rule names a station's first row
if swapped and st.button(f"Swap latitude and longitude of the {stations} where they look exchanged",
                         key="import_swap_coordinates"):
    fixed, count = swap_coordinates(validation.frame, swapped)
    _revalidate(fixed, SwapCoordinates(tuple(swapped)))
    state["import_fix_done"] = f"Swapped latitude and longitude in {counted(count, 'row')}."
    st.rerun()

frame = validation.frame
if issues.empty:  # every row in the editor only when asked: a national file is 100,000 rows
    shown = frame if st.toggle("Edit cells", value=False, key="import_edit_all") else None
else:
    only_problems = st.toggle("Edit only rows with problems", value=True, key="import_only_problems")
    shown = frame[frame[ROW].isin(issues["row"])] if only_problems else frame
if shown is not None:
    st.caption("Edit cells in place, or select rows that are no stations (a note, a total line) and delete them; "
               "then revalidate. The file itself is not changed.")
    # A new key per validation: edits name rows by position, and the rows shown change after a revalidation.
    edited = st.data_editor(shown, key=f"import_editor_{work['revision']}", disabled=[ROW], hide_index=True,
                            width="stretch", height=320, num_rows="delete")
    if st.button("Revalidate the edited cells", type="primary", key="import_revalidate"):
        fix = EditCells.made(shown, edited)
        fixed = fix(frame)
        if left_out := len(frame) - len(fixed):
            state["import_fix_done"] = f"Left out {counted(left_out, 'row')} of the file."
        _revalidate(fixed, fix)
        st.rerun()

# --- map ---------------------------------------------------------------------------------------

st.subheader("Map preview")
points = work["points"]
every = st.toggle("Every station (slower with many stations)", value=False, key="import_every_station")
render_station_map(points, key=work["map_key"], every_station=every)
if off_map := work.get("off_map"):
    named = ", ".join(off_map[:5]) + (f" and {len(off_map) - 5:,} more" if len(off_map) > 5 else "")
    st.caption(plain(f"Not on the map, without coordinates that are numbers: {counted(len(off_map), 'station')} "
                     f"({named})."))

# --- accept ------------------------------------------------------------------------------------

st.subheader("Accept")
valid = len(validation.valid_station_ids())
blocked_now = len(validation.blocked_station_ids())
st.write(f"{counted(valid, 'station')} can be stored; "
         + (f"{counted(blocked_now, 'station')} {'is' if blocked_now == 1 else 'are'} blocked by errors and "
            f"wait{'s' if blocked_now == 1 else ''} until fixed." if blocked_now else "none is blocked by errors."))
# A file (or a full OCPI pull) is the CPO's whole list: say what accepting it takes off, before the click.
with db_session() as session:
    history = import_history(session, actor=actor, cpo_id=cpo_id)
latest = history[0].id if history else None
# Stored, and the CPO's latest import still (in this session, before a reload, in another tab): a second click
# would store the same stations again. Once another import came, accepting this one is a choice again.
done = work["done"][1] if latest is not None and work.get("done", (None,))[0] == latest else None
if done is None and (upload.get("ocpi") is None or upload["ocpi"].full):
    # Counted again after any import of this CPO (this page's Accept, another person's, the worker's OCPI pull).
    if "drops" not in work or work["drops"][0] != latest:
        with db_session() as session:
            work["drops"] = latest, upload_drops(session, actor=actor, cpo_id=cpo_id,
                                                 station_ids=validation.station_state.index)
    if dropped := work["drops"][1].stations:
        held, cpo_name = work["drops"][1].held_by_endpoint, next(c.name for c in cpos if c.id == cpo_id)
        source = "file" if upload.get("ocpi") is None else "pull"
        first_ids = work["drops"][1].first_ids
        named = ", ".join(first_ids) + (f" and {dropped - len(first_ids):,} more" if dropped > len(first_ids) else "")
        st.warning(plain(
            f"This {source} replaces the station list of {cpo_name}: {counted(dropped, 'station')} stored now "
            f"({named}) {'is' if dropped == 1 else 'are'} not in it and leave{'s' if dropped == 1 else ''} the list"
            + (f"; the next push proposes deleting the {counted(held, 'station')} the platform holds, "
               "which you confirm on the Push page." if held else ".")))
if st.button(f"Accept {counted(valid, 'valid station')}", disabled=valid == 0 or done is not None,
             key="import_accept"):
    stored_now = False
    with (errors_shown("Nothing was stored: "), st.spinner(f"Storing {valid:,} stations…", show_time=True),
          db_session() as session):
        record = store_import(session, actor=actor, cpo_id=cpo_id, upload=upload, raw=raw, validation=validation)
        deletions = work["drops"][1].held_by_endpoint if "drops" in work else 0
        work["done"] = record.id, (record.stations_stored, record.stations - record.stations_stored, deletions)
        stored_now = True
    if stored_now:
        st.rerun()  # drawn again, so the onboarding steps at the top count the stations just stored
if done is not None:
    stored, blocked, deletions = done
    # Shown again in a later session while this file is the latest import: pushed meanwhile, say so.
    if progress is not None and progress.step("push").done:
        st.success(f"Stored {counted(stored, 'station')}; {blocked:,} blocked. The endpoint has acknowledged every "
                   "stored station: nothing is left to push.")
    else:
        st.success(f"Stored {counted(stored, 'station')}; {blocked:,} blocked. Next: push them on the Push page"
                   + (f", and confirm there the {counted(deletions, 'deletion')} this upload makes." if deletions
                      else "."))

if history:
    with st.expander("Earlier imports"):
        st.dataframe(
            pd.DataFrame([{"when": r.at, "who": r.user_name, "file": r.file_name, "sha256": r.file_sha256[:12],
                           "stations": r.stations, "stored": r.stations_stored, "errors": r.errors,
                           "warnings": r.warnings} for r in history]),
            hide_index=True, width="stretch",
        )
