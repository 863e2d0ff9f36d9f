"""The one query every request makes (its API key, or whether any active key exists), on a fast path.

On SQLite (the embedded default) it runs on a read-only ``sqlite3`` connection of the calling thread, in
autocommit: WAL readers never wait for a writer, and the indexed read takes about 10 µs where a pooled
SQLAlchemy session took 600 µs on a busy 2-core machine (``bench/request_overhead.py``). Elsewhere it is an
ordinary read transaction on a worker thread. Nothing is cached: a revoked key is refused from the next
request on, whichever process revoked it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.db.session import Database
from service.repositories import tenants as repo

_KEY_SQL = "SELECT id, tenant_id, rate_limit_per_minute, revoked_at FROM api_keys WHERE key_sha256 = ?"
_ANY_SQL = "SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"


@dataclass(frozen=True, slots=True)
class KeyRow:
    """What authentication needs of a key."""

    id: str
    tenant_id: str
    rate_limit_per_minute: int | None
    revoked: bool


def _key_orm(*, session: Session, key_sha256: str) -> KeyRow | None:
    found = repo.key_by_hash(session=session, key_sha256=key_sha256)
    if found is None:
        return None
    key = found[0]
    return KeyRow(key.id, key.tenant_id, key.rate_limit_per_minute, key.revoked_at is not None)


class KeyLookup:
    """``key(sha256)`` and ``any_active()`` for one database."""

    def __init__(self, db: Database, *, busy_timeout_s: float = 30.0) -> None:
        self._db = db
        url = db.engine.url
        path = url.database if url.get_backend_name() == "sqlite" else None
        self._sqlite_path = path if path and path != ":memory:" else None
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self._sqlite_path}?mode=ro", uri=True, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            self._local.conn = conn
        return conn

    def _sqlite(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._connection().execute(sql, params).fetchone()
        except sqlite3.Error:  # e.g. a file replaced under us: reconnect once
            self._local.conn = None
            row = self._connection().execute(sql, params).fetchone()
        return row

    async def key(self, key_sha256: str) -> KeyRow | None:
        """The key with this hash (revoked or not), if any."""
        if self._sqlite_path is None:
            return await self._db.run(_key_orm, key_sha256=key_sha256, write=False)
        row = self._sqlite(_KEY_SQL, (key_sha256,))
        return None if row is None else KeyRow(row[0], row[1], row[2], row[3] is not None)

    async def any_active(self) -> bool:
        """Whether at least one key is not revoked."""
        if self._sqlite_path is None:
            return await self._db.run(repo.any_active_key, write=False)
        return self._sqlite(_ANY_SQL, ()) is not None
