"""A job's evaluation plots as data: confusion matrix and ROC curves (classifiers), residuals (regression)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

EvaluationSplit = Literal["validation", "test"]


class ConfusionMatrixRead(BaseModel):
    """Counts of actual (rows) × predicted (columns) classes, in the model's class order."""

    labels: list[str]
    counts: list[list[int]] = Field(description="counts[i][j]: rows of actual class i predicted as class j.")


class RocCurveRead(BaseModel):
    """One receiver operating characteristic curve: the positive class against the rest."""

    label: str = Field(description="The class taken as positive (one-vs-rest for more than two classes).")
    fpr: list[float]
    tpr: list[float]
    auc: float | None = Field(description="Area under this curve; None when the split holds one class only.")


class ResidualsRead(BaseModel):
    """Predicted against actual values, for a residual plot (a seeded sample above ``max_points``)."""

    predicted: list[float]
    actual: list[float]
    n_rows: int = Field(description="Rows of the split (the lists may hold a sample of them).")
    sampled: bool
    rmse: float
    mae: float


class JobEvaluationRead(BaseModel):
    """A job's stored predictions on one split, summarised for plots; built from the prediction files saved
    beside its model (their SHA-256 checked first)."""

    job_id: str
    task: str
    split: EvaluationSplit
    source: str = Field(description="Which predictions: out-of-fold, the holdout validation split, or test.")
    n_rows: int
    classes: list[str] | None = Field(default=None, description="The class labels (classifiers), in model order.")
    confusion_matrix: ConfusionMatrixRead | None = None
    roc: list[RocCurveRead] | None = Field(default=None, description="Binary: one curve; multiclass: one per class.")
    residuals: ResidualsRead | None = None
