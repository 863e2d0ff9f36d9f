"""Data and small parameter sets shared by the classical-trainer tests (real data, fixed seeds)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from trainers.callbacks import Callbacks
from trainers.preprocess import prepare_frame
from trainers.spec import SplitSpec, Task, TrainData
from trainers.splits import split_rows

SPLIT = {"train": 0.7, "validation": 0.15, "test": 0.15, "stratify": True}

# The keys the advisor emits for each trainer, with test-sized values (few rounds, small trees).
SMALL_PARAMS: dict[str, dict[Task, dict[str, Any]]] = {
    "xgboost": {
        "binary": {"objective": "binary:logistic", "eval_metric": "logloss"},
        "multiclass": {"objective": "multi:softprob", "eval_metric": "mlogloss"},
        "regression": {"objective": "reg:squarederror", "eval_metric": "rmse"},
    },
    "lightgbm": {
        "binary": {"objective": "binary", "metric": "binary_logloss"},
        "multiclass": {"objective": "multiclass", "metric": "multi_logloss"},
        "regression": {"objective": "regression", "metric": "l2"},
    },
    "sklearn_logistic": {
        task: {"C": 1.0, "penalty": "l2", "class_weight": None, "max_iter": 500} for task in ("binary", "multiclass")
    },
    "sklearn_ridge": {"regression": {"alpha": 1.0}},
    "sklearn_linear": {"regression": {}},
    # Forests, k-NN and SVM take the same keys for every task, bar class weights (classifiers) and epsilon (SVR).
    "sklearn_random_forest": {
        "binary": {"class_weight": None},
        "multiclass": {"class_weight": None},
        "regression": {"max_features": 1.0},
    },
    "sklearn_extra_trees": {
        "binary": {"class_weight": None},
        "multiclass": {"class_weight": None},
        "regression": {"max_features": 1.0},
    },
    "sklearn_knn": {task: {} for task in ("binary", "multiclass", "regression")},
    "sklearn_svm": {
        "binary": {"class_weight": None},
        "multiclass": {"class_weight": None},
        "regression": {"epsilon": 0.1},
    },
}
_FOREST_COMMON: dict[str, Any] = {
    # The advisor's tree count: fewer trees leave some test rows at probability 0 for their class (log loss).
    "n_estimators": 300,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "max_depth": None,
    "scaling": "none",
    "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": True},
}
_SKLEARN_COMMON: dict[str, dict[str, Any]] = {
    "sklearn_random_forest": _FOREST_COMMON,
    "sklearn_extra_trees": _FOREST_COMMON,
    "sklearn_knn": {
        "n_neighbors": 15,
        "weights": "uniform",
        "scaling": "standard",
        "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": True},
    },
    "sklearn_svm": {
        "C": 1.0,
        "gamma": "scale",
        "scaling": "standard",
        "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": True},
    },
}
_BOOSTING_COMMON: dict[str, dict[str, Any]] = {
    "xgboost": {
        "tree_method": "hist",
        "n_estimators": 40,
        "learning_rate": 0.2,
        "max_depth": 3,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
        "early_stopping_rounds": 10,
        "imputation": "native",
        "scaling": "none",
    },
    "lightgbm": {
        "n_estimators": 40,
        "learning_rate": 0.2,
        "num_leaves": 7,
        "min_child_samples": 5,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "early_stopping_rounds": 10,
        "imputation": "native",
        "scaling": "none",
    },
}
_LINEAR_COMMON = {
    "scaling": "standard",
    "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": True},
}


def small_params(trainer: str, task: Task, **overrides: Any) -> dict[str, Any]:
    """Advisor-shaped parameters for ``trainer`` on ``task``, sized for fast tests."""
    common = _BOOSTING_COMMON.get(trainer) or _SKLEARN_COMMON.get(trainer, _LINEAR_COMMON)
    split = {**SPLIT, "stratify": task != "regression"}
    return {**common, **SMALL_PARAMS[trainer][task], "split": split, **overrides}


@cache
def _sklearn_frame(task: Task) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    loader = {"binary": load_breast_cancer, "multiclass": load_wine, "regression": load_diabetes}[task]
    return loader(as_frame=True).frame


def real_frame(task: Task) -> pd.DataFrame:
    """A scikit-learn bundled set: breast_cancer (binary), wine (multiclass), diabetes (regression)."""
    return _sklearn_frame(task).copy()


def mixed_frame(task: Task, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Generated rows with numeric NaNs, a categorical text column (with NaN), a boolean, a text label."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
    flag = rng.random(n) < 0.5
    signal = 1.5 * x1 - x2 + np.where(color == "red", 1.5, np.where(color == "green", -1.0, 0.0)) + 0.8 * flag
    signal = signal + 0.3 * rng.normal(size=n)
    x1[rng.random(n) < 0.1] = np.nan
    x3[rng.random(n) < 0.1] = np.nan
    color = color.copy()
    color[rng.random(n) < 0.05] = None
    df = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "color": color, "flag": flag})
    return _with_label(df, task, signal, band=0.7)


def _with_label(df: pd.DataFrame, task: Task, signal: np.ndarray, band: float) -> pd.DataFrame:
    """``df`` with ``label`` from ``signal``: yes/no at 0, low/mid/high at ±``band``, or ``signal`` × 10 + 50."""
    if task == "binary":
        df["label"] = np.where(signal > 0, "yes", "no")
    elif task == "multiclass":
        df["label"] = np.select([signal < -band, signal < band], ["low", "mid"], "high")
    else:
        df["label"] = signal * 10.0 + 50.0
    return df


def assert_learned(task: Task, out: np.ndarray, y: np.ndarray, *, correlation: float, over_majority: float) -> None:
    """Predictions ``out`` follow ``y``: correlation above ``correlation`` (regression), else accuracy more than
    ``over_majority`` above always answering the majority class."""
    if task == "regression":
        assert np.corrcoef(out, y)[0, 1] > correlation
    else:
        majority = np.bincount(y).max() / len(y)
        assert (out.argmax(axis=1) == y).mean() > majority + over_majority


def prepared(frame: pd.DataFrame, target: str, task: Task, seed: int = 0) -> tuple[TrainData, TrainData, TrainData]:
    """Train/validation/test parts of ``frame`` as a trainer receives them."""
    X, y, schema = prepare_frame(frame, target, None, task)
    parts = split_rows(y, task, SplitSpec(stratify=task != "regression"), seed)

    def part(idx: np.ndarray) -> TrainData:
        return TrainData(X.iloc[idx].reset_index(drop=True), y[idx], schema)

    return part(parts.train), part(parts.validation), part(parts.test)


class StopAfter(Callbacks):
    """Records every hook call; asks to stop once ``rounds`` rounds have been reported."""

    def __init__(self, rounds: int | None = None, reason: str = "cancelled") -> None:
        self.rounds = rounds
        self.reason = reason
        self.started: list[int] = []
        self.seen: list[tuple[int, dict[str, float]]] = []
        self.ended = 0

    def on_start(self, total: int) -> None:
        self.started.append(total)

    def on_round(self, round: int, metrics: Any) -> None:
        self.seen.append((round, dict(metrics)))

    def should_stop(self) -> bool:
        return self.rounds is not None and len(self.seen) >= self.rounds

    def stop_reason(self) -> Any:
        return self.reason

    def on_end(self) -> None:
        self.ended += 1


def wide_frame(task: Task, n: int = 900, levels: int = 150, seed: int = 0) -> pd.DataFrame:
    """:func:`mixed_frame` plus ``shop``, a categorical of ``levels`` levels (more than a dense one-hot takes)
    whose own effect on the label is as large as the rest of the signal."""
    rng = np.random.default_rng(seed + 1)
    df = mixed_frame(task, n=n, seed=seed)
    codes = rng.integers(0, levels, size=n)
    effect = rng.normal(scale=2.0, size=levels)[codes]
    base = mixed_frame("regression", n=n, seed=seed)["label"].to_numpy()
    signal = (base - 50.0) / 10.0 + effect
    df.insert(4, "shop", np.array([f"s{c:03d}" for c in codes], dtype=object))
    return _with_label(df, task, signal, band=1.0)
