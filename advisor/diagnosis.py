"""Types for learning-curve diagnosis (§10 "Common Training Issues & Fixes")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Issue = Literal[
    "overfitting",
    "underfitting",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relus",
    "slow_convergence",
]


class Curves(BaseModel):
    """Per-epoch (or per-round) losses, optionally a metric, as recorded by a training run.

    Losses may hold ``None`` for a non-finite value (JSON cannot carry NaN); ``None`` counts as NaN.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    train_loss: list[float | None] = Field(min_length=1, max_length=100_000)
    val_loss: list[float | None] | None = Field(default=None, max_length=100_000)
    train_metric: list[float | None] | None = Field(default=None, max_length=100_000)
    val_metric: list[float | None] | None = Field(default=None, max_length=100_000)
    metric_higher_is_better: bool = True
    baseline_loss: float | None = Field(
        default=None, description="Loss of a constant predictor on the same data, if known."
    )
    dead_relu_fraction: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _same_length(self) -> Curves:
        n = len(self.train_loss)
        for name in ("val_loss", "train_metric", "val_metric"):
            seq = getattr(self, name)
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} points but train_loss has {n}")
        return self


class Diagnosis(BaseModel):
    """One training issue found in the curves, the evidence, and the cheatsheet's fixes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issue: Issue
    rule_id: str
    section: str = "§10"
    evidence: str
    symptoms: str
    fixes: list[str]
    epoch: int | None = None
