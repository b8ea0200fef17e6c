"""``oioi-onboard sandbox``, ``ocpi-sandbox``, ``relay`` and ``run``: the processes that serve."""

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..wording import counted
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
    latency_ms: Annotated[float, typer.Option(help="Milliseconds from an OIOI request to its answer.")] = 0,
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
               f" (db {db_path}, {counted(len(api_key or []), 'start-up API key')},"
               f" {counted(len(partner_id or []), 'partner identifier')}; more through POST /_sandbox/partners)")
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
    workers: Annotated[int, typer.Option(min=1, help="Processes serving the one port; each records with its "
                                                     "own database thread.")] = 1,
) -> None:
    """Serve the status ingest API (POST /v1/statuses) and the OCPI 2.2.1 receiver (/ocpi/...) for CPO back ends."""
    import uvicorn

    from ..ocpi.receiver import VERSIONS_PATH as RECEIVER_VERSIONS_PATH
    from ..settings import get_settings
    from ..store.db import migrate
    from ..sync.relay import STATUSES_PATH, create_app

    settings = get_settings()
    host = host or settings.relay_host
    port = settings.relay_port if port is None else port
    migrate()
    sock = bind(host, port)
    base = f"http://{shown_host(host)}:{sock.getsockname()[1]}"
    typer.echo(f"Status relay listening on {base}{STATUSES_PATH}" + (f" ({workers} processes)" if workers > 1 else ""))
    typer.echo(f"OCPI 2.2.1 receiver: versions at {base}{RECEIVER_VERSIONS_PATH}")
    options = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": 5, "backlog": 2048}
    if workers == 1:
        uvicorn.Server(uvicorn.Config(create_app(), **options)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    # The processes share the socket bound here; each builds the app by importing create_app.
    config = uvicorn.Config("oioi_onboard.sync.relay:create_app", factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[sock]).run()


def ocpi_sandbox(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default OIOI_OCPI_SANDBOX_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default OIOI_OCPI_SANDBOX_PORT, 8767); 0 picks one.")]
    = None,
    token: Annotated[list[str] | None, typer.Option(
        "--token", help="A credentials token it accepts (repeatable; default: the demo token).")] = None,
    locations: Annotated[int, typer.Option(help="How many Locations the demo network has.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the demo network and of its changes.")] = 1,
    country: Annotated[str, typer.Option(help="BE (Belgian cities) or NL (Dutch cities).")] = "BE",
    party_id: Annotated[str, typer.Option(help="The CPO's OCPI party id; EVSE ids start with COUNTRY*PARTY.")]
    = "OCS",
    page_limit: Annotated[int, typer.Option(help="Most Locations per page (X-Limit).")] = 20,
    version: Annotated[list[str] | None, typer.Option(
        "--version", help="An OCPI version it speaks, 2.2.1 or 2.1.1 (repeatable; default 2.2.1).")] = None,
    plain_only: Annotated[bool, typer.Option("--plain-only", help="Accept the token only unencoded, as many "
                                                                  "OCPI 2.1.1 back ends do.")] = False,
    change_every: Annotated[float, typer.Option(help="Every this many seconds some Locations change (an EVSE "
                                                     "status, now and then a name); 0: never.")] = 0.0,
    change_count: Annotated[int, typer.Option(help="How many Locations change each time.")] = 1,
    patch_to: Annotated[str | None, typer.Option(help="A receiver's locations endpoint to send EVSE status "
                                                      "PATCHes to, e.g. http://127.0.0.1:8766/ocpi/2.2.1/locations.")]
    = None,
    patch_token_env: Annotated[str | None, typer.Option(help="Environment variable holding the receiver's "
                                                             "token (with --patch-to).")] = None,
    patch_rate: Annotated[float, typer.Option(help="Status PATCHes a second (with --patch-to).")] = 1.0,
    patch_plain: Annotated[bool, typer.Option("--patch-plain", help="Send the receiver's token unencoded.")]
    = False,
    register_at: Annotated[str | None, typer.Option(help="A receiver's versions URL to register at by the "
                                                         "credentials handshake, then send EVSE status PATCHes to "
                                                         "its locations endpoint, e.g. "
                                                         "http://127.0.0.1:8766/ocpi/versions.")] = None,
    registration_token_env: Annotated[str | None, typer.Option(
        help="Environment variable holding the registration token (TOKEN_A) the receiver's operator gave, e.g. "
             "from `oioi-onboard cpo ocpi-token NAME` (with --register-at).")] = None,
) -> None:
    """Run an OCPI 2.2.1 CPO back end with a demo network: Locations to pull, status PATCHes to push.

    Faults (503, latency, a failing status_code, an HTML page) and changes are set at run time through
    POST /_sandbox/faults and /_sandbox/changes, from loopback only.
    """
    import uvicorn

    from ..ocpi.sandbox import (
        VERSIONS_PATH,
        Network,
        create_app,
        periodic_changes,
        registered_status_sender,
        status_sender,
    )
    from ..settings import OCPI_SANDBOX_TOKEN, get_settings, local_url
    from ._common import from_env

    settings = get_settings()
    host = host or settings.ocpi_sandbox_host
    port = settings.ocpi_sandbox_port if port is None else port
    background = []
    if change_every > 0:
        background.append(periodic_changes(change_every, max(1, change_count), static_share=0.1))
    if patch_to:
        receiver_token = from_env(patch_token_env, "--patch-token-env")
        if receiver_token is None:
            raise UserError("--patch-to needs --patch-token-env: the token the receiver gave this CPO")
        background.append(status_sender(receiver_url=patch_to, token=receiver_token, rate=patch_rate,
                                        plain=patch_plain))
    registration_token = from_env(registration_token_env, "--registration-token-env")
    if register_at and (patch_to or registration_token is None):
        raise UserError("--register-at needs --registration-token-env (the receiver's registration token) and "
                        "no --patch-to: the handshake tells where to send the PATCHes")
    try:
        network = Network(size=locations, seed=seed, country=country.upper(), party_id=party_id)
    except ValueError as error:
        raise UserError(str(error)) from None
    sock = bind(host, port)
    tokens = token or [OCPI_SANDBOX_TOKEN]
    if register_at:
        # What this back end tells the receiver: its first token and versions URL, its one party as role CPO.
        credentials = {"token": tokens[0], "url": local_url(host, sock.getsockname()[1], VERSIONS_PATH),
                       "roles": [{"role": "CPO", "country_code": network.country_code, "party_id": network.party_id,
                                  "business_details": {"name": "OCPI sandbox (demo CPO back end)"}}]}
        background.append(registered_status_sender(versions_url=register_at, registration_token=registration_token,
                                                   credentials=credentials, rate=patch_rate,
                                                   say=lambda line: typer.echo(line)))
    try:
        app = create_app(network=network, tokens=tokens, page_limit=page_limit,
                         versions=tuple(version or ["2.2.1"]), background=background)
    except ValueError as error:
        raise UserError(str(error)) from None
    if plain_only:
        app.state.sandbox.faults.plain_only = True
    # One line that callers (and tests) read to find the versions URL. Never the tokens.
    typer.echo(f"OCPI sandbox listening on http://{shown_host(host)}:{sock.getsockname()[1]}{VERSIONS_PATH}"
               f" ({len(network)} Locations of {network.country_code}*{network.party_id}, OCPI "
               f"{', '.join(version or ['2.2.1'])}, {page_limit} per page"
               + (f"; status PATCHes to {patch_to} at {patch_rate:g}/s" if patch_to else "")
               + (f"; registering at {register_at}" if register_at else "") + ")")
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


def run() -> None:
    """Start the dashboard with its embedded sandbox, OCPI simulator, worker and relay (the `make run` default)."""
    from ..launcher import run_embedded

    run_embedded()
