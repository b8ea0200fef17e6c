"""``oioi-onboard sandbox``, ``relay`` and ``run``: the processes that serve."""

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ._common import bind, shown_host


def sandbox(
    api_key: Annotated[
        list[str] | None, typer.Option("--api-key", help="An API key the sandbox accepts (repeatable).")
    ] = None,
    partner_id: Annotated[
        list[str] | None, typer.Option("--partner-id", help="A partner identifier the sandbox knows (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    db: Annotated[Path | None, typer.Option(help="SQLite file of the sandbox's state.")] = None,
    latency_ms: Annotated[float, typer.Option(help="Delay added to every OIOI request.")] = 0,
    fail_rate: Annotated[float, typer.Option(help="Share of requests answered 503 with Retry-After.")] = 0.0,
    stall_rate: Annotated[float, typer.Option(help="Share of requests never answered.")] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(help="Share of requests answered 429 (too many requests) with Retry-After.")
    ] = 0.0,
    retry_after: Annotated[
        int, typer.Option(help="Seconds the Retry-After header of the 503 and 429 faults asks for.")
    ] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed of the fault injection, for reproducible runs.")] = None,
) -> None:
    """Run a local OIOI receiver that checks pushes like PlugSurfing does, with faults on demand.

    Keys and partner identifiers given here are known from the start (both may be left
    out); more are provisioned at run time through POST /_sandbox/partners, from loopback
    only (registering a CPO on the sandbox does that). The fault rates are where the
    sandbox starts: POST /_sandbox/faults changes them while it runs, from loopback only.
    """
    import uvicorn

    from ..oioi import ids
    from ..oioi.sandbox import OIOI_PATH, create_app
    from ..settings import get_settings

    for partner in partner_id or []:
        try:
            ids.check_partner_identifier(partner)
        except ids.IdError as error:
            raise UserError(f"--partner-id: {error}") from None
    db_path = db or get_settings().data_dir / "sandbox.db"
    try:
        app = create_app(db_path=db_path, api_keys=api_key or [], partner_ids=partner_id or [], latency_ms=latency_ms,
                         fail_rate=fail_rate, stall_rate=stall_rate, throttle_rate=throttle_rate,
                         retry_after=retry_after, seed=seed)
    except ValueError as error:
        raise UserError(str(error)) from None
    sock = bind(host, port)
    # One line that callers (and tests) read to find the endpoint. Never the API keys.
    typer.echo(f"OIOI sandbox listening on http://{shown_host(host)}:{sock.getsockname()[1]}{OIOI_PATH}"
               f" (db {db_path}, {len(api_key or [])} start-up API key(s), {len(partner_id or [])} partner"
               " identifier(s); more through POST /_sandbox/partners)")
    if not _is_loopback_host(host):
        typer.echo(f"Note: {host} is reachable from other machines; the sandbox is a local test receiver "
                   "and provisions keys only for loopback callers.", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                            timeout_graceful_shutdown=2, backlog=2048, timeout_keep_alive=30)
    uvicorn.Server(config).run(sockets=[sock])


def _is_loopback_host(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def relay(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default OIOI_RELAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default OIOI_RELAY_PORT, 8766); 0 picks one.")] = None,
) -> None:
    """Serve the status ingest API (POST /v1/statuses) and the OCPI 2.2.1 receiver (/ocpi/...) for CPO back ends."""
    import uvicorn

    from ..ocpi.receiver import VERSIONS_PATH
    from ..settings import get_settings
    from ..store.db import migrate
    from ..sync.relay import STATUSES_PATH, create_app

    settings = get_settings()
    host = host or settings.relay_host
    port = settings.relay_port if port is None else port
    migrate()
    sock = bind(host, port)
    base = f"http://{shown_host(host)}:{sock.getsockname()[1]}"
    typer.echo(f"Status relay listening on {base}{STATUSES_PATH}")
    typer.echo(f"OCPI 2.2.1 receiver: versions at {base}{VERSIONS_PATH}")
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


def run() -> None:
    """Start the dashboard with its embedded sandbox, worker and relay (the `make run` default)."""
    from ..launcher import run_embedded

    run_embedded()
