"""``oioi-onboard user ...``: dashboard accounts."""

from typing import Annotated

import typer

from ..errors import UserError
from ._common import from_env

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Create and list dashboard users.")


def _role(value: str):  # noqa: ANN202
    from ..store.models import Role

    try:
        return Role(value.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        raise UserError(f"role {value!r} is not one of: {', '.join(r.value for r in Role)}") from None


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="admin, partner_manager, cpo_staff or viewer.")],
    cpo: Annotated[
        list[str] | None, typer.Option("--cpo", help="A CPO this user may see (repeatable; needed for cpo_staff).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address, to match an OIDC login.")] = None,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Environment variable holding the password; else one is generated."),
    ] = None,
) -> None:
    """Create a user and print the generated password once."""
    from ..store.auth import SYSTEM, create_user
    from ..store.db import migrate, session_scope

    role_value = _role(role)
    password = from_env(password_env, "--password-env")
    migrate()
    with session_scope() as db:
        _, password = create_user(db, actor=SYSTEM, name=name, role=role_value, password=password,
                                  cpo_names=tuple(cpo or ()), email=email)
    if password_env:
        typer.echo(f"User {name!r} created with the password from {password_env}.")
    else:
        typer.echo(f"User {name!r} created ({role_value.value}). Password (shown only once):", err=True)
        typer.echo(password)


@app.command("list")
def list_() -> None:
    """List users with their role and CPOs."""
    from ..store.auth import SYSTEM, list_users
    from ..store.db import migrate, session_scope

    migrate()
    with session_scope() as db:
        for user, cpos in list_users(db, actor=SYSTEM):
            scope = f"  CPOs: {', '.join(cpos)}" if cpos else ""
            state = "" if user.active else "  (inactive)"
            typer.echo(f"{user.name}: {user.role.value}{scope}{state}")


@app.command("set-password")
def set_password(name: Annotated[str, typer.Argument(help="The login name.")]) -> None:
    """Give a user a new generated password and print it once."""
    from ..store.auth import SYSTEM
    from ..store.auth import set_password as reset_password
    from ..store.db import migrate, session_scope

    migrate()
    with session_scope() as db:
        password = reset_password(db, actor=SYSTEM, name=name)
    typer.echo(f"New password for {name!r} (shown only once):", err=True)
    typer.echo(password)
