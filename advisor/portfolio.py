"""Advice learned from evidence: which model family won on datasets like this one.

The portfolio (``advisor/data/portfolio.json``, written by ``bench/learn_portfolio.py``) records, for each dataset
it learned from, the dataset's profile (measured as the service measures an upload) and the cross-validated
score of every model family × a few configurations. :func:`rank` orders the families for a new profile by how
they did on the ``k`` most similar datasets of the same task, picks each family's best configuration there, and
says why in a sentence a person can check against the file.

Pure and deterministic: stdlib + pydantic, the packaged file is read once (:func:`default_portfolio`); callers
that keep a portfolio elsewhere parse it with :meth:`Portfolio.model_validate_json` and pass it in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.profile import DatasetProfile, Task
from advisor.recommendation import adopt
from advisor.similarity import (
    best_score,
    config_regrets,
    first_best,
    nearest_rows,
    priors,
    row_regrets,
    spread,
    tag,
    vector,
)
from advisor.text import thousands

Source = Literal["portfolio", "tenant"]
# A family is "as good as the best" on a dataset when its score is within this much of the best (metric units:
# ROC AUC, accuracy and R² are all on a 0–1 scale).
WIN_TOLERANCE = 0.005
DEFAULT_K = 7
# How many datasets' worth of weight the task-wide average gets against the k neighbours (shrinkage).
PRIOR_WEIGHT = 3.0

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FamilyConfig(BaseModel):
    """One configuration of a family, in its trainer's parameter vocabulary."""

    model_config = _STRICT

    name: str
    params: dict[str, Any]


class PortfolioFamily(BaseModel):
    """A model family as the advisor names it, the trainer that fits it, and its configurations in order."""

    model_config = _STRICT

    model: str = Field(description="Advisor model name, e.g. lightgbm, random_forest.")
    trainer: str = Field(description="Trainer registry name, e.g. lightgbm, sklearn_random_forest.")
    tasks: list[Task]
    configs: list[FamilyConfig] = Field(min_length=1)


class MetaFeatures(BaseModel):
    """The profile fields the portfolio compares datasets on (as ``trainers.profiling`` measures an upload)."""

    model_config = _STRICT

    task: Task
    n_rows: int = Field(gt=0)
    n_features: int = Field(gt=0)
    n_classes: int | None = None
    minority_share: float | None = Field(default=None, ge=0, le=1)
    missing_share: float | None = Field(default=None, ge=0, le=1)
    n_categorical_features: int | None = Field(default=None, ge=0)
    target_outlier_share: float | None = Field(default=None, ge=0, le=1)

    @classmethod
    def of(cls, profile: DatasetProfile | MetaFeatures) -> MetaFeatures:
        """The meta-features of a profile (a tabular one: ``n_features`` is required)."""
        if isinstance(profile, MetaFeatures):
            return profile
        if profile.n_features is None:
            raise ValueError("the portfolio compares tabular datasets: the profile needs n_features")
        # a DatasetProfile's fields were validated against bounds at least as tight as these: not validated
        # again (the service ranks with every tabular recommendation); the fields in declaration order
        return adopt(
            cls,
            {
                "task": profile.task,
                "n_rows": profile.n_rows,
                "n_features": profile.n_features,
                "n_classes": profile.n_classes,
                "minority_share": profile.minority_share,
                "missing_share": profile.missing_share,
                "n_categorical_features": profile.n_categorical_features,
                "target_outlier_share": profile.target_outlier_share,
            },
        )


class EvidenceRow(BaseModel):
    """One dataset's evidence: its meta-features and each family's score per configuration (higher is better).

    ``scores[model][i]`` is the score of configuration ``i`` of that family (the portfolio's order), ``None`` if it
    failed; a family left out was not tried. A tenant's finished race can be given as a row with ``source="tenant"``
    (scores on one higher-is-better metric within the row, e.g. ROC AUC or R², not RMSE); such a row may give one
    score per family (``[score]``) instead of one per configuration: it then counts for the family's standing but
    not for choosing its configuration.
    """

    model_config = _STRICT

    dataset: str
    metric: str
    features: MetaFeatures
    scores: dict[str, list[float | None]]
    fit_seconds: dict[str, float] = Field(default_factory=dict, description="Mean fit time per fold and family.")
    source: Source = "portfolio"


