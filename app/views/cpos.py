"""Step 1: register CPOs, their operator ids, partner identifiers, endpoint and API key."""

import pandas as pd
import streamlit as st

from common import ROLE_LABELS, db_session, plain, require_role, show_field_error
from components.ingest_tokens import token_section
from components.ocpi import connection_section
from components.steps import show_steps
from oioi_onboard.errors import OnboardError
from oioi_onboard.store import Role, connection, create_user, grantable_roles, list_users, queries, registry
from oioi_onboard.sync import progress

actor = require_role(Role.ADMIN, Role.PARTNER_MANAGER, Role.CPO_STAFF)
state = st.session_state

ENDPOINTS = ["sandbox", "staging", "production", "custom URL"]
ENDPOINT_HELP = (
    "sandbox: the local test receiver started with the dashboard · staging: PlugSurfing's test system · "
    "production: the live platform · custom URL: any other OIOI endpoint"
)
SANDBOX_NOTE = (
    "The **sandbox** is a local OIOI receiver started with the dashboard: it checks every push the way the "
    "platform does. A CPO registered on it gets its API key and partner identifier there automatically "
    "(leave the API key empty and one is generated, good for the sandbox only)."
)

# The defaults a CPO most often needs (the library takes more: store.registry.DEFAULT_FIELDS).
DEFAULT_LABELS = {"phone": "Hotline phone (default)", "country": "Country, e.g. DE (default)",
                  "is_open_24": "Open 24 hours, yes/no (default)", "web": "Website (default)",
                  "email": "E-mail (default)"}

st.title("1 · CPOs")
st.caption(
    "Step 1 of onboarding: the platform must know the CPO's operator ids (such as DE*8PS) and the partner "
    "identifiers it will push with before the first station arrives."
)


def _endpoint_from(choice: str, custom: str | None) -> str:
    return (custom or "").strip() if choice == "custom URL" else choice


def _endpoint_choice(endpoint: str) -> tuple[str, str]:
    return (endpoint, "") if endpoint in queries.NAMED_ENDPOINTS else ("custom URL", endpoint)


# --- register ---------------------------------------------------------------------------------


def _register() -> None:
    endpoint = _endpoint_from(state.get("reg_endpoint", "sandbox"), state.get("reg_custom_url"))
    try:
        with db_session() as session:
            cpo, partner_ids = registry.register_cpo(
                session, actor=actor, name=state.get("reg_name", ""), operator_ids=state.get("reg_operator_ids", ""),
                endpoint=endpoint, api_key=state.get("reg_api_key") or None,
                partner_identifiers=state.get("reg_partner_ids") or None,
            )
            registered = {"name": cpo.name, "id": cpo.id, "partner_ids": partner_ids,
                          "on_sandbox": cpo.endpoint == connection.SANDBOX, "sandbox_pending": cpo.sandbox_pending}
    except OnboardError as error:  # a problem the user can fix (per field, or for the form); else a bug
        state.reg_errors = error.errors if isinstance(error, registry.RegistrationError) else {"form": str(error)}
        state.pop("reg_done", None)
        # The form clears on submit: what was typed comes back for the fix, except the API key.
        state.reg_kept = {key: state.get(key, "") for key in _KEPT}
        return
    state.reg_errors, state.reg_kept = {}, {}
    state.reg_done = registered
    state.selected_cpo = registered["id"]
    state.reg_custom_url = ""


_KEPT = ("reg_name", "reg_operator_ids", "reg_partner_ids")


