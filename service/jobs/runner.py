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
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from service.db.models import Dataset, Job
from service.db.session import Database
from service.db.types import utcnow
from service.jobs import states
from service.jobs.messages import (
    ChildMessage,
    DoneMessage,
    ErrorMessage,
    JobMessage,
    Member,
    ProgressMessage,
    ResultMessage,
    RunError,
    RunSpec,
    StopMessage,
    child_message,
    to_wire,
)
from service.jobs.process import ChildDied, TrainingProcess, child_env, describe_exit
from service.jobs.queue import InProcessQueue, JobQueue
from service.observability import metrics
from service.observability.request_id import job_context, request_id
from service.repositories import jobs as repo
from service.services import quotas
from service.settings import Settings
from service.webhooks import outbox
from trainers.metrics import HIGHER_IS_BETTER

logger = logging.getLogger(__name__)

TICK_S = 0.2  # how long one wait for a message from the training process lasts
CANCEL_POLL_S = 0.5  # how often the cancel flag is read when nothing else was written
STARTUP_TIMEOUT_S = 300.0  # a new training process must answer within this (imports included)
# How an attempt ended, in the job's history ("retried": the process died and another attempt follows).
_OUTCOMES = {states.QUEUED: "retried"}
ENSEMBLE_TRAINER = "ensemble"  # a race's ensemble entry (service.services.races, trainers.ensemble)


@dataclass
class RunOutcome:
    """What :func:`run` did: ``status`` is None when the job was not claimed (not queued any more)."""

    job_id: str
    status: str | None
    claimed: bool
    process: TrainingProcess | None = None
    requeued: bool = False
    reason: str | None = None


