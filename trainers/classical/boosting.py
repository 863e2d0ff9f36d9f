"""What the gradient-boosting trainers (XGBoost, LightGBM) check and build the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
