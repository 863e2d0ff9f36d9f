"""What the service answers, as pydantic models.

Each model names the fields the client and the CLI use and keeps every other field the server sends
(``extra="allow"``): a newer server's fields stay readable (``model.model_extra``, or as attributes), and an
older client never refuses a newer answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class Dataset(_Answer):
    """A stored dataset: what was measured about it and its warnings."""

    id: str
    name: str = ""
    modality: str = ""
    task: str = ""
    target: str | None = None
    trainable: bool = True
    size_bytes: int | None = None
    profile: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class Decision(_Answer):
    """One chosen value and the rule, cheatsheet section and reason behind it."""

    key: str
    value: Any = None
    rule_id: str = ""
    section: str = ""
    reason: str = ""
    assumed: bool = False
    extrapolated: bool = False


class Candidate(_Answer):
    """A ranked model to train, with every choice its run needs."""

    rank: int
    model: str
    trainer: str
    family: str = ""
    summary: str = ""
    choices: dict[str, Decision] = Field(default_factory=dict)
    evidence: str | None = None


class Recommendation(_Answer):
    """The advisor's answer: a family, ranked candidates, a baseline, the decisions and warnings."""

    id: str
    family: str = ""
    candidates: list[Candidate] = Field(default_factory=list)
    baseline: Candidate | None = None
    decisions: list[Decision] = Field(default_factory=list)
    assumptions: list[Decision] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    profile: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class JobProgress(_Answer):
    """Where a running job is: the phase, rounds done of the most it may run, the server's ETA."""

    phase: str = ""
    current: int = 0
    total: int = 0
    fraction: float | None = None
    eta_s: float | None = None
    metrics: dict[str, float | None] | None = None


class Job(_Answer):
    """A training job: status and progress, then metrics, curves, diagnosis and the model."""

    id: str
    status: str
    model: str = ""
    trainer: str = ""
    dataset_id: str | None = None
    recommendation_id: str | None = None
    race_id: str | None = None
    progress: JobProgress | None = None
    metrics: dict[str, dict[str, float | None]] | None = None
    baseline: dict[str, Any] | None = None
    lift_over_baseline: dict[str, dict[str, float]] | None = None
    diagnosis: list[dict[str, Any]] | None = None
    partial: bool | None = None
    artifact: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    time_budget_s: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class JobPage(_Answer):
    items: list[Job]
    next_cursor: str | None = None


class RaceEntry(_Answer):
    """A leaderboard row: a candidate's (or the baseline's) job and its validation score."""

    position: int | None = None
    job_id: str | None = None
    model: str = ""
    trainer: str = ""
    rank: int | None = None
    is_baseline: bool = False
    is_ensemble: bool = False
    status: str = ""
    score: float | None = None
    score_sd: float | None = None
    test_score: float | None = None
    train_s: float | None = None
    reason: str | None = None


class Race(_Answer):
    """A race: its jobs, then a leaderboard and the verdict on the recommendation."""

    id: str
    status: str
    dataset_id: str | None = None
    recommendation_id: str | None = None
    job_ids: list[str] = Field(default_factory=list)
    primary_metric: str = ""
    higher_is_better: bool = True
    leaderboard: list[RaceEntry] = Field(default_factory=list)
    agrees_with_recommendation: bool | None = None
    verdict: str = ""
    selection: str = ""
    created_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status == "finished"

    @property
    def winner(self) -> RaceEntry | None:
        """The leaderboard's first entry once scored."""
        return next((e for e in self.leaderboard if e.position == 1), None)


class Prediction(_Answer):
    """Predictions in input order; ``probabilities`` columns follow ``classes`` (classifiers)."""

    job_id: str
    model: str = ""
    task: str = ""
    n_rows: int = 0
    predictions: list[Any] = Field(default_factory=list)
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None
    partial_model: bool = False
    warnings: list[str] = Field(default_factory=list)
    ids: list[Any] | None = None


class Explanation(Prediction):
    """Predictions with per-row contributions (``explain=true``), in whatever shape the server gives them."""

    contributions: Any = None


class ModelFile(_Answer):
    """A downloaded model: where it was written and the digests the server sent."""

    path: str
    size_bytes: int
    sha256: str | None = Field(default=None, description="The server's X-Content-SHA256 of the download.")
    artifact_format: str | None = None
