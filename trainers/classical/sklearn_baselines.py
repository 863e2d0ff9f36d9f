"""scikit-learn baselines: logistic regression, ridge and ordinary least squares.

Each is one Pipeline (see :mod:`trainers.classical.sklearn_common`): numeric columns → imputer (+ missing-value
indicators) → scaler; categorical columns → one-hot over the training levels (missing and unseen levels encode as
all zeros; sparse when a column has more than ``MAX_DENSE_ONEHOT_LEVELS`` levels); text columns → TF-IDF of word
unigrams and bigrams → the linear model. Fits are single calls, so a stop request is honoured only before the fit
starts; the job's hard time limit covers the rest. Saved with skops, loaded with an explicit trusted-type list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from trainers.base import TrainerParamError, check_int, check_number
from trainers.classical.sklearn_common import (
    IMPUTERS,
    SCALERS,
    TFIDF_TRUSTED_TYPES,
    SklearnPipelineTrainer,
    check_class_weight,
    class_weight_codes,
)
from trainers.registry import register_trainer
from trainers.spec import FeatureSchema, Task

__all__ = ["IMPUTERS", "SCALERS", "LinearRegressionTrainer", "LogisticRegressionTrainer", "RidgeRegressionTrainer"]

PENALTIES = ("l2", "l1", "elasticnet", "none")


class _LinearBaseline(SklearnPipelineTrainer):
    """The linear baselines: standardized inputs unless the advisor says otherwise; a text column (a text
    dataset's baseline, ``input_features="tfidf"``) becomes TF-IDF word and bigram weights in the Pipeline,
    so the saved model predicts from raw text."""

    DEFAULT_SCALING = "standard"
    MODEL_KIND = "linear models"
    TEXT_FEATURES = True
    TRUSTED_TYPES = TFIDF_TRUSTED_TYPES


@register_trainer("sklearn_logistic")
class LogisticRegressionTrainer(_LinearBaseline):
    """Logistic regression (lbfgs, or saga for L1/elastic net) on imputed, scaled, one-hot features."""

    NAME = "sklearn_logistic"
    TASKS = frozenset({"binary", "multiclass"})
    PARAMS = frozenset({"C", "penalty", "class_weight", "max_iter"})
    # Balanced class weights (§3 'Imbalanced') shift its intercepts by log w_c: the served probabilities are
    # shifted back (King & Zeng's prior correction), so they are calibrated and their arg-max is the likely class.
    PRIOR_CORRECTION = True

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_number(params, "C", low=0, low_open=True)
        check_int(params, "max_iter", minimum=1)
        penalty = params.get("penalty", "l2")
        if (penalty or "none") not in PENALTIES:
            raise TrainerParamError("penalty", f"unknown {penalty!r}; use one of {', '.join(PENALTIES)}")
        check_class_weight(params)

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        penalty = p.get("penalty", "l2") or "none"
        # scikit-learn ≥ 1.8 spells the penalty as l1_ratio (0 = L2, 1 = L1) and "none" as C = inf.
        C = float(p.get("C", 1.0)) if penalty != "none" else np.inf
        l1_ratio = {"l2": 0.0, "none": 0.0, "l1": 1.0, "elasticnet": 0.5}[penalty]
        solver = "lbfgs" if l1_ratio == 0.0 else "saga"
        cw = class_weight_codes(p.get("class_weight"), schema)  # keys are labels; the model sees their codes
        return LogisticRegression(
            C=C,
            l1_ratio=l1_ratio,
            solver=solver,
            class_weight=cw,
            max_iter=int(p.get("max_iter", 1000)),
            random_state=self.seed,
        )


@register_trainer("sklearn_ridge")
class RidgeRegressionTrainer(_LinearBaseline):
    """Ridge regression (L2-penalised least squares) on imputed, scaled, one-hot features."""

    NAME = "sklearn_ridge"
    TASKS = frozenset({"regression"})
    PARAMS = frozenset({"alpha"})

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_number(params, "alpha", low=0)

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        return Ridge(alpha=float(self.params.get("alpha", 1.0)), random_state=self.seed)


@register_trainer("sklearn_linear")
class LinearRegressionTrainer(_LinearBaseline):
    """Ordinary least squares on imputed, scaled, one-hot features."""

    NAME = "sklearn_linear"
    TASKS = frozenset({"regression"})
    # Unpenalised least squares over thousands of TF-IDF terms fits the training texts exactly: text goes to ridge.
    TEXT_FEATURES = False

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        return LinearRegression()
