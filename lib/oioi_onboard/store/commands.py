"""Command-line sub-commands of this area: ``oioi-onboard cpo ...`` and ``oioi-onboard user ...``.

Every command upgrades the database first and honours ``DATABASE_URL``. The
CLI acts as the system (every CPO); it is for whoever runs the server.
"""

import json
import os
from typing import Annotated, Optional

import typer

cpo_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Register and list CPOs.")
user_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Create and list dashboard users.")

# Validation problems exit with 2, like a wrong option does.
EXIT_INVALID = 2


def _session():
    from .db import migrate, session_scope

    migrate()
    return session_scope()


def _fail(message: str, code: int = EXIT_INVALID) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _api_key_from_env(variable: str | None) -> str | None:
    # The key comes from the environment, never the command line, so it stays out of shell history.
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        _fail(f"the environment variable {variable} named by --api-key-env is not set or empty")
    return value


@cpo_app.command("add")
def cpo_add(
    name: Annotated[str, typer.Option("--name", help="The CPO's display name.")],
    operator_id: Annotated[
        list[str], typer.Option("--operator-id", help="An EVSE operator id such as DE*8PS (repeatable).")
    ],
    endpoint: Annotated[
        str, typer.Option(help="sandbox, staging, production or the URL of an OIOI endpoint.")
    ] = "sandbox",
    api_key_env: Annotated[
        Optional[str], typer.Option("--api-key-env", help="Name of the environment variable holding the API key.")
    ] = None,
    partner_id: Annotated[
        Optional[list[str]],
        typer.Option("--partner-id", help="A partner identifier the platform issued (repeatable); else one is generated."),
    ] = None,
) -> None:
    """Register a CPO and print its partner identifier(s)."""
    from .auth import SYSTEM
    from .registry import RegistrationError, register_cpo
    from .secrets import SecretKeyError

    api_key = _api_key_from_env(api_key_env)
    try:
        with _session() as session:
            cpo, partner_ids = register_cpo(
                session, actor=SYSTEM, name=name, operator_ids=operator_id, endpoint=endpoint,
                api_key=api_key, partner_identifiers=partner_id or None,
            )
            cpo_name = cpo.name
    except RegistrationError as error:
        for field, message in error.errors.items():
            typer.echo(f"error: {field.replace('_', ' ')}: {message}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except SecretKeyError as error:  # a malformed OIOI_SECRET_KEY: its message, not a traceback
        _fail(str(error))
    typer.echo(f"Registered CPO {cpo_name!r}. Partner identifier(s) to give the platform:", err=True)
    for partner in partner_ids:
        typer.echo(partner)


@cpo_app.command("list")
def cpo_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    include_inactive: Annotated[bool, typer.Option("--all", help="Include deactivated CPOs.")] = False,
) -> None:
    """List the registered CPOs (never their API keys; only the last 4 characters)."""
    from . import queries
    from .auth import SYSTEM

    with _session() as session:
        rows = []
        for cpo in queries.list_cpos(session, actor=SYSTEM, include_inactive=include_inactive):
            rows.append(
                {
                    "name": cpo.name,
                    "operator_ids": queries.cpo_operator_ids(session, cpo_id=cpo.id),
                    "partner_identifiers": queries.cpo_partner_identifiers(session, cpo_id=cpo.id),
                    "endpoint": cpo.endpoint,
                    "api_key_last4": cpo.api_key_last4,
                    "stage": queries.STAGE_LABELS[cpo.stage],
                    "active": cpo.active,
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No CPOs registered yet. Add one with: oioi-onboard cpo add --name NAME --operator-id DE*ABC")
        return
    for row in rows:
        key = f"••••{row['api_key_last4']}" if row["api_key_last4"] else "no API key"
        state = "" if row["active"] else "  (deactivated)"
        typer.echo(
            f"{row['name']}: {', '.join(row['operator_ids'])}  endpoint {row['endpoint']}  {key}  "
            f"stage {row['stage']}{state}"
        )


@cpo_app.command("set-key")
def cpo_set_key(
    name: Annotated[str, typer.Argument(help="The CPO's name.")],
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the new API key.")],
) -> None:
    """Replace a CPO's API key (read from an environment variable)."""
    from .auth import SYSTEM
    from .queries import get_cpo
    from .registry import RegistrationError, set_api_key
    from .secrets import SecretKeyError

    api_key = _api_key_from_env(api_key_env)
    try:
        with _session() as session:
            cpo = get_cpo(session, actor=SYSTEM, name=name)
            shown = set_api_key(session, actor=SYSTEM, cpo_id=cpo.id, api_key=api_key)
    except LookupError as error:
        _fail(str(error), 1)
    except RegistrationError as error:
        _fail(error.errors.get("api_key", str(error)))
    except SecretKeyError as error:
        _fail(str(error))
    typer.echo(f"API key of {name!r} replaced (••••{shown}).")


@cpo_app.command("deactivate")
def cpo_deactivate(name: Annotated[str, typer.Argument(help="The CPO's name.")]) -> None:
    """Deactivate a CPO: hidden from lists, nothing deleted."""
    from .auth import SYSTEM
    from .queries import get_cpo
    from .registry import deactivate_cpo

    try:
        with _session() as session:
            cpo = get_cpo(session, actor=SYSTEM, name=name)
            deactivate_cpo(session, actor=SYSTEM, cpo_id=cpo.id)
    except LookupError as error:
        _fail(str(error), 1)
    typer.echo(f"CPO {name!r} deactivated.")


def _role(value: str):
    from .models import Role

    try:
        return Role(value.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        _fail(f"role {value!r} is not one of: {', '.join(r.value for r in Role)}")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="admin, partner_manager, cpo_staff or viewer.")],
    cpo: Annotated[
        Optional[list[str]], typer.Option("--cpo", help="A CPO this user may see (repeatable; needed for cpo_staff).")
    ] = None,
    email: Annotated[Optional[str], typer.Option(help="E-mail address, to match an OIDC login.")] = None,
    password_env: Annotated[
        Optional[str], typer.Option("--password-env", help="Environment variable holding the password; else one is generated.")
    ] = None,
) -> None:
    """Create a user and print the generated password once."""
    from .auth import SYSTEM, AccountError, create_user
    from .queries import audit

    role_value = _role(role)
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            _fail(f"the environment variable {password_env} named by --password-env is not set or empty")
    try:
        with _session() as session:
            _, password = create_user(session, name=name, role=role_value, password=password,
                                      cpo_names=tuple(cpo or ()), email=email)
            audit(session, actor_name=SYSTEM.name, action="user created",
                  detail=f"user {name!r}, role {role_value.value}, CPOs {', '.join(cpo or []) or 'all or none'}")
    except AccountError as error:
        _fail(str(error))
    if password_env:
        typer.echo(f"User {name!r} created with the password from {password_env}.")
    else:
        typer.echo(f"User {name!r} created ({role_value.value}). Password (shown only once):", err=True)
        typer.echo(password)


