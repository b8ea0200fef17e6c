"""What the command's tests share: the command itself, for typer's CliRunner."""

import pytest
import typer

from oioi_onboard.cli import app as cli_app


@pytest.fixture
def cli() -> typer.Typer:
    return cli_app
