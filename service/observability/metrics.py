"""Prometheus metrics, multiprocess-safe: API processes, Celery worker processes and the embedded pool
all write to one directory (``PROMETHEUS_MULTIPROC_DIR``); ``GET /metrics`` merges it at scrape time.

Series:

* ``advisor_http_request_duration_seconds{method, route, status}``: histogram; ``route`` is the route's
  template (``/v1/jobs/{id}``), never the raw path; a path no route matches is ``unmatched``.
* ``advisor_training_seconds{trainer, status}``: histogram of attempt durations, observed by the runner
  when an attempt ends (``status``: succeeded, failed, cancelled, retried, interrupted).
* ``advisor_worker_heartbeats_total{worker}`` and ``advisor_worker_last_heartbeat_seconds{worker}``
  (unix time, most recent across processes): one per lease renewal of a running job. ``worker`` is the
  runner's name with host and pid (``pool-0@host-123``, ``celery-host@host-456``), so a restarted
  process is a new series and the old one keeps its last heartbeat.
* ``advisor_jobs{state}`` (all five states, 0 included) and ``advisor_queue_depth{queue}`` (queued jobs per
  queue, ``cpu`` and ``gpu``, as :mod:`service.jobs.routing` would route them): read from the database at
  scrape time, so every replica reports the same numbers; left out of a scrape when the database is down.

The directory: ``PROMETHEUS_MULTIPROC_DIR`` if set, else ``<data_dir>/metrics``, exported by
:func:`ensure_multiproc_dir` (called by ``create_app`` and by the ``advisor`` command before it serves or
starts a worker) so that every child process inherits it. Each process writes its own files, named by
host and pid (``counter_<host>-<pid>.db``): with the default, every process sharing ``data_dir`` (API
replicas and workers on one volume) writes to one directory, a pid alone would collide between containers,
and each replica then reports the deployment-wide totals: scrape one replica (or the load balancer), not
each. For per-replica series give each container its own ``PROMETHEUS_MULTIPROC_DIR`` (a tmpfs).

Stale files. prometheus_client's advice: empty the directory when the deployment starts, and call
``mark_process_dead`` when a process exits. A starting replica cannot know whether other processes still
use the directory, so nothing here empties it: do it yourself while the whole deployment is stopped (or
use a per-container tmpfs, emptied with its container). The counters and histograms of an exited process
stay in the totals, as they must for counters; ``mark_process_dead`` (called at exit) only removes
``live*`` gauges, of which there are none yet. A dead worker's last heartbeat stays visible, which is what
an alert on ``time() - advisor_worker_last_heartbeat_seconds`` needs.

Metric objects are created lazily, per process and per directory (:func:`_metrics`), never at import:
prometheus_client picks its value class when it is imported (multiprocess only if the variable was set by
then) and opens each file once per process, so metrics created at import would write nowhere useful if the
variable was set later (or to the directory of an earlier app in the same process, as in a test run). Each
binding therefore installs a fresh ``values.MultiProcessValue`` for the current directory and process as
``prometheus_client.values.ValueClass`` (read whenever a metric or a labelled child is created) before it
creates the metrics. Recording never raises: a metrics problem must not fail a request or a job.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.db.models import Job
from service.jobs import states
from service.jobs.routing import KINDS, queue_kind
from service.settings import Settings

logger = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "unmatched"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
TRAINING_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identifier() -> str:
    """This process's part of its metric file names: ``<host>-<pid>`` (unique across containers that share
    the directory; no underscore, which prometheus_client uses to split file names)."""
    return f"{_HOST}-{os.getpid()}"


def ensure_multiproc_dir(settings: Settings) -> Path | None:
    """The metrics directory: ``PROMETHEUS_MULTIPROC_DIR``, or ``settings.metrics_dir`` exported as it when
    unset (child processes inherit it). Created if missing; None (and no metrics but the job counts) when
    it cannot be: metrics never stop the service from starting."""
    current = os.environ.get(ENV)
    path = Path(current) if current else settings.metrics_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("metrics directory %s cannot be created (%s); only job counts will be served", path, exc)
        return None
    if not current:
        os.environ[ENV] = str(path)
    return path


@dataclass
class _Metrics:
    """The metric objects of one process writing to one directory."""

    key: tuple[int, str]
    requests: Histogram
    training: Histogram
    heartbeats: Counter
    last_heartbeat: Gauge


_bound: _Metrics | None = None
_bind_lock = threading.Lock()
_dead_marked: set[tuple[str, str]] = set()
_warned = False


def _bind(directory: str) -> _Metrics:
    # A fresh multiprocess value class per (process, directory): its own open files, named by host and pid.
    Path(directory).mkdir(parents=True, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier)
    identity = (process_identifier(), directory)
    if identity not in _dead_marked:
        _dead_marked.add(identity)
        atexit.register(_mark_dead, *identity)
    return _Metrics(
        key=(os.getpid(), directory),
        requests=Histogram(
            "advisor_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=None,
        ),
        training=Histogram(
            "advisor_training_seconds",
            "Duration of training attempts by trainer and outcome.",
            ["trainer", "status"],
            buckets=TRAINING_BUCKETS,
            registry=None,
        ),
        heartbeats=Counter(
            "advisor_worker_heartbeats",
            "Lease renewals of running jobs, by worker.",
            ["worker"],
            registry=None,
        ),
        last_heartbeat=Gauge(
            "advisor_worker_last_heartbeat_seconds",
            "Unix time of a worker's last lease renewal.",
            ["worker"],
            multiprocess_mode="mostrecent",
            registry=None,
        ),
    )


def _mark_dead(identifier: str, directory: str) -> None:
    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(identifier, directory)


def _metrics() -> _Metrics | None:
    """This process's metrics for the current ``PROMETHEUS_MULTIPROC_DIR``; None when it is unset."""
    global _bound
    directory = os.environ.get(ENV)
    if not directory:
        return None
    key = (os.getpid(), directory)
    bound = _bound
    if bound is not None and bound.key == key:
        return bound
    with _bind_lock:
        if _bound is None or _bound.key != key:
            _bound = _bind(directory)
        return _bound