@user_app.command("list")
def user_list() -> None:
    """List users with their role and CPOs."""
    from sqlmodel import select

    from .auth import list_users
    from .models import Cpo, UserCpo

    with _session() as session:
        for user in list_users(session):
            cpos = session.exec(
                select(Cpo.name).join(UserCpo, UserCpo.cpo_id == Cpo.id).where(UserCpo.user_id == user.id)
            ).all()
            scope = f"  CPOs: {', '.join(cpos)}" if cpos else ""
            state = "" if user.active else "  (inactive)"
            typer.echo(f"{user.name}: {user.role.value}{scope}{state}")


@user_app.command("set-password")
def user_set_password(
    name: Annotated[str, typer.Argument(help="The login name.")],
) -> None:
    """Give a user a new generated password and print it once."""
    from .auth import SYSTEM, AccountError, set_password
    from .queries import audit

    try:
        with _session() as session:
            password = set_password(session, name=name)
            audit(session, actor_name=SYSTEM.name, action="password reset", detail=f"user {name!r}")
    except AccountError as error:
        _fail(str(error), 1)
    typer.echo(f"New password for {name!r} (shown only once):", err=True)
    typer.echo(password)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``oioi-onboard`` app."""
    app.add_typer(cpo_app, name="cpo")
    app.add_typer(user_app, name="user")