class Portfolio(BaseModel):
    """The learned evidence: where it came from and what it says."""

    model_config = _STRICT

    version: int
    created: str
    tables_version: str
    command: str
    protocol: dict[str, Any]
    datasets: list[str] = Field(description="Exactly the datasets learned from.")
    families: list[PortfolioFamily]
    evidence: list[EvidenceRow]

    @model_validator(mode="after")
    def _consistent(self) -> Portfolio:
        names = [r.dataset for r in self.evidence]
        if sorted(names) != sorted(self.datasets) or len(set(names)) != len(names):
            raise ValueError("evidence rows must be exactly the listed datasets, once each")
        sizes = {f.model: len(f.configs) for f in self.families}
        for row in self.evidence:
            for model, scores in row.scores.items():
                if sizes.get(model) != len(scores):
                    raise ValueError(f"{row.dataset}: {model} has {len(scores)} scores, not one per configuration")
        return self

    def family(self, model: str) -> PortfolioFamily:
        """The family named ``model``; KeyError if the portfolio has none."""
        for f in self.families:
            if f.model == model:
                return f
        raise KeyError(model)

    def without(self, names: Iterable[str]) -> Portfolio:
        """The same portfolio with the named datasets' evidence removed (for leave-one-dataset-out runs)."""
        drop = set(names)
        return self.model_copy(
            update={
                "datasets": [d for d in self.datasets if d not in drop],
                "evidence": [r for r in self.evidence if r.dataset not in drop],
            }
        )


class ModelEvidence(BaseModel):
    """A family's standing on the datasets most like the profile, with its best configuration there."""

    model_config = ConfigDict(frozen=True)

    model: str
    trainer: str
    config: str
    config_index: int
    params: dict[str, Any]
    wins: int = Field(description=f"Similar datasets where this configuration was best or within {WIN_TOLERANCE}.")
    n_similar: int = Field(description="Similar datasets it was tried on.")
    mean_regret: float = Field(description="Mean (best score − its score) over those datasets, metric units.")
    overall_regret: float = Field(description="The same over every dataset of the task.")
    score: float = Field(description="What the order follows: mean_regret shrunk towards overall_regret.")
    similar: list[str] = Field(description="The similar datasets, nearest first.")
    n_tenant: int = Field(description="How many of them are the tenant's own races.")
    reason: str


@lru_cache(maxsize=1)
def default_portfolio() -> Portfolio:
    """The portfolio shipped with the package (read once)."""
    text = resources.files("advisor").joinpath("data/portfolio.json").read_text(encoding="utf-8")
    return Portfolio.model_validate_json(text)


# -- similarity (the arithmetic: advisor.similarity) ---------------------------------------------------
def nearest(features: MetaFeatures, rows: Sequence[EvidenceRow], k: int = DEFAULT_K) -> list[tuple[float, EvidenceRow]]:
    """The ``k`` rows of the same task nearest to ``features`` (z-normalised Euclidean), nearest first."""
    pool = [r for r in rows if r.features.task == features.task]
    if not pool:
        return []
    vecs = [vector(r.features) for r in pool]
    return nearest_rows(features, pool, list(zip(*vecs, strict=True)), spread(vecs), [tag(r) for r in pool], k)


# -- ranking --------------------------------------------------------------------------------------------
def _describe(features: MetaFeatures) -> str:
    cat = (features.n_categorical_features or 0) / features.n_features
    parts = [f"{thousands(features.n_rows)} rows", f"{features.n_features} columns", f"{cat:.0%} categorical"]
    if features.n_classes:
        parts.append(f"{features.n_classes} classes")
    if features.missing_share:
        parts.append(f"{features.missing_share:.1%} missing")
    return ", ".join(parts)


