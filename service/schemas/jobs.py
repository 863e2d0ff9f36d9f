"""Training-job requests and responses."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.jobs.states import JobStatus
from service.schemas.common import ID_PATTERN, TEXT_PATTERN, check_plain_json

MAX_TIME_BUDGET_S = 86400.0  # the longest a job may be given (Celery's time limits are sized on it)


class JobSpec(BaseModel):
    """An explicit training spec, instead of (or overriding) a recommendation's candidate."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trainer: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="A registered trainer, e.g. 'xgboost'."
    )
    params: dict[Annotated[str, Field(min_length=1, max_length=64)], Any] = Field(
        default_factory=dict, max_length=200, description="Applied exactly; unknown keys are refused."
    )
    model: str | None = Field(
        default=None, max_length=64, pattern=TEXT_PATTERN, description="Display name (default: the trainer)."
    )

    @field_validator("params")
    @classmethod
    def _finite_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Plain, finite, shallow JSON: it is stored, fingerprinted and handed to the trainer as it is.
        return check_plain_json(value, what="params")


class WebhookDeliveryRead(BaseModel):
    """One webhook call of a job: its ``webhook-id``, state and the last try's outcome."""

    id: str = Field(description="The webhook-id header a receiver dedupes on.")
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next try is due (pending only).")
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class JobCreate(BaseModel):
    """What to train: a dataset and either a recommendation's candidate or an explicit spec."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, description="A stored (uploaded) dataset.")
    recommendation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Train one of its candidates; also supplies the baseline.",
    )
    candidate: Annotated[int, Field(le=1000)] | Literal["baseline"] | None = Field(
        default=None,
        description="Rank of the candidate to train (1 = the first); 0 or 'baseline' = the baseline. Default 1.",
    )
    spec: JobSpec | None = Field(default=None, description="Train this instead of a recommended candidate.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    time_budget_s: float | None = Field(
        default=None,
        ge=1,
        le=MAX_TIME_BUDGET_S,
        description="Hard limit of the training; the best model so far is kept. Default: the time budget of the "
        "recommendation the job trains, when its request stated one, else the service's default.",
    )
    train_baseline: bool = Field(default=True, description="Also train the baseline and report the lift over it.")
    callback_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$",
        description="POSTed the job's summary when it ends (Standard Webhooks, signed with the tenant's secret); "
        "an http(s) URL on a public address.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> JobCreate:
        if self.recommendation_id is None and self.spec is None:
            raise ValueError("give recommendation_id (and candidate) or spec")
        if self.spec is not None and self.candidate is not None:
            raise ValueError("give candidate or spec, not both: spec replaces the candidate")
        if self.candidate is not None and isinstance(self.candidate, int) and self.candidate < 0:
            raise ValueError("candidate must be ≥ 0 (0 = the baseline)")
        return self

    def fingerprint(self) -> str:
        """SHA-256 of the request with defaults filled in, to recognise a repeated Idempotency-Key."""
        fields = self.model_dump(mode="json")
        if fields.get("callback_url") is None:  # keeps the fingerprints of requests made before it existed
            fields.pop("callback_url", None)
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class JobProgress(BaseModel):
    """Where a running job is: the phase and, while training, rounds done of the most it may run."""

    phase: str
    current: int = 0
    total: int = 0
    fraction: float | None = None
    eta_s: float | None = None
    metrics: dict[str, float | None] | None = Field(default=None, description="The latest round's metrics.")


class JobBaseline(BaseModel):
    """The baseline trained beside the model (Pro tip 6: always compare against a simple model)."""

    model: str
    trainer: str
    metrics: dict[str, dict[str, float | None]] | None = None
    error: dict[str, Any] | None = None


class JobArtifact(BaseModel):
    """The saved model: safe format, digests, and where to download it."""

    format: str
    sha256: str = Field(description="Digest over the model's files (the manifest's); checked before loading.")
    zip_sha256: str | None = Field(default=None, description="SHA-256 of the download (a zip of the files).")
    size_bytes: int | None = None
    files: dict[str, str]
    partial: bool = False
    url: str


TimeBudgetSource = Literal["request", "recommendation", "recommendation_capped", "default"]


class JobBackboneRead(BaseModel):
    """The pretrained backbone of a transfer job: the one recommended and the one that trained."""

    recommended: str = Field(description="The §8 model the recommendation named, e.g. 'ResNet50'.")
    used: str = Field(description="What trained, e.g. 'efficientnet-lite0'.")
    used_name: str | None = Field(default=None, description="Its display name, e.g. 'EfficientNet-Lite0'.")
    reason: str | None = Field(description="Why the used backbone is not the recommended one (None: it is).")
    source: str | None = Field(default=None, description="Where its weights came from (package or folder).")


class JobEstimates(BaseModel):
    """The recommendation's §13 estimates for this job (the ``memory_estimate`` / ``time_estimate`` params)."""

    backbone: str | None = Field(default=None, description="The backbone the estimate counted.")
    parameters: int | None = None
    trainable_parameters: int | None = None
    memory_bytes: int | None = Field(default=None, description="Parameters, gradients, optimizer state, activations.")
    device: str | None = None
    seconds_per_epoch: float | None = None
    max_epochs: int | None = None
    seconds_upper_bound: float | None = Field(default=None, description="Seconds for every planned epoch.")


