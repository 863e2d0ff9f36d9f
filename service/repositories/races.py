"""Stored races and their child jobs. Functions here never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Job, Race


def add(*, session: Session, race: Race) -> Race:
    """Stage a new race row (the caller's transaction commits it)."""
    session.add(race)
    session.flush()
    return race


def get(*, session: Session, id: str, tenant_id: str) -> Race | None:
    """The tenant's race with ``id``, if any."""
    return session.scalars(select(Race).where(Race.id == id, Race.tenant_id == tenant_id)).first()


def set_params(*, session: Session, id: str, params: dict[str, Any]) -> None:
    """Replace the race's ``params`` (it records the skipped candidates once the children exist)."""
    race = session.get(Race, id)
    if race is not None:
        race.params = params
        session.flush()


def children(*, session: Session, race_id: str) -> list[Job]:
    """The race's jobs in creation order."""
    stmt = select(Job).where(Job.race_id == race_id).order_by(Job.created_at, Job.id)
    return list(session.scalars(stmt))


def with_children(*, session: Session, id: str, tenant_id: str) -> tuple[Race, list[Job]] | None:
    """The tenant's race and its jobs, read in one transaction; None if there is no such race."""
    race = get(session=session, id=id, tenant_id=tenant_id)
    if race is None:
        return None
    return race, children(session=session, race_id=id)
