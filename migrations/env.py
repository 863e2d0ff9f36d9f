"""Alembic environment: migrates the database named by the config (or by the service settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from service.db import models  # noqa: F401  (registers the tables on the metadata)
from service.db.base import Base
from service.db.session import make_engine

target_metadata = Base.metadata


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from service.settings import get_settings

    return get_settings().database_url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table, and is a no-op elsewhere.
        render_as_batch=True,
        compare_type=True,
        literal_binds=connection is None,
        # make_engine's SQLite setup emits BEGIN itself, so DDL there is transactional: a failed
        # migration rolls back whole instead of leaving a half-migrated file.
        transactional_ddl=True if connection is not None and connection.dialect.name == "sqlite" else None,
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A caller (tests) may hand over an open connection; otherwise use our engine setup (WAL,
    # busy_timeout, BEGIN IMMEDIATE), so a migration waits for, and never races, a running worker.
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
