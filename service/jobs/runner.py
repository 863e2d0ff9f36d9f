"""The one runner: every back end (the embedded pool now, Celery workers later) calls :func:`run`.

``run(job_id)``:

1. **Claims** the job with a compare-and-set (``queued`` → ``running``, attempt + 1, a fresh lease owner).
   A duplicate delivery, or a job cancelled or finished meanwhile, is not claimed and not trained.
2. Hands the job to a **training process** (spawned; reused between jobs when it ended cleanly) as ids,
   paths and JSON parameters, and then watches it from this thread without holding any transaction:
   progress goes to the row at most every ``job_progress_interval_s``, the lease is renewed every
   ``heartbeat_s``, and the cancel flag is read about twice a second.
3. **Cancel** or the **time budget** → asks the process to stop (the trainer keeps the best model so far
   and marks it partial); if it has not finished ``job_grace_s`` later it is killed (SIGKILL stops
   native code too).
4. **Always ends** the attempt: succeeded / cancelled (with the model, if any) / failed with a reason,
   or back to ``queued`` when the training process died and attempts are left. Every write after the
   claim is conditioned on this runner's lease, so a runner that lost the job writes nothing.

The parts: :mod:`service.jobs.attempt` (claim, watch, heartbeat, the end written),
:mod:`service.jobs.outcome` (what was watched → the job's next state, pure) and :mod:`service.jobs.results`
(what a model's end stores).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass

from service.db.session import Database
from service.db.types import utcnow
from service.jobs.attempt import Attempt, claim
from service.jobs.process import TrainingProcess
from service.jobs.queue import InProcessQueue, JobQueue
from service.jobs.stages import Stamps, breakdown
from service.observability.request_id import job_context, request_id
from service.repositories import jobs as repo
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What :func:`run` did: ``status`` is None when the job was not claimed (not queued any more)."""

    job_id: str
    status: str | None
    claimed: bool
    process: TrainingProcess | None = None
    requeued: bool = False
    reason: str | None = None
    stages: dict[str, float] | None = None  # milliseconds per stage of the attempt (service.jobs.stages)


def owner_id(worker: str) -> str:
    """A lease owner unique to one claim: worker name, host pid and a random suffix."""
    return f"{worker}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def run(
    job_id: str,
    *,
    db: Database,
    settings: Settings,
    queue: JobQueue | None = None,
    worker: str = "runner",
    process: TrainingProcess | None = None,
    shutdown: threading.Event | None = None,
) -> RunOutcome:
    """Claim ``job_id`` and run it to a terminal state (or back to ``queued`` for a retry).

    ``process`` is a warm training process to reuse (a new one is spawned if it is None or dead); the
    outcome carries the process to reuse next, or None if it was killed or retired. ``queue`` receives
    the id again after a retry is committed. ``shutdown`` set → the job is handed back to the queue
    without using up an attempt.

    Every log line written meanwhile carries the job's id and the id of the request that created it.
    """
    with job_context(job_id):
        return _run(job_id, db=db, settings=settings, queue=queue, worker=worker, process=process, shutdown=shutdown)


def _run(
    job_id: str,
    *,
    db: Database,
    settings: Settings,
    queue: JobQueue | None,
    worker: str,
    process: TrainingProcess | None,
    shutdown: threading.Event | None,
) -> RunOutcome:
    stamp = Stamps()
    stamp("start")
    owner = owner_id(worker)
    claimed = db.call(claim, id=job_id, owner=owner, now=utcnow(), lease_s=settings.lease_s, settings=settings)
    stamp("claim")
    if claimed is None:
        logger.debug("job %s not claimed (not queued any more)", job_id)
        return RunOutcome(job_id, None, False, process)
    if isinstance(claimed, str):  # its tenant runs as many jobs as it may: it waits, queued
        logger.info("job %s stays queued: %s", job_id, claimed)
        return RunOutcome(job_id, None, False, process, reason=claimed)
    job, storage_path, file_sha256, members = claimed
    request_id.set(job.request_id)
    attempt = Attempt(
        job,
        owner,
        storage_path,
        file_sha256,
        db=db,
        settings=settings,
        shutdown=shutdown or threading.Event(),
        stamp=stamp,
    )
    attempt.members = members
    try:
        process = attempt.execute(process)
    except Exception as exc:  # a bug or a database outage here must not leave the job running
        logger.exception("runner failed on job %s", job_id)
        if process is not None:
            process.kill()
        process = None
        attempt.fail_safely(f"internal error in the job runner: {type(exc).__name__}: {exc}")
    if attempt.follow_up is not None and queue is not None:  # a race's ensemble, committed with this job's end
        try:
            queue.enqueue(attempt.follow_up, "cpu")
        except Exception:
            logger.warning("could not enqueue job %s; the reaper will", attempt.follow_up, exc_info=True)
    if attempt.requeued and queue is not None:
        try:
            queue.enqueue(job_id, job.queue)
        except Exception:  # the reaper re-enqueues queued jobs it finds waiting
            logger.warning("could not re-enqueue job %s; the reaper will", job_id, exc_info=True)
    elif queue is not None and attempt.tenant_was_full:
        # A running slot of the tenant is free and it had none before: a job it kept waiting may start now.
        # (Below its limit no claim was refused, so every queued job still has its message: nothing to hand on.)
        start_next(db, queue, job.tenant_id)
    stamp("start_next")
    stages = breakdown(stamp.items)
    logger.debug("job %s: stages (ms) %s", job_id, {k: round(v, 2) for k, v in stages.items()})
    return RunOutcome(job_id, attempt.final_status, True, process, attempt.requeued, attempt.reason, stages)


def start_next(db: Database, queue: JobQueue, tenant_id: str) -> None:
    """Hand the tenant's oldest queued job that is not already waiting in this process's queue to the queue
    again: a job its running quota kept waiting starts as soon as a slot is free, not at the reaper's next
    sweep. A duplicate delivery is harmless (the claim refuses a job that is not queued)."""
    waiting = queue.waiting() if isinstance(queue, InProcessQueue) else frozenset()
    try:
        for job_id, name in db.call(repo.queued, tenant_id=tenant_id, limit=len(waiting) + 1, write=False):
            if job_id not in waiting:
                queue.enqueue(job_id, name)
                return
    except Exception:  # the reaper re-enqueues queued jobs it finds waiting
        logger.warning("could not hand tenant %s's next queued job to the queue", tenant_id, exc_info=True)
