"""The reaper: no job stays ``running`` without a live runner, and no queued job is forgotten.

* A running job whose lease expired (its runner or whole process died, or lost the database for longer
  than ``lease_s``) is taken back with a compare-and-set on the same owner and expiry: re-queued with
  the next attempt while ``attempt < max_attempts``, else failed with the reason; a job whose cancel
  was requested is cancelled instead.
* A queued job waiting longer than a lease and not in the in-process queue is enqueued again (its id
  was lost with a restart, or enqueueing failed after the commit). Duplicate ids are harmless: the
  runner's claim trains a job once.
* :func:`recover` runs the same at startup, re-enqueueing every queued job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from service.db.session import Database
from service.db.types import utcnow
from service.jobs import states
from service.jobs.queue import InProcessQueue, JobQueue
from service.repositories import jobs as repo
from service.settings import Settings
from service.webhooks import outbox

logger = logging.getLogger(__name__)


@dataclass
class ReapReport:
    """What one pass did (ids)."""

    requeued: list[str] = field(default_factory=list)
    # The queue each re-queued job goes back to, so a caller without an in-process queue can publish it at once.
    requeued_to: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    enqueued: list[str] = field(default_factory=list)


def _release(*, session: Any, now: datetime, report: ReapReport) -> list[tuple[str, str]]:
    """Take back every expired job in one transaction; returns ``(id, queue)`` of those re-queued."""
    requeue: list[tuple[str, str]] = []
    for job in repo.expired(session=session, now=now):
        expired_at = job.lease_expires_at.isoformat() if job.lease_expires_at else "?"
        entry = {
            "attempt": job.attempt,
            "owner": job.lease_owner,
            "ended_at": now.isoformat(),
            "outcome": "lease_expired",
            "reason": f"no heartbeat since {expired_at}",
        }
        history = [*(job.history or []), entry]
        common: dict[str, Any] = {"history": history}
        if job.cancel_requested:
            status = states.CANCELLED
            common.update(
                finished_at=now, error={"type": "cancelled", "message": "cancelled; its worker stopped answering"}
            )
        elif job.attempt < job.max_attempts:
            status = states.QUEUED
            common.update(
                queued_at=now,
                progress=None,
                error={
                    "type": "lease_expired",
                    "message": f"its worker stopped answering (lease expired {expired_at}) on attempt {job.attempt} "
                    f"of {job.max_attempts}; retrying",
                },
            )
        else:
            status = states.FAILED
            common.update(
                finished_at=now,
                error={
                    "type": "lease_expired",
                    "message": f"its worker stopped answering (lease expired {expired_at}) on attempt {job.attempt} "
                    f"of {job.max_attempts}",
                },
            )
        if not repo.release_expired(
            session=session, id=job.id, owner=job.lease_owner, now=now, status=status, values=common
        ):
            continue
        if status == states.QUEUED:
            report.requeued.append(job.id)
            report.requeued_to[job.id] = job.queue
            requeue.append((job.id, job.queue))
        elif status == states.FAILED:
            report.failed.append(job.id)
        else:
            report.cancelled.append(job.id)
        if status != states.QUEUED and job.callback_url:  # ended: its webhook commits with this release
            outbox.enqueue_for_job(session, job.id)
        logger.warning("job %s: lease expired on attempt %d; now %s", job.id, job.attempt, status)
    return requeue


def reap(
    db: Database, settings: Settings, queue: JobQueue | None, *, startup: bool = False, now: datetime | None = None
) -> ReapReport:
    """One pass: release expired leases, then (re-)enqueue queued jobs that nobody holds.

    ``startup``: every queued job is enqueued (the in-process queue starts empty); otherwise only
    those queued for longer than a lease and not already waiting in an in-process queue.
    """
    now = now or utcnow()
    report = ReapReport()
    # Look first with a read (no write lock taken every few seconds for nothing), then take them back.
    requeue = db.call(_release, now=now, report=report) if db.call(repo.expired, now=now, limit=1, write=False) else []
    if queue is None:
        return report
    before = None if startup else now - timedelta(seconds=settings.lease_s)
    waiting = queue.waiting() if isinstance(queue, InProcessQueue) else frozenset()
    pending = {job_id: name for job_id, name in requeue}
    for job_id, name in db.call(repo.queued, before=before, write=False):
        pending.setdefault(job_id, name)
    for job_id, name in pending.items():
        if job_id in waiting:
            continue
        try:
            queue.enqueue(job_id, name)
        except Exception:
            logger.warning("could not enqueue job %s", job_id, exc_info=True)
            break
        report.enqueued.append(job_id)
    return report


def recover(db: Database, settings: Settings, queue: JobQueue | None) -> ReapReport:
    """Startup recovery: jobs left running with expired leases are re-queued or failed, queued ones
    are enqueued again. Running jobs whose lease is still valid are left to the periodic reaper."""
    return reap(db, settings, queue, startup=True)


class Reaper:
    """A daemon thread that runs a pass (default :func:`reap`) every ``reaper_interval_s``.

    The first pass is the startup one (``startup=True``); a failed pass is logged and tried again later.
    """

    PASS: Callable[..., Any] = staticmethod(reap)
    NAME = "reaper"

    def __init__(self, *, db: Database, settings: Settings, queue: JobQueue | None) -> None:
        self.db = db
        self.settings = settings
        self.queue = queue
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recovered = False

    def start(self) -> None:
        """Start the thread; its first pass is the startup recovery."""
        self._thread = threading.Thread(target=self._loop, name=f"advisor-{self.NAME}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                type(self).PASS(self.db, self.settings, self.queue, startup=not self.recovered)
                self.recovered = True
            except SQLAlchemyError as exc:  # not migrated yet, or the database is away: try again later
                logger.warning("job %s: %s", self.NAME, str(exc).splitlines()[0])
            except Exception:
                logger.exception("job %s pass failed", self.NAME)
            self._stop.wait(self.settings.reaper_interval_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waits for a pass in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