if actor.can_manage:
    with st.expander("Register a CPO", expanded=not state.get("reg_done")):
        errors = state.get("reg_errors", {})
        show_field_error(errors, "form")
        # The endpoint outside the form: choosing "custom URL" shows its field at once.
        st.radio("Endpoint", ENDPOINTS, key="reg_endpoint", horizontal=True, help=ENDPOINT_HELP)
        if state.get("reg_endpoint", "sandbox") == "sandbox":
            st.caption(SANDBOX_NOTE)
        if state.get("reg_endpoint") == "custom URL":
            st.text_input("Endpoint URL", key="reg_custom_url", placeholder="https://example.com/api/v4/request")
        show_field_error(errors, "endpoint")
        # A form sends every field with the button: a password field left with Tab (onto its show/hide toggle)
        # did not send its value, and the CPO was registered without the API key typed (walkthrough). It clears
        # on submit, the API key with it; after a refusal the rest comes back (``reg_kept``).
        kept = state.get("reg_kept", {})
        with st.form("register_cpo", border=False, enter_to_submit=False, clear_on_submit=True):
            st.text_input("CPO name", key="reg_name", value=kept.get("reg_name", ""),
                          placeholder="Stadtwerke Beispielstadt")
            show_field_error(errors, "name")
            st.text_input("Operator ids", key="reg_operator_ids", value=kept.get("reg_operator_ids", ""),
                          placeholder="DE*8PS, AT*ABC",
                          help="EVSE operator ids of the form CC*XXX: an ISO country code and three letters or "
                               "digits. Separate several with commas.")
            show_field_error(errors, "operator_ids")
            st.text_input("API key", key="reg_api_key", type="password",
                          help="Stored encrypted; afterwards only its last four characters are shown.")
            show_field_error(errors, "api_key")
            st.text_input("Partner identifier (optional)", key="reg_partner_ids",
                          value=kept.get("reg_partner_ids", ""),
                          help="Leave empty to generate a random one; fill in only if the platform issued one.")
            show_field_error(errors, "partner_identifiers")
            st.form_submit_button("Register CPO", type="primary", on_click=_register, key="reg_submit")

    done = state.get("reg_done")
    if done:
        # The sandbox is given the partner identifier at registration: nothing for the user to pass on there.
        st.success(f"Registered {plain(done['name'])}. Its partner identifier:" if done.get("on_sandbox") else
                   f"Registered {plain(done['name'])}: give the platform this partner identifier (its copy button "
                   "shows at the right when you point at it).")
        for partner_id in done["partner_ids"]:
            st.code(partner_id, language=None)
        if done.get("on_sandbox") and done.get("sandbox_pending"):
            st.warning(plain(f"The sandbox does not know this CPO yet: {done['sandbox_pending']}. "
                             "Start it, then press \"Test connection\" below: that provisions it again."))
        elif done.get("on_sandbox"):
            st.info("The sandbox knows this CPO's API key and partner identifier: test the connection, then push.")


# --- the list ---------------------------------------------------------------------------------

include_inactive = actor.can_manage and st.toggle("Show deactivated CPOs", key="show_inactive")
with db_session() as session:
    rows = registry.cpo_rows(session, actor=actor, include_inactive=include_inactive)

st.subheader("Registered CPOs")
if not rows:
    st.info("No CPOs yet." + (" Register the first one above." if actor.can_manage else
                              " Ask a partner manager to assign you to your CPO."))
    st.stop()
st.dataframe(pd.DataFrame(rows).drop(columns=["id"]), hide_index=True, width="stretch")


# --- export -----------------------------------------------------------------------------------

with db_session() as session:
    sheet = registry.registration_sheet(session, actor=actor)
left, right, _ = st.columns([1, 1, 3])
left.download_button("Registration sheet (CSV)", registry.registration_sheet_csv(sheet),
                     file_name="oioi-registration-sheet.csv", mime="text/csv", key="sheet_csv")
right.download_button("Registration sheet (JSON)", registry.registration_sheet_json(sheet),
                      file_name="oioi-registration-sheet.json", mime="application/json", key="sheet_json")


# --- one CPO ----------------------------------------------------------------------------------

st.subheader("Manage a CPO")
names = {row["id"]: row["CPO"] + ("" if row["active"] else " (deactivated)") for row in rows}
if state.get("selected_cpo") not in names:
    state.selected_cpo = next(iter(names))
cpo_id = st.selectbox("CPO", list(names), format_func=names.get, key="selected_cpo")
show_steps(actor, cpo_id, here=("register", "connection"), key="cpos")

with db_session() as session:
    cpo = queries.get_cpo(session, actor=actor, cpo_id=cpo_id)
    operator_ids = queries.cpo_operator_ids(session, cpo_id=cpo_id)
    partner_ids = queries.cpo_partner_identifiers(session, cpo_id=cpo_id)
    log = queries.audit_log(session, actor=actor, cpo_id=cpo_id, limit=50)

details, actions = st.columns([3, 2])
with details:
    st.markdown(f"**Operator ids:** {plain(', '.join(operator_ids))}")
    # No stage here: the onboarding steps above say where the CPO stands (errors and failed tests included).
    st.markdown(f"**Endpoint:** {plain(registry.endpoint_label(cpo.endpoint))}")
    st.markdown(f"**API key:** {'••••' + plain(cpo.api_key_last4) if cpo.api_key_last4 else 'not set'}")
    if cpo.endpoint == connection.SANDBOX and cpo.sandbox_pending:
        st.warning(plain(f"The sandbox does not know this CPO's key and partner identifiers yet: "
                         f"{cpo.sandbox_pending}. \"Test connection\" provisions them again."))
    if (queue_problem := progress.queue_problem(cpo)) is not None:  # paused, or its endpoint unreachable
        st.warning(plain(queue_problem.message))
    st.markdown("**Partner identifiers:**")
    for partner_id in partner_ids:
        st.code(partner_id, language=None)


