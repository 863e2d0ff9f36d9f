"""Service settings: one pydantic-settings class whose defaults run everything on one machine.

Every value can be set from the environment with the ``ADVISOR_`` prefix (``ADVISOR_DATA_DIR``,
``ADVISOR_DATABASE_URL``, ...). Nothing here connects to anything: ``create_app(settings)`` does that.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Validated once at start; later issues add queue, broker and artifact settings here."""

    model_config = SettingsConfigDict(env_prefix="ADVISOR_", extra="ignore", validate_default=True)

    data_dir: Path = Field(default=Path("data"), description="Local folder for the SQLite file and artifacts.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file `advisor.db` under data_dir. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    sqlite_busy_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="How long a SQLite writer waits for the lock."
    )
    db_pool_size: int = Field(default=5, ge=1, le=100, description="Pooled connections (non-SQLite).")
    db_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    max_upload_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest upload accepted (413 beyond it, checked while streaming)."
    )

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        # An absolute path keeps the database where it was configured if the process changes cwd.
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'advisor.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (the single-machine default)."""
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
