"""``make run``: the dashboard with its embedded sandbox, the OCPI simulator, worker and relay.

Each service is its own process so that one crashing does not take the page
down; all of them stop together on Ctrl-C.

The sandbox starts first and without any API key: as soon as it answers, every
CPO registered on it (the demo CPO included) is provisioned there and its
connection tested (``workflows.bootstrap.connect_sandbox_cpos``); then the
OCPI simulator (a CPO back end to pull Locations from, at ``OIOI_OCPI_SANDBOX_PORT``),
the worker, the relay and the app start.

The OCPI simulator is the Demo OCPI CPO's back end: as soon as it answers, that CPO's Locations are
pulled and their first push queued (``workflows.bootstrap.pull_demo_ocpi_cpo``), before the worker
starts to send them. The simulator gets a registration token in its environment (``REGISTRATION_ENV``)
and registers with it at the relay's OCPI receiver, as a CSMS does, then PATCHes EVSE status changes there.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .settings import get_settings, local_url

__all__ = ["run_embedded", "services", "REGISTRATION_ENV"]

APP = Path(__file__).resolve().parents[2] / "app" / "main.py"
# Where the OCPI simulator finds its registration token (TOKEN_A): its environment alone, never a command line.
REGISTRATION_ENV = "OIOI_OCPI_SANDBOX_REGISTRATION_TOKEN"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "oioi_onboard.cli", *args]


def services() -> list[tuple[str, list[str]]]:
    settings = get_settings()
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    return [
        ("sandbox", _cli("sandbox", "--host", settings.sandbox_host, "--port", str(settings.sandbox_port),
                         "--db", str(data / "sandbox.db"))),
        ("ocpi-sandbox", _cli("ocpi-sandbox", "--host", settings.ocpi_sandbox_host,
                              "--port", str(settings.ocpi_sandbox_port), "--change-every", "10",
                              "--register-at", local_url(settings.relay_host, settings.relay_port, "/ocpi/versions"),
                              "--registration-token-env", REGISTRATION_ENV, "--patch-rate", "0.5")),
        ("worker", _cli("worker")),
        ("relay", _cli("relay", "--host", settings.relay_host, "--port", str(settings.relay_port))),
        ("app", [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(settings.app_port),
                 "--server.headless", "true", "--server.enableStaticServing", "true"]),  # the base map's files
    ]


def _connect_sandbox(process: subprocess.Popen) -> None:
    """Provision the sandbox CPOs once the sandbox answers; say in one line what came of it."""
    from .errors import OnboardError
    from .workflows.bootstrap import connect_sandbox_cpos, wait_for_sandbox

    if not wait_for_sandbox(seconds=30, alive=lambda: process.poll() is None):
        if process.poll() is None:
            print("The sandbox did not answer within 30 s; CPOs on it get provisioned by their connection test.",
                  file=sys.stderr, flush=True)
        return
    try:
        results = connect_sandbox_cpos()
    except OnboardError as error:  # the dashboard still starts; a connection test provisions again
        print(f"Provisioning the sandbox CPOs failed: {error}", file=sys.stderr, flush=True)
        return
    for name, check in results:
        print(f"Sandbox CPO {name!r}: {check.message}", file=sys.stderr if not check.ok else sys.stdout, flush=True)


def _pull_demo_ocpi(process: subprocess.Popen) -> None:
    """Once the OCPI simulator answers, the Demo OCPI CPO's first pull and push; one line on what came of it."""
    import httpx

    from .workflows.bootstrap import pull_demo_ocpi_cpo

    url = get_settings().ocpi_sandbox_url.removesuffix("/ocpi/versions") + "/_sandbox/health"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        print("The OCPI simulator did not answer within 30 s; the worker pulls the Demo OCPI CPO later.",
              file=sys.stderr, flush=True)
        return
    said = pull_demo_ocpi_cpo()
    if said:
        print(said, flush=True)


def _environment(name: str, base: dict[str, str]) -> dict[str, str]:
    """A service's environment: the OCPI simulator's alone holds the registration token for its handshake."""
    if name != "ocpi-sandbox":
        return base
    from .workflows.bootstrap import demo_ocpi_registration_token

    token = demo_ocpi_registration_token()
    return {**base, REGISTRATION_ENV: token} if token else base


def _stop(signum: int, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


def run_embedded() -> None:
    from .workflows.bootstrap import prepare_embedded

    prepare_embedded()  # schema, secret key, first admin, demo CPO and stations
    # A terminal closed or `kill` stops everything as Ctrl-C does: Python's default would exit at once and
    # leave the services running without their launcher.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _stop)
    processes: list[tuple[str, subprocess.Popen]] = []
    env = dict(os.environ)
    try:
        for name, command in services():
            own = _environment(name, env)
            if name == "ocpi-sandbox" and REGISTRATION_ENV not in own:
                command = command[:command.index("--register-at")]  # no Demo OCPI CPO: nobody to register as
            processes.append((name, subprocess.Popen(command, env=own)))
            if name == "sandbox":
                _connect_sandbox(processes[-1][1])
            elif name == "ocpi-sandbox":
                _pull_demo_ocpi(processes[-1][1])
        print(f"Dashboard: {get_settings().app_url}  (Ctrl-C stops everything)", flush=True)
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"{name} stopped with exit code {process.returncode}; stopping the rest", file=sys.stderr)
                    return
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
