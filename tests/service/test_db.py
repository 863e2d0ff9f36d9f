"""The database layer: migrations match the models, SQLite setup, transactions, column types."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from service.db import migrate
from service.db.base import Base
from service.db.models import Recommendation
from service.db.session import Database
from service.db.types import StrictJSON, UTCDateTime, new_id
from service.repositories import recommendations as repo
from service.settings import Settings


@pytest.fixture
def db(migrated: Settings) -> Iterator[Database]:
    database = Database.from_url(migrated.database_url, busy_timeout_s=0.2)
    yield database
    database.dispose()


def _row(n: int = 0) -> Recommendation:
    return Recommendation(
        id=new_id(),
        created_at=datetime.now(UTC),
        tables_version="t",
        family="classical",
        modality="tabular",
        task="binary",
        document=f'{{"n":{n}}}',
    )


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    migrate.downgrade(settings.database_url, "base")
    migrate.upgrade(settings.database_url)
    db = Database.from_url(settings.database_url)
    with db.transaction(write=False) as session:
        assert migrate.current_revision(session.connection()) == migrate.head_revision()
    db.dispose()


def test_sqlite_pragmas(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200


def test_write_transaction_takes_the_lock_up_front(db: Database, migrated: Settings) -> None:
    path = migrated.database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        with db.transaction() as session:
            session.execute(select(1))  # a read only: the lock is still held from BEGIN IMMEDIATE
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
        # A read-only unit of work does not take the write lock.
        with db.transaction(write=False) as session:
            session.execute(select(1))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_transaction_commits_or_rolls_back(db: Database) -> None:
    kept = _row(1)
    db.call(repo.insert_many, items=[kept])
    with pytest.raises(RuntimeError), db.transaction() as session:
        repo.insert_many(session=session, items=[_row(2)])
        raise RuntimeError("abort")
    with db.transaction(write=False) as session:
        assert [r.id for r in session.scalars(select(Recommendation))] == [kept.id]


def test_concurrent_writers_lose_nothing(db: Database, migrated: Settings) -> None:
    # Two engines (as two processes would have), many small write transactions each.
    other = Database.from_url(migrated.database_url, busy_timeout_s=10)
    errors: list[BaseException] = []

    def write(database: Database) -> None:
        try:
            for n in range(50):
                database.call(repo.insert_many, items=[_row(n)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(d,)) for d in (other, Database(other.engine))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    with db.transaction(write=False) as session:
        assert len(session.scalars(select(Recommendation.id)).all()) == 100


def test_timestamps_come_back_in_utc(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    row = _row()
    row.created_at = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=plus_two)
    db.call(repo.insert_many, items=[row])
    got = db.call(repo.get, id=row.id, tenant_id="default", write=False)
    assert got is not None
    assert got.created_at == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert got.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(db: Database) -> None:
    row = _row()
    row.created_at = datetime(2026, 1, 1)
    with pytest.raises(StatementError, match="naive"):
        db.call(repo.insert_many, items=[row])


def test_strict_json_refuses_nan(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'json.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("data", StrictJSON()))
    table.create(db.engine)
    with db.transaction() as session:
        session.execute(insert(table).values(id=1, data={"auc": None, "loss": [0.5, 0.25]}))
    for bad in (math.nan, math.inf, {"auc": [1.0, -math.inf]}):
        with pytest.raises(StatementError, match="JSON compliant"), db.transaction() as session:
            session.execute(insert(table).values(id=2, data=bad))
    with db.transaction(write=False) as session:
        assert session.execute(select(table.c.data)).scalar_one() == {"auc": None, "loss": [0.5, 0.25]}
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    db.dispose()
    assert UTCDateTime().cache_ok


def test_ids_are_unique_sortable_uuids() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 36 and i[14] == "7" for i in ids)
    # Sortable across milliseconds (within one millisecond the order is random).
    assert ids[0][:13] <= ids[-1][:13]


@pytest.mark.anyio
async def test_batched_inserts_from_concurrent_requests(db: Database) -> None:
    import asyncio

    rows = [_row(n) for n in range(40)]
    await asyncio.gather(*(db.insert_batched(repo.insert_many, r) for r in rows))
    with db.transaction(write=False) as session:
        stored = set(session.scalars(select(Recommendation.id)))
    assert stored == {r.id for r in rows}


@pytest.mark.anyio
async def test_a_bad_row_fails_alone_in_a_batch(db: Database) -> None:
    import asyncio

    good = [_row(n) for n in range(5)]
    bad = _row(99)
    bad.created_at = datetime(2026, 1, 1)  # naive: refused at bind time
    results = await asyncio.gather(
        *(db.insert_batched(repo.insert_many, r) for r in [*good[:2], bad, *good[2:]]), return_exceptions=True
    )
    assert [isinstance(r, StatementError) for r in results] == [False, False, True, False, False, False]
    with db.transaction(write=False) as session:
        assert set(session.scalars(select(Recommendation.id))) == {r.id for r in good}