def _test_connection() -> None:
    # The outcome is stored on the CPO (and shown from there); only a refusal before testing lands here.
    state.pop(f"check_error_{cpo_id}", None)
    try:
        with db_session() as session:
            connection.check_cpo_connection(session, actor=actor, cpo_id=cpo_id)
    except OnboardError as error:  # a problem the user can fix; anything else is a bug
        state[f"check_error_{cpo_id}"] = str(error)


def _set_key() -> None:
    key_field = f"new_key_{cpo_id}"
    try:
        with db_session() as session:
            shown = registry.set_api_key(session, actor=actor, cpo_id=cpo_id, api_key=state.get(key_field, ""))
        state[f"key_message_{cpo_id}"] = ("ok", f"API key replaced (••••{shown}).")
    except registry.RegistrationError as error:
        state[f"key_message_{cpo_id}"] = ("error", error.errors.get("api_key", str(error)))
    except OnboardError as error:  # a problem the user can fix; anything else is a bug
        state[f"key_message_{cpo_id}"] = ("error", str(error))
    state[key_field] = ""


def _toggle_active(active: bool) -> None:
    try:
        with db_session() as session:
            if active:
                registry.reactivate_cpo(session, actor=actor, cpo_id=cpo_id)
            else:
                registry.deactivate_cpo(session, actor=actor, cpo_id=cpo_id)
    except OnboardError as error:  # a problem the user can fix; anything else is a bug
        state[f"edit_errors_{cpo_id}"] = {"form": str(error)}


with actions:
    st.button("Test connection", key=f"test_{cpo_id}", on_click=_test_connection,
              help="Sends a harmless status request for an EVSE id nobody owns; nothing changes at the endpoint. "
                   "On the sandbox it first provisions the CPO's API key and partner identifiers there.")
    if state.get(f"check_error_{cpo_id}"):
        st.error(plain(state[f"check_error_{cpo_id}"]))
    last = connection.last_connection_test(cpo)
    if last is None:
        st.caption("Connection not tested since the API key, partner identifiers or endpoint were last set.")
    else:
        (st.success if last.ok else st.error)(plain(last.message))
        st.caption(f"Last connection test: {last.checked_at:%Y-%m-%d %H:%M:%S} UTC")
    if actor.can_edit(cpo_id):
        with st.form(f"replace_key_{cpo_id}", border=False):  # a form: see "Register a CPO"
            st.text_input("New API key", type="password", key=f"new_key_{cpo_id}")
            st.form_submit_button("Replace API key", key=f"set_key_{cpo_id}", on_click=_set_key)
        message = state.get(f"key_message_{cpo_id}")
        if message:
            (st.success if message[0] == "ok" else st.error)(plain(message[1]))
    if actor.can_manage:
        if cpo.active:
            st.button("Deactivate CPO", key=f"deactivate_{cpo_id}", on_click=_toggle_active, args=(False,),
                      help="Hidden from lists and not pushed any more; nothing is deleted.")
        else:
            st.button("Reactivate CPO", key=f"reactivate_{cpo_id}", on_click=_toggle_active, args=(True,))


def _save_edit() -> None:
    try:
        with db_session() as session:
            registry.update_cpo(
                session, actor=actor, cpo_id=cpo_id,
                name=state.get(f"edit_name_{cpo_id}"),
                operator_ids=state.get(f"edit_operator_ids_{cpo_id}"),
                endpoint=_endpoint_from(state.get(f"edit_endpoint_{cpo_id}"), state.get(f"edit_custom_{cpo_id}")),
                partner_identifiers=state.get(f"edit_partner_ids_{cpo_id}"),
                defaults={**(cpo.defaults or {}),
                          **{field: state.get(f"edit_default_{field}_{cpo_id}", "") for field in DEFAULT_LABELS}},
            )
        state[f"edit_errors_{cpo_id}"] = {}
        state[f"edit_saved_{cpo_id}"] = True
    except registry.RegistrationError as error:
        state[f"edit_errors_{cpo_id}"] = error.errors
    except OnboardError as error:  # a problem the user can fix; anything else is a bug
        state[f"edit_errors_{cpo_id}"] = {"form": str(error)}


