"""API keys and OCPI credentials tokens encrypted at rest with Fernet (``cryptography``).

Fernet is authenticated encryption (AES-CBC + HMAC) with a versioned token
format: hand-written crypto would be neither. The key comes from, in order:
``OIOI_SECRET_KEY``; ``[oioi] secret_key`` in ``.streamlit/secrets.toml`` (both
read by ``settings``); or ``<data dir>/secret.key``, created on first run with
mode 0600.

No function here puts an API key or the secret key in an exception message.
"""

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..errors import ConfigError
from ..settings import get_settings


class SecretKeyError(ConfigError):
    """The secret key is missing, malformed, or not the one the API keys were encrypted with."""


def key_file() -> Path:
    return get_settings().data_dir / "secret.key"


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


def secret_key() -> tuple[bytes, str]:
    """(Fernet key, where it came from) – the source is safe to show, the key never."""
    configured = get_settings().configured_secret_key()
    if configured:
        key, source = configured
        return key.encode(), source
    path = key_file()
    if path.is_file():
        key = path.read_bytes().strip()
        if not key:
            raise SecretKeyError(f"{path} is empty; remove it only if no API key was stored yet")
        return key, str(path)
    return _create_key_file(path), str(path)


def ensure_secret_key() -> str:
    """Create the key file if needed and check the key; returns where the key comes from."""
    key, source = secret_key()
    _fernet(key, source)
    return source


@lru_cache(maxsize=8)
def _fernet(key: bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"the secret key from {source} is not a Fernet key (32 url-safe base64-encoded bytes); "
            "create one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None


def _current() -> Fernet:
    return _fernet(*secret_key())


def _encrypt(secret: str, what: str) -> str:
    if not secret:
        raise ValueError(f"an empty {what} cannot be stored")
    return _current().encrypt(secret.encode("utf-8")).decode("ascii")


def _decrypt(token: str, what: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        _, source = secret_key()
        raise SecretKeyError(
            f"a stored {what} cannot be decrypted with the secret key from {source}; "
            f"was the secret key changed? Enter the {what} again."
        ) from None


def encrypt_api_key(key: str) -> str:
    """The Fernet token (text) for an API key."""
    return _encrypt(key, "API key")


def decrypt_api_key(token: str) -> str:
    return _decrypt(token, "API key")


def encrypt_ocpi_token(token: str) -> str:
    """The Fernet token (text) for a CPO's OCPI credentials token, kept like an API key."""
    return _encrypt(token, "OCPI token")


def decrypt_ocpi_token(token: str) -> str:
    return _decrypt(token, "OCPI token")


def last4(key: str | None) -> str:
    """The last four characters of an API key or token, the only part ever shown."""
    return (key or "")[-4:]


# --- sign-in sessions -------------------------------------------------------------------------

SESSION_SECONDS = 12 * 3600  # a browser stays signed in this long after signing in
_SESSION_PURPOSE = "session"


def session_token(user_name: str) -> str:
    """A signed, encrypted token naming a signed-in user; it expires after SESSION_SECONDS."""
    return _current().encrypt(f"{_SESSION_PURPOSE}\x1f{user_name}".encode()).decode("ascii")


def session_user(token: str | None, *, max_age: int = SESSION_SECONDS) -> str | None:
    """The user a session token names, or None when it is forged, expired or not a session token."""
    if not isinstance(token, str) or not token:
        return None
    try:
        text = _current().decrypt(token.encode("ascii"), ttl=max_age).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        return None
    purpose, _, name = text.partition("\x1f")
    return name if purpose == _SESSION_PURPOSE and name else None
