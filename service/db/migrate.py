"""Alembic, driven from code: the config ships inside the ``migrations`` package, so the installed
service migrates from any working directory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

import migrations

_VERSION_TABLE = "alembic_version"


def migrations_dir() -> Path:
    """The folder of the ``migrations`` package (env.py, versions/, alembic.ini)."""
    # __path__ rather than importlib.resources: it also works while an editable install still maps the
    # package as a namespace (as it did before migrations/__init__.py existed).
    return Path(next(iter(migrations.__path__)))


def alembic_config(database_url: str | None = None) -> Config:
    """The Alembic config from ``migrations/alembic.ini``, pointed at ``database_url`` if given."""
    folder = migrations_dir()
    config = Config(str(folder / "alembic.ini"))
    config.set_main_option("script_location", str(folder))
    if database_url is not None:
        # ConfigParser interpolation: a literal % (e.g. in a password) must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (``head`` by default)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` for an empty database)."""
    command.downgrade(alembic_config(database_url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The single head revision of the shipped migrations."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None if it was never migrated)."""
    # Read the version table directly: MigrationContext logs two INFO lines per call (/readyz polls).
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()
