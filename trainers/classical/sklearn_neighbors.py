"""scikit-learn k-nearest neighbours for classification and regression, on standardized features.

The shared Pipeline of :mod:`trainers.classical.sklearn_common` with a scaler (distances are meaningless when
one column is in metres and another in millimetres): numeric columns → median imputation + missing-value
indicators → standardization; categorical columns → one-hot over the training levels → k-NN. Neighbours are
found by brute force: exact, deterministic, and the fitted model holds nothing but arrays (no KD-tree object
to trust when loading). Prediction cost grows with the training rows, so the advisor offers k-NN on small
data only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from trainers.base import TrainerParamError, check_int, check_number
from trainers.callbacks import Callbacks
from trainers.classical.sklearn_common import SPARSE_TRUSTED_TYPES, SklearnPipelineTrainer
from trainers.registry import register_trainer
from trainers.spec import FeatureSchema, Task, TrainData

WEIGHTS = ("uniform", "distance")


@register_trainer("sklearn_knn")
class KNeighborsTrainer(SklearnPipelineTrainer):
    """k-nearest neighbours (Minkowski distance, brute-force search) on imputed, scaled, one-hot features."""

    NAME = "sklearn_knn"
    TASKS = frozenset({"binary", "multiclass", "regression"})
    PARAMS = frozenset({"n_neighbors", "weights", "p"})
    DEFAULT_SCALING = "standard"
    MODEL_KIND = "k-nearest neighbours"
    TRUSTED_TYPES: ClassVar[frozenset[str]] = SPARSE_TRUSTED_TYPES  # training rows of a sparse one-hot stay sparse

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_int(params, "n_neighbors", minimum=1)
        check_number(params, "p", low=1.0)
        weights = params.get("weights", "uniform")
        if weights not in WEIGHTS:
            raise TrainerParamError("weights", f"unknown {weights!r}; use one of {', '.join(WEIGHTS)}")

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        kwargs: dict[str, Any] = {
            "n_neighbors": int(p.get("n_neighbors", 5)),
            "weights": p.get("weights", "uniform"),
            "p": float(p.get("p", 2.0)),
            "algorithm": "brute",
            "n_jobs": self.n_threads,
        }
        return KNeighborsRegressor(**kwargs) if self.task_ == "regression" else KNeighborsClassifier(**kwargs)

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        k = int(self.params.get("n_neighbors", 5))
        if k > len(train):
            raise TrainerParamError("n_neighbors", f"{k} neighbours asked but the training split has {len(train)} rows")
        super()._fit(train, valid, callbacks)
