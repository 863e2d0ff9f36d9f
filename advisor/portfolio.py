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
        return cls(
            task=profile.task,
            n_rows=profile.n_rows,
            n_features=profile.n_features,
            n_classes=profile.n_classes,
            minority_share=profile.minority_share,
            missing_share=profile.missing_share,
            n_categorical_features=profile.n_categorical_features,
            target_outlier_share=profile.target_outlier_share,
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


# -- similarity -----------------------------------------------------------------------------------------
def _vector(f: MetaFeatures) -> list[float]:
    """Numbers compared across datasets: sizes on a log scale, shares as they are (None → 0)."""
    cat_share = (f.n_categorical_features or 0) / f.n_features
    balance = (f.minority_share or 0.0) * (f.n_classes or 0)  # 1 = balanced classes, towards 0 = imbalanced
    return [
        math.log10(f.n_rows),
        math.log10(f.n_features),
        cat_share,
        f.missing_share or 0.0,
        math.log2(f.n_classes) if f.n_classes else 0.0,
        balance,
        f.target_outlier_share or 0.0,
    ]


def _spread(vectors: Sequence[list[float]]) -> list[float]:
    """Each feature's standard deviation over the pool (a floor keeps a constant feature from dividing by 0)."""
    n = len(vectors)
    out = []
    for j in range(len(vectors[0])):
        col = [v[j] for v in vectors]
        mean = sum(col) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in col) / n)
        out.append(max(sd, 0.05))
    return out


def nearest(features: MetaFeatures, rows: Sequence[EvidenceRow], k: int = DEFAULT_K) -> list[tuple[float, EvidenceRow]]:
    """The ``k`` rows of the same task nearest to ``features`` (z-normalised Euclidean), nearest first."""
    pool = [r for r in rows if r.features.task == features.task]
    if not pool:
        return []
    vecs = [_vector(r.features) for r in pool]
    return _nearest(features, pool, list(zip(*vecs, strict=True)), _spread(vecs), [_tag(r) for r in pool], k)


def _tag(row: EvidenceRow) -> tuple[bool, str]:
    """How a row orders among rows at the same distance: the tenant's first, then by name."""
    return row.source != "tenant", row.dataset


def _nearest(
    features: MetaFeatures,
    pool: Sequence[EvidenceRow],
    columns: Sequence[Sequence[float]],
    sd: list[float],
    tags: Sequence[tuple[bool, str]],
    k: int,
) -> list[tuple[float, EvidenceRow]]:
    x = _vector(features)
    # column by column, then each row's terms summed in the same order as a row-by-row pass: the same floats
    terms = [[((a - b) / s) ** 2 for b in col] for a, s, col in zip(x, sd, columns, strict=True)]
    dist = [math.sqrt(sum(t)) for t in zip(*terms, strict=True)]
    # by rounded distance, then tag; the index keeps equal keys in pool order (a stable sort)
    order = sorted(zip([round(d, 12) for d in dist], tags, range(len(pool)), strict=True))
    return [(dist[i], pool[i]) for _, _, i in order[:k]]


# -- ranking --------------------------------------------------------------------------------------------
def _best_score(row: EvidenceRow, families: set[str]) -> float | None:
    vals = [s for m, v in row.scores.items() if m in families for s in v if s is not None]
    return max(vals) if vals else None


def _describe(features: MetaFeatures) -> str:
    cat = (features.n_categorical_features or 0) / features.n_features
    parts = [f"{thousands(features.n_rows)} rows", f"{features.n_features} columns", f"{cat:.0%} categorical"]
    if features.n_classes:
        parts.append(f"{features.n_classes} classes")
    if features.missing_share:
        parts.append(f"{features.missing_share:.1%} missing")
    return ", ".join(parts)


def _row_regrets(row: EvidenceRow, fam: PortfolioFamily, names: set[str]) -> list[float] | None:
    """``fam``'s regret per configuration on ``row`` (best score there − its score), None if the row did not try it.

    A failed configuration counts as the worst outcome seen on that row; a row with one score for the family
    (e.g. a tenant's race) gives that regret to every configuration.
    """
    scores = row.scores.get(fam.model)
    top = _best_score(row, names)
    if not scores or top is None or all(s is None for s in scores):
        return None
    low = min(x for v in row.scores.values() for x in v if x is not None)
    if len(scores) != len(fam.configs):
        best = max(x for x in scores if x is not None)
        scores = [best] * len(fam.configs)
    return [top - (s if s is not None else low) for s in scores]


