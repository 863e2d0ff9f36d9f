"""What the advisor is told: a description of the dataset and of the team's constraints.

Every field that the cheatsheet's rules read is here. Fields a caller leaves out stay ``None``; the
engine fills them with a documented default and records that it *assumed* the value, so a user can see
which parts of a recommendation rest on guesses.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["tabular", "image", "text", "sequence", "audio"]
Task = Literal["binary", "multiclass", "regression"]
LabelFormat = Literal["integer", "one_hot"]
Compute = Literal["limited", "ample"]
Performance = Literal["good_enough", "state_of_the_art"]
Similarity = Literal["high", "medium", "low"]
Deployment = Literal["server", "mobile", "edge"]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
_Side = Annotated[int, Field(ge=1, le=100_000)]  # one dimension of an image (pixels or channels)


class DatasetProfile(BaseModel):
    """Measured or declared facts about a dataset (all sizes are counts, shares are in [0, 1])."""

    model_config = _STRICT

    modality: Modality
    task: Task
    n_rows: int = Field(gt=0, le=10**12, description="Number of labelled samples.")
    n_features: int | None = Field(default=None, gt=0, le=10**8, description="Input columns (tabular).")
    n_classes: int | None = Field(default=None, ge=2, le=10**6)
    label_format: LabelFormat | None = Field(
        default=None, description="How class labels are given: integer ids or one-hot vectors."
    )
    minority_share: float | None = Field(
        default=None, gt=0, le=0.5, description="Share of rows in the rarest class (classification)."
    )
    target_outlier_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of regression targets outside 1.5 IQR of the quartiles."
    )
    target_mode_share: float | None = Field(
        default=None, gt=0, le=1, description="Share of regression targets holding the most common value."
    )
    missing_share: float | None = Field(default=None, ge=0, le=1, description="Share of missing cells.")
    n_categorical_features: int | None = Field(default=None, ge=0, le=10**8)
    image_size: tuple[_Side, _Side, _Side] | None = Field(
        default=None, description="Height, width, channels of one image."
    )
    sequence_length: int | None = Field(default=None, gt=0, le=10**8, description="Time steps per sample.")
    text_length: int | None = Field(default=None, gt=0, le=10**8, description="Mean tokens per document.")

    @model_validator(mode="after")
    def _consistent(self) -> DatasetProfile:
        if self.image_size is not None and any(d <= 0 or d > 100_000 for d in self.image_size):
            raise ValueError("image_size values must be between 1 and 100000")
        if self.task == "binary" and self.n_classes not in (None, 2):
            raise ValueError("a binary task has exactly 2 classes")
        if self.task == "regression" and (self.n_classes is not None or self.minority_share is not None):
            raise ValueError("n_classes and minority_share do not apply to a regression task")
        if self.task == "multiclass" and self.n_classes is None:
            raise ValueError("n_classes is required for a multiclass task")
        if self.task != "regression" and self.target_outlier_share is not None:
            raise ValueError("target_outlier_share only applies to regression")
        if self.task != "regression" and self.target_mode_share is not None:
            raise ValueError("target_mode_share only applies to regression")
        if (
            self.n_categorical_features is not None
            and self.n_features is not None
            and self.n_categorical_features > self.n_features
        ):
            raise ValueError("n_categorical_features cannot exceed n_features")
        return self


class Constraints(BaseModel):
    """What the team needs and has. ``None`` means "not said": the engine assumes a default and says so."""

    model_config = _STRICT

    interpretability_required: bool | None = None
    compute: Compute | None = None
    performance: Performance | None = None
    domain_similarity: Similarity | None = Field(
        default=None, description="How close the data is to what pretrained models saw (transfer, §8)."
    )
    deployment: Deployment | None = None
    gpu_available: bool | None = None
    time_budget_s: float | None = Field(default=None, gt=0, le=30 * 24 * 3600)
