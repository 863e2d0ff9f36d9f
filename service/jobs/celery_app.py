"""The Celery app, built from settings: delivery only. The database holds every job's state.

Celery carries one thing, the job id, from the API (or the reconciler, or a runner re-queuing a job)
to a worker, whose task (``service.jobs.tasks``) hands it to the same runner the embedded pool uses.
The settings below are chosen for long training jobs; each says why. Building the app connects to
nothing: the broker is reached on the first publish or when a worker starts.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any

from celery import Celery, signals
from kombu import Queue

from service.jobs import tasks
from service.jobs.routing import KINDS, queue_name
from service.observability.logging import configure_logging
from service.settings import Settings, available_cores

MAX_TIME_BUDGET_S = 86400.0  # JobCreate.time_budget_s upper bound (service/schemas/jobs.py)


def longest_job_s(settings: Settings) -> float:
    """The longest a job may legitimately run: the largest budget plus the grace to keep its best model."""
    return max(MAX_TIME_BUDGET_S, settings.job_default_time_budget_s) + settings.job_grace_s


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for ``settings`` (a plain dict, so tests can read them without a broker)."""
    backstop_s = longest_job_s(settings) + settings.celery_time_limit_margin_s
    return {
        "broker_url": settings.broker_url,
        # The message is a job id: JSON only, never pickle (no code execution from a broker message).
        "task_serializer": "json",
        "accept_content": ["json"],
        # No result backend: results, metrics and errors live in our database, written by the runner.
        "result_backend": None,
        "task_ignore_result": True,
        # Ack after the task returns, so a worker that dies mid-job leaves the message to be redelivered
        # (the claim's compare-and-set makes a redelivered id a no-op while the job is held or done).
        "task_acks_late": True,
        # A prefork child killed (OOM, SIGKILL) → message re-queued rather than acked as failed.
        "task_reject_on_worker_lost": True,
        # One message per process at a time: a prefetched id would wait behind an hour-long job.
        "worker_prefetch_multiplier": 1,
        # Hard limit only as a backstop above the longest budget + grace; the runner enforces each job's own.
        "task_time_limit": backstop_s,
        # Redis re-delivers unacked messages after visibility_timeout: keep it above the longest job, or a
        # long job's message reaches a second worker (harmless thanks to the claim, but wasted deliveries).
        "broker_transport_options": {"visibility_timeout": backstop_s},
        # A worker started before the broker (compose, a broker restart) keeps trying instead of exiting.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # On a lost broker connection keep training: the job's state is in the database, and the
        # redelivered message is refused by the claim. Cancelling would throw away the work.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Explicit queues (cpu, gpu), durable; a worker consumes only those it is started with.
        "task_queues": [Queue(queue_name(kind, settings), routing_key=queue_name(kind, settings)) for kind in KINDS],
        "task_default_queue": queue_name("cpu", settings),
        "task_create_missing_queues": False,
        # Publishing retries briefly; the reconciler re-publishes whatever still fails.
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        # Keep the worker's own signals out of the way: no task events, no per-task state tracking.
        "worker_send_task_events": False,
        "task_track_started": False,
        "worker_hijack_root_logger": False,
        # Our JSON handler writes to the real stderr: Celery's stdout/stderr proxies would swallow its lines
        # (they log what is printed, and our handler prints what is logged: Celery drops that loop).
        "worker_redirect_stdouts": False,
        "broker_connection_timeout": 5.0,
    }


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings`` with the job task registered under
    :data:`~service.jobs.routing.TASK_NAME`."""
    app = Celery("advisor", set_as_current=False)
    app.conf.update(celery_config(settings))
    tasks.register(app, settings)
    return app


def worker_argv(
    settings: Settings, *, queues: str, concurrency: int | None, pool: str | None
) -> tuple[list[str], Settings, str, int]:
    """Celery worker arguments for ``advisor worker``; also the settings (threads per job) it runs with.

    * ``cpu``: prefork, ``cores // threads_per_job`` processes (jobs × threads ≤ cores: oversubscribed
      jobs ran almost 4× slower here). Each process trains through its own spawned training process.
    * ``gpu``: one job at a time (``--concurrency 1``) in a thread pool: no fork at all, so no CUDA context
      can cross one (CUDA is only touched in the spawned training process), and the worker's main loop keeps
      answering broker heartbeats while the job runs (a solo pool blocks it for the whole job).
    """
    kinds = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise SystemExit(f"advisor worker: --queues takes {', '.join(KINDS)} (got {queues!r})")
    gpu = "gpu" in kinds
    pool = pool or ("threads" if gpu else "prefork")
    cores = available_cores()
    threads = settings.threads_per_job or cores
    if concurrency is None:
        concurrency = 1 if gpu else max(1, cores // threads)
    if concurrency < 1:
        raise SystemExit("advisor worker: --concurrency must be at least 1")
    if pool == "solo":
        concurrency = 1
    threads = min(threads, max(1, cores // concurrency))
    run_settings = settings.model_copy(update={"threads_per_job": threads})
    node = f"{'-'.join(kinds)}-{os.getpid()}@{socket.gethostname()}"
    argv = [
        "worker",
        f"--queues={','.join(queue_name(k, settings) for k in kinds)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--hostname={node}",
        f"--loglevel={settings.log_level.upper()}",
        # No gossip/mingle/event heartbeats: workers coordinate through the database, not with each other,
        # and mingle costs a second at every start.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return argv, run_settings, pool, concurrency


def _keep_our_logging(settings: Settings) -> None:
    """Answer Celery's ``setup_logging`` signal with our own configuration (JSON lines with request and job
    ids): Celery then leaves the root logger and the standard streams alone, in the worker and its children."""

    def setup(**_: object) -> None:
        configure_logging(settings)

    signals.setup_logging.connect(setup, weak=False)


def run_worker(
    settings: Settings, *, queues: str = "cpu", concurrency: int | None = None, pool: str | None = None
) -> int:
    """``advisor worker``: consume ``queues`` and train their jobs until stopped (SIGTERM: warm shutdown)."""
    if settings.queue != "celery" or not settings.broker_url:
        raise SystemExit("advisor worker needs ADVISOR_QUEUE=celery and ADVISOR_BROKER_URL")
    argv, run_settings, pool, concurrency = worker_argv(settings, queues=queues, concurrency=concurrency, pool=pool)
    app = make_celery(run_settings)
    _keep_our_logging(run_settings)
    if pool != "prefork" and run_settings.worker_prewarm:
        # No fork follows (threads/solo): the training processes can start now, one per slot.
        tasks.prewarm(concurrency)
    app.worker_main(argv)
    return 0


def ping_workers(settings: Settings, *, any_host: bool = False, timeout: float = 5.0) -> bool:
    """``advisor worker-ping``: True if a worker (on this host, unless ``any_host``) answers within ``timeout``."""
    if not settings.broker_url:
        return False
    app = make_celery(settings)
    try:
        with app.connection_for_write() as conn:
            # kombu takes float seconds (it compares them with elapsed time); its stub says int.
            conn.ensure_connection(max_retries=1, timeout=timeout)  # type: ignore[arg-type]
        pattern = ".*" if any_host else f".*@{re.escape(socket.gethostname())}$"
        # kombu's matcher is the name of a registered matcher ("glob", "pcre"); the stub says a callable.
        replies = app.control.broadcast(
            "ping",
            reply=True,
            timeout=timeout,
            limit=1,
            pattern=pattern,
            matcher="pcre",  # type: ignore[arg-type]
        )
    except Exception as exc:
        logging.getLogger(__name__).warning("worker-ping: %s", exc)
        return False
    return bool(replies)
