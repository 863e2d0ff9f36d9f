"""What the gradient-boosting trainers (XGBoost, LightGBM) check and build the same way, including the scale
of their robust regression losses (:func:`scaled_loss_params`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from trainers.base import TrainerParamError
from trainers.spec import Task


def check_objective(params: Mapping[str, Any], task: Task, objectives: Mapping[str, tuple[str, ...]]) -> None:
    """The objective must fit the task, and ``num_class`` only applies to multiclass."""
    objective = params.get("objective")
    if objective is not None and objective not in objectives[task]:
        raise TrainerParamError(
            "objective", f"{objective!r} does not fit a {task} task; use one of {', '.join(objectives[task])}"
        )
    if "num_class" in params and task != "multiclass":
        raise TrainerParamError("num_class", f"only applies to multiclass, not {task}")


def base_params(
    params: Mapping[str, Any],
    keys: Iterable[str],
    task: Task,
    n_classes: int | None,
    objectives: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    """The library's parameters given (``None`` left out), the task's default objective, and ``num_class``
    from the data (a different one given is refused)."""
    p = {k: params[k] for k in keys if params.get(k) is not None}
    p.setdefault("objective", objectives[task][0])
    if task == "multiclass":
        if p.get("num_class", n_classes) != n_classes:
            raise TrainerParamError("num_class", f"is {p['num_class']} but the target has {n_classes} classes")
        p["num_class"] = n_classes
    return p


# Boosting threads. Each boosting round opens many short parallel regions (one per histogram, split search and
# update); the training processes run OpenMP with OMP_WAIT_POLICY=PASSIVE (service settings), so a second thread
# sleeps and wakes at every barrier, which costs more than it saves until the data is large. Measured on a
# quiet 2-core machine, 200 rounds, PASSIVE, seconds for 1 thread vs 2: LightGBM 2,000 × 20: 0.33 vs 1.70;
# 10,000 × 20: 0.58 vs 2.36; 50,000 × 20: 1.48 vs 2.25; 100,000 × 20: 1.78 vs 2.75; 200,000 × 20: 4.64 vs
# 3.70; XGBoost (hist, depth 6) 10,000 × 20: 0.90 vs 1.43; 50,000 × 20: 1.34 vs 1.75; 100,000 × 20: 2.33 vs
# 2.13. In a race, one thread took LightGBM's fit on the 142-row wine table from 12.1 s to 0.9 s. Below these
# sizes (training rows × feature columns) a fit uses one thread, whatever it was given.
SERIAL_MAX_CELLS: dict[str, int] = {"lightgbm": 3_000_000, "xgboost": 1_000_000}


def fit_threads(library: str, n_threads: int, n_rows: int, n_features: int) -> int:
    """Threads for a boosting fit: 1 below :data:`SERIAL_MAX_CELLS` ``[library]`` cells, else ``n_threads``."""
    return 1 if n_rows * max(1, n_features) < SERIAL_MAX_CELLS[library] else max(1, n_threads)


# 1.4826 × MAD estimates the standard deviation of normal data and ignores the tails: the scale of a
# heavy-tailed target (prices with gross outliers) without letting those outliers set it.
MAD_TO_SD = 1.4826


def target_scale(y: np.ndarray) -> float:
    """The training target's robust spread: 1.4826 × its median absolute deviation; its standard deviation
    when more than half the values are equal (MAD 0); 1 when the target is constant."""
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return 1.0
    scale = MAD_TO_SD * float(np.median(np.abs(y - np.median(y))))
    if not scale > 0:
        scale = float(np.std(y))
    return scale if scale > 0 and math.isfinite(scale) else 1.0


def scaled_loss_params(
    p: dict[str, Any], y: np.ndarray, scale_keys: Mapping[str, str], median_start: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Set a robust loss's scale from the target when it was not given, and say what was set.

    ``scale_keys`` maps an objective to its scale parameter (XGBoost ``reg:pseudohubererror`` →
    ``huber_slope``, LightGBM ``huber`` → ``alpha``, ``fair`` → ``fair_c``). The libraries default it to
    1 (0.9 for LightGBM's ``alpha``), a unit that means "any error above 1 is an outlier": on a target in
    the thousands every residual is then in the linear tail, each row's gradient is capped at ±δ, and the
    boosting steps cannot move the prediction far from its start (R² near 0, or the start itself wrong).
    The §3 Huber choice states δ = 1 standard deviation of the target; here it is applied in the target's
    own units: δ = :func:`target_scale`. Objectives in ``median_start`` also start from the training
    target's median (XGBoost ``base_score``) when no start was given, so the first rounds fit residuals of
    the target's own size rather than of the whole price.

    ``p`` is updated in place; the returned dict holds only the values set here (for the job record).
    """
    objective = p.get("objective")
    derived: dict[str, float] = {}
    key = scale_keys.get(str(objective))
    if key is not None and p.get(key) is None:
        derived[key] = round(target_scale(y), 6)
    if objective in median_start and p.get("base_score") is None:
        finite = np.asarray(y, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            derived["base_score"] = float(np.median(finite))
    p.update(derived)
    return derived
