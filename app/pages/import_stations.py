"""Step 2: import a station spreadsheet — read, map columns, validate, fix, preview on a map, accept.

A thin view: reading, mapping, validation, fixing and storing live in
``oioi_onboard.sheets`` and ``oioi_onboard.store.stations``. The uploaded file
sits in ``st.session_state[UPLOAD]`` as ``{"name", "data"}``; everything after
that (parsing, mapping, validation, the map) is keyed on the file's hash and
the mapping, so reruns reuse it.
"""

import hashlib
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
from common import db_session, plain, require_role  # noqa: E402
from components.station_map import render_station_map  # noqa: E402

from oioi_onboard.sheets import mapping as sheet_mapping  # noqa: E402
from oioi_onboard.sheets import profiles, reader, template  # noqa: E402
from oioi_onboard.sheets.canonical import COLUMNS, ROW  # noqa: E402
from oioi_onboard.sheets.report import issues_csv, issues_xlsx  # noqa: E402
from oioi_onboard.sheets.stations import StationBuildError, station_points  # noqa: E402
from oioi_onboard.sheets.validate import apply_edits, replace_value, validate  # noqa: E402
from oioi_onboard.store import queries  # noqa: E402
from oioi_onboard.store.models import Role  # noqa: E402
from oioi_onboard.store.stations import import_history, registry_context, store_import  # noqa: E402

UPLOAD = "import_upload"  # {"name": file name, "data": bytes}: set by the uploader, or by a test
WORK = "import_work"  # the working state of the current file: canonical frame, validation, map points
SUGGESTED, BNETZA = "Suggested from the headers", "bnetza"
NOT_MAPPED = "— not in the file —"
EXPECTED = (queries.PermissionDenied, LookupError, ValueError, StationBuildError)

actor = require_role(Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF)
state = st.session_state

st.title("2 · Import stations")
st.caption(
    "Upload the CPO's station list in any shape (CSV, XLSX or ODS). Map its columns, fix what is wrong, "
    "check the map, then accept: valid stations are stored for the push; stations with errors wait."
)

# --- CPO and template ---------------------------------------------------------------------------

with db_session() as session:
    cpos = [c for c in queries.list_cpos(session, actor=actor) if actor.can_edit(c.id)]
if not cpos:
    st.info("There is no CPO you may import stations for. Register one on the CPOs page first.")
    st.stop()
names = {c.id: c.name for c in cpos}
cpo_id = st.selectbox("CPO", list(names), format_func=names.get, key="import_cpo")

