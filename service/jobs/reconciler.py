"""The reconciler for Celery deployments: the reaper's lease recovery plus re-publishing of queued jobs.

Expired leases are handled by :func:`service.jobs.reaper.reap` itself (re-queue with attempt + 1, or fail
or cancel, each a compare-and-set). What differs from the embedded pool is re-publishing: the in-process
queue can say which ids are waiting, a broker cannot (cheaply). So a queued job is re-published when

* the reaper just re-queued it (its worker died): at once;
* at startup, or when it has waited longer than ``lease_s`` and this process has not published it in the
  last ``broker_republish_s``: its message may have been lost (a Redis restart without persistence, a
  publish that failed, an API that died between commit and publish).

A duplicate message costs one no-op delivery (the runner's claim refuses a job that is not queued); a
missing one would leave the job queued forever, so the reconciler errs on the side of publishing.
It runs in every API process (``JobEngine``), next to the publisher: API processes always exist in a
deployment, while workers may scale to zero, and several reconcilers are safe together.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from service.db.session import Database
from service.db.types import utcnow
from service.jobs.celery_queue import CeleryQueue
from service.jobs.reaper import Reaper, ReapReport, reap
from service.repositories import jobs as repo
from service.settings import Settings

logger = logging.getLogger(__name__)


def reconcile(
    db: Database, settings: Settings, queue: CeleryQueue, *, startup: bool = False, now: datetime | None = None
) -> ReapReport:
    """One pass: release expired leases (the reaper's), then re-publish the queued jobs that need it."""
    now = now or utcnow()
    report = reap(db, settings, None, now=now)  # no queue: the reaper only releases; we publish below
    # Re-queued by this very pass: published now. Their queued_at is `now`, so the stale query below would
    # skip them and they would wait for the next stale sweep (minutes) beside an idle worker.
    pending = dict(report.requeued_to)
    stale_before = now - timedelta(seconds=settings.lease_s)
    for job_id, preferred in db.call(repo.queued, before=None if startup else stale_before, write=False):
        if job_id in pending:
            continue
        if not startup and queue.recently_published(job_id, settings.broker_republish_s):
            continue
        pending[job_id] = preferred
    for job_id, preferred in pending.items():
        try:
            queue.enqueue(job_id, preferred)
        except Exception:
            logger.warning("could not re-publish job %s", job_id, exc_info=True)
            break
        report.enqueued.append(job_id)
    if report.enqueued:
        logger.info("reconciler: re-published %d queued job(s)", len(report.enqueued))
    return report


class Reconciler(Reaper):
    """A daemon thread running :func:`reconcile` every ``reaper_interval_s`` (the first pass is the startup one)."""

    PASS = staticmethod(reconcile)
    NAME = "reconciler"
