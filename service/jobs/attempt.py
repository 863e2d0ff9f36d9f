"""One claimed attempt of one job: the claim, the training process's messages watched, the lease renewed
(heartbeat), the cancel flag read, and the end written. What the end *is* comes from
:func:`service.jobs.outcome.next_state`; what a model's end stores comes from :func:`service.jobs.results.shape`.

Every write after the claim is conditioned on the attempt's lease, so a runner that lost the job writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from service.db.models import Dataset, Job, Tenant
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
    RunSpec,
    StopMessage,
    child_message,
    to_wire,
)
from service.jobs.outcome import Ending, Facts, Watch, next_state
from service.jobs.process import ChildDied, TrainingProcess, start_training_process
from service.jobs.results import shape
from service.jobs.stages import Stamps
from service.observability import metrics
from service.repositories import jobs as repo
from service.services import quotas
from service.services.races import add_ensemble_if_due, ensemble_members
from service.settings import Settings
from service.webhooks import outbox

# The runner's logger, as before the runner was split: operators filter and alert on its name.
logger = logging.getLogger("service.jobs.runner")

TICK_S = 0.2  # how long one wait for a message from the training process lasts
CANCEL_POLL_S = 0.5  # how often the cancel flag is read when nothing else was written
STARTUP_TIMEOUT_S = 300.0  # a new training process must answer within this (imports included)
ENSEMBLE_TRAINER = "ensemble"  # a race's ensemble entry (service.services.races, trainers.ensemble)


def claim(
    *, session: Any, id: str, owner: str, now: datetime, lease_s: float, settings: Settings
) -> tuple[Job, str | None, dict[str, str] | None, list[dict[str, Any]]] | str | None:
    """Claim the job and read where its dataset is stored (and its files' SHA-256), and for a race's ensemble
    its members, in one transaction.

    None: not queued any more. A string: why it stays queued (its tenant already runs its quota of jobs;
    :func:`service.jobs.runner.start_next` hands it to the queue again when one of them ends)."""
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
        # Resolved now, from the race's own entries (same tenant), never from anything a request sent.
        members = ensemble_members(session=session, race_id=job.race_id, tenant_id=job.tenant_id)
    else:
        members = []
    # Two columns, not the dataset's whole row (its profile, warnings...): all a runner reads of it.
    where = select(Dataset.storage_path, Dataset.details).where(Dataset.id == job.dataset_id)
    dataset = session.execute(where).first() if job.dataset_id else None
    if dataset is None:
        return job, None, None, members
    return job, dataset.storage_path, (dataset.details or {}).get("file_sha256"), members


def _tenant_full(session: Any, settings: Settings, tenant_id: str) -> bool:
    """Whether the tenant runs as many jobs as it may (its own limit, else the settings'), in one statement."""
    running = select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id, Job.status == states.RUNNING)
    own = select(Tenant.max_concurrent_jobs).where(Tenant.id == tenant_id)
    count, limit = session.execute(select(running.scalar_subquery(), own.scalar_subquery())).one()
    return int(count or 0) >= (limit if limit is not None else settings.tenant_max_concurrent_jobs)


class Attempt:
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
        stamp: Stamps | None = None,
    ) -> None:
        self.job_id = job.id
        self.stamp = stamp or Stamps()  # where the attempt's time goes (service.jobs.stages)
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
        # Whether the tenant ran as many jobs as it may when this attempt ended (read in the end's transaction,
        # this job still counted): only then can a job of its be waiting for the slot this end frees. Unknown
        # (no end written) counts as full: handing a job on twice is harmless, forgetting one is not.
        self.tenant_was_full = True
        self.members: list[dict[str, Any]] = []  # a race's ensemble: its members' artifacts (from the claim)
        self.job = job
        self.out_dir = settings.artifacts_dir / job.id / str(job.attempt)
        self.watch = Watch()
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
            n_threads=self.settings.job_threads,
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
            self._end(Ending(states.FAILED, {"type": exc.kind, "message": exc.message}))
            return process
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        self.out_dir.mkdir(parents=True)
        if process is not None and (not process.alive() or process.jobs_run >= self.settings.job_max_per_child):
            process.kill()  # dead, or retired: idle either way, nothing to lose (a graceful exit took 0.6 s)
            process = None
        if process is None:
            process = start_training_process(self.settings)
        process.jobs_run += 1
        self.stamp("prepare")
        try:
            process.send(to_wire(message))
            self.stamp("send")
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
        if reuse is not None and (why := reuse.retire_reason(self.settings.job_max_per_child)) is not None:
            # Replaced now, with the job's end already written: the worker starts the next process at once
            # (prewarm) instead of the next job waiting for this one to exit.
            logger.info("job %s: replacing its training process (%s)", self.job_id, why)
            reuse.kill()
            reuse = None
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
                self.stamp("heartbeat")
                last_write = last_cancel_check = now
                dirty = False
                if cancel is not None:
                    metrics.record_heartbeat(self.worker)
            elif now - last_cancel_check >= CANCEL_POLL_S:
                cancel = self.db.call(repo.cancel_flag, id=self.job_id, owner=self.owner, write=False)
                self.stamp("cancel_poll")
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
            self.stamp(f"{msg.run}_result_received")
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
            self.stamp.items.extend(msg.stamps)
            self.stamp("done_received")
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
        ending: Ending,
        *,
        values: dict[str, Any] | None = None,
        metric_rows: list[dict[str, Any]] | None = None,
    ) -> None:
        """Write ``ending`` (conditioned on this attempt's lease) with ``values`` and metric rows."""
        now = utcnow()
        status = ending.status
        update: dict[str, Any] = {
            "updated_at": now,
            "error": ending.error,
            "history": [*self.history, self._history_entry(ending.outcome, ending.reason)],
        }
        if status == states.QUEUED:
            update.update(queued_at=now, progress=None, cancel_requested=False)
            if not ending.count_attempt:
                update["attempt"] = max(0, self.attempt - 1)
        else:
            update["finished_at"] = now
        update.update(values or {})

        def write(*, session: Any) -> bool:
            if status != states.QUEUED:  # a running slot frees: was a job of the tenant waiting for one?
                self.tenant_was_full = _tenant_full(session, self.settings, self.job.tenant_id)
            if not repo.finish(session=session, id=self.job_id, owner=self.owner, status=status, values=update):
                self.tenant_was_full = True
                return False
            repo.add_metrics(session=session, rows=metric_rows or [])
            if states.is_terminal(status) and self.job.callback_url:  # its webhook commits with its end, or neither
                outbox.enqueue_for_job(session, self.job_id)
            if states.is_terminal(status) and self.job.race_id and self.job.trainer != ENSEMBLE_TRAINER:
                added = add_ensemble_if_due(session=session, race_id=self.job.race_id)
                self.follow_up = added.id if added is not None else None
            return True

        if self.db.call(write):
            outcome = ending.outcome
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
            self.reason = ending.reason
        else:
            logger.warning("job %s: lease lost before its result was written (owner %s)", self.job_id, self.owner)

    def fail_safely(self, message: str) -> None:
        """Mark the job failed after an unexpected runner error; the reaper covers a failure of this too."""
        try:
            self._end(Ending(states.FAILED, {"type": "runner_error", "message": message}))
        except Exception:
            logger.exception("job %s: could not record the failure; its lease will expire", self.job_id)

    def _finalize(self) -> None:
        w = self.watch
        facts = Facts(
            attempt=self.attempt,
            max_attempts=self.max_attempts,
            cancel_requested=self.job.cancel_requested,
            grace_s=self.settings.job_grace_s,
            time_budget_s=self.time_budget_s,
        )
        ending = next_state(w, facts)
        if ending is None:
            return
        if not ending.with_model or w.model is None:
            self._end(ending)
            return
        shaped = shape(
            job_id=self.job_id,
            model=w.model,
            baseline=w.baseline,
            baseline_error=w.baseline_error,
            baseline_spec=self.job.baseline_spec,
            stop_reason=w.stop_reason,
            artifacts_root=self.settings.artifacts_dir,
            out_dir=self.out_dir,
            now_ms=time.time_ns() // 1_000_000,
        )
        self.stamp("shape")
        progress = {**w.progress, "phase": "done", "eta_s": 0.0}
        # What the job stores (model files + zip) is counted against the tenant's stored-bytes quota.
        stored_bytes = sum(p.stat().st_size for p in self.out_dir.rglob("*") if p.is_file())
        self.stamp("stored_bytes")
        self._end(
            ending,
            values={"result": shaped.result, "progress": progress, "artifact_bytes": stored_bytes},
            metric_rows=shaped.metric_rows,
        )
        self.stamp("end_write")


class _JobError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
