"""What a job stores once it has a model: one validated document, :class:`JobResult`, in ``jobs.result``.

The model run's :class:`~trainers.spec.TrainResult` is kept whole, as the training process reported it (its
artifact folder made relative to the artifacts folder), beside what the runner adds: the download (zip), the
device, what really ran, the sample predictions, the baseline beside the model and the lift over it. The
column's type validates the document on every write and reads it back as a :class:`JobResult`
(:class:`service.db.types.ModelJSON`).

Cheap to import (pydantic and :mod:`trainers.spec`): the ORM models import it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.jobs.messages import DeviceRecord
from trainers.spec import MetricValues, TrainResult

RESULT_VERSION = 1


class ModelZip(BaseModel):
    """The model's download: a deterministic zip of its files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Relative to the artifacts folder.")
    sha256: str | None = None
    size_bytes: int | None = None


class BaselineOutcome(BaseModel):
    """The baseline trained beside the model: its scores, or why it has none (``error``: type and message)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: str
    trainer: str
    metrics: dict[str, MetricValues] | None = None
    metric_notes: dict[str, dict[str, str]] | None = None
    timings: dict[str, float] | None = None
    params: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class JobResult(BaseModel):
    """A job's stored result: the model run's ``TrainResult`` and what the runner learned beside it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    version: int = RESULT_VERSION
    model: TrainResult = Field(description="The model run; artifact.directory is relative to the artifacts folder.")
    zip: ModelZip
    device: DeviceRecord | None = None
    run_info: dict[str, Any] = Field(default_factory=dict, description="What really ran (device, memory, backbone).")
    sample_predictions: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    baseline: BaselineOutcome | None = None
    lift_over_baseline: dict[str, dict[str, float]] | None = None

    @property
    def model_path(self) -> str:
        """The model's folder, relative to the artifacts folder."""
        return self.model.artifact.directory

    @property
    def partial(self) -> bool:
        """Whether training stopped early (cancel or time budget) and the best model so far was kept."""
        return self.model.partial