if actor.can_edit(cpo_id):
    errors = state.get(f"edit_errors_{cpo_id}", {})
    with st.expander("Edit", expanded=bool(errors)):
        show_field_error(errors, "form")
        choice, custom = _endpoint_choice(cpo.endpoint)
        st.text_input("Name of this CPO", value=cpo.name, key=f"edit_name_{cpo_id}")
        show_field_error(errors, "name")
        st.text_input("Operator ids of this CPO", value=", ".join(operator_ids), key=f"edit_operator_ids_{cpo_id}")
        show_field_error(errors, "operator_ids")
        st.radio("Endpoint of this CPO", ENDPOINTS, index=ENDPOINTS.index(choice), key=f"edit_endpoint_{cpo_id}",
                 horizontal=True, help=ENDPOINT_HELP)
        if state.get(f"edit_endpoint_{cpo_id}") == "sandbox":
            st.caption(SANDBOX_NOTE)
        if state.get(f"edit_endpoint_{cpo_id}") == "custom URL":
            st.text_input("Endpoint URL of this CPO", value=custom, key=f"edit_custom_{cpo_id}")
        show_field_error(errors, "endpoint")
        st.text_area("Partner identifiers", value="\n".join(partner_ids), key=f"edit_partner_ids_{cpo_id}",
                     help="One per line. Change them only together with the platform.")
        show_field_error(errors, "partner_identifiers")
        st.markdown("**Defaults** for fields this CPO's files lack: they fill empty cells on every import.")
        left, right = st.columns(2)
        for i, (field, label) in enumerate(DEFAULT_LABELS.items()):
            (left if i % 2 == 0 else right).text_input(
                label, value=(cpo.defaults or {}).get(field, ""), key=f"edit_default_{field}_{cpo_id}")
        show_field_error(errors, "defaults")
        st.button("Save changes", key=f"save_{cpo_id}", on_click=_save_edit, type="primary")
        if state.pop(f"edit_saved_{cpo_id}", False):
            st.success("Saved.")

if actor.can_edit(cpo_id):
    with st.expander("Status ingest tokens"):
        token_section(actor, cpo)

with st.expander("OCPI back end (pull its Locations)", expanded=bool(state.get(f"ocpi_errors_{cpo_id}"))):
    connection_section(actor, cpo)

with st.expander("Audit log"):
    if log:
        st.dataframe(pd.DataFrame([{"when (UTC)": e.at, "who": e.user_name, "what": e.action, "detail": e.detail}
                                   for e in log]), hide_index=True, width="stretch")
    else:
        st.caption("Nothing recorded yet.")


# --- accounts (whoever may manage users) ------------------------------------------------------


def _add_user() -> None:
    try:
        with db_session() as session:
            _, password = create_user(
                session, actor=actor, name=state.get("user_name", ""), role=state.get("user_role", Role.VIEWER),
                cpo_names=tuple(state.get("user_cpos", [])), email=(state.get("user_email") or None),
            )
        state.user_created = (state.get("user_name"), password)
        state.user_error = ""
        state.user_name = ""
        state.user_email = ""
    except OnboardError as error:  # a problem the user can fix; anything else is a bug
        state.user_error = str(error)
        state.pop("user_created", None)


if actor.can_manage:
    with st.expander("Accounts"):
        with db_session() as session:
            users = list_users(session, actor=actor)
            all_cpos = [c.name for c in queries.list_cpos(session, actor=actor)]
        st.dataframe(pd.DataFrame([{"user": u.name, "role": ROLE_LABELS[Role(u.role)], "CPOs": ", ".join(cpo_names),
                                    "e-mail": u.email or "", "active": u.active} for u, cpo_names in users]),
                     hide_index=True)
        st.text_input("New user name", key="user_name")
        roles = grantable_roles(actor)
        st.selectbox("Role", roles, format_func=lambda role: ROLE_LABELS[role], key="user_role",
                     index=roles.index(Role.VIEWER))  # the least a new account may do, until someone gives more
        st.multiselect("CPOs (for CPO staff)", all_cpos, key="user_cpos")
        st.text_input("E-mail (to match a single sign-on login)", key="user_email")
        st.button("Create user", on_click=_add_user, key="user_submit")
        if state.get("user_error"):
            st.error(plain(state.user_error))
        if state.get("user_created"):
            name, password = state.pop("user_created")  # shown once; gone on the next rerun
            st.success(f"User {plain(name)} created. Their password, shown only now:")
            st.code(password, language=None)
