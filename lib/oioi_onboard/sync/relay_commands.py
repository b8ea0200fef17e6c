"""Command-line sub-commands for statuses: ``relay``, ``simulate`` and ``cpo token``."""

from __future__ import annotations

import socket
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the status commands to the ``oioi-onboard`` app."""
    app.command()(relay)
    app.command()(simulate)
    try:
        from ..store.commands import cpo_app
    except ImportError:  # no ``cpo`` group: a top-level command instead
        app.command("cpo-token")(cpo_token)
    else:
        cpo_app.command("token")(cpo_token)


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that ``--port 0`` can say which port it got."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def relay(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default OIOI_RELAY_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default OIOI_RELAY_PORT, 8766); 0 picks one.")] = None,
) -> None:
    """Serve the status ingest API (POST /v1/statuses) for CPO back ends."""
    import uvicorn

    from ..settings import get_settings
    from ..store.db import migrate
    from .relay import STATUSES_PATH, create_app

    settings = get_settings()
    host = host or settings.relay_host
    port = settings.relay_port if port is None else port
    migrate()
    try:
        sock = _bind(host, port)
    except OSError as error:
        typer.echo(f"Cannot listen on {host}:{port}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"Status relay listening on http://{shown}:{sock.getsockname()[1]}{STATUSES_PATH}")
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


def _cpo_id(name: str) -> int:
    from ..store.auth import SYSTEM
    from ..store.db import migrate, session_scope
    from ..store.queries import get_cpo

    migrate()
    with session_scope() as session:
        try:
            return get_cpo(session, actor=SYSTEM, name=name).id
        except LookupError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None


def simulate(
    cpo: Annotated[str, typer.Option("--cpo", help="Name of the CPO whose connectors change.")],
    rate: Annotated[float, typer.Option(help="Status changes per second.")] = 10.0,
    seconds: Annotated[Optional[float], typer.Option(help="Stop after this long (default: until Ctrl-C).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed, for a reproducible demo.")] = None,
) -> None:
    """Write random plausible status changes for a CPO's connectors, as a demo."""
    import signal
    import threading

    from .simulate import simulate as run

    cpo_id = _cpo_id(cpo)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        result = run(cpo_id=cpo_id, rate=rate, seconds=seconds, stop=stop, seed=seed)
    except (ValueError, LookupError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{result.changes} status change(s) in {result.seconds:.1f} s for CPO {cpo!r}"
               + (f"; {result.refused} refused" if result.refused else ""))


def cpo_token(
    name: Annotated[str, typer.Argument(help="Name of the CPO.")],
    label: Annotated[str, typer.Option(help="What the token is for, e.g. the back end using it.")] = "",
) -> None:
    """Create an ingest token for a CPO's back end and print it (shown this once)."""
    from ..store.auth import SYSTEM
    from ..store.db import session_scope
    from .tokens import create_token

    cpo_id = _cpo_id(name)
    with session_scope() as session:
        token = create_token(session, actor=SYSTEM, cpo_id=cpo_id, label=label or "command line")
    typer.echo(f"Ingest token for CPO {name!r} (shown once; store it in the back end's secrets):", err=True)
    typer.echo(token)
