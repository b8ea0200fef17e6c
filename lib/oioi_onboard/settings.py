"""Every setting from the environment, in one place.

The embedded default needs none of them: a SQLite file and a local sandbox
under the data directory.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The demo CPO's fixed identity on the embedded sandbox. It is provisioned there like any other
# CPO's (POST /_sandbox/partners); real endpoints issue their own keys.
SANDBOX_API_KEY = "sandbox-demo-key-0000"
SANDBOX_PARTNER_ID = "sandbox-demo-partner-0001"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OIOI_", extra="ignore")

    data_dir: Path = Path(".data")
    # OIOI_DATABASE_URL, else plain DATABASE_URL (see db_url): the name every tool expects.
    # Secrets stay out of repr(settings), which could land in a log or a traceback.
    database_url: str | None = Field(default=None, repr=False)
    # Fernet key for API keys at rest; created in data_dir on first run if unset.
    secret_key: str | None = Field(default=None, repr=False)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8765
    relay_host: str = "127.0.0.1"
    relay_port: int = 8766
    app_port: int = 8501
    # One-time password for the first admin; generated and printed if unset.
    admin_password: str | None = Field(default=None, repr=False)
    # Map tiles drawn under the offline boundary layer when online: a style URL (MapLibre/Carto style JSON,
    # or mapbox://... with MAPBOX_API_KEY) or a pydeck name such as "light". Empty: none, so a machine
    # without internet shows the boundary layer cleanly instead of failing tile requests.
    map_style: str = ""

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.sandbox_port}/api/v4/request"

    @property
    def sandbox_base_url(self) -> str:
        """Where the embedded sandbox answers provisioning (``/_sandbox/partners``) and inspection;
        a wildcard listening address is reached on loopback."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.sandbox_host, self.sandbox_host)
        return f"http://[{host}]:{self.sandbox_port}" if ":" in host else f"http://{host}:{self.sandbox_port}"

    @property
    def db_url(self) -> str:
        import os

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
