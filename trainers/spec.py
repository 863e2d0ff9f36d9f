"""Typed inputs and outputs of a training run: what a trainer is given and what a run reports.

Everything here is cheap to import (pydantic, numpy, pandas types only at type-check time) so the job
engine and the API can build and validate specs without loading an ML library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
ColumnKind = Literal["numeric", "boolean", "categorical", "text"]
StopReason = Literal["cancelled", "time_budget"]
# Class labels as JSON can carry them; numpy scalars are converted with ``.item()`` first.
Label = str | int | float | bool

FEATURE_SCHEMA_VERSION = 1  # of a model's FeatureSchema (a dataset's schema.json: trainers.dataset_format)


class ColumnSpec(BaseModel):
    """One feature column as the model saw it at training time.

    ``text`` columns hold free text a model turns into features itself (a TF-IDF baseline's vectorizer);
    only a trainer that declares ``TEXT_FEATURES`` is given one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ColumnKind
    source_dtype: str = Field(description="The pandas dtype of the column in the uploaded data.")
    categories: list[str] | None = Field(
        default=None, description="Levels of a categorical column, in code order; unseen values become missing."
    )
    datetime_format: str | None = Field(
        default=None,
        description="The strptime format the upload's dates were written in (e.g. '%m/%d/%y %H:%M'); prediction "
        "rows that bring the same text are read with it (ISO 8601 is read whatever it is).",
    )


class FeatureSchema(BaseModel):
    """The training-time view of the data, saved beside every model so predictions apply it exactly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = FEATURE_SCHEMA_VERSION
    target: str
    task: Task
    columns: list[ColumnSpec]
    classes: list[Label] | None = Field(
        default=None, description="Original class labels; the model predicts their index (0..k-1)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSchema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("duplicate feature column names")
        if self.task == "regression" and self.classes is not None:
            raise ValueError("a regression schema has no classes")
        if self.task != "regression" and (self.classes is None or len(self.classes) < 2):
            raise ValueError("a classification schema needs at least two classes")
        if self.task == "binary" and self.classes is not None and len(self.classes) != 2:
            raise ValueError("a binary schema has exactly two classes")
        return self

    @property
    def feature_names(self) -> list[str]:
        """Feature column names in model order."""
        return [c.name for c in self.columns]

    @property
    def n_classes(self) -> int | None:
        """Number of classes, or ``None`` for regression."""
        return None if self.classes is None else len(self.classes)

    def to_json(self) -> str:
        """Serialise deterministically (sorted keys) so the artifact hash is stable."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        """Parse a schema written by :meth:`to_json`."""
        return cls.model_validate_json(text)


class SplitSpec(BaseModel):
    """Train/validation/test fractions (the recommendation's ``split`` choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.15, gt=0, lt=1)
    # A test share of 0 is allowed: the run then reports validation metrics only.
    test: float = Field(default=0.15, ge=0, lt=1)
    stratify: bool = True

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split fractions must sum to 1, got {total:.6g}")
        return self


class TrainSpec(BaseModel):
    """What to train: a registered trainer, the recommendation's parameters and the run's limits."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    trainer: str = Field(min_length=1, description="Registered trainer name, e.g. 'xgboost'.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Candidate.params(): applied exactly, unknown keys are refused."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    time_budget_s: float | None = Field(default=None, gt=0, description="Hard wall-clock limit of the fit.")
    n_threads: int = Field(default=1, ge=1, le=1024, description="Threads given to the ML library.")
    split: SplitSpec | None = Field(
        default=None, description="Overrides params['split']; the default is 70/15/15, stratified."
    )
    refit_all: bool = Field(
        default=True,
        description=(
            "Once the test split is scored (by the fit on train + validation), refit the saved model on every row, "
            "test rows included, where the recipe and the budget allow: the model that serves has seen all the "
            "data, and the test score stays that of the same recipe without the test rows. False saves the model "
            "the test split scored."
        ),
    )

    def resolved_split(self) -> SplitSpec:
        """The split to use: explicit ``split``, else ``params['split']``, else 70/15/15 stratified."""
        if self.split is not None:
            return self.split
        raw = self.params.get("split")
        if raw is None:
            return SplitSpec()
        return SplitSpec.model_validate(raw)


@dataclass(frozen=True)
class TrainData:
    """Prepared rows handed to a trainer.

    ``X`` holds float64 numeric/boolean columns and pandas ``category`` columns whose categories are
    exactly ``schema``'s levels; ``y`` holds class codes 0..k-1 (int) or float targets.
    """

    X: pd.DataFrame
    y: np.ndarray
    schema: FeatureSchema

    @property
    def task(self) -> Task:
        """The learning task, from the schema."""
        return self.schema.task

    def __len__(self) -> int:
        return len(self.X)


class SplitInfo(BaseModel):
    """How the rows were split, enough to reproduce it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int
    fractions: SplitSpec
    stratified: bool
    train_size: int
    validation_size: int
    test_size: int
    note: str | None = None


class ArtifactInfo(BaseModel):
    """A saved model: where, in which safe format, and the hashes to verify it before loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: str
    format: str = Field(description="'xgboost-ubj', 'lightgbm-text' or 'skops'; never pickle.")
    directory: str
    files: dict[str, str] = Field(description="File name → SHA-256 hex digest, model and metadata files.")
    sha256: str = Field(description="Digest over the sorted (name, digest) pairs: one value to store.")
    library_versions: dict[str, str]
    schema_file: str = "schema.json"


class CurveSet(BaseModel):
    """Per-round learning curves, shaped to feed ``advisor.diagnose`` (see :meth:`for_diagnosis`).

    ``None`` stands for a non-finite value. ``history`` keeps every metric the library reported,
    ``{"train": {"logloss": [...]}, "valid": {...}}``.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    loss_name: str
    train_loss: list[float | None]
    val_loss: list[float | None] | None = None
    metric_name: str | None = None
    train_metric: list[float | None] | None = None
    val_metric: list[float | None] | None = None
    metric_higher_is_better: bool = True
    baseline_loss: float | None = Field(
        default=None, description="Validation loss of a constant predictor (class priors / train mean)."
    )
    train_rows: int | None = Field(
        default=None, description="Rows the training curve was computed on (a seeded sample of large sets)."
    )
    history: dict[str, dict[str, list[float | None]]] = Field(default_factory=dict)
    dead_relu_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of hidden ReLU units never active on a validation batch after training (torch).",
    )

    @field_validator("train_loss", "val_loss", "train_metric", "val_metric", mode="before")
    @classmethod
    def _nan_to_none(cls, v: Any) -> Any:
        if v is None:
            return None
        return [None if (x is None or not math.isfinite(x)) else float(x) for x in v]

    @field_validator("history", mode="before")
    @classmethod
    def _history_nan_to_none(cls, v: Any) -> Any:
        # A diverging run records NaN losses: kept as None, as in the curves, so the run can still be reported.
        if not isinstance(v, dict):
            return v
        return {
            part: {k: cls._nan_to_none(s) for k, s in d.items()} if isinstance(d, dict) else d for part, d in v.items()
        }

    def for_diagnosis(self) -> dict[str, Any]:
        """The fields of ``advisor.Curves``."""
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "train_metric": self.train_metric,
            "val_metric": self.val_metric,
            "metric_higher_is_better": self.metric_higher_is_better,
            "baseline_loss": self.baseline_loss,
            "dead_relu_fraction": self.dead_relu_fraction,
        }


