"""``oioi-onboard cpo ...``: register, list and change CPOs; tokens for their back ends (ingest, OCPI).

The CLI acts as the system (every CPO): it is for whoever runs the server.
"""

import json
import shlex
from typing import Annotated

import typer

from ._common import from_env, parse_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Register and list CPOs.")


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="The CPO's display name.")],
    operator_id: Annotated[
        list[str], typer.Option("--operator-id", help="An EVSE operator id such as DE*8PS (repeatable).")
    ],
    endpoint: Annotated[
        str, typer.Option(help="sandbox (the local test receiver at OIOI_SANDBOX_HOST:OIOI_SANDBOX_PORT), "
                               "staging, production or the URL of an OIOI endpoint.")
    ] = "sandbox",
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Name of the environment variable holding the API key "
                                                       "(on the sandbox, one is generated if left out).")
    ] = None,
    partner_id: Annotated[
        list[str] | None,
        typer.Option("--partner-id",
                     help="A partner identifier the platform issued (repeatable); else one is generated."),
    ] = None,
    default: Annotated[
        list[str] | None,
        typer.Option("--default", help="FIELD=VALUE for a field the CPO's files lack, e.g. phone=+49 30 1234567 "
                                       "(repeatable)."),
    ] = None,
) -> None:
    """Register a CPO and print its partner identifier(s).

    On the sandbox, its API key (generated if none is given) and partner identifiers are
    provisioned there; if the sandbox is not running, `cpo test NAME` does it later.
    """
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.registry import register_cpo

    api_key = from_env(api_key_env, "--api-key-env")
    migrate()
    with session_scope() as db:
        cpo, partner_ids = register_cpo(db, actor=SYSTEM, name=name, operator_ids=operator_id, endpoint=endpoint,
                                        api_key=api_key, partner_identifiers=partner_id or None,
                                        defaults=parse_settings(default, "--default"))
        cpo_name = cpo.name
        sandbox_note = _sandbox_note(cpo, generated=not api_key)
    typer.echo(f"Registered CPO {cpo_name!r}. {'Partner identifiers' if len(partner_ids) > 1 else 'Partner identifier'}"
               " to give the platform:", err=True)
    for partner in partner_ids:
        typer.echo(partner)
    if sandbox_note:
        typer.echo(sandbox_note, err=True)


def _sandbox_note(cpo, *, generated: bool) -> str | None:  # noqa: ANN001
    """One line on the CPO's provisioning at the embedded sandbox (None for other endpoints); never the key."""
    from ..settings import get_settings
    from ..store.connection import SANDBOX

    if cpo.endpoint != SANDBOX:
        return None
    key = f"API key ••••{cpo.api_key_last4}" + (" (generated for the local sandbox only)" if generated else "")
    where = get_settings().sandbox_base_url
    if cpo.sandbox_pending:
        return (f"Sandbox provisioning pending: {cpo.sandbox_pending}. "
                f"Start the sandbox, then run: oioi-onboard cpo test {shlex.quote(cpo.name)}")
    return f"Provisioned on the sandbox at {where}: {key} and the CPO's partner identifiers."


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    include_inactive: Annotated[bool, typer.Option("--all", help="Include deactivated CPOs.")] = False,
) -> None:
    """List the registered CPOs (never their API keys; only the last 4 characters)."""
    from ..store import onboarding, queries
    from ..store.auth import SYSTEM
    from ..store.connection import connection_label
    from ..store.db import migrate, session_scope

    migrate()
    with session_scope() as db:
        # Where each CPO stands in the same steps as the UI's overview (the stored stage, set at an import and at
        # the first status, stayed "stations validated" after a push).
        steps = onboarding.onboarding(db, actor=SYSTEM, include_inactive=True)
        rows = [
            {
                "name": cpo.name,
                "operator_ids": queries.cpo_operator_ids(db, cpo_id=cpo.id),
                "partner_identifiers": queries.cpo_partner_identifiers(db, cpo_id=cpo.id),
                "endpoint": cpo.endpoint,
                "api_key_last4": cpo.api_key_last4,
                "defaults": cpo.defaults or {},
                "connection": connection_label(cpo),
                "steps_done": steps[cpo.id].done,
                "steps_total": len(onboarding.STEPS),
                "next_step": steps[cpo.id].next_title,
                "active": cpo.active,
            }
            for cpo in queries.list_cpos(db, actor=SYSTEM, include_inactive=include_inactive)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No CPOs registered yet. Add one with: oioi-onboard cpo add --name NAME --operator-id DE*ABC")
        return
    for row in rows:
        key = f"••••{row['api_key_last4']}" if row["api_key_last4"] else "no API key"
        state = "" if row["active"] else "  (deactivated)"
        typer.echo(f"{row['name']}: {', '.join(row['operator_ids'])}  endpoint {row['endpoint']}  {key}  "
                   f"connection {row['connection']}  {row['steps_done']} of {row['steps_total']} steps, "
                   f"next: {row['next_step']}{state}")


@app.command("edit")
def edit(
    name: Annotated[str, typer.Argument(help="The CPO's name.")],
    default: Annotated[
        list[str] | None,
        typer.Option("--default", help="FIELD=VALUE for a field the CPO's files lack (repeatable); FIELD= removes it."),
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="sandbox, staging, production or an OIOI endpoint URL.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Parallel station-posts of this CPO's queue.")] = None,
    ocpi_versions_url: Annotated[str | None, typer.Option(
        help="The versions URL of the CPO's own OCPI back end, to pull its Locations from.")] = None,
    ocpi_token_env: Annotated[str | None, typer.Option(
        help="Environment variable holding the OCPI credentials token for that back end.")] = None,
) -> None:
    """Change a CPO's defaults, endpoint, concurrency or OCPI connection (what is not given stays)."""
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.ocpi_connection import set_ocpi_connection
    from ..store.queries import get_cpo
    from ..store.registry import endpoint_label, update_cpo

    ocpi_token = from_env(ocpi_token_env, "--ocpi-token-env")
    migrate()
    with session_scope() as db:
        cpo = get_cpo(db, actor=SYSTEM, name=name)
        defaults = None
        if default:
            defaults = {**(cpo.defaults or {}), **parse_settings(default, "--default")}
        cpo = update_cpo(db, actor=SYSTEM, cpo_id=cpo.id, defaults=defaults, endpoint=endpoint,
                         concurrency=concurrency)
        if ocpi_versions_url is not None or ocpi_token is not None:
            cpo = set_ocpi_connection(db, actor=SYSTEM, cpo_id=cpo.id, versions_url=ocpi_versions_url,
                                      token=ocpi_token)
        shown = ", ".join(f"{field}={value}" for field, value in (cpo.defaults or {}).items()) or "none"
        ocpi = (f"; OCPI {endpoint_label(cpo.ocpi_versions_url)}, token ••••{cpo.ocpi_token_last4}"
                if cpo.ocpi_versions_url else "")
    typer.echo(f"CPO {name!r}: endpoint {cpo.endpoint}, concurrency {cpo.concurrency}, defaults {shown}{ocpi}.")


