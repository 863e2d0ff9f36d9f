"""Service settings: one pydantic-settings class whose defaults run everything on one machine.

Every value can be set from the environment with the ``ADVISOR_`` prefix (``ADVISOR_DATA_DIR``,
``ADVISOR_DATABASE_URL``, ...). Nothing here connects to anything: ``create_app(settings)`` does that.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Settings(BaseSettings):
    """Validated once at start; later issues add queue, broker and artifact settings here."""

    model_config = SettingsConfigDict(env_prefix="ADVISOR_", extra="ignore", validate_default=True)

    data_dir: Path = Field(default=Path("data"), description="Local folder for the SQLite file and artifacts.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file `advisor.db` under data_dir. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    sqlite_busy_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="How long a SQLite writer waits for the lock."
    )
    db_pool_size: int = Field(default=5, ge=1, le=100, description="Pooled connections (non-SQLite).")
    db_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["json", "text"] = Field(
        default="json", description="Log lines: one JSON object each (with request_id / job_id), or plain text."
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest upload accepted (413 beyond it, checked while streaming)."
    )
    max_json_bytes: int = Field(
        default=1024**2,
        ge=1,
        description="Largest request body that is not a multipart upload (JSON): 413 beyond it, checked while "
        "streaming.",
    )

    # -- predictions (POST /v1/jobs/{id}/predictions) --------------------------------------------------
    predict_batch_rows: int = Field(
        default=20_000,
        ge=1,
        description="A prediction request with more samples than this runs as a batch prediction (202 + Location).",
    )
    predict_batch_bytes: int = Field(
        default=32 * 1024**2,
        ge=1,
        description="An uploaded file to predict larger than this runs as a batch prediction (202 + Location).",
    )
    predict_batch_workers: int = Field(
        default=1, ge=1, le=64, description="Batch predictions predicted at once by one API process (threads)."
    )
    predict_batch_stale_s: float = Field(
        default=600.0,
        gt=0,
        description="A running batch prediction that has not progressed for this long reads as failed (its "
        "process stopped).",
    )

    # -- training jobs (service.jobs) ------------------------------------------------------------------
    queue: Literal["inprocess", "celery"] = Field(
        default="inprocess",
        description="Where job ids are sent: the embedded worker pool of `advisor serve`, or a Celery broker "
        "(`celery`: the API only accepts and reports jobs; `advisor worker` processes train them).",
    )
    # Two slots by default: a race's entries train two at a time, each on half the cores. Most fits of a race
    # on a small table are serial anyway (boosting below trainers.classical.boosting.SERIAL_MAX_CELLS, the
    # loading, scoring and saving around every fit), so one slot left a core idle for most of a race.
    workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Jobs trained at once by the embedded pool (0: this process trains none); each job gets "
        "threads_per_job threads.",
    )
    threads_per_job: int | None = Field(
        default=None, ge=1, le=1024, description="Threads each job gives its ML library; default cores // workers."
    )
    job_max_attempts: int = Field(
        default=2, ge=1, le=10, description="Tries of a job whose worker or training process died, before it fails."
    )
    lease_s: float = Field(
        default=30.0, gt=0, le=3600, description="A running job whose heartbeat is older than this is re-queued."
    )
    heartbeat_s: float = Field(default=5.0, gt=0, le=600, description="How often a running job renews its lease.")
    reaper_interval_s: float = Field(default=5.0, gt=0, le=600, description="How often expired leases are looked for.")
    job_grace_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="After a stop request (cancel, time budget) how long training may take to keep its best model "
        "before the process is killed.",
    )
    job_progress_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="Least time between two progress writes of one job."
    )
    job_default_time_budget_s: float = Field(default=3600.0, ge=1, le=86400)
    job_max_per_child: int = Field(
        default=500,
        ge=1,
        description="Jobs one warm training process runs before it is replaced (frees memory; one that holds far "
        "more memory than after its first job is replaced sooner). A replacement costs ~1.2 CPU-s of imports.",
    )
    worker_prewarm: bool = Field(
        default=True, description="Start the training processes (and import the ML libraries) before the first job."
    )
    sse_poll_s: float = Field(default=0.5, gt=0, le=60, description="How often /events looks at a job.")
    job_omp_wait_policy: Literal["PASSIVE", "ACTIVE", "inherit"] = Field(
        default="PASSIVE",
        description="OMP_WAIT_POLICY of the training processes. PASSIVE: OpenMP threads sleep at barriers instead "
        "of spinning; on a shared 2-core machine a 300k-row XGBoost fit used 4 CPU-s instead of 10 and a tiny fit "
        "took 0.05 s instead of 1-2 s. 'inherit' leaves the environment alone.",
    )

    # -- scale-out: Celery workers (service.jobs.celery_app) -------------------------------------------
    broker_url: str = Field(
        default="",
        description="Celery broker for queue=celery: redis://host:6379/0 or amqp://user:pass@host:5672//. "
        "No default: credentials come from the environment. RabbitMQ: set the broker's consumer_timeout "
        "(rabbitmq.conf, default 30 min) above job budget + grace, or a long job's channel is closed mid-job.",
    )
    gpu_queue_enabled: bool = Field(
        default=False,
        description="GPU workers exist: torch jobs go to the `gpu` queue. False: every job goes to `cpu`.",
    )
    broker_queue_prefix: str = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Prefix of the queue names (`<prefix>cpu`, `<prefix>gpu`): deployments sharing a broker.",
    )
    celery_time_limit_margin_s: float = Field(
        default=600.0,
        ge=0,
        le=86400,
        description="Celery's hard task time limit = the longest job budget + grace + this; a backstop only "
        "(the runner enforces each job's own budget).",
    )
    broker_republish_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="The reconciler re-publishes a job still queued this long after this process last "
        "published it (messages lost with a broker restart or a failed publish).",
    )

    # -- access: API keys, tenants, limits (service.auth) ---------------------------------------------
    auth_mode: Literal["auto", "required"] = Field(
        default="auto",
        description="auto: requests without a key run as the `default` tenant while no active key exists, and "
        "need one as soon as a key is created (`advisor keys create`); required: every request needs a key.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="Requests per minute per API key (a key's own limit overrides it); 429 + Retry-After beyond. "
        "Counted per API process unless rate_limit_redis_url is set.",
    )
    rate_limit_redis_url: str = Field(
        default="",
        description="Redis for the rate limits (redis://host:6379/1): every API replica then counts against the "
        "same limit. Empty: each process counts alone.",
    )
    rate_limit_burst: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Requests a key may send at once (default: a tenth of a minute's).",
    )
    tenant_max_concurrent_jobs: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Running jobs per tenant (a tenant's own quota overrides); more wait queued.",
    )
    tenant_max_queued_jobs: int = Field(
        default=1_000,
        ge=1,
        le=10_000_000,
        description="Queued jobs per tenant: a batch may wait, up to this many; beyond it a new job is refused (429).",
    )
    tenant_max_stored_bytes: int = Field(
        default=50 * 1024**3,
        ge=1,
        description="Bytes of datasets and model files per tenant (a tenant's own quota overrides).",
    )

    # -- webhooks: a job's callback_url is POSTed its summary when it ends (service.webhooks) ----------
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow callback_url targets on private, loopback and link-local addresses (a closed network, "
        "tests). Off: they are refused when the job is created and before every try (SSRF).",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Connect / send / read timeout of one webhook try."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Tries of one webhook (2xx ends them; 410 Gone stops them) before it fails."
    )
    webhook_backoff_s: float = Field(
        default=5.0, gt=0, le=86400, description="Wait after the first failed try; doubled after each further one."
    )
    webhook_backoff_max_s: float = Field(
        default=3600.0, gt=0, le=7 * 86400, description="Longest wait between two tries of one webhook (±10 %)."
    )
    webhook_poll_s: float = Field(
        default=1.0, gt=0, le=600, description="How often each API process looks for webhooks to send."
    )

    # -- advice learned from evidence (advisor.portfolio) ---------------------------------------------
    portfolio_path: Path | None = Field(
        default=None,
        description="A portfolio JSON (bench/learn_portfolio.py's format) used instead of the packaged one. Read "
        "again whenever the file changes (checked per recommendation), so a benchmark can swap in a portfolio that "
        "leaves the dataset under test out without restarting the service.",
    )

    @model_validator(mode="after")
    def _job_threads(self) -> Settings:
        # Oversubscription: jobs × threads > cores made a 13 s fit take 48 s here (ARCHITECTURE.md).
        cores = available_cores()
        if "workers" not in self.model_fields_set:
            # Slots not given: the default, but no more than the cores hold at the given threads per job (one
            # core gets one slot; THREADS_PER_JOB=2 alone on two cores gets one slot of two threads).
            width = self.threads_per_job or 1
            self.workers = max(1, min(self.workers, cores // width))
        if self.threads_per_job is None:
            self.threads_per_job = self._default_threads(cores)
        elif self.workers * self.threads_per_job > cores:
            raise ValueError(
                f"workers × threads_per_job = {self.workers} × {self.threads_per_job} exceeds the {cores} cores"
            )
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError("lease_s must be at least twice heartbeat_s, or a slow write loses the lease")
        if self.queue == "celery" and not self.broker_url:
            raise ValueError("queue=celery needs broker_url (ADVISOR_BROKER_URL=redis://… or amqp://…)")
        return self

    @property
    def job_threads(self) -> int:
        """``threads_per_job`` as validation resolved it (``cores // workers`` when not set)."""
        if self.threads_per_job is None:  # only a settings object built without validation (model_construct)
            return self._default_threads(available_cores())
        return self.threads_per_job

    def _default_threads(self, cores: int) -> int:
        return max(1, cores // max(1, self.workers))

    @property
    def artifacts_dir(self) -> Path:
        """Where training jobs write their models: ``data_dir/artifacts/<job_id>/``."""
        return self.data_dir / "artifacts"

    @property
    def metrics_dir(self) -> Path:
        """Prometheus multiprocess files when ``PROMETHEUS_MULTIPROC_DIR`` is unset: ``data_dir/metrics``."""
        return self.data_dir / "metrics"

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        # An absolute path keeps the database where it was configured if the process changes cwd.
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'advisor.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (the single-machine default)."""
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