with st.expander("Template: the layout this importer knows best"):
    st.write("One row per connector; the station columns repeat on each row. The XLSX explains every column.")
    left, right = st.columns(2)
    left.download_button("Template (CSV)", template.template_csv(), "stations_template.csv", "text/csv")
    right.download_button(
        "Template (XLSX)", st.cache_data(show_spinner=False)(template.template_xlsx)(), "stations_template.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

# --- upload and read ------------------------------------------------------------------------------

uploaded = st.file_uploader("Station file", type=["csv", "txt", "xlsx", "ods"], key="import_file")
if uploaded is not None and state.get("import_file_id") != uploaded.file_id:
    state["import_file_id"] = uploaded.file_id
    state[UPLOAD] = {"name": uploaded.name, "data": uploaded.getvalue()}
upload = state.get(UPLOAD)
if not upload:
    st.stop()
if "sha256" not in upload:  # hashed once per file, not on every rerun
    upload["sha256"] = hashlib.sha256(upload["data"]).hexdigest()
file_sha256 = upload["sha256"]


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def _read(sha256: str, _data: bytes, file_name: str):
    # Keyed on the hash: Streamlit does not hash parameters starting with "_".
    return reader.read_sheet(_data, file_name)


try:
    raw = _read(file_sha256, upload["data"], upload["name"])
except reader.SheetError as error:
    st.error(plain(f"{upload['name']} cannot be read: {error}"))
    st.stop()
st.write(f"**{plain(upload['name'])}**: {len(raw.frame):,} rows, header in row {raw.header_row}.")
for note in raw.notes:
    st.caption(plain(note))

# --- mapping --------------------------------------------------------------------------------------

st.subheader("Columns")
with db_session() as session:
    saved_profiles = profiles.list_profiles(session, cpo_id=cpo_id)
    operator_ids = queries.cpo_operator_ids(session, cpo_id=cpo_id)
builtin = [name for name in profiles.builtin_profiles() if name not in saved_profiles]
profile = st.selectbox(
    "Mapping", [SUGGESTED, *builtin, *saved_profiles], key="import_profile",
    help="template: our own layout · bnetza: Germany's public charging register (needs an operator table) · "
         "or a profile saved for this CPO",
)

if profile == BNETZA:
    operators_file = st.file_uploader("Operators (CSV or XLSX: operator name, operator id)",
                                      type=["csv", "xlsx"], key="import_operators")
    if operators_file is None:
        st.info("The bnetza profile needs a table that assigns each operator name to an operator id. "
                "Stations of operators missing from it are reported as errors, never dropped.")
        st.stop()
    operators_data = operators_file.getvalue()
    mapping_key = ("bnetza", hashlib.sha256(operators_data).hexdigest())

    def _map():
        return profiles.apply_profile(raw, BNETZA, operators=profiles.load_operators_csv(operators_data))
elif profile != SUGGESTED:
    mapping_key = ("profile", profile)

    def _map():
        with db_session() as session:
            return profiles.apply_profile(raw, profile, session=session, cpo_id=cpo_id)
else:
    suggestion = sheet_mapping.suggest_mapping(raw)
    chosen = sheet_mapping.Mapping.from_dict(suggestion.mapping.to_dict())
    sources = [NOT_MAPPED, *raw.columns]
    with st.expander("Which column holds which field", expanded=bool(suggestion.unplaced_required)):
        grid = st.columns(3)
        for i, column in enumerate(COLUMNS):
            default = suggestion.mapping.source(column.name)
            index = sources.index(default) if default in sources else 0
            sure = suggestion.confidence.get(column.name, 0.0)
            label = f"{column.name}{' *' if column.required else ''}"
            picked = grid[i % 3].selectbox(
                label, sources, index=index, key=f"import_map_{column.name}",
                help=f"{column.description}. Suggested with {sure:.0%} confidence." if default else column.description,
            )
            chosen.columns[column.name] = None if picked == NOT_MAPPED else picked
        if operator_ids:
            chosen.operator_id = st.selectbox(
                "Operator id for ids the file lacks", operator_ids, key="import_operator_id",
                help="Station and EVSE ids missing from the file are generated from it, the same on every import",
            )
        for line in chosen.describe():
            st.caption(plain(line))
        name = st.text_input("Save this mapping as a profile for this CPO", key="import_profile_name")
        if st.button("Save profile", disabled=not name.strip(), key="import_profile_save"):
            try:
                with db_session() as session:
                    profiles.save_profile(session, cpo_id=cpo_id, name=name.strip(), mapping=chosen)
                state["import_saved_profile"] = name.strip()
                st.rerun()  # so the profile list above shows it
            except profiles.ProfileError as error:
                st.error(plain(error))
        if "import_saved_profile" in state:
            st.success(plain(f"Saved profile {state.pop('import_saved_profile')!r}; choose it under Mapping next time."))
    unplaced = sheet_mapping.unplaced_required(chosen)
    if unplaced:
        st.warning(plain("Choose a column for: " + ", ".join(unplaced) + ". Until then those fields are reported empty."))
    mapping_key = ("columns", json.dumps(chosen.to_dict(), sort_keys=True))

    def _map():
        return sheet_mapping.apply_mapping(raw, chosen)

# --- validation (reused across reruns until the file, the mapping, the CPO or a fix changes) ------

source_key = (file_sha256, mapping_key, cpo_id)


def _validate(frame: pd.DataFrame, extra: pd.DataFrame | None) -> None:
    with db_session() as session:
        context = registry_context(session, cpo_id=cpo_id)
    validation = validate(frame, context=context, extra_issues=extra)
    state.pop("import_done", None)
    state["import_revision"] = state.get("import_revision", 0) + 1
    state[WORK] = {"key": source_key, "validation": validation, "extra": extra,
                   "points": station_points(validation), "revision": state["import_revision"],
                   # The map cache is shared by every session: its key must name this exact validation.
                   "map_key": uuid.uuid4().hex}


if state.get(WORK, {}).get("key") != source_key:
    try:
        canonical, mapping_issues = _map()
    except profiles.ProfileError as error:
        st.error(plain(error))
        st.stop()
    _validate(canonical, mapping_issues)
work = state[WORK]
validation = work["validation"]

st.subheader("Validation")
cols = st.columns(5)
cols[0].metric("Stations", f"{validation.stations:,}")
cols[1].metric("Connectors", f"{validation.connectors:,}")
cols[2].metric("Errors", f"{validation.errors:,}")
cols[3].metric("Warnings", f"{validation.warnings:,}")
cols[4].metric("Stations blocked", f"{len(validation.blocked_station_ids()):,}")

issues = validation.issues
if issues.empty:
    st.success("No problems found.")
else:
    st.dataframe(issues, hide_index=True, width="stretch", height=260)
    if "reports" not in work:  # built once per validation, not on every rerun
        work["reports"] = (issues_csv(issues), issues_xlsx(issues))
    left, right = st.columns(2)
    left.download_button("Issue report (CSV)", work["reports"][0], "issues.csv", "text/csv")
    right.download_button("Issue report (XLSX)", work["reports"][1], "issues.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    # --- fixing ------------------------------------------------------------------------------------
    st.subheader("Fix")
    with st.form("import_replace"):
        st.write("Replace a value everywhere in one column")
        columns_with_issues = sorted(c for c in issues["column"].unique() if c in validation.frame.columns)
        fix_column = st.selectbox("Column", columns_with_issues, key="import_fix_column")
        fix_old = st.text_input("Value to replace (as shown in the issue table)", key="import_fix_old")
        fix_new = st.text_input("New value", key="import_fix_new")
        if st.form_submit_button("Replace and revalidate"):
            fixed, count = replace_value(validation.frame, fix_column, fix_old, fix_new)
            if count:
                _validate(fixed, work["extra"])
                st.rerun()
            st.warning(plain(f"No cell of {fix_column} holds {fix_old!r}."))

    only_problems = st.toggle("Edit only rows with problems", value=True, key="import_only_problems")
    frame = validation.frame
    shown = frame[frame[ROW].isin(issues["row"])] if only_problems else frame
    # A new key per validation: edits name rows by position, and the rows shown change after a revalidation.
    edited = st.data_editor(shown, key=f"import_editor_{work['revision']}", disabled=[ROW], hide_index=True,
                            width="stretch", height=320)
    if st.button("Revalidate", type="primary", key="import_revalidate"):
        _validate(apply_edits(frame, edited), work["extra"])
        st.rerun()

# --- map ---------------------------------------------------------------------------------------

st.subheader("Map preview")
points = work["points"]
every = st.toggle("Every station (slower with many stations)", value=False, key="import_every_station")
render_station_map(points, key=work["map_key"], every_station=every)
missing = validation.stations - len(points)
if missing:
    st.caption(f"{missing:,} stations have no usable coordinates and are not on the map.")

# --- accept ------------------------------------------------------------------------------------

st.subheader("Accept")
valid = len(validation.valid_station_ids())
st.write(f"{valid:,} stations are valid and can be stored; {len(validation.blocked_station_ids()):,} "
         "are blocked by errors and wait until they are fixed.")
if st.button(f"Accept {valid:,} valid stations", disabled=valid == 0, key="import_accept"):
    try:
        with st.spinner("Storing stations…"), db_session() as session:
            record = store_import(session, actor=actor, cpo_id=cpo_id, file_name=upload["name"],
                                  file_sha256=file_sha256, validation=validation)
            state["import_done"] = (record.stations_stored, record.stations - record.stations_stored)
    except EXPECTED as error:
        st.error(plain(f"Nothing was stored: {error}"))
if "import_done" in state:
    stored, blocked = state["import_done"]
    st.success(f"Stored {stored:,} stations; {blocked:,} blocked. Next: push them on the Push page.")

with db_session() as session:
    history = import_history(session, actor=actor, cpo_id=cpo_id)
if history:
    with st.expander("Earlier imports"):
        st.dataframe(
            pd.DataFrame([{"when": r.at, "who": r.user_name, "file": r.file_name, "sha256": r.file_sha256[:12],
                           "stations": r.stations, "stored": r.stations_stored, "errors": r.errors,
                           "warnings": r.warnings} for r in history]),
            hide_index=True, width="stretch",
        )
