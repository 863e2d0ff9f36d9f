"""The Celery task: an adapter from a job id to :func:`service.jobs.runner.run`, the runner every back end uses.

The message carries the id and nothing else. Everything the runner needs is built in the process that
runs the task, after any fork: the database engine (a prefork child builds its own in
``worker_process_init``; an engine copied across a fork would share sockets with the parent), the
queue used to re-publish a retried job, and a warm training process (spawned, never forked, so no
CUDA context or thread crosses a fork; the worker itself never imports torch).

A redelivered or duplicated message is harmless: the runner's claim is a compare-and-set on
``status='queued'``, so only one delivery trains a job, and every later write is conditioned on that
claim's lease.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, signals
from sqlalchemy.exc import SQLAlchemyError

from service.db.session import Database
from service.jobs import runner
from service.jobs.celery_queue import CeleryQueue
from service.jobs.process import TrainingProcess, start_training_process
from service.jobs.routing import TASK_NAME
from service.settings import Settings

logger = logging.getLogger(__name__)

DB_RETRY_S = 5.0  # a claim that hit a database outage is re-published this much later


@dataclass
class _ProcessState:
    """What one worker process (a prefork child, or the main process of a threads/solo pool) owns."""

    pid: int
    settings: Settings
    db: Database
    queue: CeleryQueue  # synchronous publishes from a worker
    name: str
    shutdown: threading.Event = field(default_factory=threading.Event)
    idle: list[TrainingProcess] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_process(self) -> TrainingProcess | None:
        with self.lock:
            return self.idle.pop() if self.idle else None

    def give_back(self, process: TrainingProcess | None) -> None:
        if process is None:
            if self.settings.worker_prewarm and not self.shutdown.is_set():
                process = start_training_process(
                    self.settings
                )  # replace a killed or retired one now, so the next job finds it warm
            else:
                return
        with self.lock:
            self.idle.append(process)

    def close(self) -> None:
        with self.lock:
            processes, self.idle = self.idle, []
        for process in processes:
            process.kill()
        self.db.dispose()


_app: Celery | None = None
_settings: Settings | None = None
_state: _ProcessState | None = None
_state_lock = threading.Lock()


def _process_state() -> _ProcessState:
    """This process's state, built on first use in each process (never inherited across a fork)."""
    global _state
    with _state_lock:
        if _state is None or _state.pid != os.getpid():
            if _app is None or _settings is None:
                raise RuntimeError("service.jobs.tasks.register(app, settings) was not called")
            settings = _settings
            # An engine inherited from a parent is dropped without closing its sockets (the parent owns them).
            _state = _ProcessState(
                pid=os.getpid(),
                settings=settings,
                db=Database.from_url(
                    settings.database_url,
                    busy_timeout_s=settings.sqlite_busy_timeout_s,
                    pool_size=2,
                    echo=settings.db_echo,
                ),
                queue=CeleryQueue(_app, settings, background=False),
                name=f"celery-{socket.gethostname()}",
            )
        return _state


def prewarm(count: int = 1) -> None:
    """Start ``count`` training processes now (ML libraries imported before the first job arrives)."""
    state = _process_state()
    for _ in range(count):
        state.give_back(start_training_process(state.settings))


def run_job(job_id: Any) -> str | None:
    """Run one job (the task body); returns its final status, or None if it was not claimed."""
    if not isinstance(job_id, str) or not job_id or len(job_id) > 64:
        logger.error("ignoring a message with an invalid job id %r", job_id)
        return None
    state = _process_state()
    process = state.take_process()
    try:
        outcome = runner.run(
            job_id,
            db=state.db,
            settings=state.settings,
            queue=state.queue,
            worker=state.name,
            process=process,
            shutdown=state.shutdown,
        )
    except BaseException:
        if process is not None:
            process.kill()
        raise
    state.give_back(outcome.process)
    if outcome.claimed:
        logger.info("job %s: %s", job_id, outcome.status)
    return outcome.status


def register(app: Celery, settings: Settings) -> None:
    """Register the job task on ``app`` and the worker signals that build per-process state."""
    global _app, _settings, _state
    _app, _settings, _state = app, settings, None

    @app.task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, max_retries=None)
    def run_job_task(self: Any, job_id: Any) -> str | None:
        try:
            return run_job(job_id)
        except SQLAlchemyError as exc:
            # The claim could not be made (database unreachable): try again later; the row is still queued.
            logger.warning(
                "job %s: database error before the claim (%s); retrying in %.0f s",
                job_id,
                str(exc).splitlines()[0],
                DB_RETRY_S,
            )
            raise self.retry(countdown=DB_RETRY_S, exc=exc) from exc

    signals.worker_process_init.connect(_on_process_init, weak=False, dispatch_uid="advisor-process-init")
    signals.worker_process_shutdown.connect(_on_process_shutdown, weak=False, dispatch_uid="advisor-process-stop")
    signals.worker_shutting_down.connect(_on_shutting_down, weak=False, dispatch_uid="advisor-shutting-down")


def _on_process_init(**_: Any) -> None:
    # A fresh prefork child: its own engine and (if prewarming) its own warm training process.
    # Billiard marks its pool children daemonic, and multiprocessing refuses children to a daemon (they
    # could be orphaned). Ours cannot be: a training process exits as soon as its pipe to this process
    # closes, and worker_process_shutdown kills the idle ones. The runner still needs that process
    # (cancel and time budget kill it with SIGKILL; native code cannot be interrupted otherwise).
    # Billiard also leaves its own authkey type there, which spawn refuses to pickle: give it a fresh one.
    current = multiprocessing.current_process()
    current._config.pop("daemon", None)  # type: ignore[attr-defined]
    current._config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))  # type: ignore[attr-defined]
    state = _process_state()
    if state.settings.worker_prewarm:
        prewarm(1)


def _on_process_shutdown(**_: Any) -> None:
    if _state is not None and _state.pid == os.getpid():
        _state.close()


def _on_shutting_down(**_: Any) -> None:
    # Warm shutdown of a threads/solo worker (the task runs in this process): hand running jobs back to the
    # queue without using an attempt, instead of holding the shutdown for the rest of the training.
    if _state is not None and _state.pid == os.getpid():
        _state.shutdown.set()
