"""The installation's settings in one place, and the addresses of the local services they describe.

They come from the environment (``OIOI_*``, ``DATABASE_URL``) and, for the
secret key, from the ``[oioi]`` table of ``.streamlit/secrets.toml``. The
embedded default needs none of them: a SQLite file and a local sandbox under
the data directory. Not here: the key file that ``store.secrets`` keeps in the
data directory when no secret key is set; Streamlit's own settings
(``.streamlit/config.toml``, and ``[auth]`` in ``secrets.toml`` for OIDC
sign-in); and command-line options, which override some of these for one run.
"""

import ipaddress
import os
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

__all__ = ["Settings", "get_settings", "local_url", "SANDBOX_API_KEY", "SANDBOX_PARTNER_ID",
           "OCPI_SANDBOX_TOKEN"]

# The demo CPO's fixed identity on the embedded sandbox. It is provisioned there like any other
# CPO's (POST /_sandbox/partners); real endpoints issue their own keys.
SANDBOX_API_KEY = "sandbox-demo-key-0000"
SANDBOX_PARTNER_ID = "sandbox-demo-partner-0001"
# The credentials token the OCPI simulator (`oioi-onboard ocpi-sandbox`) accepts unless told others.
OCPI_SANDBOX_TOKEN = "ocpi-sandbox-demo-token-0001"

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def local_url(host: str, port: int, path: str = "") -> str:
    """The URL that reaches a service on this machine listening on ``host``:``port``.

    A wildcard listening address is reached on loopback (``0.0.0.0`` -> ``127.0.0.1``,
    ``::`` -> ``::1``); an IPv6 address goes in brackets (``http://[::1]:8765``).
    """
    host = host.strip().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None  # a name, such as localhost
    if not host or (address is not None and address.is_unspecified):
        host = "::1" if address is not None and address.version == 6 else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def _secrets_toml_paths() -> list[Path]:
    # Streamlit reads .streamlit/secrets.toml from the working directory; the project root
    # is where `make run` starts it. Both are checked so the CLI agrees with the app.
    paths = [Path.cwd() / ".streamlit" / "secrets.toml", PROJECT_ROOT / ".streamlit" / "secrets.toml"]
    return list(dict.fromkeys(paths))


def secrets_toml() -> dict:
    """The first ``.streamlit/secrets.toml`` found, parsed; {} if there is none."""
    for path in _secrets_toml_paths():
        if path.is_file():
            try:
                with path.open("rb") as handle:
                    return tomllib.load(handle)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OIOI_", extra="ignore")

    data_dir: Path = Path(".data")
    # OIOI_DATABASE_URL, else plain DATABASE_URL (see db_url): the name every tool expects.
    # Secrets stay out of repr(settings), which could land in a log or a traceback.
    database_url: str | None = Field(default=None, repr=False)
    # Fernet key for API keys at rest; see configured_secret_key.
    secret_key: str | None = Field(default=None, repr=False)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8765
    relay_host: str = "127.0.0.1"
    relay_port: int = 8766
    # The party the relay's OCPI receiver names in the credentials it gives a CPO's back end.
    ocpi_country_code: str = "DE"
    ocpi_party_id: str = "OIO"
    app_port: int = 8501
    # The OCPI CPO simulator (`oioi-onboard ocpi-sandbox`): a demo back end to pull Locations from.
    ocpi_sandbox_host: str = "127.0.0.1"
    ocpi_sandbox_port: int = 8767
    # One-time password for the first admin; generated and printed if unset.
    admin_password: str | None = Field(default=None, repr=False)
    # Map tiles drawn under the offline boundary layer when online: a style URL (MapLibre/Carto style JSON,
    # or mapbox://... with MAPBOX_API_KEY) or a pydeck name such as "light". Empty: none, so a machine
    # without internet shows the boundary layer cleanly instead of failing tile requests.
    map_style: str = ""

    @property
    def sandbox_base_url(self) -> str:
        """Where the embedded sandbox answers provisioning (``/_sandbox/partners``) and inspection."""
        return local_url(self.sandbox_host, self.sandbox_port)

    @property
    def sandbox_url(self) -> str:
        """Where the embedded sandbox takes OIOI requests: the endpoint of CPOs registered on "sandbox"."""
        return self.sandbox_base_url + "/api/v4/request"

    @property
    def relay_url(self) -> str:
        """Where the status relay answers (``POST /v1/statuses``)."""
        return local_url(self.relay_host, self.relay_port)

    @property
    def ocpi_sandbox_url(self) -> str:
        """The OCPI simulator's versions URL: what a CPO's OCPI connection names."""
        return local_url(self.ocpi_sandbox_host, self.ocpi_sandbox_port, "/ocpi/versions")

    @property
    def app_url(self) -> str:
        return local_url("localhost", self.app_port)

    @property
    def db_url(self) -> str:
        url = self.database_url or os.environ.get("DATABASE_URL")
        if url:
            # Accept the libpq-style scheme and use psycopg 3.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://"):]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'onboard.db').resolve()}"

    def configured_secret_key(self) -> tuple[str, str] | None:
        """(Fernet key, where it is set) from ``OIOI_SECRET_KEY``, else from ``[oioi] secret_key`` in
        ``.streamlit/secrets.toml``; None when neither sets one (``store.secrets`` then keeps a key file
        in the data directory). The source is safe to show, the key never."""
        if self.secret_key:
            return self.secret_key.strip(), "OIOI_SECRET_KEY"
        from_toml = secrets_toml().get("oioi", {}).get("secret_key")
        if from_toml:
            return str(from_toml).strip(), ".streamlit/secrets.toml [oioi] secret_key"
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