@dataclass
class _Watch:
    """What the runner learned from the training process during one attempt."""

    model: ResultMessage | None = None
    model_error: RunError | None = None
    baseline: ResultMessage | None = None
    baseline_error: RunError | None = None
    done: bool = False
    died: int | None = None
    died_reason: str | None = None
    stop_reason: str | None = None
    killed: bool = False
    lost_lease: bool = False
    shutdown: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    phase_started: float | None = None


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
    owner = owner_id(worker)
    claimed = db.call(_claim, id=job_id, owner=owner, now=utcnow(), lease_s=settings.lease_s, settings=settings)
    if claimed is None:
        logger.debug("job %s not claimed (not queued any more)", job_id)
        return RunOutcome(job_id, None, False, process)
    if isinstance(claimed, str):  # its tenant runs as many jobs as it may: it waits, queued
        logger.info("job %s stays queued: %s", job_id, claimed)
        return RunOutcome(job_id, None, False, process, reason=claimed)
    job, storage_path, file_sha256, members = claimed
    request_id.set(job.request_id)
    attempt = _Attempt(
        job, owner, storage_path, file_sha256, db=db, settings=settings, shutdown=shutdown or threading.Event()
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
    elif queue is not None:  # a running slot of the tenant is free: a job it kept waiting may start now
        _start_next(db, queue, job.tenant_id)
    return RunOutcome(job_id, attempt.final_status, True, process, attempt.requeued, attempt.reason)


def _claim(
    *, session: Any, id: str, owner: str, now: datetime, lease_s: float, settings: Settings
) -> tuple[Job, str | None, dict[str, str] | None, list[dict[str, Any]]] | str | None:
    """Claim the job and read where its dataset is stored (and its files' SHA-256), and for a race's ensemble
    its members, in one transaction.

    None: not queued any more. A string: why it stays queued (its tenant already runs its quota of jobs;
    :func:`_start_next` hands it to the queue again when one of them ends)."""
    row = session.get(Job, id)
    if row is None or row.status != states.QUEUED:
        return None
    allowed, running, limit = quotas.may_start(session=session, settings=settings, tenant_id=row.tenant_id)
    if not allowed:
        return f"its tenant runs {running} job(s) of the {limit} it may run at once"
    job = repo.claim(session=session, id=id, owner=owner, now=now, lease_s=lease_s)
    if job is None:
        return None
    if job.trainer == ENSEMBLE_TRAINER and job.race_id:
        from service.services.races import ensemble_members

        # Resolved now, from the race's own entries (same tenant), never from anything a request sent.
        members = ensemble_members(session=session, race_id=job.race_id, tenant_id=job.tenant_id)
    else:
        members = []
    dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
    if dataset is None:
        return job, None, None, members
    return job, dataset.storage_path, (dataset.details or {}).get("file_sha256"), members


def _start_next(db: Database, queue: JobQueue, tenant_id: str) -> None:
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


class _Attempt:
    """One claimed attempt of one job."""

    def __init__(
        self,
        job: Job,
        owner: str,
        storage_path: str | None,
        file_sha256: dict[str, str] | None,
        *,
        db: Database,
        settings: Settings,
        shutdown: threading.Event,
    ) -> None:
        self.job_id = job.id
        self.storage_path = storage_path
        self.file_sha256 = file_sha256  # None for datasets stored before files were hashed
        self.owner = owner
        self.db = db
        self.settings = settings
        self.shutdown = shutdown
        self.attempt = job.attempt
        self.max_attempts = job.max_attempts
        self.time_budget_s = float(job.time_budget_s)
        self.started_at = job.started_at or utcnow()
        self.queued_at = job.queued_at
        self.history = list(job.history or [])
        self.final_status: str | None = None
        self.requeued = False
        self.reason: str | None = None
        self.follow_up: str | None = None  # a job this attempt's end created (a race's ensemble), to enqueue
        self.members: list[dict[str, Any]] = []  # a race's ensemble: its members' artifacts (from the claim)
        self.job = job
        self.out_dir = settings.artifacts_dir / job.id / str(job.attempt)
        self.watch = _Watch()
        self.clock = time.monotonic()  # for advisor_training_seconds
        self.worker = metrics.worker_label(owner.rsplit(":", 2)[0])  # owner_id's worker part

    # -- running ---------------------------------------------------------------------------------
    def _message(self) -> JobMessage:
        job = self.job
        if not self.storage_path:
            raise _JobError("dataset_missing", "the job's dataset was deleted or has no stored data")
        root = self.settings.data_dir.resolve()
        dataset_dir = (root / self.storage_path).resolve()
        if not dataset_dir.is_relative_to(root) or not dataset_dir.is_dir():
            raise _JobError("dataset_missing", f"the dataset's files are missing ({self.storage_path})")
        return JobMessage(
            job_id=job.id,
            dataset_dir=str(dataset_dir),
            dataset_sha256=self.file_sha256,
            out_dir=str(self.out_dir),
            model=RunSpec(trainer=job.trainer, params=job.params),
            baseline=RunSpec.model_validate(job.baseline_spec) if job.baseline_spec else None,
            seed=job.seed,
            n_threads=self.settings.threads_per_job,
            time_budget_s=self.time_budget_s,
            members=self._members() if job.trainer == ENSEMBLE_TRAINER else [],
        )

    def _members(self) -> list[Member]:
        """An ensemble's members: their artifact folders (inside the artifacts folder) and digests."""
        root = self.settings.artifacts_dir.resolve()
        members = []
        for m in self.members:
            folder = (root / str(m["path"])).resolve()
            if folder.is_relative_to(root) and folder.is_dir():
                members.append(Member(job_id=m["job_id"], directory=str(folder), sha256=m["sha256"]))
        return members

    def execute(self, process: TrainingProcess | None) -> TrainingProcess | None:
        """Run the attempt; returns the process to reuse (None if it was killed or retired)."""
        try:
            message = self._message()
        except _JobError as exc:
            self._end(states.FAILED, error={"type": exc.kind, "message": exc.message})
            return process
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        self.out_dir.mkdir(parents=True)
        if process is not None and (not process.alive() or process.jobs_run >= self.settings.job_max_per_child):
            process.close()
            process = None
        if process is None:
            process = TrainingProcess(env=child_env(self.settings))
        process.jobs_run += 1
        try:
            process.send(to_wire(message))
        except ChildDied as exc:
            self.watch.died, self.watch.died_reason = exc.exitcode, str(exc)
        else:
            self._watch(process)
        if self.watch.lost_lease or self.watch.shutdown or self.watch.killed or self.watch.died is not None:
            process.kill()
            reuse = None
        else:
            reuse = process
        self._finalize()
        return reuse

    def _watch(self, process: TrainingProcess) -> None:
        w = self.watch
        s = self.settings
        now = time.monotonic()
        startup_deadline = now + STARTUP_TIMEOUT_S
        # The trainers stop themselves at the budget (TimeBudget callback) and keep their best model;
        # past budget + grace the process is killed, whatever it is doing.
        hard_deadline: float | None = None  # set when the process starts on this job
        kill_at: float | None = None
        last_write = last_cancel_check = now
        dirty = True  # the first progress write also records the child's pid
        while True:
            try:
                raw = process.recv(TICK_S)
            except ChildDied as exc:
                w.died, w.died_reason = exc.exitcode, str(exc)
                return
            now = time.monotonic()
            if raw is not None:
                msg = child_message(raw)
                if hard_deadline is None and getattr(msg, "job_id", None) == self.job_id:
                    hard_deadline = now + self.time_budget_s + s.job_grace_s
                dirty |= self._on_message(msg, now)
                if w.done:
                    return
            # -- database: progress + lease, or a cheap read of the cancel flag ------------------
            cancel: bool | None = False
            if (dirty and now - last_write >= s.job_progress_interval_s) or now - last_write >= s.heartbeat_s:
                cancel = self.db.call(
                    repo.heartbeat,
                    id=self.job_id,
                    owner=self.owner,
                    now=utcnow(),
                    lease_s=s.lease_s,
                    progress=w.progress or None,
                    child_pid=process.pid,
                )
                last_write = last_cancel_check = now
                dirty = False
                if cancel is not None:
                    metrics.record_heartbeat(self.worker)
            elif now - last_cancel_check >= CANCEL_POLL_S:
                cancel = self.db.call(repo.cancel_flag, id=self.job_id, owner=self.owner, write=False)
                last_cancel_check = now
            if cancel is None:
                logger.warning("job %s: lease lost (owner %s); stopping its training", self.job_id, self.owner)
                w.lost_lease = True
                return
            # -- stop conditions -----------------------------------------------------------------
            if self.shutdown.is_set():
                w.shutdown = True
                return
            if cancel and w.stop_reason is None:
                self._stop(process, "cancelled")
                kill_at = now + s.job_grace_s
            if hard_deadline is not None and now >= hard_deadline and kill_at is None:
                w.stop_reason = w.stop_reason or "time_budget"
                kill_at = now
            if kill_at is not None and now >= kill_at:
                logger.warning("job %s: training did not stop within %.0f s; killing it", self.job_id, s.job_grace_s)
                w.killed = True
                return
            if hard_deadline is None and now >= startup_deadline:
                w.died, w.died_reason = None, "the training process did not start in time"
                w.killed = True
                return

    def _stop(self, process: TrainingProcess, reason: Literal["cancelled"]) -> None:
        self.watch.stop_reason = reason
        with contextlib.suppress(ChildDied):  # a dead process is noticed by the next recv
            process.send(to_wire(StopMessage(job_id=self.job_id, reason=reason)))

    def _on_message(self, msg: ChildMessage, now: float) -> bool:
        """Apply one message; True if the progress changed."""
        w = self.watch
        if getattr(msg, "job_id", None) not in (None, self.job_id):
            return False  # a late message about an earlier job
        if isinstance(msg, ProgressMessage):
            phase = msg.phase or "training"
            if phase != w.progress.get("phase"):
                w.phase_started = now
            current, total = msg.current, msg.total
            fraction = min(1.0, current / total) if total > 0 else None
            eta = None
            if fraction and w.phase_started is not None and 0 < current < total:
                eta = round((now - w.phase_started) / current * (total - current), 2)
            w.progress = {
                "phase": phase,
                "current": current,
                "total": total,
                "fraction": None if fraction is None else round(fraction, 4),
                "eta_s": eta,
            }
            if msg.metrics:
                w.progress["metrics"] = msg.metrics
            return True
        if isinstance(msg, ResultMessage):
            if msg.run == "model":
                w.model = msg
            else:
                w.baseline = msg
        elif isinstance(msg, ErrorMessage):
            if msg.run == "model":
                w.model_error = msg.error
            else:
                w.baseline_error = msg.error
        elif isinstance(msg, DoneMessage):
            w.done = True
        return False

    # -- ending ----------------------------------------------------------------------------------
    def _history_entry(self, outcome: str, reason: str | None) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "owner": self.owner,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(utcnow()),
            "outcome": outcome,
            "reason": reason,
        }

    def _end(
        self,
        status: str,
        *,
        error: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        metric_rows: list[dict[str, Any]] | None = None,
        count_attempt: bool = True,
    ) -> None:
        now = utcnow()
        reason = None if error is None else str(error.get("message"))
        update: dict[str, Any] = {
            "updated_at": now,
            "error": error,
            "history": [
                *self.history,
                self._history_entry(_OUTCOMES.get(status, status) if count_attempt else "interrupted", reason),
            ],
        }
        if status == states.QUEUED:
            update.update(queued_at=now, progress=None, cancel_requested=False)
            if not count_attempt:
                update["attempt"] = max(0, self.attempt - 1)
        else:
            update["finished_at"] = now
        update.update(values or {})

        def write(*, session: Any) -> bool:
            if not repo.finish(session=session, id=self.job_id, owner=self.owner, status=status, values=update):
                return False
            repo.add_metrics(session=session, rows=metric_rows or [])
            if states.is_terminal(status) and self.job.callback_url:  # its webhook commits with its end, or neither
                outbox.enqueue_for_job(session, self.job_id)
            if states.is_terminal(status) and self.job.race_id and self.job.trainer != ENSEMBLE_TRAINER:
                from service.services.races import add_ensemble_if_due

                added = add_ensemble_if_due(session=session, race_id=self.job.race_id)
                self.follow_up = added.id if added is not None else None
            return True

        if self.db.call(write):
            outcome = _OUTCOMES.get(status, status) if count_attempt else "interrupted"
            seconds = time.monotonic() - self.clock
            metrics.observe_training(self.job.trainer, outcome, seconds)
            logger.info(
                "job %s: attempt %d %s after %.1f s",
                self.job_id,
                self.attempt,
                outcome,
                seconds,
                extra={"trainer": self.job.trainer, "outcome": outcome, "duration_s": round(seconds, 3)},
            )
            self.final_status = status
            self.requeued = status == states.QUEUED
            self.reason = reason
        else:
            logger.warning("job %s: lease lost before its result was written (owner %s)", self.job_id, self.owner)

    def fail_safely(self, message: str) -> None:
        """Mark the job failed after an unexpected runner error; the reaper covers a failure of this too."""
        try:
            self._end(states.FAILED, error={"type": "runner_error", "message": message})
        except Exception:
            logger.exception("job %s: could not record the failure; its lease will expire", self.job_id)

    def _finalize(self) -> None:
        w = self.watch
        if w.lost_lease:
            return
        if w.shutdown:
            self._end(
                states.QUEUED,
                error={"type": "interrupted", "message": "the server shut down during training"},
                count_attempt=False,
            )
            return
        cancelled = w.stop_reason == "cancelled"
        if w.model is not None:
            self._end_with_model(cancelled)
            return
        if w.model_error is not None:
            error = w.model_error.as_dict()
            if w.model_error.type == "stopped":
                if w.model_error.reason == "cancelled" or cancelled:
                    self._end(
                        states.CANCELLED,
                        error={
                            "type": "cancelled",
                            "message": "cancelled before the first round ended; there is no model",
                        },
                    )
                else:
                    self._end(
                        states.FAILED,
                        error={
                            "type": "time_budget",
                            "message": "the time budget ran out before the first round ended",
                        },
                    )
                return
            self._end(states.FAILED, error=error)
            return
        # No result and no error: the process died, was killed by us, or never started.
        if w.killed:
            if cancelled:
                self._end(
                    states.CANCELLED,
                    error={
                        "type": "cancelled",
                        "message": f"cancelled; training did not stop within {self.settings.job_grace_s:.0f} s "
                        "and was killed before a model was saved",
                    },
                )
            elif w.stop_reason == "time_budget":
                self._end(
                    states.FAILED,
                    error={
                        "type": "time_budget",
                        "message": f"the time budget of {self.time_budget_s:.0f} s ran out and training did not stop "
                        f"within {self.settings.job_grace_s:.0f} s; it was killed",
                    },
                )
            else:
                self._end(states.FAILED, error={"type": "startup", "message": w.died_reason or "no training process"})
            return
        reason = w.died_reason or describe_exit(w.died)
        if self.job.cancel_requested or cancelled:
            self._end(states.CANCELLED, error={"type": "cancelled", "message": f"cancelled; {reason}"})
        elif self.attempt < self.max_attempts:
            self._end(
                states.QUEUED,
                error={
                    "type": "crashed",
                    "message": f"{reason} on attempt {self.attempt} of {self.max_attempts}; retrying",
                    "exitcode": w.died,
                },
            )
        else:
            self._end(
                states.FAILED,
                error={
                    "type": "crashed",
                    "message": f"{reason} on attempt {self.attempt} of {self.max_attempts}",
                    "exitcode": w.died,
                },
            )

    def _end_with_model(self, cancelled: bool) -> None:
        w = self.watch
        assert w.model is not None
        msg = w.model
        result: dict[str, Any] = msg.result.model_dump(mode="json")
        artifacts_root = self.settings.artifacts_dir
        model_dir = Path(result["artifact"]["directory"])
        zip_info = msg.zip.model_dump() if msg.zip else {}
        artifact = {
            "trainer": result["artifact"]["trainer"],
            "format": result["artifact"]["format"],
            "sha256": result["artifact"]["sha256"],
            "files": result["artifact"]["files"],
            "library_versions": result["artifact"]["library_versions"],
            "path": _relative(model_dir, artifacts_root),
            "zip_path": _relative(self.out_dir / str(zip_info.get("file", "model.zip")), artifacts_root),
            "zip_sha256": zip_info.get("sha256"),
            "size_bytes": zip_info.get("size"),
            "partial": bool(result.get("partial")),
        }
        baseline = self._baseline_summary()
        stored = {
            "trainer": result["trainer"],
            "task": result["task"],
            "trained_params": result["params"],
            "derived_params": result.get("derived_params") or {},
            "metrics": result["metrics"],
            "metric_notes": result.get("metric_notes") or {},
            "curves": result["curves"],
            "diagnosis": result.get("diagnosis") or [],
            "best_iteration": result.get("best_iteration"),
            "n_rounds": result.get("n_rounds"),
            "partial": bool(result.get("partial")),
            "partial_reason": result.get("partial_reason"),
            "split": result.get("split"),
            "validation": result.get("validation"),
            "n_rows_dropped": result.get("n_rows_dropped", 0),
            "timings": result.get("timings") or {},
            "library_versions": result.get("library_versions") or {},
            "sample_predictions": msg.sample_predictions,
            "run_info": msg.run_info,
            "notes": msg.notes,
            "baseline": baseline,
            "lift_over_baseline": lift(result["metrics"], baseline["metrics"])
            if baseline and baseline.get("metrics")
            else None,
        }
        now_ms = time.time_ns() // 1_000_000
        rows = metric_rows(self.job_id, "model", result, msg.round_times, now_ms)
        if w.baseline is not None:
            rows += metric_rows(
                self.job_id, "baseline", w.baseline.result.model_dump(mode="json"), w.baseline.round_times, now_ms
            )
        status = states.CANCELLED if cancelled else states.SUCCEEDED
        final_progress = dict(w.progress or {})
        final_progress.update(phase="done", eta_s=0.0)
        error = None
        if cancelled:
            error = {
                "type": "cancelled",
                "message": "cancelled; the best model so far was kept"
                + (" (partial)" if result.get("partial") else ""),
            }
        self._end(
            status,
            error=error,
            metric_rows=rows,
            values={
                "result": stored,
                "artifact": artifact,
                "device": msg.device.model_dump(mode="json") if msg.device else None,
                "progress": final_progress,
                # what the job stores (model files + zip): counted against the tenant's stored-bytes quota
                "artifact_bytes": sum(p.stat().st_size for p in self.out_dir.rglob("*") if p.is_file()),
            },
        )

    def _baseline_summary(self) -> dict[str, Any] | None:
        w = self.watch
        spec = self.job.baseline_spec
        if not spec:
            return None
        summary: dict[str, Any] = {
            "model": spec.get("model") or spec["trainer"],
            "trainer": spec["trainer"],
            "metrics": None,
            "error": None,
        }
        if w.baseline is not None:
            b = w.baseline.result.model_dump(mode="json")
            summary.update(
                metrics=b["metrics"],
                metric_notes=b.get("metric_notes") or {},
                timings=b.get("timings") or {},
                params=b.get("params"),
            )
        elif w.baseline_error is not None:
            err = w.baseline_error
            message = err.message
            if err.type == "stopped":
                message = (
                    "not trained: the time budget was spent"
                    if err.reason == "time_budget"
                    else "not trained: the job was cancelled"
                )
            summary["error"] = {"type": err.type, "message": message}
        else:
            why = {"cancelled": "the job was cancelled", "time_budget": "the time budget was spent"}.get(
                str(w.stop_reason), "the model's training did not finish"
            )
            summary["error"] = {"type": "skipped", "message": f"not trained: {why}"}
        return summary