def _failed(what: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning("could not record %s metrics (later failures are logged at debug level)", what, exc_info=True)
    else:
        logger.debug("could not record %s metrics", what, exc_info=True)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request's latency."""
    try:
        m = _metrics()
        if m is not None:
            m.requests.labels(method, route, str(status)).observe(seconds)
    except Exception:
        _failed("request")


def observe_training(trainer: str, status: str, seconds: float) -> None:
    """One training attempt's duration, when it ends."""
    try:
        m = _metrics()
        if m is not None:
            m.training.labels(trainer, status).observe(max(0.0, seconds))
    except Exception:
        _failed("training")


def worker_label(worker: str) -> str:
    """The ``worker`` label of this process's runner named ``worker``: ``<worker>@<host>-<pid>``."""
    return f"{worker}@{process_identifier()}"


def record_heartbeat(worker: str) -> None:
    """One lease renewal by ``worker`` (a :func:`worker_label`)."""
    try:
        m = _metrics()
        if m is not None:
            m.heartbeats.labels(worker).inc()
            m.last_heartbeat.labels(worker).set(time.time())
    except Exception:
        _failed("heartbeat")


# -- scrape ---------------------------------------------------------------------------------------------
@dataclass
class JobCounts:
    """Jobs per state and queued jobs per queue, read in one query."""

    by_state: dict[str, int]
    queued: dict[str, int]


def job_counts(*, session: Session, settings: Settings) -> JobCounts:
    """Count jobs by status and queue (every state and queue present, 0 included)."""
    by_state: dict[str, int] = dict.fromkeys(states.STATUSES, 0)
    queued: dict[str, int] = dict.fromkeys(KINDS, 0)
    rows = session.execute(select(Job.status, Job.queue, func.count()).group_by(Job.status, Job.queue)).all()
    for status, queue, count in rows:
        by_state[status] = by_state.get(status, 0) + int(count)
        if status == states.QUEUED:
            kind = queue_kind(queue, settings)
            queued[kind] += int(count)
    return JobCounts(by_state, queued)


class JobsCollector:
    """``advisor_jobs`` and ``advisor_queue_depth`` from counts read at scrape time."""

    def __init__(self, counts: JobCounts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        """The two gauge families."""
        jobs = GaugeMetricFamily("advisor_jobs", "Jobs in the database by state.", labels=["state"])
        for state, count in self.counts.by_state.items():
            jobs.add_metric([state], count)
        yield jobs
        depth = GaugeMetricFamily("advisor_queue_depth", "Queued jobs per queue.", labels=["queue"])
        for queue, count in self.counts.queued.items():
            depth.add_metric([queue], count)
        yield depth


def exposition(counts: JobCounts | None) -> bytes:
    """The text exposition (format 0.0.4): every process's files merged, plus the job gauges if ``counts``."""
    registry = CollectorRegistry()
    _metrics()  # bind this process before reading, so its own files exist
    directory = os.environ.get(ENV)
    if directory and os.path.isdir(directory):
        multiprocess.MultiProcessCollector(registry, path=directory)
    if counts is not None:
        registry.register(JobsCollector(counts))
    return generate_latest(registry)


# -- ASGI middleware ------------------------------------------------------------------------------------
def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetricsMiddleware:
    """Pure ASGI middleware observing ``advisor_http_request_duration_seconds`` for every HTTP request.

    The route is read from the scope after the app ran (the router records the matched route there); the
    status is the one the response started with, or 500 when the app raised before starting one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            observe_request(scope.get("method", ""), route_template(scope), status, time.perf_counter() - start)