class JobRatios(BaseModel):
    """Actual ÷ estimate; None where either side is unknown."""

    parameters: float | None = None
    memory: float | None = None
    memory_growth: float | None = Field(
        default=None, description="(Peak − memory when training started) ÷ the estimate: the part the run added."
    )
    seconds_per_epoch: float | None = None
    seconds: float | None = Field(default=None, description="Training seconds ÷ the upper bound for all epochs.")


class JobRunRead(BaseModel):
    """What really ran, measured, beside what the recommendation estimated for it."""

    trainer: str
    device: str | None = Field(description="'cpu' or 'cuda'.")
    backbone: JobBackboneRead | None = None
    parameters: int | None = Field(default=None, description="Parameters of the trained network (all).")
    trainable_parameters: int | None = None
    rounds_run: int | None = Field(default=None, description="Epochs (networks) or boosting rounds run.")
    round_unit: Literal["epochs", "boosting_rounds", "fits"]
    seconds: float | None = Field(default=None, description="Seconds the training itself took.")
    seconds_per_round: float | None = None
    peak_memory_bytes: int | None = None
    memory_at_start_bytes: int | None = Field(
        default=None, description="The training process's RSS when the job started (CPU; the loaded data is in it)."
    )
    peak_memory_measure: str | None = Field(
        default=None, description="What the peak is: the training process's RSS peak, or CUDA max_memory_allocated."
    )
    dead_relu_fraction: float | None = Field(
        default=None, description="Hidden ReLU units never active on a validation batch (§10 dead ReLUs)."
    )
    estimates: JobEstimates | None = Field(default=None, description="None when the job's params carry none.")
    ratios: JobRatios | None = None
    notes: list[str] = Field(default_factory=list)


class JobRead(BaseModel):
    """A training job: status, progress, and once done its metrics, curves, diagnosis and model."""

    id: str
    status: JobStatus
    attempt: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    dataset_id: str | None
    recommendation_id: str | None
    candidate: int | None
    model: str
    trainer: str
    params: dict[str, Any]
    derived_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters the trainer set from the data because they were not given, with the values used "
        "(e.g. a Huber delta from the target's scale).",
    )
    seed: int
    time_budget_s: float
    time_budget_source: TimeBudgetSource | None = Field(
        default=None, description="Where time_budget_s came from (None: a job older than this field)."
    )
    time_budget_reason: str | None = None
    queue: str = Field(description="'cpu' or 'gpu': where scale-out workers would run it.")
    cancel_requested: bool
    progress: JobProgress | None
    metrics: dict[str, dict[str, float | None]] | None = None
    metric_notes: dict[str, dict[str, str]] | None = None
    baseline: JobBaseline | None = None
    lift_over_baseline: dict[str, dict[str, float]] | None = Field(
        default=None, description="Model minus baseline per split and metric; positive = better (losses reversed)."
    )
    curves: dict[str, Any] | None = Field(default=None, description="Per-round learning curves (left out of lists).")
    diagnosis: list[dict[str, Any]] | None = None
    partial: bool | None = None
    partial_reason: str | None = None
    validation: dict[str, Any] | None = Field(
        default=None,
        description="How the model was validated ('kfold' with k, or 'holdout') and its validation scores: mean "
        "and sd per metric over the folds (the score a race selects on; the test split is only reported).",
    )
    best_iteration: int | None = None
    n_rounds: int | None = None
    sample_predictions: dict[str, Any] | None = Field(
        default=None, description="The reloaded model's output on the dataset's first rows (row_index, output)."
    )
    artifact: JobArtifact | None = None
    device: dict[str, Any] | None = None
    run: JobRunRead | None = Field(
        default=None,
        description="What really ran (backbone, parameters, device, peak memory, rounds, seconds) "
        "beside the recommendation's §13 estimates; set once the job has a model.",
    )
    error: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list, description="One entry per ended attempt.")
    timings: dict[str, float | None] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    callback_url: str | None = Field(default=None, description="Where the job's webhook goes when it ends.")
    race_id: str | None = Field(default=None, description="The race this job is part of, if any (/v1/races/{id}).")
    webhook_deliveries: list[WebhookDeliveryRead] | None = Field(
        default=None, description="Calls to callback_url and how they went (GET /v1/jobs/{id} only)."
    )


class JobPage(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[JobRead]
    next_cursor: str | None


class JobMetricRead(BaseModel):
    """One logged value (MLflow-style)."""

    run: Literal["model", "baseline"] | str
    key: str
    value: float | None
    step: int
    timestamp: int = Field(description="Milliseconds since the epoch.")


class JobMetricList(BaseModel):
    """A job's logged metrics, ordered by run, key and step."""

    items: list[JobMetricRead]
