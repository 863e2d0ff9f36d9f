"""Stored recommendations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from service.db import dml
from service.db.models import Recommendation


@dataclass(frozen=True, slots=True)
class NewRecommendation:
    """A recommendation as the create route stores it: the table's columns, without the ORM's instrumentation.

    ``document`` is the advisor's JSON as UTF-8 bytes (what orjson writes), stored and answered without being
    decoded; rows read back are :class:`~service.db.models.Recommendation` with the document as text.
    """

    id: str
    created_at: datetime
    tables_version: str
    family: str
    modality: str
    task: str
    document: bytes
    tenant_id: str
    dataset_id: str | None = None


def insert_many(*, session: Session, items: Sequence[Recommendation | NewRecommendation]) -> None:
    """Insert new recommendations with one INSERT (no unit of work: several times cheaper).

    The objects must carry their id and created_at; they stay detached from the session. An attribute left
    unset takes its column's scalar default (the unit of work would have applied it). On SQLite the rows go
    to the driver's ``executemany`` with the columns' own bind processors applied here (the same stored bytes
    as a Core INSERT, without compiling one per batch: this runs on the writer thread, holding the GIL the
    event loop needs).
    """
    table = dml.table(Recommendation)
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name == "sqlite":
        sql, plan = _sqlite_insert(dialect)
        try:
            rows = [
                tuple(
                    (proc(v) if proc is not None else v)
                    if (v := getattr(r, key)) is not None or default is None
                    # an unset attribute takes its column's default, processed like a value
                    else (proc(default) if proc is not None else default)
                    for key, proc, default in plan
                )
                for r in items
            ]
        except Exception as exc:  # as a Core INSERT reports a value its column refuses (a naive timestamp)
            raise StatementError(f"{type(exc).__name__}: {exc}", sql, None, exc) from exc
        conn.exec_driver_sql(sql, rows)  # a list of tuples: executemany
        return
    defaults = {c.key: c.default.arg for c in table.columns if isinstance(c.default, ScalarElementColumnDefault)}

    def values(r: Recommendation | NewRecommendation) -> dict[str, Any]:
        row = {c: getattr(r, c) for c in table.columns.keys()}  # noqa: SIM118 (a ColumnCollection)
        return {c: defaults[c] if v is None and c in defaults else v for c, v in row.items()}

    session.execute(insert(table), [values(r) for r in items])


_Plan = tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
_SQLITE_INSERT: dict[int, tuple[str, _Plan]] = {}


def _sqlite_insert(dialect: Dialect) -> tuple[str, _Plan]:
    """The INSERT statement and, per column, (attribute, bind processor, scalar default), once per dialect."""
    found = _SQLITE_INSERT.get(id(dialect))
    if found is None:
        table = dml.table(Recommendation)
        columns = list(table.columns)
        prep = dialect.identifier_preparer
        sql = (
            f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.format_column(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        plan = tuple(
            (
                c.key,
                c.type.dialect_impl(dialect).bind_processor(dialect),
                c.default.arg if isinstance(c.default, ScalarElementColumnDefault) else None,
            )
            for c in columns
        )
        found = _SQLITE_INSERT[id(dialect)] = (sql, plan)
    return found


def get(*, session: Session, id: str, tenant_id: str) -> Recommendation | None:
    """The tenant's recommendation with ``id``, if any."""
    stmt = select(Recommendation).where(Recommendation.id == id, Recommendation.tenant_id == tenant_id)
    return session.scalars(stmt).first()


def list_page(
    *, session: Session, tenant_id: str, limit: int, after: tuple[datetime, str] | None = None
) -> list[Recommendation]:
    """Up to ``limit`` of the tenant's recommendations, newest first, strictly after ``(created_at, id)``."""
    stmt = (
        select(Recommendation)
        .where(Recommendation.tenant_id == tenant_id)
        .order_by(Recommendation.created_at.desc(), Recommendation.id.desc())
    )
    if after is not None:
        created_at, id_ = after
        # Spelled out rather than a row-value comparison, which not every backend plans well.
        stmt = stmt.where(
            or_(
                Recommendation.created_at < created_at,
                and_(Recommendation.created_at == created_at, Recommendation.id < id_),
            )
        )
    return list(session.scalars(stmt.limit(limit)))
