"""Ingest tokens on the CPO page: create (shown once) and revoke the bearer tokens of the status relay.

Call ``token_section(actor, cpo)`` inside the page's section for one CPO.
"""

from __future__ import annotations

import streamlit as st

from common import db_session, plain
from oioi_onboard.errors import OnboardError
from oioi_onboard.settings import get_settings
from oioi_onboard.sync import relay, tokens


def token_section(actor, cpo) -> None:  # noqa: ANN001
    """Tokens with which this CPO's back end posts statuses to ``POST /v1/statuses``."""
    st.markdown("**Status ingest tokens**")
    st.caption(
        f"The CPO's back end posts connector statuses to `{get_settings().relay_url}{relay.STATUSES_PATH}` "
        "with `Authorization: Bearer <token>`. A token is shown once, when it is created."
    )
    shown_key = f"new_ingest_token_{cpo.id}"
    if st.session_state.get(shown_key):
        st.success("New token: copy it now, it will not be shown again.")
        st.code(st.session_state[shown_key], language=None)
        if st.button("I have copied it", key=f"hide_token_{cpo.id}"):
            st.session_state.pop(shown_key, None)
            st.rerun()

    with db_session() as session:
        existing = tokens.list_tokens(session, actor=actor, cpo_id=cpo.id)
    may_edit = actor.can_edit(cpo.id)
    if existing:
        for info in existing:
            label = plain(info.label) if info.label else "no label"
            since = f"{info.created_at:%Y-%m-%d %H:%M} UTC"
            left, right = st.columns([4, 1])
            if info.active:
                left.write(f"🔑 {label} · created {since}")
                if may_edit and right.button("Revoke", key=f"revoke_token_{info.id}"):
                    try:
                        with db_session() as session:
                            tokens.revoke_token(session, actor=actor, token_id=info.id)
                    except OnboardError as error:
                        st.error(plain(error))
                    else:
                        st.rerun()
            else:
                left.write(f"~~{label}~~ · created {since} · revoked {info.revoked_at:%Y-%m-%d %H:%M} UTC")
    else:
        st.caption("No token yet.")

    if may_edit:
        with st.form(f"new_token_{cpo.id}", clear_on_submit=True):
            label = st.text_input("Label", placeholder="e.g. back end in Frankfurt", key=f"token_label_{cpo.id}")
            if st.form_submit_button("Create token"):
                try:
                    with db_session() as session:
                        st.session_state[shown_key] = tokens.create_token(session, actor=actor, cpo_id=cpo.id,
                                                                          label=label)
                except OnboardError as error:
                    st.error(plain(error))
                else:
                    st.rerun()