class _Same:
    """A portfolio compared by identity (it holds the object, so the identity stays its own while cached)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Portfolio) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


class _Prepared:
    """What :func:`rank` reads of a portfolio for one task and set of families, whatever the profile: the rows
    with a score, their vectors (by column), spread and order tags, and each family's regrets on each row and over
    them all (the task-wide prior). Keyed by ``id`` of rows this object holds."""

    __slots__ = ("columns", "fams", "names", "overall", "priors", "regrets", "rows", "sd", "tags")

    def __init__(self, pf: Portfolio, task: Task, names: frozenset[str]) -> None:
        self.names = set(names)
        self.fams = [f for f in pf.families if f.model in names]
        self.rows = [r for r in pf.evidence if best_score(r, self.names) is not None and r.features.task == task]
        vecs = [vector(r.features) for r in self.rows]
        self.columns = list(zip(*vecs, strict=True))
        self.sd = spread(vecs) if vecs else []
        self.tags = [tag(r) for r in self.rows]
        self.regrets = {f.model: {id(r): row_regrets(r, f, self.names) for r in self.rows} for f in self.fams}
        self.overall = {f.model: config_regrets(self.rows, f, self.names, self.regrets[f.model]) for f in self.fams}
        self.priors = {model: priors(overall) for model, overall in self.overall.items()}


@lru_cache(maxsize=16)
def _prepared(pf: _Same, task: Task, names: frozenset[str]) -> _Prepared:
    return _Prepared(pf.obj, task, names)


def _with_prepared(
    features: MetaFeatures, prep: _Prepared, extra: Iterable[EvidenceRow], k: int
) -> tuple[list[EvidenceRow], list[EvidenceRow], dict[str, list[list[float]]], dict[str, list[float | None]]]:
    """The nearest rows, the task's rows, each family's regrets over them and their means, as :func:`rank`
    computes them, from the prepared portfolio plus ``extra`` rows (which come after the portfolio's, as in a
    row-by-row pass)."""
    names = prep.names
    more = [r for r in extra if best_score(r, names) is not None and r.features.task == features.task]
    if not more:
        pool, columns, sd, tags = prep.rows, prep.columns, prep.sd, prep.tags
        overall, means = prep.overall, prep.priors
    else:
        pool = [*prep.rows, *more]
        vecs = [list(v) for v in zip(*prep.columns, strict=True)] + [vector(r.features) for r in more]
        columns, sd, tags = list(zip(*vecs, strict=True)), spread(vecs), [*prep.tags, *map(tag, more)]
        overall = {}
        for fam in prep.fams:
            tail = config_regrets(more, fam, names)
            overall[fam.model] = [a + b for a, b in zip(prep.overall[fam.model], tail, strict=True)]
        means = {model: priors(o) for model, o in overall.items()}
    near = [r for _, r in nearest_rows(features, pool, columns, sd, tags, k)] if pool else []
    return near, pool, overall, means


def rank(
    profile: DatasetProfile | MetaFeatures,
    portfolio: Portfolio | None = None,
    *,
    exclude: Iterable[str] = (),
    extra: Iterable[EvidenceRow] = (),
    k: int = DEFAULT_K,
    prior_weight: float = PRIOR_WEIGHT,
    models: Iterable[str] | None = None,
) -> list[ModelEvidence]:
    """Order model families for ``profile`` by their results on the ``k`` most similar datasets of its task.

    Every family × configuration gets its mean regret (best score on a dataset minus its score) over the similar
    datasets, shrunk towards its mean regret over every dataset of the task as if that were ``prior_weight`` more
    datasets (few neighbours are a noisy sample). Each family keeps its best configuration by that figure and the
    families are ordered by it; ties go to more wins, then the name. ``exclude`` leaves named datasets out
    (leave-one-dataset-out measurement); ``extra`` adds evidence rows, e.g. a tenant's finished races, which
    compete for the ``k`` places like any other row and are named in the reason. ``models`` keeps only those
    families (e.g. the trainers installed). Returns an empty list when no dataset of the profile's task is left.
    """
    pf = portfolio if portfolio is not None else default_portfolio()
    features = MetaFeatures.of(profile)
    wanted = set(models) if models is not None else None
    fams = [f for f in pf.families if features.task in f.tasks and (wanted is None or f.model in wanted)]
    names = {f.model for f in fams}
    skip = set(exclude)
    if skip:  # leave-one-dataset-out: nothing prepared applies
        rows = [r for r in (*pf.evidence, *extra) if r.dataset not in skip and best_score(r, names) is not None]
        pool = [r for r in rows if r.features.task == features.task]
        near = [r for _, r in nearest(features, pool, k)]
        overall_of = {fam.model: config_regrets(pool, fam, names) for fam in fams}
        priors_of = {model: priors(o) for model, o in overall_of.items()}
        known: dict[str, dict[int, list[float] | None]] = {}
    else:
        prep = _prepared(_Same(pf), features.task, frozenset(names))
        near, pool, overall_of, priors_of = _with_prepared(features, prep, extra, k)
        known = prep.regrets
    if not near:
        return []
    similar = [r.dataset for r in near]
    n_tenant = sum(r.source == "tenant" for r in near)
    metrics = sorted({r.metric for r in near})
    unit = metrics[0] if len(metrics) == 1 else "metric units"
    described = _describe(features)
    out: list[tuple[tuple[float, int, str], ModelEvidence]] = []
    for fam in fams:
        local = config_regrets(near, fam, names, known.get(fam.model))
        overall = overall_of[fam.model]
        blended: list[float] = []
        for loc, prior in zip(local, priors_of[fam.model], strict=True):
            if not loc:
                blended.append(math.inf)
                continue
            assert prior is not None  # a configuration tried on a neighbour was tried on the task
            blended.append((sum(loc) + prior_weight * prior) / (len(loc) + prior_weight))
        ci = first_best(blended)
        if ci < 0:
            continue
        regrets = local[ci]
        n = len(regrets)
        wins = sum(r <= WIN_TOLERANCE for r in regrets)
        mean_local = sum(regrets) / n
        mean_all = sum(overall[ci]) / len(overall[ci])
        tenant_note = f"; {n_tenant} of them your own races" if n_tenant else ""
        reason = (
            f"{fam.model} ('{fam.configs[ci].name}'): best or within {WIN_TOLERANCE} of best on {wins} of {n} "
            f"similar {features.task} datasets (nearest by rows, columns, categorical and missing share, "
            f"classes{tenant_note}: {', '.join(similar[:3])}{' …' if len(similar) > 3 else ''}); mean shortfall "
            f"{mean_local:.4f} {unit} there, {mean_all:.4f} over all {len(overall[ci])} {features.task} datasets. "
            f"Your data: {described}."
        )
        ev = adopt(  # our own figures, of the declared types: not validated again (about a tenth of a ranking)
            ModelEvidence,
            {
                "model": fam.model,
                "trainer": fam.trainer,
                "config": fam.configs[ci].name,
                "config_index": ci,
                "params": dict(fam.configs[ci].params),
                "wins": wins,
                "n_similar": n,
                "mean_regret": round(mean_local, 6),
                "overall_regret": round(mean_all, 6),
                "score": round(blended[ci], 6),
                "similar": list(similar),
                "n_tenant": n_tenant,
                "reason": reason,
            },
        )
        out.append(((round(blended[ci], 9), -wins, fam.model), ev))
    return [ev for _, ev in sorted(out, key=lambda t: t[0])]


__all__ = [
    "DEFAULT_K",
    "PRIOR_WEIGHT",
    "WIN_TOLERANCE",
    "EvidenceRow",
    "FamilyConfig",
    "MetaFeatures",
    "ModelEvidence",
    "Portfolio",
    "PortfolioFamily",
    "default_portfolio",
    "nearest",
    "rank",
]
