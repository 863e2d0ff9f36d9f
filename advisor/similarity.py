"""Similarity between datasets and regrets of model families: the arithmetic behind :func:`advisor.portfolio.rank`.

Pure functions over the portfolio's rows (meta-features and scores): each dataset as a vector of its
meta-features, z-normalised Euclidean distance, the nearest rows with a deterministic order on ties, and each
family's regret per configuration (best score on a dataset minus its own). :mod:`advisor.portfolio` holds the
data and the ranking; this module holds what both its prepared and its row-by-row paths compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advisor.portfolio import EvidenceRow, MetaFeatures, PortfolioFamily


def vector(f: MetaFeatures) -> list[float]:
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


def spread(vectors: Sequence[list[float]]) -> list[float]:
    """Each feature's standard deviation over the pool (a floor keeps a constant feature from dividing by 0)."""
    n = len(vectors)
    out = []
    for j in range(len(vectors[0])):
        col = [v[j] for v in vectors]
        mean = sum(col) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in col) / n)
        out.append(max(sd, 0.05))
    return out


def tag(row: EvidenceRow) -> tuple[bool, str]:
    """How a row orders among rows at the same distance: the tenant's first, then by name."""
    return row.source != "tenant", row.dataset


def best_score(row: EvidenceRow, families: set[str]) -> float | None:
    vals = [s for m, v in row.scores.items() if m in families for s in v if s is not None]
    return max(vals) if vals else None


def row_regrets(row: EvidenceRow, fam: PortfolioFamily, names: set[str]) -> list[float] | None:
    """``fam``'s regret per configuration on ``row`` (best score there − its score), None if the row did not try it.

    A failed configuration counts as the worst outcome seen on that row; a row with one score for the family
    (e.g. a tenant's race) gives that regret to every configuration.
    """
    scores = row.scores.get(fam.model)
    top = best_score(row, names)
    if not scores or top is None or all(s is None for s in scores):
        return None
    low = min(x for v in row.scores.values() for x in v if x is not None)
    if len(scores) != len(fam.configs):
        best = max(x for x in scores if x is not None)
        scores = [best] * len(fam.configs)
    return [top - (s if s is not None else low) for s in scores]


def config_regrets(
    rows: Sequence[EvidenceRow],
    fam: PortfolioFamily,
    names: set[str],
    known: dict[int, list[float] | None] | None = None,
) -> list[list[float]]:
    """Per configuration of ``fam``, its regret on each row that tried the family (:func:`row_regrets`);
    ``known``: rows' regrets already computed, by ``id``."""
    if known is None:
        known = {}
    found = [
        regrets
        for regrets in (known[id(row)] if id(row) in known else row_regrets(row, fam, names) for row in rows)
        if regrets is not None
    ]
    if not found:
        return [[] for _ in fam.configs]
    return [list(column) for column in zip(*found, strict=True)]  # each row gives one regret per configuration


def priors(overall: list[list[float]]) -> list[float | None]:
    """Each configuration's mean regret over every dataset of the task (None where it was never tried)."""
    return [sum(glob) / len(glob) if glob else None for glob in overall]


def nearest_rows(
    features: MetaFeatures,
    pool: Sequence[EvidenceRow],
    columns: Sequence[Sequence[float]],
    sd: list[float],
    tags: Sequence[tuple[bool, str]],
    k: int,
) -> list[tuple[float, EvidenceRow]]:
    """The ``k`` rows of ``pool`` nearest to ``features`` with their distances, nearest first: z-normalised
    Euclidean distance over the columns of the pool's vectors, ordered by the distance rounded to 12 digits, then
    the row's tag, then its place in the pool (the service ranks on every tabular recommendation: kept lean).

    - Each distance sums the squared terms in feature order, written out for the seven features.
    - Rounding never reverses an order. So the rows are sorted by their exact distance, and only the first ``k``,
      with any row that rounds to the same key as the k-th, are rounded and sorted by the full key.
    """
    a0, a1, a2, a3, a4, a5, a6 = vector(features)
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
    return [(dist[i], pool[i]) for _, _, i in head[:k]]


def first_best(blended: list[float]) -> int:
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
