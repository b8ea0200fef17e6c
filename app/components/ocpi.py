"""The CPO's own OCPI back end on the pages: its connection on the CPOs page, and pulling its Locations on
the import page, beside the file upload.

``connection_section(actor, cpo)`` goes in the CPOs page's section for one CPO; ``pull_source(actor,
cpo_id, upload_key)`` under the import page's uploader: a pull becomes the page's "file" (its Locations as
JSON, with the pull in ``"ocpi"``), so the issue table, the map and the accept are the page's own;
``store_import`` is what the accept button calls for either.
"""

from __future__ import annotations

import streamlit as st

from common import db_session, plain, show_field_error
from oioi_onboard.errors import OnboardError
from oioi_onboard.store import ocpi_connection, queries, registry
from oioi_onboard.workflows import imports
from oioi_onboard.workflows import ocpi as ocpi_pull


def connection_section(actor, cpo) -> None:  # noqa: ANN001
    """Where the CPO's back end publishes its Locations (versions URL) and the token to ask with."""
    state = st.session_state
    st.caption("The CPO's own back end (CSMS) publishes its Locations over OCPI 2.2.1 (or 2.1.1). With its "
               "versions URL and a credentials token the dashboard pulls them: on the import page, and in the "
               "background every few minutes (everything once a day).")
    if cpo.ocpi_versions_url:
        encoding = "plain" if cpo.ocpi_token_plain else "Base64-encoded"
        st.markdown(f"**Versions URL:** {plain(registry.endpoint_label(cpo.ocpi_versions_url))}  ·  **Token:** "
                    f"••••{plain(cpo.ocpi_token_last4)} (sent {encoding})  ·  pulled every "
                    f"{cpo.ocpi_pull_minutes} min")
        if cpo.ocpi_last_pull_message:
            failed = cpo.ocpi_last_pull_message.startswith("the pull of")
            (st.error if failed else st.caption)(plain(f"Last pull: {cpo.ocpi_last_pull_message}"))
    else:
        st.caption("No OCPI connection yet.")
    if not actor.can_edit(cpo.id):
        return
    errors = state.get(f"ocpi_errors_{cpo.id}", {})

    def save() -> None:
        try:
            with db_session() as session:
                ocpi_connection.set_ocpi_connection(session, actor=actor, cpo_id=cpo.id,
                                    versions_url=state.get(f"ocpi_url_{cpo.id}", ""),
                                    token=state.get(f"ocpi_token_{cpo.id}") or None,
                                    pull_minutes=state.get(f"ocpi_minutes_{cpo.id}"))
            state[f"ocpi_errors_{cpo.id}"] = {}
            state[f"ocpi_saved_{cpo.id}"] = True
        except registry.RegistrationError as error:
            state[f"ocpi_errors_{cpo.id}"] = error.errors
        except OnboardError as error:
            state[f"ocpi_errors_{cpo.id}"] = {"form": str(error)}
        state[f"ocpi_token_{cpo.id}"] = ""  # never kept in the form

    def remove() -> None:
        with db_session() as session:
            ocpi_connection.clear_ocpi_connection(session, actor=actor, cpo_id=cpo.id)

    show_field_error(errors, "form")
    st.text_input("OCPI versions URL", value=cpo.ocpi_versions_url or "", key=f"ocpi_url_{cpo.id}",
                  placeholder="https://csms.example.com/ocpi/versions")
    show_field_error(errors, "ocpi_versions_url")
    st.text_input("OCPI token" + (" (empty: keep the one stored)" if cpo.ocpi_token_last4 else ""),
                  type="password", key=f"ocpi_token_{cpo.id}",
                  help="The credentials token the CPO's back end issued us. Stored encrypted; afterwards only "
                       "its last four characters are shown.")
    show_field_error(errors, "ocpi_token")
    st.number_input("Pull what changed every (minutes)", min_value=1, max_value=1440, step=1,
                    value=cpo.ocpi_pull_minutes, key=f"ocpi_minutes_{cpo.id}")
    show_field_error(errors, "ocpi_pull_minutes")
    left, right = st.columns(2)
    left.button("Save OCPI connection", key=f"ocpi_save_{cpo.id}", on_click=save)
    if cpo.ocpi_versions_url:
        right.button("Remove OCPI connection", key=f"ocpi_remove_{cpo.id}", on_click=remove)
    if state.pop(f"ocpi_saved_{cpo.id}", False):
        st.success("OCPI connection saved.")


def pull_source(actor, cpo_id: int, upload_key: str) -> None:  # noqa: ANN001
    """"From the CPO's OCPI endpoint": pulls its Locations into ``st.session_state[upload_key]``."""
    state = st.session_state
    with db_session() as session:
        cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    if not cpo.ocpi_versions_url:
        st.caption("Or pull the stations from the CPO's own OCPI back end: set its OCPI connection on the CPOs page.")
        return
    where = registry.endpoint_label(cpo.ocpi_versions_url)
    st.markdown(f"**Or from the CPO's OCPI endpoint** ({plain(where)})")
    first = cpo.ocpi_last_pull_started_at is None
    left, right = st.columns([3, 1])
    full = left.toggle("Everything (a full pull: stations missing from it are proposed for deletion)",
                       value=first, disabled=first, key=f"import_ocpi_full_{cpo_id}",
                       help="Off: only the Locations changed since the last pull started "
                            + ("" if first else f"({cpo.ocpi_last_pull_started_at:%Y-%m-%d %H:%M} UTC)"))
    if right.button("Pull Locations", key="import_ocpi_pull"):
        try:
            with st.spinner(f"Pulling from {where}…", show_time=True), db_session() as session:
                pulled = ocpi_pull.fetch_locations(session, actor=actor, cpo_id=cpo_id, full=full)
        except OnboardError as error:
            st.error(plain(f"Nothing was pulled: {error}"))
            return
        if not pulled.file.locations:
            st.info(plain(f"Nothing changed since the last pull ({pulled.source})."))
            return
        state[upload_key] = {"name": pulled.source, "data": pulled.data, "ocpi": pulled}
        st.rerun()
    pulled = (state.get(upload_key) or {}).get("ocpi")
    if pulled is not None and pulled.cpo_id == cpo_id:
        st.caption(plain(f"Working on the {'full' if pulled.full else 'incremental'} pull of "
                         f"{pulled.started_at:%Y-%m-%d %H:%M:%S} UTC; accept it below to store it. "
                         f"{pulled.file.notes[0]}."))
        for warning in pulled.warnings:  # the list moved while it was read, ...
            st.warning(plain(warning))


def store_import(session, *, actor, cpo_id: int, upload: dict, raw, validation):  # noqa: ANN001, ANN201
    """The accept: a pull is stored as a pull (full or not, its statuses, the pull remembered), a file as a file."""
    if upload.get("ocpi") is not None:
        record, _ = ocpi_pull.store_pulled(session, actor=actor, cpo_id=cpo_id, pulled=upload["ocpi"],
                                           validation=validation)
        return record
    return imports.store(session, actor=actor, cpo_id=cpo_id, raw=raw, validation=validation)
