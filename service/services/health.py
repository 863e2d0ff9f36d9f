"""Readiness: the database answers and its schema is at the shipped migration head."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.db import migrate
from service.db.session import Database
from service.errors import NotReady
from service.schemas.health import ReadinessRead

logger = logging.getLogger(__name__)


def _check(*, session: Session) -> dict[str, str]:
    connection = session.connection()
    connection.execute(text("SELECT 1"))
    checks = {"database": "ok"}
    head = migrate.head_revision()
    current = migrate.current_revision(connection)
    if current == head:
        checks["migrations"] = f"ok (head {head})"
    else:
        checks["migrations"] = f"failing: database at {current or 'no revision'}, head is {head}"
    return checks


async def readiness(*, db: Database) -> ReadinessRead:
    """The checks, all ok; ``NotReady`` (503, naming the failing check) otherwise."""
    try:
        checks = await db.run(_check, write=False)
    except SQLAlchemyError as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        checks = {"database": f"failing: {type(exc).__name__}", "migrations": "unknown"}
    failing = sorted(name for name, state in checks.items() if state.startswith("failing"))
    if failing:
        raise NotReady(f"Failing checks: {', '.join(failing)}.", checks=checks)
    return ReadinessRead(checks=checks)
