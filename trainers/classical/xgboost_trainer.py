"""XGBoost (``xgboost.train``, histogram trees) behind the trainer contract.

Categorical columns go in as pandas ``category`` (``enable_categorical=True``), missing values as NaN,
both handled natively. Early stopping watches the last ``eval_metric`` on the validation set; the
saved model ends at the best round (the booster is sliced, so a loaded model needs no extra state).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from trainers.base import (
    Trainer,
    TrainerCapabilityError,
    TrainerParamError,
    check_int,
    check_number,
    curve_values,
    metric_list,
)
from trainers.callbacks import Callbacks
from trainers.classical.boosting import base_params, check_objective, fit_threads, scaled_loss_params
from trainers.export.onnx import xgboost_graph
from trainers.metrics import best_round, higher_is_better, sigmoid, softmax
from trainers.registry import register_trainer
from trainers.spec import CurveSet, Task, TrainData

# The loss each task's curves are drawn with; also the constant-predictor baseline's loss.
LOSS_METRIC: dict[str, str] = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "binary": ("binary:logistic",),
    "multiclass": ("multi:softprob", "multi:softmax"),
    # Objectives that need extra parameters this trainer does not accept (quantile_alpha, ...) are left out.
    "regression": (
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:pseudohubererror",
        "reg:absoluteerror",
        "reg:logistic",
        "count:poisson",
        "reg:gamma",
        "reg:tweedie",
    ),
}
# Above this many training rows the training curve is computed on a seeded sample of this size.
TRAIN_CURVE_MAX_ROWS = 50_000
# Parameters handed to xgboost.train's params dict as they are; the others are consumed here.
_BOOSTER_KEYS = (
    "objective",
    "tree_method",
    "learning_rate",
    "max_depth",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "reg_lambda",
    "scale_pos_weight",
    "num_class",
    "huber_slope",
    "base_score",
)
# Robust losses whose scale is set from the training target when not given (see scaled_loss_params).
_SCALE_KEYS = {"reg:pseudohubererror": "huber_slope"}
# Pseudo-Huber from XGBoost's own start on a target in the ten-thousands diverged (test R² -4.8e9 with slope 1):
# start at the median. reg:absoluteerror already starts from the median (XGBoost estimates it) and refits its
# leaves to residual quantiles, so it trains well on large targets without help (measured R² 0.91).
_MEDIAN_START = frozenset({"reg:pseudohubererror"})


class _RoundHook(xgb.callback.TrainingCallback):
    """Reports each round and stops on request; returning True ends ``xgboost.train``."""

    def __init__(self, trainer: XGBoostTrainer, callbacks: Callbacks) -> None:
        super().__init__()
        self.trainer = trainer
        self.callbacks = callbacks

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict[str, Any]) -> bool:
        metrics = {f"{d}-{m}": float(v[-1]) for d, per in evals_log.items() for m, v in per.items()}
        self.callbacks.on_round(epoch, metrics)
        return self.trainer._stop(self.callbacks)


@register_trainer("xgboost")
class XGBoostTrainer(Trainer):
    """Gradient-boosted trees with XGBoost; params are the advisor's ``xgboost`` candidate values."""

    NAME = "xgboost"
    TASKS = frozenset({"binary", "multiclass", "regression"})
    SUPPORTS_GPU = True
    ARTIFACT_FORMAT = "xgboost-ubj"
    PARAMS = frozenset({*_BOOSTER_KEYS, "eval_metric", "n_estimators", "early_stopping_rounds"})
    LIBRARIES = ("xgboost", "numpy", "pandas")
    MODEL_FILE = "model.ubj"

    @classmethod
    def check(cls, task: str, modality: str = "tabular", *, device: str | None = None) -> None:
        """As :meth:`Trainer.check`, and refuse a GPU device when this xgboost build has no CUDA."""
        super().check(task, modality, device=device)
        if device in ("cuda", "gpu") and not xgb.build_info().get("USE_CUDA", False):
            raise TrainerCapabilityError("this xgboost build has no CUDA support (xgboost-cpu); use device=cpu")

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_objective(params, task, OBJECTIVES)
        if "scale_pos_weight" in params and params["scale_pos_weight"] is not None and task != "binary":
            raise TrainerParamError("scale_pos_weight", f"only applies to binary, not {task}")
        check_int(params, "n_estimators", minimum=1)
        check_int(params, "early_stopping_rounds", minimum=1, allow_none=True)
        check_int(params, "max_depth", minimum=0)
        check_number(params, "learning_rate", low=0, low_open=True)
        if params.get("huber_slope") is not None:
            check_number(params, "huber_slope", low=0, low_open=True)
        if params.get("base_score") is not None:
            check_number(params, "base_score")
        metric_list(params.get("eval_metric"), "eval_metric")

    # -- fit -----------------------------------------------------------------------------------
    def _total_rounds(self) -> int:
        return int(self.params.get("n_estimators", 100))

    def _booster_params(self, task: Task, n_classes: int | None) -> dict[str, Any]:
        p = base_params(self.params, _BOOSTER_KEYS, task, n_classes, OBJECTIVES)
        device = self.params.get("device")
        if device in ("cuda", "gpu"):
            p["device"] = "cuda"
        # The task loss comes first so the curves always have it; xgboost early-stops on the *last*
        # metric, which stays the recommendation's own choice.
        loss = LOSS_METRIC[task]
        user = metric_list(self.params.get("eval_metric"), "eval_metric")
        p["eval_metric"] = [loss, *[m for m in user if m != loss]]
        p["nthread"] = self.n_threads
        p["seed"] = self.seed
        return p

    def _matrices(self, train: TrainData, valid: TrainData, n_threads: int) -> tuple[Any, Any, Any]:
        """Training, training-curve and validation matrices; only the first for a fit that records no curves."""
        # A plain DMatrix, as hand-written xgboost code uses: measured here on 700k × 28 with hist,
        # QuantileDMatrix spent as much CPU building as DMatrix spends sketching in round one.
        common = {"enable_categorical": True, "nthread": n_threads}
        dtrain = xgb.DMatrix(train.X, label=train.y, **common)
        if not self.record_curves:  # a refit (its "validation" rows are its training rows) or a fold: nothing to score
            return dtrain, None, None
        dvalid = xgb.DMatrix(valid.X, label=valid.y, **common)
        dcurve = dtrain
        if len(train) > TRAIN_CURVE_MAX_ROWS:
            # The training loss on every row costs a full pass per round (~5% of a 1M-row fit on two
            # cores); a fixed seeded sample estimates the same curve for diagnosis at a fraction.
            rows = np.random.default_rng(self.seed).choice(len(train), TRAIN_CURVE_MAX_ROWS, replace=False)
            dcurve = dtrain.slice(np.sort(rows))
        return dtrain, dcurve, dvalid

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        task = train.task
        params = self._booster_params(task, train.schema.n_classes)
        if task == "regression":
            self.derived_params_ = scaled_loss_params(params, train.y, _SCALE_KEYS, _MEDIAN_START)
        params["nthread"] = fit_threads("xgboost", self.n_threads, len(train), train.X.shape[1])
        dtrain, dcurve, dvalid = self._matrices(train, valid, params["nthread"])
        early = self.params.get("early_stopping_rounds")
        history: dict[str, dict[str, list[float]]] = {}
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=self._total_rounds(),
            evals=[(dcurve, "train"), (dvalid, "valid")] if dvalid is not None else [],
            evals_result=history,
            early_stopping_rounds=early,
            verbose_eval=False,
            callbacks=[_RoundHook(self, callbacks)],
        )
        self.n_rounds_ = booster.num_boosted_rounds()
        stop_metric = params["eval_metric"][-1]
        # Computed from the curve rather than read from the booster: a stop request ends training
        # before xgboost's EarlyStopping callback sees the last round.
        self.best_iteration_ = best_round(
            history.get("valid", {}).get(stop_metric, []),
            higher_is_better(stop_metric),
            early is not None,
            self.n_rounds_,
        )
        self.model_ = booster[: self.best_iteration_ + 1] if self.best_iteration_ + 1 < self.n_rounds_ else booster
        self.curves_ = self._curves(history, task, params["eval_metric"])
        if dcurve is not None:
            self.curves_.train_rows = dcurve.num_row()

    @staticmethod
    def _curves(history: dict[str, dict[str, list[float]]], task: Task, metrics: list[str]) -> CurveSet:
        loss = LOSS_METRIC[task]
        extra = [m for m in metrics if m != loss]
        metric = extra[-1] if extra else None
        train, valid = history.get("train", {}), history.get("valid", {})
        return CurveSet(
            loss_name=loss,
            train_loss=curve_values(train.get(loss, [])),
            val_loss=curve_values(valid.get(loss, [])),
            metric_name=metric,
            # A fit that records no curves (a refit) has no history at all.
            train_metric=curve_values(train[metric]) if metric in train else None,
            val_metric=curve_values(valid[metric]) if metric in valid else None,
            metric_higher_is_better=higher_is_better(metric) if metric else False,
            history={d: {m: curve_values(v) for m, v in per.items()} for d, per in history.items()},
        )

    # -- predict -------------------------------------------------------------------------------
    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        if self.task_ == "regression":
            return np.asarray(self.model_.inplace_predict(X, predict_type="value"), dtype=np.float64)
        # Margins + our own link give probabilities for softmax as well as softprob.
        margin = np.asarray(self.model_.inplace_predict(X, predict_type="margin"), dtype=np.float64)
        if self.task_ == "binary":
            p = sigmoid(margin.reshape(-1))
            return np.column_stack([1.0 - p, p])
        return softmax(margin.reshape(len(X), -1))

    # -- export --------------------------------------------------------------------------------
    def _onnx_graph(self) -> Any:
        """The booster as a float32 tree ensemble, like XGBoost itself (categorical splits included)."""
        return xgboost_graph(self.model_, self.schema_, self.task_)

    # -- artifact ------------------------------------------------------------------------------
    def _save_model(self, directory: Path) -> list[str]:
        self.model_.save_model(str(directory / self.MODEL_FILE))  # .ubj suffix → UBJSON, no pickle
        return [self.MODEL_FILE]

    def _load_model(self, directory: Path) -> None:
        booster = xgb.Booster()
        booster.load_model(str(directory / self.MODEL_FILE))
        booster.set_param({"nthread": self.n_threads})
        self.model_ = booster
