"""scikit-learn support vector machines with an RBF kernel: SVC with calibrated probabilities, and SVR.

The shared Pipeline of :mod:`trainers.classical.sklearn_common` with a scaler (the RBF kernel compares squared
distances, so unscaled columns would dominate it): numeric columns → median imputation + missing-value
indicators → standardization; categorical columns → one-hot over the training levels → the SVM.

* Classification: ``SVC`` wrapped in ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` — Platt
  scaling fitted on cross-validated decision values, scikit-learn's replacement for ``SVC(probability=True)``
  (deprecated in 1.9). Folds are stratified and unshuffled, so the fit is deterministic.
* Regression: ``SVR`` inside ``TransformedTargetRegressor`` with a standardized target, so ``epsilon`` (the
  width of the loss-free tube) is in standard deviations of the target, not in its units.

The fit grows between O(n²) and O(n³) in the rows, so the advisor offers the SVM on small data only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from trainers.base import TrainerCapabilityError, TrainerParamError, check_int, check_number
from trainers.callbacks import Callbacks
from trainers.classical.sklearn_common import (
    SPARSE_TRUSTED_TYPES,
    SklearnPipelineTrainer,
    check_class_weight,
    class_weight_codes,
)
from trainers.registry import register_trainer
from trainers.spec import FeatureSchema, Task, TrainData

GAMMAS = ("scale", "auto")
CALIBRATION_FOLDS = 5  # scikit-learn's default number of folds for CalibratedClassifierCV


@register_trainer("sklearn_svm")
class SVMTrainer(SklearnPipelineTrainer):
    """RBF-kernel SVM on imputed, scaled, one-hot features (SVC + sigmoid calibration, or SVR)."""

    NAME = "sklearn_svm"
    TASKS = frozenset({"binary", "multiclass", "regression"})
    PARAMS = frozenset({"C", "gamma", "epsilon", "class_weight", "max_iter"})
    DEFAULT_SCALING = "standard"
    MODEL_KIND = "support vector machines"
    # The calibrated classifier keeps one private calibration object per class (plain arrays inside); support
    # vectors from a sparse one-hot stay sparse.
    TRUSTED_TYPES: ClassVar[frozenset[str]] = (
        frozenset({"sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"})
        | SPARSE_TRUSTED_TYPES
    )

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_number(params, "C", low=0, low_open=True)
        check_int(params, "max_iter", minimum=-1)
        if params.get("max_iter") == 0:
            raise TrainerParamError("max_iter", "expected -1 (no limit) or a positive integer, got 0")
        gamma = params.get("gamma", "scale")
        if isinstance(gamma, str):
            if gamma not in GAMMAS:
                raise TrainerParamError("gamma", f"unknown {gamma!r}; use 'scale', 'auto' or a positive number")
        else:
            check_number(params, "gamma", low=0, low_open=True)
        if "epsilon" in params:
            if task != "regression":
                raise TrainerParamError("epsilon", "the epsilon tube applies to regression (SVR) only")
            check_number(params, "epsilon", low=0)
        if params.get("class_weight") is not None and task == "regression":
            raise TrainerParamError("class_weight", "class weights apply to classification only")
        check_class_weight(params)

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        common: dict[str, Any] = {
            "kernel": "rbf",
            "C": float(p.get("C", 1.0)),
            "gamma": p.get("gamma", "scale"),
            "max_iter": int(p.get("max_iter", -1)),
        }
        if self.task_ == "regression":
            svr = SVR(**common, epsilon=float(p.get("epsilon", 0.1)))
            return TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())
        svc = SVC(**common, class_weight=class_weight_codes(p.get("class_weight"), schema), random_state=self.seed)
        return CalibratedClassifierCV(svc, method="sigmoid", ensemble=False, cv=self.calibration_folds_)

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        # Stratified folds need each present class in every fold: fewer folds when a class is rare.
        if train.task != "regression":
            counts = np.bincount(np.asarray(train.y, dtype=np.int64))
            smallest = int(counts[counts > 0].min()) if counts.any() else 0
            if smallest < 2:
                raise TrainerCapabilityError(
                    f"{self.NAME} calibrates probabilities by cross-validation and needs at least 2 training rows "
                    f"per class; the smallest class has {smallest}"
                )
            self.calibration_folds_ = min(CALIBRATION_FOLDS, smallest)
        else:
            self.calibration_folds_ = CALIBRATION_FOLDS
        super()._fit(train, valid, callbacks)
