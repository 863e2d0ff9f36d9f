"""scikit-learn forests: random forest and extra trees, for classification and regression.

Both are the shared Pipeline of :mod:`trainers.classical.sklearn_common` without a scaler (trees split on
thresholds, so scale changes nothing): numeric columns → median imputation + missing-value indicators;
categorical columns → one-hot over the training levels → the forest. Trees are grown in parallel on
``n_threads`` cores (``n_jobs``) and seeded with ``seed``, so a fit is reproducible; predictions run on one
thread so that they are identical bit for bit however many threads the predicting process has. Hyperparameters use
scikit-learn's own names; the advisor's ``class_weight`` choice applies to classifiers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from trainers.base import TrainerParamError, check_int, check_number
from trainers.classical.sklearn_common import SklearnPipelineTrainer, check_class_weight, class_weight_codes
from trainers.registry import register_trainer
from trainers.spec import FeatureSchema, Task

FOREST_PARAMS = frozenset(
    {
        "n_estimators",
        "max_features",
        "min_samples_leaf",
        "min_samples_split",
        "max_depth",
        "bootstrap",
        "max_samples",
        "criterion",
        "class_weight",
    }
)
MAX_FEATURES_NAMES = ("sqrt", "log2")
CRITERIA = {
    "classification": ("gini", "entropy", "log_loss"),
    "regression": ("squared_error", "absolute_error", "friedman_mse", "poisson"),
}


def check_max_features(params: Mapping[str, Any]) -> None:
    """``max_features``: "sqrt", "log2", null (all), a fraction in (0, 1] or a count ≥ 1."""
    if "max_features" not in params:
        return
    v = params["max_features"]
    if v is None or v in MAX_FEATURES_NAMES:
        return
    if isinstance(v, int) and not isinstance(v, bool):
        if v >= 1:
            return
    elif isinstance(v, float) and 0.0 < v <= 1.0:
        return
    raise TrainerParamError(
        "max_features", f"expected 'sqrt', 'log2', null, a fraction in (0, 1] or a count ≥ 1, got {v!r}"
    )


class _Forest(SklearnPipelineTrainer):
    """Shared parameter checks and estimator construction of the two forests."""

    TASKS = frozenset({"binary", "multiclass", "regression"})
    PARAMS = FOREST_PARAMS
    DEFAULT_SCALING = "none"
    MODEL_KIND = "scikit-learn forests"
    PREDICT_SERIAL = True  # trees are grown on n_threads; predictions summed in one order, bit for bit
    # Fitted trees are sklearn.tree._tree.Tree objects, which skops rebuilds from plain arrays.
    TRUSTED_TYPES: ClassVar[frozenset[str]] = frozenset({"sklearn.tree._tree.Tree"})
    CLASSIFIER: ClassVar[type]
    REGRESSOR: ClassVar[type]
    DEFAULT_BOOTSTRAP: ClassVar[bool]

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_int(params, "n_estimators", minimum=1)
        check_int(params, "min_samples_leaf", minimum=1)
        check_int(params, "min_samples_split", minimum=2)
        check_int(params, "max_depth", minimum=1, allow_none=True)
        check_max_features(params)
        if "bootstrap" in params and not isinstance(params["bootstrap"], bool):
            raise TrainerParamError("bootstrap", f"expected true or false, got {params['bootstrap']!r}")
        if params.get("max_samples") is not None:
            if not params.get("bootstrap", cls.DEFAULT_BOOTSTRAP):
                raise TrainerParamError("max_samples", "applies only with bootstrap=true")
            check_number(params, "max_samples", low=0.0, high=1.0, low_open=True)
        kind = "regression" if task == "regression" else "classification"
        criterion = params.get("criterion")
        if criterion is not None and criterion not in CRITERIA[kind]:
            raise TrainerParamError(
                "criterion", f"unknown {criterion!r} for {kind}; use one of {', '.join(CRITERIA[kind])}"
            )
        if params.get("class_weight") is not None and task == "regression":
            raise TrainerParamError("class_weight", "class weights apply to classification only")
        check_class_weight(params, ("balanced", "balanced_subsample"))

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        common: dict[str, Any] = {
            "n_estimators": int(p.get("n_estimators", 100)),
            "max_features": p.get("max_features", "sqrt" if self.task_ != "regression" else 1.0),
            "min_samples_leaf": int(p.get("min_samples_leaf", 1)),
            "min_samples_split": int(p.get("min_samples_split", 2)),
            "max_depth": p.get("max_depth"),
            "bootstrap": bool(p.get("bootstrap", self.DEFAULT_BOOTSTRAP)),
            "max_samples": p.get("max_samples"),
            "n_jobs": self.n_threads,
            "random_state": self.seed,
        }
        if p.get("criterion") is not None:
            common["criterion"] = p["criterion"]
        if self.task_ == "regression":
            return self.REGRESSOR(**common)
        return self.CLASSIFIER(**common, class_weight=class_weight_codes(p.get("class_weight"), schema))


@register_trainer("sklearn_random_forest")
class RandomForestTrainer(_Forest):
    """Random forest: bootstrapped trees, best split among a random subset of features at each node."""

    NAME = "sklearn_random_forest"
    CLASSIFIER = RandomForestClassifier
    REGRESSOR = RandomForestRegressor
    DEFAULT_BOOTSTRAP = True


@register_trainer("sklearn_extra_trees")
class ExtraTreesTrainer(_Forest):
    """Extremely randomized trees: random split thresholds, every tree sees all rows (no bootstrap)."""

    NAME = "sklearn_extra_trees"
    CLASSIFIER = ExtraTreesClassifier
    REGRESSOR = ExtraTreesRegressor
    DEFAULT_BOOTSTRAP = False
