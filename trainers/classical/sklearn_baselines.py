"""scikit-learn baselines: logistic regression, ridge and ordinary least squares.

Each is one Pipeline: numeric columns → imputer (+ missing-value indicators) → scaler; categorical
columns → one-hot over the training levels (missing and unseen levels encode as all zeros) → the
linear model. Fits are single calls, so a stop request is honoured only before the fit starts; the
job's hard time limit covers the rest. Saved with skops, loaded with an explicit trusted-type list.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler
from threadpoolctl import threadpool_limits

from trainers.artifacts import skops_dump, skops_load
from trainers.base import Trainer, TrainerParamError, check_int, check_number
from trainers.callbacks import Callbacks, TrainingStopped
from trainers.metrics import evaluate
from trainers.registry import register_trainer
from trainers.spec import CurveSet, FeatureSchema, Task, TrainData

# Accepted spellings of the advisor's ``scaling`` and ``imputation`` choices.
SCALERS: dict[str, type | None] = {
    "standard": StandardScaler,
    "standardize": StandardScaler,
    "standardise": StandardScaler,
    "zscore": StandardScaler,
    "z-score": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
    "none": None,
}
IMPUTERS = ("median", "mean", "most_frequent", "none")  # for numeric columns
PENALTIES = ("l2", "l1", "elasticnet", "none")


def _scaler(params: Mapping[str, Any]) -> Any:
    value = params.get("scaling", "standard")
    if value is True:
        value = "standard"
    if value is False or value is None:
        value = "none"
    key = str(value).lower()
    if key not in SCALERS:
        raise TrainerParamError("scaling", f"unknown {value!r}; use one of {', '.join(SCALERS)}")
    cls = SCALERS[key]
    return None if cls is None else cls()


def _imputation(params: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(numeric strategy, categorical strategy, add indicators) from the advisor's ``imputation``.

    Accepts a strategy name (``"median"``) or the advisor's mapping
    ``{"numeric": "median", "categorical": "most_frequent", "add_indicator": true}``. A categorical
    strategy of ``"none"`` leaves missing/unseen levels as an all-zero one-hot row.
    """
    value = params.get("imputation", "median")
    if value is None or value is False:
        value = "none"
    if isinstance(value, str):
        numeric, categorical, indicator = value.lower(), "none", value.lower() != "none"
    elif isinstance(value, Mapping):
        extra = set(value) - {"numeric", "categorical", "add_indicator"}
        if extra:
            raise TrainerParamError("imputation", f"unknown key {sorted(extra)[0]!r}")
        numeric = str(value.get("numeric", "median")).lower()
        categorical = str(value.get("categorical", "none")).lower()
        indicator = bool(value.get("add_indicator", True))
    else:
        raise TrainerParamError("imputation", f"expected a strategy or a mapping, got {value!r}")
    if numeric == "native":
        raise TrainerParamError("imputation", "linear models cannot route missing values natively; use 'median'")
    if numeric not in IMPUTERS:
        raise TrainerParamError("imputation", f"unknown numeric strategy {numeric!r}; use one of {', '.join(IMPUTERS)}")
    if categorical not in ("most_frequent", "none"):
        raise TrainerParamError("imputation", f"unknown categorical strategy {categorical!r}")
    return numeric, categorical, indicator


