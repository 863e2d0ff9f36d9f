"""Engine and transactions.

One ``Database`` per process, built by the app's lifespan (or by a worker/CLI for itself; never shared
across a fork). Every unit of work is one transaction: ``with db.transaction() as session`` commits on
success and rolls back on error; repositories only add/insert/query, they never commit.

SQLite (the single-machine default) is set up for several processes writing one file:
WAL (readers never block the writer), ``busy_timeout`` (a writer waits for the lock instead of failing),
foreign keys on, and write transactions that take the lock up front with ``BEGIN IMMEDIATE``. pysqlite's
own implicit, deferred ``BEGIN`` is switched off: a deferred transaction that reads and then writes fails
with "database is locked" (or loses updates) when another process wrote in between. Read-only units of
work use a plain (deferred) ``BEGIN`` so they never wait for the write lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.db.batch import BatchInserter
from service.db.types import dumps_strict

T = TypeVar("T")

# Execution option read by the SQLite "begin" hook: which BEGIN a transaction on this engine emits.
_SQLITE_BEGIN = "advisor_sqlite_begin"


def make_engine(url: str, *, busy_timeout_s: float = 30.0, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine for ``url`` with the per-dialect setup above; it connects lazily, on first use."""
    sa_url = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": dumps_strict}
    if sa_url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": busy_timeout_s}
    else:
        kwargs.update(pool_size=pool_size, pool_pre_ping=True)
    engine = create_engine(sa_url, **kwargs)
    if engine.dialect.name == "sqlite":
        _setup_sqlite(engine, busy_timeout_ms=int(busy_timeout_s * 1000))
    return engine


def _setup_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy: the "begin" hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # With WAL, NORMAL only risks the last commits on power loss, never corruption.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The engine plus session factories for write and read-only units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite allows one writer at a time. Threads of this process queue on a lock (immediate
        # hand-over) rather than in SQLite's busy handler, which sleeps and retries (about 1.2x the
        # writes/s at 32 concurrent writers here, and no in-process wait can run into busy_timeout).
        # Other processes still wait via busy_timeout. Re-entrant: a nested write transaction in the
        # same thread fails with "database is locked" after busy_timeout, as it would without the lock.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._writer = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Same pool and events; on SQLite the transaction starts deferred (no write lock).
        self._read_engine = engine.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False, autoflush=False)
        self._inserters: dict[Callable[..., Any], BatchInserter[Any]] = {}

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Database:
        """Build a ``Database`` for ``url`` (see ``make_engine`` for the keyword arguments)."""
        return cls(make_engine(url, **engine_kwargs))

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises."""
        if not write:
            with self._reader.begin() as session:
                yield session
        elif self._write_lock is None:
            with self._writer.begin() as session:
                yield session
        else:
            with self._write_lock, self._writer.begin() as session:
                yield session

    def call(self, fn: Callable[..., T], /, *, write: bool = True, **kwargs: Any) -> T:
        """``fn(session=..., **kwargs)`` inside one transaction (blocking)."""
        with self.transaction(write=write) as session:
            return fn(session=session, **kwargs)

    async def run(self, fn: Callable[..., T], /, *, write: bool = True, **kwargs: Any) -> T:
        """``call`` on a worker thread, for async code: one thread hop per unit of work."""
        return await run_in_threadpool(self.call, fn, write=write, **kwargs)

    async def insert_batched(self, insert_many: Callable[..., Any], item: Any) -> None:
        """Insert ``item`` with ``insert_many(session=..., items=[...])``, sharing the transaction with
        concurrent calls for the same function (group commit, see ``service.db.batch``); returns once
        committed."""
        inserter = self._inserters.get(insert_many)
        if inserter is None:
            inserter = self._inserters[insert_many] = BatchInserter(self, insert_many)
        await inserter.insert(item)

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in a child process after fork)."""
        self.engine.dispose()