MetricValues = dict[str, float | None]
ValidationMethod = Literal["kfold", "holdout", "ensemble"]


class ValidationSummary(BaseModel):
    """How a run was validated, and its validation scores: what a race selects on (never the test split)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    method: ValidationMethod = Field(
        description="'kfold' (cross-validation over the non-test rows), 'holdout', or 'ensemble' (the weighted "
        "members' stored validation predictions, see trainers.ensemble)."
    )
    k: int | None = Field(default=None, description="Number of folds (None for holdout).")
    repeats: int = Field(
        default=1,
        ge=1,
        description="How many seeded partitions into k folds were scored (more than one on small tables, see "
        "trainers.splits.CV_REPEATS); the mean and sd are over all repeats × k folds.",
    )
    n_rows: int = Field(description="Rows scored for validation (all non-test rows for kfold).")
    mean: MetricValues = Field(description="Metric → mean over folds (the holdout score for holdout).")
    sd: MetricValues = Field(description="Metric → sample standard deviation over folds (None for holdout).")
    folds: list[MetricValues] = Field(
        default_factory=list, description="Each fold's scores, in fold order (partition by partition)."
    )
    served_model: str = Field(
        description="Which model is saved and serves predictions: the fit on the train split early-stopped on "
        "the validation split (the folds only score)."
    )
    note: str | None = Field(default=None, description="Why holdout or fewer folds were used, if they were.")
    prediction_files: dict[str, str] = Field(
        default_factory=dict, description="Role → .npy file in the artifact (see trainers.run)."
    )
    members: dict[str, MetricValues] = Field(
        default_factory=dict,
        description="For an ensemble: each member's (job id) metrics on the same shared validation rows, scored "
        "as the ensemble is (all their out-of-fold predictions at once), so a race compares the ensemble with its "
        "members on equal terms (a fold mean and a pooled score of the same predictions differ: an RMSE pooled "
        "over all rows is never below the mean of its folds' RMSEs).",
    )


class TrainResult(BaseModel):
    """Everything a finished (or partial) run reports; JSON-safe (no NaN: ``None`` plus a note)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trainer: str
    task: Task
    params: dict[str, Any]
    derived_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters set from the training data because they were not given (e.g. the Huber "
        "delta from the target's scale), with the values used.",
    )
    seed: int
    n_threads: int
    metrics: dict[str, MetricValues] = Field(description="{'validation': {...}, 'test': {...}}")
    metric_notes: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Why a metric is None, e.g. one class only in the test split."
    )
    curves: CurveSet
    diagnosis: list[dict[str, Any]] | None = Field(
        default=None, description="advisor.diagnose(curves), as plain dicts; None if not run."
    )
    best_iteration: int | None = Field(description="0-based round the saved model ends at.")
    n_rounds: int = Field(description="Rounds actually run (1 for single-fit models).")
    partial: bool = False
    partial_reason: StopReason | None = None
    artifact: ArtifactInfo
    split: SplitInfo
    n_rows_dropped: int = Field(default=0, description="Rows dropped because the target was missing.")
    timings: dict[str, float] = Field(description="Seconds: 'prepare_s', 'fit_s', 'predict_s', 'save_s'.")
    library_versions: dict[str, str]
    validation: ValidationSummary | None = Field(
        default=None, description="How the run was validated and its validation scores (mean ± sd over folds)."
    )
