"""``oioi-onboard user ...``."""

from typer.testing import CliRunner

from oioi_onboard.store import queries
from oioi_onboard.store.auth import authenticate
from oioi_onboard.store.db import session_scope

runner = CliRunner()


def test_user_add_prints_the_password_once_and_scopes_staff(cli):
    runner.invoke(cli, ["cpo", "add", "--name", "Acme", "--operator-id", "DE*ACM"])
    result = runner.invoke(cli, ["user", "add", "carla", "--role", "cpo-staff", "--cpo", "Acme"])
    assert result.exit_code == 0, result.output
    password = result.stdout.strip()
    with session_scope() as session:
        actor = authenticate(session, name="carla", password=password)
        assert [c.name for c in queries.list_cpos(session, actor=actor)] == ["Acme"]
    result = runner.invoke(cli, ["user", "add", "dora", "--role", "root"])
    assert result.exit_code == 2 and "role 'root' is not one of" in result.stderr
    result = runner.invoke(cli, ["user", "add", "erik", "--role", "cpo_staff", "--cpo", "Nope"])
    assert result.exit_code == 2 and "no CPO named 'Nope'" in result.stderr
    assert "carla: cpo_staff  CPOs: Acme" in runner.invoke(cli, ["user", "list"]).stdout