class _JobError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def lift(model: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How much better the model scores than the baseline, per split and metric (positive = better;
    for losses this is baseline − model)."""
    out: dict[str, Any] = {}
    for split, values in model.items():
        base = baseline.get(split) or {}
        part: dict[str, float] = {}
        for name, value in (values or {}).items():
            other = base.get(name)
            if value is None or other is None:
                continue
            diff = value - other if name in HIGHER_IS_BETTER else other - value
            part[name] = round(float(diff), 10)
        if part:
            out[split] = part
    return out


def metric_rows(
    job_id: str, run: str, result: dict[str, Any], round_times: list[int], now_ms: int
) -> list[dict[str, Any]]:
    """MLflow-style rows: final scores at step 0 and every learning-curve value per round."""
    rows: list[dict[str, Any]] = []
    for split, values in (result.get("metrics") or {}).items():
        for name, value in (values or {}).items():
            rows.append(
                {"job_id": job_id, "run": run, "key": f"{split}.{name}", "value": value, "step": 0, "timestamp": now_ms}
            )
    curves = result.get("curves") or {}
    history: dict[str, dict[str, list[float | None]]] = curves.get("history") or {}
    if not history and curves.get("train_loss") is not None:
        loss = str(curves.get("loss_name") or "loss")
        history = {"train": {loss: curves["train_loss"]}}
        if curves.get("val_loss") is not None:
            history["valid"] = {loss: curves["val_loss"]}
    for part, series in history.items():
        for name, values in series.items():
            for step, value in enumerate(values):
                stamp = round_times[step] if step < len(round_times) else now_ms
                rows.append(
                    {
                        "job_id": job_id,
                        "run": run,
                        "key": f"{part}.{name}",
                        "value": value,
                        "step": step,
                        "timestamp": stamp,
                    }
                )
    return rows
