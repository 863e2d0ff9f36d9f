"""Evaluation metrics, always finite floats or ``None`` with a reason (JSON and PostgreSQL reject NaN).

Classification: accuracy, balanced_accuracy, f1_macro, roc_auc (one-vs-rest macro for multiclass),
log_loss. Regression: rmse, mae, r2. Class probabilities are always ``(n, k)``, ``k`` = number of
classes in the schema, so a split that lacks a class is still scored against every class.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from trainers.spec import MetricValues, Task

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or ``None`` when missing or not finite."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> tuple[float | None, str | None]:
    from sklearn.metrics import roc_auc_score

    present = np.unique(y)
    if present.size < 2:
        return None, f"only one class present ({int(present[0])}); ROC AUC is undefined"
    k = proba.shape[1]
    if k == 2:
        return float(roc_auc_score(y, proba[:, 1])), None
    # One-vs-rest macro average over the classes this split contains; sklearn's OvR refuses a split
    # that lacks a class, which small test splits often do.
    scores = [roc_auc_score(y == c, proba[:, c]) for c in present]
    note = None
    if present.size < k:
        note = f"one-vs-rest macro over the {present.size} of {k} classes present in this split"
    return float(np.mean(scores)), note


def _confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``k × k`` counts, rows = true class, columns = predicted class."""
    return np.bincount(y.astype(np.int64) * k + pred, minlength=k * k).reshape(k, k)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> tuple[MetricValues, dict[str, str]]:
    """Score class codes ``y`` against probabilities ``proba`` (shape ``(n, k)``).

    Returns ``(values, notes)``: values are finite floats or ``None``; notes say why one is ``None``
    (or how it was computed, e.g. AUC over the classes present). Accuracy, balanced accuracy, macro
    F1 and log loss come from one confusion matrix (same definitions as scikit-learn's, which
    re-validate the input per metric and cost ~0.3 s per 150k rows); ROC AUC is scikit-learn's.
    """
    if len(y) == 0:
        return dict.fromkeys(CLASSIFICATION_METRICS), dict.fromkeys(CLASSIFICATION_METRICS, "no rows")
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    cm = _confusion(y, pred, k)
    true_n, pred_n, hits = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    seen = (true_n + pred_n) > 0  # scikit-learn's labels: classes in y or in the predictions
    values: MetricValues = {}
    notes: dict[str, str] = {}
    values["accuracy"] = float(hits.sum() / len(y))
    # Recall averaged over the classes present in y (a class only predicted has no recall).
    values["balanced_accuracy"] = float(np.mean(hits[true_n > 0] / true_n[true_n > 0]))
    # F1 = 2·TP / (predicted + true) per class, 0 where undefined (zero_division=0), macro over `seen`.
    values["f1_macro"] = float(np.mean(2.0 * hits[seen] / (true_n[seen] + pred_n[seen])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc, auc_note = _roc_auc(y, proba)
    values["roc_auc"] = auc
    if auc_note:
        notes["roc_auc"] = auc_note
    values["log_loss"] = _log_loss(y, proba)
    for name, v in list(values.items()):
        if v is not None and not math.isfinite(v):
            values[name] = None
            notes.setdefault(name, "not finite")
    return values, notes


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(clipped[np.arange(len(y)), y])))


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def selection_loss(task: Task, y: np.ndarray, output: np.ndarray) -> float | None:
    """The one loss a greedy ensemble selection minimises, alone: log loss for classifiers, RMSE for regressors,
    the same value :func:`evaluate` reports for it (None where it reports None), without the other metrics
    (ROC AUC's per-class sorts are most of ``evaluate``'s cost)."""
    out = np.asarray(output, dtype=np.float64)
    if len(y) == 0 or (out.size and not np.isfinite(out).all()):
        return None
    return finite_or_none(_rmse(y, out) if task == "regression" else _log_loss(y, out))


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> tuple[MetricValues, dict[str, str]]:
    """RMSE, MAE and R² of ``pred`` against ``y``; ``(values, notes)`` as for classification."""
    from sklearn.metrics import mean_absolute_error, r2_score

    if len(y) == 0:
        return dict.fromkeys(REGRESSION_METRICS), dict.fromkeys(REGRESSION_METRICS, "no rows")
    pred = np.asarray(pred, dtype=np.float64)
    values: MetricValues = {
        "rmse": _rmse(y, pred),
        "mae": float(mean_absolute_error(y, pred)),
    }
    notes: dict[str, str] = {}
    if len(y) < 2:
        values["r2"] = None
        notes["r2"] = "R² needs at least two rows"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values["r2"] = float(r2_score(y, pred))
    for name, v in list(values.items()):
        if v is not None and not math.isfinite(v):
            values[name] = None
            notes.setdefault(name, "not finite")
    return values, notes


