"""A stored recommendation is compact on SQLite (a zstd frame in the same TEXT column) and reads back as the same
text; rows written before, as plain text or as a zlib stream, keep reading as they are."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from service.db.models import Recommendation
from service.db.session import Database
from service.db.types import ZSTD_MAGIC, new_id
from service.repositories import recommendations as repo
from service.schemas.recommendations import recommendation_json
from service.settings import Settings

DOCUMENT = '{"family":"classical","reason":"§9 ' + "forests first, then boosting; " * 200 + '"}'


@pytest.fixture
def db(migrated: Settings) -> Iterator[Database]:
    database = Database.from_url(migrated.database_url)
    yield database
    database.dispose()


def _fields(document: str | bytes) -> dict[str, Any]:
    return {
        "id": new_id(),
        "created_at": datetime.now(UTC),
        "tables_version": "t",
        "family": "classical",
        "modality": "tabular",
        "task": "binary",
        "document": document,
    }


def _row(document: str) -> Recommendation:
    return Recommendation(**_fields(document))


def test_the_document_reads_back_as_written(db: Database) -> None:
    row = _row(DOCUMENT)
    db.call(repo.insert_many, items=[row])
    got = db.call(repo.get, id=row.id, tenant_id="default", write=False)
    assert got is not None and got.document == DOCUMENT
    page = db.call(repo.list_page, tenant_id="default", limit=5, write=False)
    assert [r.document for r in page] == [DOCUMENT]


def test_sqlite_stores_it_compressed(db: Database, migrated: Settings) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL compresses large text itself (TOAST); the column holds plain text there")
    row = _row(DOCUMENT)
    db.call(repo.insert_many, items=[row])
    with sqlite3.connect(db.engine.url.database) as conn:
        kind, size, stored = conn.execute(
            "SELECT typeof(document), length(document), document FROM recommendations WHERE id = ?", (row.id,)
        ).fetchone()
    assert kind == "blob"
    assert size < len(DOCUMENT.encode()) / 5
    assert stored.startswith(ZSTD_MAGIC)


def test_rows_stored_as_zlib_before_still_read(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite ever held compressed documents")
    row = _row(DOCUMENT)
    db.call(repo.insert_many, items=[row])
    with sqlite3.connect(db.engine.url.database) as conn:  # as the earlier format wrote it
        conn.execute(
            "UPDATE recommendations SET document = ? WHERE id = ?", (zlib.compress(DOCUMENT.encode(), 1), row.id)
        )
    got = db.call(repo.get, id=row.id, tenant_id="default", write=False)
    assert got is not None and got.document == DOCUMENT


def test_rows_stored_as_text_still_read(db: Database) -> None:
    row = _row(DOCUMENT)
    columns = ("id", "created_at", "tables_version", "family", "modality", "task", "document", "tenant_id")
    with db.transaction() as session:  # as a row written before compression (or by another writer) looks
        session.execute(
            text(f"INSERT INTO recommendations ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
            {
                "id": row.id,
                "created_at": "2026-01-01 00:00:00.000000",
                "tables_version": "t",
                "family": "classical",
                "modality": "tabular",
                "task": "binary",
                "document": DOCUMENT,
                "tenant_id": "default",
            },
        )
    got = db.call(repo.get, id=row.id, tenant_id="default", write=False)
    assert got is not None and got.document == DOCUMENT


def test_a_new_row_with_the_document_as_utf8_bytes_reads_back_as_the_same_text(db: Database) -> None:
    """The create route stores orjson's bytes as they are: they read back as the text they encode."""
    row = repo.NewRecommendation(**_fields(DOCUMENT.encode()), tenant_id="default")
    db.call(repo.insert_many, items=[row])
    got = db.call(repo.get, id=row.id, tenant_id="default", write=False)
    assert got is not None and got.document == DOCUMENT and got.dataset_id is None


def test_the_answer_built_from_bytes_is_the_answer_built_from_text() -> None:
    stamp = datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)
    as_text = recommendation_json(id="r1", created_at=stamp, document=DOCUMENT)
    as_bytes = recommendation_json(id="r1", created_at=stamp, document=DOCUMENT.encode())
    assert as_bytes == as_text.encode()
    assert as_text.startswith('{"id":"r1","created_at":"2026-12-05T12:00:00.123456Z","family":')
    with pytest.raises(ValueError, match="non-empty JSON object"):
        recommendation_json(id="r1", created_at=stamp, document=b"{}")
