"""Random forest and extra trees: every hyperparameter the ``sklearn_random_forest``/``sklearn_extra_trees``
trainers receive.

The cheatsheet names no forest setting; most values are scikit-learn's documented defaults or common
practice and say so. Where a principle carries over — §6 (randomness and leaf size as regularization), §3
(class weights for an imbalanced target), §13 (memory) — the rule cites it. Both forests share the rules:
they differ in how splits are drawn, not in what these values mean.
"""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.rules.class_weights import BalancedClassWeight
from advisor.rules.classical import fixed
from advisor.text import thousands

FOREST_MODELS = ("random_forest", "extra_trees")


class ForestTrees(Rule):
    """300 trees (the untuned forest the peer figures used); 100 on large data to bound memory and time."""

    SHARED = True
    ID = "forest.n_estimators"
    SECTION = "§13"
    DECIDES = "n_estimators"
    CONDITIONS = {
        "n_rows_lt": t.FOREST_LARGE_ROWS,
        "below": t.FOREST_N_ESTIMATORS,
        "at_or_above": t.FOREST_N_ESTIMATORS_LARGE,
    }
    EXTRAPOLATED = True

    def __init__(self) -> None:
        super().__init__()
        # the answer below the large-data gate reads nothing else: made once, shared (read-only)
        self._default = self.make(
            t.FOREST_N_ESTIMATORS,
            f"{t.FOREST_N_ESTIMATORS} trees: more trees only reduce the "
            "variance of the average and never overfit, and 300 is the untuned forest of the peer "
            "figures (common practice).",
        )

    def decide(self, ctx: Context) -> Decision:
        n = ctx.profile.n_rows
        if n >= t.FOREST_LARGE_ROWS:
            return self.make(
                t.FOREST_N_ESTIMATORS_LARGE,
                f"{t.FOREST_N_ESTIMATORS_LARGE} trees for {thousands(n)} rows: each "
                "full tree grows with the rows, so fewer trees keep memory and fit time bounded (§13); "
                "averaging 100 trees already removes most of the variance (common practice).",
            )
        return self._default


class ForestMaxFeatures(Rule):
    """Features tried per split: √p for classification, all of them for regression (scikit-learn's defaults)."""

    SHARED = True
    ID = "forest.max_features"
    SECTION = "§6"
    DECIDES = "max_features"
    CONDITIONS = {"classification": "sqrt", "regression": 1.0}
    EXTRAPOLATED = True

    def decide(self, ctx: Context) -> Decision:
        if ctx.is_classification:
            return self.make(
                "sqrt",
                "√(features) candidates per split decorrelates the trees, a regularization by "
                "randomness (cf. §6); scikit-learn's default for classifiers.",
            )
        return self.make(
            1.0,
            "Every feature is a split candidate for regression, scikit-learn's default for "
            "regressors: the averaging of many trees is the regularization (cf. §6).",
        )


class ForestMinLeaf(Rule):
    """Leaves of one row for classification (the reference default); for regression a search over 1, 3, 5 and 10
    rows per leaf by out-of-bag error at fit time; at least 5 rows per leaf on large data (§13)."""

    SHARED = True
    ID = "forest.min_samples_leaf"
    SECTION = "§6"
    DECIDES = "min_samples_leaf"
    CONDITIONS = {
        "n_rows_lt": t.FOREST_LARGE_ROWS,
        "below": {"classification": 1, "regression": t.FOREST_MIN_SAMPLES_LEAF_SEARCH},
        "at_or_above": t.FOREST_MIN_SAMPLES_LEAF_LARGE,
    }
    EXTRAPOLATED = True

    def __init__(self) -> None:
        super().__init__()
        # the answers below the large-data gate read only the task: made once, shared (read-only)
        sizes = list(t.FOREST_MIN_SAMPLES_LEAF_SEARCH)
        self._search = self.make(
            sizes,
            f"Leaf size chosen at fit time from {', '.join(map(str, sizes))} rows by out-of-bag error: a "
            "leaf's mean is the forest's regularization (cf. §6), a noisy target wants large leaves and a "
            "clean one full trees, and no table shape tells them apart; each candidate is a bootstrapped "
            "forest scored on the rows its trees left out, so the choice costs no training rows (common "
            "practice: tune on held-out data).",
        )
        self._full = self.make(
            1,
            "Grow full trees (one row per leaf), the reference default for classification: a "
            "forest controls variance by averaging, not by pruning (common practice).",
        )

    def decide(self, ctx: Context) -> Decision:
        n = ctx.profile.n_rows
        if n >= t.FOREST_LARGE_ROWS:
            m = t.FOREST_MIN_SAMPLES_LEAF_LARGE
            return self.make(
                m,
                f"At least {m} rows per leaf on {thousands(n)} rows: about {m}× fewer nodes per tree keeps "
                "the model in memory (§13) and smooths the leaves (cf. §6 'reduce model size').",
            )
        return self._full if ctx.is_classification else self._search


class ForestClassWeight(BalancedClassWeight):
    """Balanced class weights for an imbalanced target (§3 'Imbalanced'), none otherwise; classification only."""

    ID = "forest.class_weight"
    HOW = "weight classes inversely to their frequency so splits do not ignore it"


ForestMaxDepth = fixed(
    "forest.max_depth",
    "§6",
    "max_depth",
    None,
    "No depth limit, scikit-learn's default: leaf size bounds the trees (library default).",
)