@app.command("set-key")
def set_key(
    name: Annotated[str, typer.Argument(help="The CPO's name.")],
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the new API key.")],
) -> None:
    """Replace a CPO's API key (read from an environment variable)."""
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo
    from ..store.registry import set_api_key

    api_key = from_env(api_key_env, "--api-key-env")
    migrate()
    with session_scope() as db:
        cpo = get_cpo(db, actor=SYSTEM, name=name)
        shown = set_api_key(db, actor=SYSTEM, cpo_id=cpo.id, api_key=api_key)
        pending = cpo.sandbox_pending if cpo.endpoint == "sandbox" else None
    typer.echo(f"API key of {name!r} replaced (••••{shown}).")
    if pending:
        typer.echo(f"Sandbox provisioning pending: {pending}. Once the sandbox runs: "
                   f"oioi-onboard cpo test {shlex.quote(name)}", err=True)


@app.command("test")
def test_connection(name: Annotated[str, typer.Argument(help="The CPO's name.")]) -> None:
    """Test the CPO's connection (on the sandbox: provision it there first); exit 1 if it fails."""
    from ..store.auth import SYSTEM
    from ..store.connection import check_cpo_connection
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo

    migrate()
    with session_scope() as db:
        check = check_cpo_connection(db, actor=SYSTEM, cpo_id=get_cpo(db, actor=SYSTEM, name=name).id)
    typer.echo(f"{name}: {check.message}")
    raise typer.Exit(0 if check.ok else 1)


@app.command("deactivate")
def deactivate(name: Annotated[str, typer.Argument(help="The CPO's name.")]) -> None:
    """Deactivate a CPO: hidden from lists, nothing deleted."""
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo
    from ..store.registry import deactivate_cpo

    migrate()
    with session_scope() as db:
        deactivate_cpo(db, actor=SYSTEM, cpo_id=get_cpo(db, actor=SYSTEM, name=name).id)
    typer.echo(f"CPO {name!r} deactivated.")


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="Name of the CPO.")],
    label: Annotated[str, typer.Option(help="What the token is for, e.g. the back end using it.")] = "",
) -> None:
    """Create an ingest token for a CPO's back end and print it (shown this once)."""
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo
    from ..sync.tokens import create_token

    migrate()
    with session_scope() as db:
        secret = create_token(db, actor=SYSTEM, cpo_id=get_cpo(db, actor=SYSTEM, name=name).id,
                              label=label or "command line")
    typer.echo(f"Ingest token for CPO {name!r} (shown once; store it in the back end's secrets):", err=True)
    typer.echo(secret)


@app.command("ocpi-token")
def ocpi_token(name: Annotated[str, typer.Argument(help="Name of the CPO.")]) -> None:
    """Create the registration token (OCPI's CREDENTIALS_TOKEN_A) with which the CPO's back end registers at the
    relay's OCPI receiver, and print it (shown this once; good for one handshake; a new one replaces the old)."""
    from ..ocpi.credentials import create_registration_token
    from ..ocpi.receiver import VERSIONS_PATH
    from ..settings import get_settings
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo

    migrate()
    with session_scope() as db:
        secret = create_registration_token(db, actor=SYSTEM, cpo_id=get_cpo(db, actor=SYSTEM, name=name).id)
    typer.echo(f"OCPI registration token for CPO {name!r} (shown once; good for one credentials handshake; "
               "an earlier one not used yet no longer works):", err=True)
    typer.echo(secret)
    typer.echo(f"Give it to the CPO's back end with the versions URL {get_settings().relay_url}{VERSIONS_PATH}; "
               "it POSTs its credentials there and receives the token it uses from then on.", err=True)