def _config_regrets(
    rows: Sequence[EvidenceRow],
    fam: PortfolioFamily,
    names: set[str],
    known: dict[int, list[float] | None] | None = None,
) -> list[list[float]]:
    """Per configuration of ``fam``, its regret on each row that tried the family (:func:`_row_regrets`);
    ``known``: rows' regrets already computed, by ``id``."""
    if known is None:
        known = {}
    found = [
        regrets
        for regrets in (known[id(row)] if id(row) in known else _row_regrets(row, fam, names) for row in rows)
        if regrets is not None
    ]
    if not found:
        return [[] for _ in fam.configs]
    return [list(column) for column in zip(*found, strict=True)]  # each row gives one regret per configuration


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
        self.rows = [r for r in pf.evidence if _best_score(r, self.names) is not None and r.features.task == task]
        vecs = [_vector(r.features) for r in self.rows]
        self.columns = list(zip(*vecs, strict=True))
        self.sd = _spread(vecs) if vecs else []
        self.tags = [_tag(r) for r in self.rows]
        self.regrets = {f.model: {id(r): _row_regrets(r, f, self.names) for r in self.rows} for f in self.fams}
        self.overall = {f.model: _config_regrets(self.rows, f, self.names, self.regrets[f.model]) for f in self.fams}
        self.priors = {model: _priors(overall) for model, overall in self.overall.items()}


def _priors(overall: list[list[float]]) -> list[float | None]:
    """Each configuration's mean regret over every dataset of the task (None where it was never tried)."""
    return [sum(glob) / len(glob) if glob else None for glob in overall]


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
    more = [r for r in extra if _best_score(r, names) is not None and r.features.task == features.task]
    if not more:
        pool, columns, sd, tags = prep.rows, prep.columns, prep.sd, prep.tags
        overall, priors = prep.overall, prep.priors
    else:
        pool = [*prep.rows, *more]
        vecs = [list(v) for v in zip(*prep.columns, strict=True)] + [_vector(r.features) for r in more]
        columns, sd, tags = list(zip(*vecs, strict=True)), _spread(vecs), [*prep.tags, *map(_tag, more)]
        overall = {}
        for fam in prep.fams:
            tail = _config_regrets(more, fam, names)
            overall[fam.model] = [a + b for a, b in zip(prep.overall[fam.model], tail, strict=True)]
        priors = {model: _priors(o) for model, o in overall.items()}
    near = _nearest_fast(features, pool, columns, sd, tags, k) if pool else []
    return near, pool, overall, priors


def _nearest_fast(
    features: MetaFeatures,
    pool: Sequence[EvidenceRow],
    columns: Sequence[Sequence[float]],
    sd: list[float],
    tags: Sequence[tuple[bool, str]],
    k: int,
) -> list[EvidenceRow]:
    """:func:`_nearest`'s rows, computed as it computes them with less work (the service ranks on every tabular
    recommendation, and this was a third of the ranking).

    - Each distance is the same sum of the same terms in the same order, written out for the seven features.
    - The order key rounds a distance to 12 digits, and rounding never reverses an order. So the rows are sorted
      by their exact distance, and only the first ``k``, with any row that rounds to the same key as the k-th, are
      rounded and sorted by the full key (rounded distance, tag, position).
    """
    a0, a1, a2, a3, a4, a5, a6 = _vector(features)
    s0, s1, s2, s3, s4, s5, s6 = sd
    sqrt = math.sqrt
    dist = [
        sqrt(
            ((a0 - b0) / s0) ** 2
            + ((a1 - b1) / s1) ** 2
            + ((a2 - b2) / s2) ** 2
            + ((a3 - b3) / s3) ** 2
            + ((a4 - b4) / s4) ** 2
            + ((a5 - b5) / s5) ** 2
            + ((a6 - b6) / s6) ** 2
        )
        for b0, b1, b2, b3, b4, b5, b6 in zip(*columns, strict=True)
    ]
    by_distance = sorted(range(len(dist)), key=dist.__getitem__)  # stable: equal distances stay in pool order
    if len(by_distance) > k:
        edge = round(dist[by_distance[k - 1]], 12)
        end = k
        while end < len(by_distance) and round(dist[by_distance[end]], 12) == edge:
            end += 1
        by_distance = by_distance[:end]
    head = sorted((round(dist[i], 12), tags[i], i) for i in by_distance)
    return [pool[i] for _, _, i in head[:k]]


def _first_best(blended: list[float]) -> int:
    """The configuration with the least blended regret rounded to 12 digits, the first on a tie; -1 if none was
    tried (all infinite). Rounding never reverses an order, so only values next to the least are rounded."""
    low = min(blended)
    if math.isinf(low):
        return -1
    key = round(low, 12)
    for i, b in enumerate(blended):
        if b - low < 1e-11 and round(b, 12) == key:
            return i
    raise AssertionError("unreachable: the least value rounds to its own key")


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
        rows = [r for r in (*pf.evidence, *extra) if r.dataset not in skip and _best_score(r, names) is not None]
        pool = [r for r in rows if r.features.task == features.task]
        near = [r for _, r in nearest(features, pool, k)]
        overall_of = {fam.model: _config_regrets(pool, fam, names) for fam in fams}
        priors_of = {model: _priors(o) for model, o in overall_of.items()}
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
        local = _config_regrets(near, fam, names, known.get(fam.model))
        overall = overall_of[fam.model]
        blended: list[float] = []
        for loc, prior in zip(local, priors_of[fam.model], strict=True):
            if not loc:
                blended.append(math.inf)
                continue
            assert prior is not None  # a configuration tried on a neighbour was tried on the task
            blended.append((sum(loc) + prior_weight * prior) / (len(loc) + prior_weight))
        ci = _first_best(blended)
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
