"""Stored datasets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from service.db.models import Dataset


def add(*, session: Session, dataset: Dataset) -> Dataset:
    """Stage a new dataset row (the caller's transaction commits it)."""
    session.add(dataset)
    session.flush()
    return dataset


def get(*, session: Session, id: str, tenant_id: str) -> Dataset | None:
    """The tenant's dataset with ``id``, if any (another tenant's is None, as if it did not exist)."""
    return session.scalars(select(Dataset).where(Dataset.id == id, Dataset.tenant_id == tenant_id)).first()


def by_fingerprint(*, session: Session, fingerprint: str) -> Dataset | None:
    """The dataset stored from the same bytes and options, if any."""
    return session.scalars(select(Dataset).where(Dataset.fingerprint == fingerprint)).first()


def remove(*, session: Session, id: str, tenant_id: str) -> Dataset | None:
    """Delete the tenant's row and return it (None if there was none)."""
    row = get(session=session, id=id, tenant_id=tenant_id)
    if row is not None:
        session.execute(delete(Dataset).where(Dataset.id == id))
    return row


def list_page(
    *, session: Session, tenant_id: str, limit: int, after: tuple[datetime, str] | None = None
) -> list[Dataset]:
    """Up to ``limit`` of the tenant's datasets, newest first, strictly after the ``(created_at, id)`` key."""
    stmt = select(Dataset).where(Dataset.tenant_id == tenant_id).order_by(Dataset.created_at.desc(), Dataset.id.desc())
    if after is not None:
        created_at, id_ = after
        stmt = stmt.where(
            or_(Dataset.created_at < created_at, and_(Dataset.created_at == created_at, Dataset.id < id_))
        )
    return list(session.scalars(stmt.limit(limit)))
