"""Distance and kernel models: k-nearest neighbours and the RBF support vector machine.

Every hyperparameter the ``sklearn_knn``/``sklearn_svm`` trainers receive. Both compare rows by distance, so
§10 "Normalize/scale features" is not optional for them (cf. §7: inputs on one scale). The remaining values
are scikit-learn's documented defaults or common practice, and say so; §6 (C as an L2-style penalty) and §3
(class weights) apply where cited.
"""

from __future__ import annotations

import math

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.rules.class_weights import BalancedClassWeight
from advisor.rules.classical import fixed
from advisor.text import thousands

DISTANCE_MODELS = ("knn", "svm")


class ScaleForDistances(Rule):
    """§10 "Normalize/scale features": distance and kernel models need standardized inputs."""

    ID = "data.scaling_distance"
    SECTION = "§10"
    DECIDES = "scaling"
    CONDITIONS = {"model": list(DISTANCE_MODELS), "value": "standard"}

    def applies(self, ctx: Context) -> bool:
        return ctx.model in DISTANCE_MODELS

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "standard",
            f"Standardize every column (§10 'Normalize/scale features', cf. §7): {ctx.model} "
            "compares rows by distance, so a column in large units would otherwise decide alone.",
        )


class KnnNeighbors(Rule):
    """k ≈ √(training rows), between 5 (scikit-learn's default) and 50: a common rule of thumb."""

    SHARED = True
    ID = "knn.n_neighbors"
    SECTION = "§6"
    DECIDES = "n_neighbors"
    CONDITIONS = {
        "value": "round(sqrt(n_rows * train_fraction))",
        "min": t.KNN_MIN_NEIGHBORS,
        "max": t.KNN_MAX_NEIGHBORS,
        "train_fraction": t.SPLIT["train"],
    }
    EXTRAPOLATED = True

    def decide(self, ctx: Context) -> Decision:
        n_train = int(ctx.profile.n_rows * t.SPLIT["train"])
        k = min(t.KNN_MAX_NEIGHBORS, max(t.KNN_MIN_NEIGHBORS, round(math.sqrt(max(n_train, 1)))))
        return self.make(
            k,
            f"k = {k} ≈ √{thousands(n_train)} training rows, kept within {t.KNN_MIN_NEIGHBORS}-"
            f"{t.KNN_MAX_NEIGHBORS} (common rule of thumb): a larger k averages out noise, as "
            "regularization does (cf. §6), and keeps class probabilities away from 0 and 1.",
        )


KnnWeights = fixed(
    "knn.weights",
    "§6",
    "weights",
    "uniform",
    "Every neighbour votes equally, scikit-learn's default (library default).",
)


class SvmC(Rule):
    """C = 1, scikit-learn's default: the inverse strength of the margin penalty (an L2 penalty, §6)."""

    SHARED = True
    ID = "svm.C"
    SECTION = "§6"
    DECIDES = "C"
    CONDITIONS = {"C": t.SVM_C}
    EXTRAPOLATED = True

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.SVM_C,
            f"C = {t.SVM_C:g}: the SVM's L2 penalty on the weights (§6 'L2') at unit "
            "strength, scikit-learn's default for standardized inputs (library default).",
        )


class SvmEpsilon(Rule):
    """SVR tube of 0.1 target standard deviations (scikit-learn's default width on a standardized target)."""

    SHARED = True
    ID = "svm.epsilon"
    SECTION = "§3"
    DECIDES = "epsilon"
    CONDITIONS = {"task": "regression", "epsilon": t.SVR_EPSILON, "units": "standard deviations of the target"}
    EXTRAPOLATED = True

    def applies(self, ctx: Context) -> bool:
        return not ctx.is_classification

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.SVR_EPSILON,
            f"Errors under {t.SVR_EPSILON:g} target standard deviations cost nothing "
            "and larger ones grow linearly, like §3's MAE, so outliers weigh less; the trainer "
            "standardizes the target, so this is scikit-learn's default width (library default).",
        )


class SvmClassWeight(BalancedClassWeight):
    """Balanced class weights for an imbalanced target (§3 'Imbalanced'), none otherwise; classification only."""

    ID = "svm.class_weight"
    HOW = "scale each class's penalty C inversely to its frequency"


SvmGamma = fixed(
    "svm.gamma",
    "§10",
    "gamma",
    "scale",
    "RBF width 1 / (features × variance), scikit-learn's default 'scale', which fits standardized "
    "inputs (library default).",
)
