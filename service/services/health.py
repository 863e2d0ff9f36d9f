"""Readiness: the database answers, its schema is at the shipped migration head, the broker accepts a
connection (Celery queue) and the artifact store takes a write. Each check is reported on its own and one
failing never hides another; the checks run at once and none takes longer than ``CHECK_TIMEOUT_S``."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.db import migrate
from service.db.session import Database
from service.errors import NotReady
from service.schemas.health import ReadinessRead
from service.settings import Settings

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0  # the longest a check may take; /readyz answers within about this
BROKER_TIMEOUT_S = 2.0  # connect timeout of the broker check (within CHECK_TIMEOUT_S)


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


def _failing(exc: BaseException) -> str:
    return f"failing: {type(exc).__name__}"


def _database_checks(db: Database) -> dict[str, str]:
    try:
        return db.call(_check, write=False)
    except SQLAlchemyError as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        return {"database": _failing(exc), "migrations": "unknown"}


def check_broker(settings: Settings) -> str:
    """``ok`` if the Celery broker accepts a connection within ``BROKER_TIMEOUT_S``; the embedded queue
    has no broker."""
    if settings.queue != "celery":
        return "ok (in-process queue)"
    try:
        from kombu import Connection

        with Connection(settings.broker_url, connect_timeout=BROKER_TIMEOUT_S) as connection:
            # kombu takes float seconds (it compares them with elapsed time); its stub says int.
            connection.ensure_connection(
                max_retries=1,
                interval_start=0,
                interval_step=0,
                timeout=BROKER_TIMEOUT_S,  # type: ignore[arg-type]
            )
    except Exception as exc:  # never the URL in the check or the log: it may hold a password
        logger.warning("readiness: broker unreachable (%s)", type(exc).__name__)
        return _failing(exc)
    return "ok"


def check_artifact_store(settings: Settings) -> str:
    """``ok`` if the artifacts folder exists (or can be made) and a file there can be written, synced to
    disk and removed."""
    directory = settings.artifacts_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".readyz-", dir=directory)
        try:
            os.write(fd, b"ready\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        logger.warning("readiness: artifact store %s not writable: %s", directory, exc)
        return _failing(exc)
    return "ok"


async def _bounded(check: Callable[[], dict[str, str]], names: tuple[str, ...]) -> dict[str, str]:
    # A thread of the event loop's executor: a timed-out check is abandoned (its thread finishes on its own)
    # instead of holding the answer, as a cancelled worker-thread call of the app's thread pool would.
    try:
        return await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_S)
    except TimeoutError:
        logger.warning("readiness: %s did not answer within %.0f s", ", ".join(names), CHECK_TIMEOUT_S)
        return {names[0]: "failing: timed out", **dict.fromkeys(names[1:], "unknown")}


async def readiness(*, db: Database, settings: Settings) -> ReadinessRead:
    """The checks, all ok; ``NotReady`` (503, naming the failing checks, with every check's state) otherwise."""
    parts = await asyncio.gather(
        _bounded(lambda: _database_checks(db), ("database", "migrations")),
        _bounded(lambda: {"broker": check_broker(settings)}, ("broker",)),
        _bounded(lambda: {"artifact_store": check_artifact_store(settings)}, ("artifact_store",)),
    )
    checks = {name: state for part in parts for name, state in part.items()}
    failing = sorted(name for name, state in checks.items() if state.startswith("failing"))
    if failing:
        raise NotReady(f"Failing checks: {', '.join(failing)}.", checks=checks)
    return ReadinessRead(checks=checks)
