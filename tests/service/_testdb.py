"""Which database a service test uses: a SQLite file by default; with ``ADVISOR_TEST_DATABASE_URL`` set to
a PostgreSQL server URL (``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) a fresh database on
that server, created per call and dropped when the test session ends. The same suite then runs on both."""

from __future__ import annotations

import atexit
import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "ADVISOR_TEST_DATABASE_URL"
_created: list[str] = []


def database_url(data_dir: Path) -> str:
    """A database URL for one test (or module): SQLite under ``data_dir``, or a new PostgreSQL database."""
    server = os.environ.get(ENV)
    if not server:
        return f"sqlite:///{data_dir / 'advisor.db'}"
    name = f"advisor_test_{uuid.uuid4().hex[:16]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    if not _created:
        atexit.register(_drop_all, server)
    _created.append(name)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _admin(server: str, sql: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _drop_all(server: str) -> None:
    for name in _created:
        try:
            _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # a leftover test database is not worth failing the run for
            print(f"could not drop test database {name}: {exc}")
