"""The command as a user meets it: clear one-line errors, never a traceback."""

import os
import subprocess
import sys

import pytest

from oioi_onboard.testing.sandbox import free_port

pytestmark = pytest.mark.slow  # one real process per command


@pytest.mark.parametrize("command", [["cpo", "list"], ["worker", "--once"], ["relay", "--port", "0"],
                                     ["db", "upgrade"]])
def test_an_unreachable_database_is_reported_in_one_line(command):
    url = f"postgresql://onboard:s3cret-password@127.0.0.1:{free_port()}/onboard"  # nothing listens there
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "oioi_onboard.cli", *command], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error: the database postgresql+psycopg://onboard:***@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret-password" not in done.stderr