def _matrix(X: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """Numeric columns as floats, categorical columns as level codes (-1 = missing or unseen)."""
    cols = []
    for spec in schema.columns:
        s = X[spec.name]
        cols.append(s.cat.codes.to_numpy(np.float64) if spec.kind == "categorical" else s.to_numpy(np.float64))
    return np.column_stack(cols) if cols else np.empty((len(X), 0))


class _LinearBaseline(Trainer):
    """Shared pipeline, curves and skops artifact of the linear baselines."""

    ARTIFACT_FORMAT = "skops"
    ITERATIVE = False
    LIBRARIES = ("sklearn", "skops", "numpy", "pandas")
    MODEL_FILE = "model.skops"
    PARAMS: ClassVar[frozenset[str]] = frozenset()

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        raise NotImplementedError

    def _pipeline(self, schema: FeatureSchema) -> Pipeline:
        num = [i for i, c in enumerate(schema.columns) if c.kind != "categorical"]
        cat = [i for i, c in enumerate(schema.columns) if c.kind == "categorical" and c.categories]
        numeric, categorical, indicator = _imputation(self.params)
        steps: list[tuple[str, Any]] = []
        if numeric != "none":
            # Indicators let a linear model learn "value was missing" rather than trust the filled value.
            steps.append(("impute", SimpleImputer(strategy=numeric, add_indicator=indicator, keep_empty_features=True)))
        scaler = _scaler(self.params)
        if scaler is not None:
            steps.append(("scale", scaler))
        parts: list[tuple[str, Any, list[int]]] = []
        if num:
            parts.append(("numeric", Pipeline(steps) if steps else "passthrough", num))
        if cat:
            levels = [np.arange(len(schema.columns[i].categories or []), dtype=np.float64) for i in cat]
            # Fixed categories = the training levels; code -1 (missing/unseen) is "unknown" → all zeros,
            # unless the recommendation asks to fill it with the most frequent level.
            onehot = OneHotEncoder(categories=levels, handle_unknown="ignore")
            if categorical == "most_frequent":
                fill = SimpleImputer(missing_values=-1.0, strategy="most_frequent", keep_empty_features=True)
                parts.append(("categorical", Pipeline([("impute", fill), ("onehot", onehot)]), cat))
            else:
                parts.append(("categorical", onehot, cat))
        pre = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
        return Pipeline([("preprocess", pre), ("model", self._estimator(schema))])

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        if self._stop(callbacks):
            raise TrainingStopped(self.partial_reason_ or "cancelled")
        schema = train.schema
        pipe = self._pipeline(schema)
        with threadpool_limits(limits=self.n_threads):
            pipe.fit(_matrix(train.X, schema), train.y)
        self.model_ = pipe
        self.n_rounds_ = 1
        self.best_iteration_ = 0
        tr = self._predict_output(train.X)
        va = self._predict_output(valid.X)
        task = train.task
        loss_key, metric = ("rmse", None) if task == "regression" else ("log_loss", "accuracy")
        tr_m, va_m = evaluate(task, train.y, tr)[0], evaluate(task, valid.y, va)[0]
        nan = float("nan")
        callbacks.on_round(
            0,
            {f"train-{k}": nan if v is None else v for k, v in tr_m.items()}
            | {f"valid-{k}": nan if v is None else v for k, v in va_m.items()},
        )
        self.curves_ = CurveSet(
            loss_name=loss_key,
            train_loss=[tr_m[loss_key]],
            val_loss=[va_m[loss_key]],
            metric_name=metric,
            train_metric=[tr_m[metric]] if metric else None,
            val_metric=[va_m[metric]] if metric else None,
            metric_higher_is_better=True,
            history={"train": {k: [v] for k, v in tr_m.items()}, "valid": {k: [v] for k, v in va_m.items()}},
        )

    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads):
            m = _matrix(X, self.schema_)
            if self.task_ == "regression":
                return np.asarray(self.model_.predict(m), dtype=np.float64)
            proba = np.asarray(self.model_.predict_proba(m), dtype=np.float64)
        k = self.schema_.n_classes or proba.shape[1]
        if proba.shape[1] == k:
            return proba
        # A class missing from the training split has no column: give it probability 0.
        full = np.zeros((len(proba), k))
        full[:, self.model_.classes_.astype(int)] = proba
        return full

    def _save_model(self, directory: Path) -> list[str]:
        skops_dump(self.model_, directory / self.MODEL_FILE)
        return [self.MODEL_FILE]

    def _load_model(self, directory: Path) -> None:
        self.model_ = skops_load(directory / self.MODEL_FILE)


@register_trainer("sklearn_logistic")
class LogisticRegressionTrainer(_LinearBaseline):
    """Logistic regression (lbfgs, or saga for L1/elastic net) on imputed, scaled, one-hot features."""

    NAME = "sklearn_logistic"
    TASKS = frozenset({"binary", "multiclass"})
    PARAMS = frozenset({"C", "penalty", "class_weight", "max_iter"})

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_number(params, "C", low=0, low_open=True)
        check_int(params, "max_iter", minimum=1)
        penalty = params.get("penalty", "l2")
        if (penalty or "none") not in PENALTIES:
            raise TrainerParamError("penalty", f"unknown {penalty!r}; use one of {', '.join(PENALTIES)}")
        cw = params.get("class_weight")
        if cw is not None and cw != "balanced" and not isinstance(cw, dict):
            raise TrainerParamError("class_weight", f"expected 'balanced', a mapping or null, got {cw!r}")

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        penalty = p.get("penalty", "l2") or "none"
        # scikit-learn ≥ 1.8 spells the penalty as l1_ratio (0 = L2, 1 = L1) and "none" as C = inf.
        C = float(p.get("C", 1.0)) if penalty != "none" else np.inf
        l1_ratio = {"l2": 0.0, "none": 0.0, "l1": 1.0, "elasticnet": 0.5}[penalty]
        solver = "lbfgs" if l1_ratio == 0.0 else "saga"
        cw = p.get("class_weight")
        if isinstance(cw, dict):  # keys are class labels; the model sees their codes
            index = {str(label): i for i, label in enumerate(schema.classes or [])}
            unknown = [k for k in cw if str(k) not in index]
            if unknown:
                raise TrainerParamError("class_weight", f"unknown class {unknown[0]!r}")
            cw = {index[str(k)]: float(v) for k, v in cw.items()}
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

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        return LinearRegression()