def evaluate(task: Task, y: np.ndarray, output: np.ndarray) -> tuple[MetricValues, dict[str, str]]:
    """Dispatch on ``task``: ``output`` is class probabilities or predicted values.

    A model whose weights diverged outputs NaN: every metric is then ``None`` with that reason, so the run
    is still reported (and its curves diagnosed, §10 "exploding gradients") instead of failing here.
    """
    out = np.asarray(output, dtype=np.float64)
    if out.size and not np.isfinite(out).all():
        names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
        bad_rows = int((~np.isfinite(out.reshape(len(out), -1))).any(axis=1).sum())
        why = f"the model outputs non-finite values for {bad_rows} of {len(out)} rows (its weights diverged): no score"
        return dict.fromkeys(names, None), dict.fromkeys(names, why)
    if task == "regression":
        return regression_metrics(y, output)
    return classification_metrics(y, output)


def constant_loss(task: Task, y_train: np.ndarray, y_eval: np.ndarray, n_classes: int | None) -> float | None:
    """Loss of the best constant predictor fitted on ``y_train``, scored on ``y_eval``.

    Log loss of the training class priors for classification, RMSE of the training mean for
    regression: the yardstick ``advisor.diagnose`` uses to call a model underfit.
    """
    if len(y_eval) == 0 or len(y_train) == 0:
        return None
    if task == "regression":
        return finite_or_none(float(np.sqrt(np.mean((y_eval - float(np.mean(y_train))) ** 2))))
    k = n_classes or int(max(y_train.max(), y_eval.max()) + 1)
    priors = np.bincount(y_train, minlength=k) / len(y_train)
    priors = np.clip(priors, 1e-15, 1.0)
    return finite_or_none(float(-np.mean(np.log(priors[y_eval]))))


# Metric names where a larger value is better, in this module's spellings (CLASSIFICATION_METRICS,
# REGRESSION_METRICS) and XGBoost's and LightGBM's; all others (log_loss, rmse, mae, logloss...) are losses.
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        *("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "r2"),
        *("auc", "aucpr", "auc_mu", "average_precision", "map", "ndcg", "pre"),
    }
)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (``'auc'``, ``'ndcg@5'``...) or it is a loss."""
    base = metric.split("@", 1)[0].split(":", 1)[0]
    return base in HIGHER_IS_BETTER


def best_round(values: list[float], higher_better: bool, early_stopping: bool, n_rounds: int) -> int:
    """0-based round to keep: the first best validation value with early stopping, else the last round.

    NaN values never win; without any finite value the last round is kept.
    """
    if not early_stopping or not values:
        return n_rounds - 1
    arr = np.asarray(values[:n_rounds], dtype=np.float64)
    if not np.isfinite(arr).any():
        return n_rounds - 1
    arr = np.where(np.isfinite(arr), arr, -np.inf if higher_better else np.inf)
    # argmax/argmin return the first occurrence: ties keep the smaller model, as early stopping does.
    return int(np.argmax(arr) if higher_better else np.argmin(arr))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic link, stable for large margins."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of margins, shape ``(n, k)``."""
    z = x - x.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
