"""Stored recommendations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from service.db import dml
from service.db.models import Recommendation


def insert_many(*, session: Session, items: Sequence[Recommendation]) -> None:
    """Insert new recommendations with one Core INSERT (no unit of work: several times cheaper).

    The objects must carry their id and created_at; they stay detached from the session. An attribute left
    unset takes its column's scalar default (the unit of work would have applied it).
    """
    table = dml.table(Recommendation)
    defaults = {c.key: c.default.arg for c in table.columns if isinstance(c.default, ScalarElementColumnDefault)}

    def values(r: Recommendation) -> dict[str, Any]:
        row = {c: getattr(r, c) for c in table.columns.keys()}  # noqa: SIM118 (a ColumnCollection)
        return {c: defaults[c] if v is None and c in defaults else v for c, v in row.items()}

    session.execute(insert(table), [values(r) for r in items])


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
