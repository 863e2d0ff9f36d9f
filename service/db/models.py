"""ORM models (bare nouns). Relationships, when added, default to ``lazy="raise"``: load explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import CompactText, ModelJSON, StrictJSON, UTCDateTime, new_id, utcnow
from service.jobs.states import JobStatus
from service.jobs.stored import JobResult

DEFAULT_TENANT_ID = "default"
"""The tenant of requests made without a key, while no active key exists (the single-machine default)."""


class Tenant(Base):
    """Who owns datasets, recommendations, jobs and races; every read and write is scoped to one tenant.

    The owned rows' ``tenant_id`` defaults (in Python only) to the default tenant, for rows made outside
    a request (tests, scripts); every route passes the caller's tenant explicitly.

    Quotas left null take the service-wide defaults from the settings. ``webhook_secret`` (``whsec_`` +
    base64) signs this tenant's webhooks: a receiver of one tenant cannot forge another tenant's calls.
    """

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    max_concurrent_jobs: Mapped[int | None] = mapped_column(Integer, default=None)
    max_stored_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    webhook_secret: Mapped[str] = mapped_column(String(100))


class ApiKey(Base):
    """An API key: only the SHA-256 of the key and a display prefix are stored; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    prefix: Mapped[str] = mapped_column(String(24))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)  # null: the settings' default
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Recommendation(Base):
    """A stored advisor answer.

    ``document`` is the advisor's JSON text exactly as produced (``Recommendation.model_dump_json()``),
    so a stored answer is returned unchanged even after the advisor's schema or tables move on; the
    columns beside it are copies for listing and filtering.
    """

    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tables_version: Mapped[str] = mapped_column(String(32))
    family: Mapped[str] = mapped_column(String(32))
    modality: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(32))
    document: Mapped[str] = mapped_column(CompactText())  # zlib on SQLite, text elsewhere (no migration)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"), default=DEFAULT_TENANT_ID
    )
    # Set when the profile was measured from a stored dataset; kept if that dataset is deleted later.
    dataset_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("datasets.id", ondelete="SET NULL"), index=True, default=None
    )

    # Cursor pagination walks (created_at, id) newest first.
    __table_args__ = (Index("ix_recommendations_tenant_id_created_at_id", "tenant_id", "created_at", "id"),)


