"""The classical pool: which classical models a recommendation offers for a profile, in a default order.

:func:`classical_pool` is the one place that decides membership (size gates) and the default order, each with
a reason. An evidence-based ordering (e.g. a learned portfolio) re-orders the pool with
:meth:`ClassicalPool.reordered`, which accepts only a permutation of the same models: it can change the order
and its reason, never let a gated-out model back in. The engine turns the entries into candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advisor import tables as t
from advisor.profile import DatasetProfile
from advisor.text import thousands

SUMMARIES = {
    "lightgbm": "LightGBM with leaf-wise histogram trees (§9)",
    "xgboost": "XGBoost with histogram trees (§9 'Classical ML (XGBoost/LightGBM)')",
    "random_forest": "Random forest: full trees on bootstrap samples, averaged (bagging; no scaling needed)",
    "extra_trees": "Extra trees: trees with random split thresholds, averaged (no scaling needed)",
    "svm": "Support vector machine with an RBF kernel on standardized features (small data)",
    "knn": "k-nearest neighbours on standardized features (small data)",
}


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One classical model offered: the advisor's model name, its candidate summary, why it stands here."""

    model: str
    summary: str
    why: str


@dataclass(frozen=True, slots=True)
class ClassicalPool:
    """The classical models offered for a profile, best first, and why; ``left_out`` names the gated-out ones."""

    entries: tuple[PoolEntry, ...]
    order_reason: str
    left_out: tuple[tuple[str, str], ...] = ()

    @property
    def models(self) -> list[str]:
        """Model names in order."""
        return [e.model for e in self.entries]

    def reordered(self, models: Sequence[str], reason: str) -> ClassicalPool:
        """The same entries in the order ``models`` gives, with ``reason`` as the order's explanation.

        Raises ``ValueError`` unless ``models`` is a permutation of :attr:`models`.
        """
        if sorted(models) != sorted(self.models) or len(set(models)) != len(models):
            raise ValueError(f"a re-ordering must list exactly {self.models}, got {list(models)}")
        by_model = {e.model: e for e in self.entries}
        return ClassicalPool(tuple(by_model[m] for m in models), reason, self.left_out)


_TREES = {  # entries that read nothing of the profile, built once (frozen)
    m: PoolEntry(m, SUMMARIES[m], why)
    for m, why in (
        ("lightgbm", "gradient boosting, the §9 default for tabular data"),
        ("xgboost", "gradient boosting, the §9 default for tabular data"),
        ("random_forest", "bagged trees: robust untuned, strongest on small tables in the peer figures"),
        ("extra_trees", "randomized trees: lower variance than the random forest on small, noisy tables"),
    )
}


def classical_pool(profile: DatasetProfile) -> ClassicalPool:
    """Every classical model worth training for ``profile``, in the default order, with reasons.

    Order (evidence in :mod:`advisor.tables`): under ``FOREST_FIRST_MAX_ROWS`` rows the forests lead
    (random forest, extra trees, then LightGBM, XGBoost); from there on LightGBM, XGBoost, then the forests.
    The SVM joins under ``SVM_MAX_ROWS`` rows (not for a regression target with a point mass, see
    ``loss.point_mass``) and k-NN under ``KNN_MAX_ROWS``, last.
    """
    n = profile.n_rows
    rows, forest_gate = thousands(n), thousands(t.FOREST_FIRST_MAX_ROWS)
    svm_gate, knn_gate = thousands(t.SVM_MAX_ROWS), thousands(t.KNN_MAX_ROWS)
    forests_first = n < t.FOREST_FIRST_MAX_ROWS
    if forests_first:
        trees = ["random_forest", "extra_trees", "lightgbm", "xgboost"]
        lead = (
            f"{rows} rows (under {forest_gate}): random forest and extra trees first — on the 38 "
            "peer datasets of that size an untuned random forest beat untuned LightGBM on 23, and AutoML "
            "settled on extra trees on 15 — then LightGBM and XGBoost (§9)"
        )
    else:
        trees = ["lightgbm", "xgboost", "random_forest", "extra_trees"]
        lead = (
            f"{rows} rows (at least {forest_gate}): LightGBM and XGBoost first (§9 'XGBoost/"
            "LightGBM'; on the 23 peer datasets of that size LightGBM matched or beat the random forest on 16), "
            "then random forest and extra trees"
        )
    entries = [_TREES[m] for m in trees]
    left_out: list[tuple[str, str]] = []
    tail: list[str] = []
    point_mass = profile.task == "regression" and (profile.target_mode_share or 0.0) >= t.POINT_MASS_SHARE
    if point_mass:
        # An SVR's ε-insensitive loss grows linearly with the error, as MAE does: where one value holds a large
        # share of the targets it fits that value (the median), not the mean that RMSE and R² score.
        left_out.append(
            (
                "svm",
                f"{profile.target_mode_share:.0%} of the targets share one value: an SVR's ε-insensitive loss is "
                "linear in the errors like MAE and would fit that value, not the mean (loss.point_mass)",
            )
        )
    elif n < t.SVM_MAX_ROWS:
        entries.append(
            PoolEntry(
                "svm",
                SUMMARIES["svm"],
                f"kernel model for small data: {rows} rows is under the "
                f"{svm_gate}-row gate (its fit grows as n² to n³)",
            )
        )
        tail.append(f"the SVM (under {svm_gate} rows: its fit grows as n² to n³)")
    else:
        left_out.append(("svm", f"{rows} rows is at least {svm_gate}: a kernel SVM's fit grows as n² to n³"))
    if n < t.KNN_MAX_ROWS:
        entries.append(
            PoolEntry(
                "knn",
                SUMMARIES["knn"],
                f"distance model for small data: {rows} rows is under the "
                f"{knn_gate}-row gate (each prediction scans every training row)",
            )
        )
        tail.append(f"k-NN (under {knn_gate} rows: each prediction scans every training row)")
    else:
        left_out.append(("knn", f"{rows} rows is at least {knn_gate}: each k-NN prediction scans every training row"))
    reason = lead
    if tail:
        reason += "; then " + " and ".join(tail) + ", which rarely beat trees on tables"
    too_many = [m for m, _ in left_out if not (point_mass and m == "svm")]
    parts = ["the SVM (one value holds many targets)"] if point_mass else []
    if too_many:
        parts.append(", ".join(too_many) + " (too many rows)")
    if parts:
        reason += "; left out: " + ", ".join(parts)
    return ClassicalPool(tuple(entries), reason + ".", tuple(left_out))
