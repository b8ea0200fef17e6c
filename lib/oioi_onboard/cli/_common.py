"""What the command groups share: secrets from the environment, files, sockets."""

import os
import socket
from pathlib import Path

from ..errors import ConfigError, UserError


def from_env(variable: str | None, option: str) -> str | None:
    """A secret read from the environment, never the command line, so it stays out of shell history."""
    if not variable:
        return None
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigError(f"the environment variable {variable} named by {option} is not set or empty")
    return value


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a {what}") from None
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except OSError as error:
        raise UserError(f"{path} cannot be opened: {error.strerror or error}") from None


def parse_settings(values: list[str] | None, option: str = "--set") -> dict[str, str]:
    """``FIELD=VALUE`` pairs (repeatable option) -> {field: value}, fields checked against the template."""
    from ..sheets.canonical import NAMES

    result: dict[str, str] = {}
    for item in values or []:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise UserError(f"{option} {item!r}: write FIELD=VALUE, e.g. phone=+49 30 1234567")
        if field not in NAMES:
            raise UserError(f"{option} {item!r}: {field!r} is not a template column ({', '.join(NAMES)})")
        result[field] = value.strip()
    return result


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that ``--port 0`` can say which port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def shown_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