class Dataset(Base):
    """An uploaded (or metadata-only) dataset and what was measured about it.

    Uploaded data is stored once under ``data_dir/datasets/<fingerprint>/`` (normalized: Parquet or
    NPZ plus ``schema.json``); ``fingerprint`` is the SHA-256 of the original bytes and of the options that
    shape the normalized copy (target, task, modality), so the same upload is recognised and not stored
    twice. A metadata-only dataset has no files and cannot be trained on.
    """

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"), default=DEFAULT_TENANT_ID
    )
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[Literal["upload", "metadata"]] = mapped_column(String(16))
    modality: Mapped[str] = mapped_column(String(16))
    task: Mapped[str] = mapped_column(String(16))
    task_reason: Mapped[str | None] = mapped_column(Text, default=None)
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    format: Mapped[str | None] = mapped_column(String(32), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    n_rows: Mapped[int] = mapped_column(Integer)
    storage_path: Mapped[str | None] = mapped_column(String(300), default=None)  # relative to data_dir
    profile: Mapped[dict] = mapped_column(StrictJSON())
    details: Mapped[dict] = mapped_column(StrictJSON())
    warnings: Mapped[list] = mapped_column(StrictJSON())

    __table_args__ = (Index("ix_datasets_tenant_id_created_at_id", "tenant_id", "created_at", "id"),)


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(Base):
    """A training job. The row is the truth: status, attempt, lease, heartbeat, cancel flag, progress.

    The queue only ever carries the id. ``lease_owner`` + ``lease_expires_at`` say which runner holds a
    running job until when; every write a runner makes after its claim is conditioned on its lease, so
    a runner that lost the job cannot overwrite it. ``result`` holds the model's result as one validated
    document (:class:`service.jobs.stored.JobResult`: the run's ``TrainResult``, its download, device, baseline
    and lift); ``job_metrics`` holds the same numbers as rows for querying.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"), default=DEFAULT_TENANT_ID
    )
    # A dataset with jobs cannot be deleted (delete the jobs first); a recommendation can (set null).
    dataset_id: Mapped[str] = mapped_column(String(36), ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    recommendation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("recommendations.id", ondelete="SET NULL"), default=None
    )
    candidate: Mapped[int | None] = mapped_column(Integer, default=None)  # 0 = baseline; None = explicit spec
    model: Mapped[str] = mapped_column(String(64))
    trainer: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(StrictJSON())
    baseline_spec: Mapped[dict | None] = mapped_column(StrictJSON(), default=None)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    time_budget_s: Mapped[float] = mapped_column(Float)
    # "request" | "recommendation" | "recommendation_capped" | "default"; null for jobs older than the column.
    time_budget_source: Mapped[str | None] = mapped_column(String(32), default=None)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")  # "cpu" | "gpu": routing for scale-out workers
    status: Mapped[JobStatus] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # claims so far
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    child_pid: Mapped[int | None] = mapped_column(Integer, default=None)
    progress: Mapped[dict | None] = mapped_column(StrictJSON(), default=None)
    # Once the job has a model: its TrainResult and what the runner stored beside it, one validated document.
    result: Mapped[JobResult | None] = mapped_column(ModelJSON(JobResult), default=None)
    error: Mapped[dict | None] = mapped_column(StrictJSON(), default=None)
    history: Mapped[list] = mapped_column(StrictJSON(), default=list)  # one entry per ended attempt
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)  # unique per tenant
    request_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set on the children of a race (POST /v1/datasets/{id}/race); kept as a plain job if the race goes.
    race_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("races.id", ondelete="SET NULL"), index=True, default=None
    )
    # POSTed the job summary on a terminal state (webhook_deliveries is the outbox).
    callback_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # The X-Request-ID of the request that created the job: logs of the worker that trains it carry it.
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # Bytes of the stored model files (the tenant's stored-bytes quota counts them).
    artifact_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)

    __table_args__ = (
        Index("ix_jobs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        Index("uq_jobs_tenant_id_idempotency_key", "tenant_id", "idempotency_key", unique=True),
        # The reaper's scan: running jobs by lease expiry, queued jobs by age.
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),
    )


class JobMetric(Base):
    """One logged value, MLflow-style: ``(key, value, step, timestamp)`` of a job's model or baseline run.

    Final scores are ``validation.<metric>`` / ``test.<metric>`` at step 0; learning curves are
    ``train.<metric>`` / ``valid.<metric>`` per round. A non-finite value is stored as null (never NaN);
    the job's ``result.metric_notes`` says why.
    """

    __tablename__ = "job_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"))
    run: Mapped[str] = mapped_column(String(16))  # "model" | "baseline"
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    step: Mapped[int] = mapped_column(Integer, default=0)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, as MLflow

    __table_args__ = (Index("ix_job_metrics_job_id_run_key_step", "job_id", "run", "key", "step"),)


class Race(Base):
    """The top-k candidates of a recommendation and its baseline, trained as sibling jobs (``jobs.race_id``).

    ``params`` holds the request (top_k, seed, time_budget_s, constraints) and the candidates that were
    not run, each with the trainer's reason (``skipped``); the leaderboard is computed from the jobs on read.
    """

    __tablename__ = "races"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(36), ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    recommendation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("recommendations.id", ondelete="SET NULL"), default=None
    )
    params: Mapped[dict] = mapped_column(StrictJSON())


WEBHOOK_STATUSES = ("pending", "delivered", "failed")


class WebhookDelivery(Base):
    """The webhook outbox: one row per call to make, written in the transaction that ends the job.

    A dispatcher claims due rows (``lease_owner`` + ``lease_expires_at``, compare-and-set), POSTs ``payload``
    exactly as stored (the signed bytes), and either marks the row delivered or schedules the next try
    (``next_attempt_at``) with backoff; after the last try it is ``failed``. A restart loses nothing: the
    row stays ``pending`` until a dispatcher succeeds. ``id`` is the ``webhook-id`` a receiver dedupes on.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)  # no foreign key: a deleted job's call still goes
    event: Mapped[str] = mapped_column(String(64))  # "job.succeeded" | "job.failed" | "job.cancelled"
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        # The dispatcher's scan: due pending rows.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        CheckConstraint(f"status IN {WEBHOOK_STATUSES!r}", name="status"),
    )


PREDICTION_BATCH_STATUSES = ("queued", "running", "succeeded", "failed")


class PredictionBatch(Base):
    """A prediction too large to answer in the request: its input is stored, predicted in the background,
    and the result file (JSON lines) is kept beside it until the job is deleted.

    ``updated_at`` moves with every chunk predicted; a ``running`` batch that has not moved for the stale
    interval belonged to a process that stopped, and reads as failed.
    """

    __tablename__ = "prediction_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    input_kind: Mapped[str] = mapped_column(String(16))  # "file" (an upload) | "json" (a request body)
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    storage_path: Mapped[str] = mapped_column(String(512))  # folder under the data dir: input and result
    n_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict | None] = mapped_column(StrictJSON(), default=None)  # task, classes, warnings, sha256
    error: Mapped[dict | None] = mapped_column(StrictJSON(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (CheckConstraint(f"status IN {PREDICTION_BATCH_STATUSES!r}", name="status"),)
