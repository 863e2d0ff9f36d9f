"""Race requests and responses: a recommendation's top-k candidates and its baseline trained side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor import Constraints
from service.jobs.states import JobStatus
from service.schemas.common import ID_PATTERN

# A race can train a wide pool (boosting, forests, linear, k-NN, SVM, neural networks) when its budget allows.
MAX_TOP_K = 12
# Five of the ranked candidates by default (with the baseline, six entries): on a small table every pool
# member trains in a few seconds, the embedded pool runs two at a time, and the ensemble has more to combine.
# The budget still decides how many fit (services.races.plan_budget); the rest are listed as not trained.
DEFAULT_TOP_K = 5


class RaceBudget(BaseModel):
    """How long the race may take, where that figure came from, and how it is shared by the entries."""

    time_budget_s: float = Field(description="The whole race's wall-clock budget.")
    source: Literal["request", "default"]
    reason: str = Field(description="Why this budget: the request's, or the default's formula on this dataset.")
    slots: int = Field(description="Entries that run at once.")
    entries: int = Field(description="Entries trained (candidates that fit the budget, plus the baseline).")
    per_entry_s: float = Field(description="Each entry's time budget.")
    ensemble_s: float = Field(
        default=0.0, description="The ensemble entry's budget, run once the others ended (0: no ensemble)."
    )
    usable_share: float = Field(description="Share of the budget given to training; the rest covers overheads.")
    rule: str = Field(description="How per_entry_s follows from the budget.")


class RaceCreate(BaseModel):
    """Which recommendation to check against reality, how many of its candidates, and each job's budget."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    recommendation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Race this recommendation (default: a new one for the dataset).",
    )
    constraints: Constraints | None = Field(
        default=None, description="For the new recommendation made when recommendation_id is omitted."
    )
    top_k: int = Field(
        default=DEFAULT_TOP_K,
        ge=1,
        le=MAX_TOP_K,
        description="How many of the ranked candidates to train: the race trains the top-k that fit its budget.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    time_budget_s: float | None = Field(
        default=None,
        ge=1,
        le=86400,
        description="Wall-clock budget of the whole race, shared by its entries (default: grows with rows × "
        "columns × classes; the answer's `budget` says how much and why).",
    )
    callback_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$",
        description="Each job of the race POSTs its summary here when it ends (signed webhooks, as for a job).",
    )

    @model_validator(mode="after")
    def _constraints_need_new_recommendation(self) -> RaceCreate:
        if self.recommendation_id is not None and self.constraints is not None:
            raise ValueError("give recommendation_id or constraints, not both: a stored recommendation has its own")
        return self


class RaceEntry(BaseModel):
    """One row of the leaderboard: a candidate's (or the baseline's) job and its scores."""

    position: int | None = Field(description="1 = best on the primary metric; None while unscored or skipped.")
    job_id: str | None = Field(description="None for a skipped candidate.")
    model: str
    trainer: str
    rank: int | None = Field(description="Rank in the recommendation; None for the baseline.")
    is_baseline: bool
    is_ensemble: bool = Field(
        default=False,
        description="The ensemble of the other entries (greedy selection over their validation "
        "predictions, averaged over bootstrap samples of those rows), trained once they ended.",
    )
    status: JobStatus | Literal["skipped"]
    score: float | None = Field(
        description="The primary metric on validation (mean over folds, or the holdout split): what orders the "
        "leaderboard."
    )
    score_sd: float | None = Field(default=None, description="Its standard deviation over the folds (kfold only).")
    validation: Literal["kfold", "holdout", "ensemble"] | None = Field(
        default=None,
        description="How the entry was validated: k-fold cross-validation, the holdout split, or (the "
        "ensemble) its weighted members' stored validation predictions.",
    )
    folds: int | None = Field(default=None, description="k, for kfold.")
    repeats: int | None = Field(
        default=None, description="For kfold: how many seeded partitions into k folds were scored (1 or more)."
    )
    test_score: float | None = Field(
        default=None,
        description="The primary metric on the test split, scored once by the entry's refit on train + "
        "validation (the model that serves may then be refit on all rows): reported, never used to select.",
    )
    partial: bool | None = Field(default=None, description="The entry ran out of budget and kept its best model.")
    metrics: dict[str, dict[str, float | None]] | None = None
    train_s: float | None = None
    reason: str | None = Field(default=None, description="Why a candidate was skipped, or why its job failed.")


class RaceRead(BaseModel):
    """A race: its children, and once every job ended the leaderboard's verdict on the recommendation."""

    id: str
    created_at: datetime
    dataset_id: str
    recommendation_id: str | None
    status: Literal["running", "finished"]
    params: dict[str, Any]
    job_ids: list[str]
    primary_metric: str = Field(description="Validation metric that orders the leaderboard.")
    higher_is_better: bool
    leaderboard: list[RaceEntry]
    agrees_with_recommendation: bool | None = Field(
        description="Did the advisor's rank-1 candidate beat every other single entry on validation (the ensemble "
        "aside)? None until finished, or when nothing was scored."
    )
    selection: str = Field(
        default="", description="How the winner is chosen and which model each entry serves (in words)."
    )
    budget: RaceBudget | None = Field(
        default=None, description="The race's budget, its source and reason, and each entry's share."
    )
    verdict: str
    links: dict[str, str] = Field(default_factory=dict)
