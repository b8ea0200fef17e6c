"""Command-line sub-commands of this area: ``oioi-onboard sandbox``."""

import socket
from pathlib import Path
from typing import Annotated, Optional

import typer


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so that ``--port 0`` can print the port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def sandbox(
    api_key: Annotated[list[str], typer.Option("--api-key", help="An API key the sandbox accepts (repeatable).")],
    partner_id: Annotated[
        list[str], typer.Option("--partner-id", help="A partner identifier the sandbox knows (repeatable).")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    db: Annotated[Optional[Path], typer.Option(help="SQLite file of the sandbox's state.")] = None,
    latency_ms: Annotated[float, typer.Option(help="Delay added to every OIOI request.")] = 0,
    fail_rate: Annotated[float, typer.Option(help="Share of requests answered 503 with Retry-After: 1.")] = 0.0,
    stall_rate: Annotated[float, typer.Option(help="Share of requests never answered.")] = 0.0,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the fault injection, for reproducible runs.")] = None,
) -> None:
    """Run a local OIOI receiver that checks pushes like PlugSurfing does, with faults on demand."""
    import uvicorn

    from ..settings import get_settings
    from . import ids
    from .sandbox import OIOI_PATH, create_app

    for partner in partner_id:
        try:
            ids.check_partner_identifier(partner)
        except ids.IdError as error:
            raise typer.BadParameter(str(error), param_hint="--partner-id") from None
    db_path = db or get_settings().data_dir / "sandbox.db"
    try:
        app = create_app(
            db_path=db_path, api_keys=api_key, partner_ids=partner_id, latency_ms=latency_ms,
            fail_rate=fail_rate, stall_rate=stall_rate, seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    try:
        sock = _bind(host, port)
    except OSError as error:
        typer.echo(f"Cannot listen on {host}:{port}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    # One line that callers (and tests) read to find the endpoint. Never the API keys.
    typer.echo(
        f"OIOI sandbox listening on http://{shown_host}:{bound_port}{OIOI_PATH}"
        f" (db {db_path}, {len(api_key)} API key(s), {len(partner_id)} partner identifier(s))"
    )
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, proxy_headers=False, timeout_graceful_shutdown=2,
        backlog=2048, timeout_keep_alive=30,
    )
    uvicorn.Server(config).run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``oioi-onboard`` app."""
    app.command("sandbox")(sandbox)
