"""``oioi-onboard db ...``: the schema by hand, with the exit codes of every command."""

from typer.testing import CliRunner

from oioi_onboard.cli import app as cli_app
from oioi_onboard.settings import get_settings
from oioi_onboard.store.db import get_engine, head_revision

runner = CliRunner()


def test_current_says_an_empty_database_is_behind_until_upgrade_brings_it_to_head():
    head = head_revision()
    behind = runner.invoke(cli_app, ["db", "current"])
    assert behind.exit_code == 1, behind.output
    assert "revision none (empty)" in behind.stdout and f"the newest is {head}" in behind.stdout
    assert "oioi-onboard db upgrade" in behind.stdout

    upgraded = runner.invoke(cli_app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip().endswith(f"at revision {head}")

    current = runner.invoke(cli_app, ["db", "current"])
    assert current.exit_code == 0, current.output
    assert f"at revision {head} (the newest)" in current.stdout
    assert get_settings().db_url.removeprefix("sqlite:///") in current.stdout


def test_check_finds_models_and_migrations_in_agreement():
    result = runner.invoke(cli_app, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "models and migrations agree" in result.stdout


def test_a_database_that_cannot_be_adopted_is_one_line_and_exit_2():
    with get_engine().begin() as connection:  # tables, but no migration history, unlike the models
        connection.exec_driver_sql("CREATE TABLE cpo (id INTEGER PRIMARY KEY)")
    result = runner.invoke(cli_app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: the database ") and "no migration history" in result.stderr
    assert "Traceback" not in result.output
