"""§3 losses on raw network outputs (logits), with the output activation they pair with.

Every loss takes logits: the sigmoid/softmax is folded into the loss (numerically stable) and applied
explicitly only at prediction time (:func:`output_to_numpy`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainers.base import TrainerParamError
from trainers.spec import Task

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CLASSIFICATION_LOSSES = frozenset(
    {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "focal"}
)
REGRESSION_LOSSES = frozenset({"mse", "mae", "huber"})


def check_output(task: Task, n_classes: int | None, units: Any, activation: Any, loss: Mapping[str, Any]) -> None:
    """Refuse an output layer / activation / loss combination that cannot train ``task``.

    Binary: 1 sigmoid unit (BCE or focal from sigmoid) or 2 softmax units (CE or focal from softmax).
    Multiclass: ``n_classes`` softmax units. Regression: 1 linear unit with MSE, MAE or Huber.
    ``n_classes`` may be ``None`` when only the parameters are known (no data yet).
    """
    name = loss.get("name") if isinstance(loss, Mapping) else None
    if name not in CLASSIFICATION_LOSSES | REGRESSION_LOSSES:
        raise TrainerParamError(
            "loss", f"unknown loss {name!r}; known: {', '.join(sorted(CLASSIFICATION_LOSSES | REGRESSION_LOSSES))}"
        )
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise TrainerParamError("output_units", f"expected a positive integer, got {units!r}")
    if task == "regression":
        if name not in REGRESSION_LOSSES:
            raise TrainerParamError("loss", f"{name} is a classification loss; regression takes mse, mae or huber")
        if activation != "linear" or units != 1:
            raise TrainerParamError("output_activation", f"regression needs 1 linear output, got {units} {activation}")
        return
    if name not in CLASSIFICATION_LOSSES:
        raise TrainerParamError("loss", f"{name} is a regression loss; {task} needs a classification loss")
    if activation == "sigmoid":
        if task != "binary" or units != 1:
            raise TrainerParamError("output_activation", "a sigmoid output is one unit for a binary task")
        if name not in ("binary_crossentropy", "focal") or (
            name == "focal" and loss.get("from", "sigmoid") != "sigmoid"
        ):
            raise TrainerParamError("loss", f"{name} does not pair with a sigmoid output")
    elif activation == "softmax":
        expected = n_classes if n_classes is not None else units
        if units != expected or units < 2:
            raise TrainerParamError(
                "output_units", f"a softmax output needs one unit per class ({expected}), got {units}"
            )
        if name == "binary_crossentropy" or (name == "focal" and loss.get("from", "softmax") != "softmax"):
            raise TrainerParamError("loss", f"{name} does not pair with a softmax output")
    else:
        raise TrainerParamError("output_activation", f"{activation!r} cannot output class probabilities")
    if name == "focal":
        gamma = loss.get("gamma", 2.0)
        if not isinstance(gamma, int | float) or gamma < 0:
            raise TrainerParamError("loss", f"focal gamma must be ≥ 0, got {gamma!r}")
        alpha = loss.get("alpha")
        if (
            alpha is not None
            and not (isinstance(alpha, int | float) and 0 <= alpha <= 1)
            and not (isinstance(alpha, list) and (n_classes is None or len(alpha) == n_classes))
        ):
            raise TrainerParamError(
                "loss", f"focal alpha must be null, a number in [0, 1] or one weight per class, got {alpha!r}"
            )
    if name == "huber" and loss.get("delta", 1.0) <= 0:
        raise TrainerParamError("loss", "huber delta must be positive")


def _binary_focal(logits: torch.Tensor, y: torch.Tensor, gamma: float, alpha_pos: float | None) -> torch.Tensor:
    # -α_t (1 - p_t)^γ log p_t, with log p_t from the logits for stability.
    logits = logits.float()
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t).pow(gamma)
    if alpha_pos is not None:
        loss = loss * (alpha_pos * y + (1 - alpha_pos) * (1 - y))
    return loss.mean()


def _softmax_focal(logits: torch.Tensor, y: torch.Tensor, gamma: float, weights: torch.Tensor | None) -> torch.Tensor:
    logp = F.log_softmax(logits.float(), dim=1).gather(1, y[:, None]).squeeze(1)
    loss = -(1 - logp.exp()).pow(gamma) * logp
    if weights is not None:
        loss = loss * weights[y]
    return loss.mean()


def build_loss(
    loss: Mapping[str, Any], activation: str, task: Task, y_train: np.ndarray, n_classes: int | None, device: Any
) -> LossFn:
    """The loss function ``f(logits, target)`` for the recipe (targets as :func:`target_tensor` makes them).

    Focal ``alpha`` (binary) is the weight of the *minority* class of ``y_train`` — the advisor sets it
    to ``1 - minority share`` — and ``1 - alpha`` that of the other; a list gives one weight per class.
    Categorical and sparse categorical cross-entropy are the same function of integer class codes (the
    one-hot form only changes how labels are written).
    """
    name = loss["name"]
    if name == "binary_crossentropy":
        return lambda out, y: F.binary_cross_entropy_with_logits(out.float().squeeze(1), y)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return lambda out, y: F.cross_entropy(out.float(), y)
    if name == "focal":
        gamma = float(loss.get("gamma", 2.0))
        alpha = loss.get("alpha")
        if activation == "sigmoid":
            alpha_pos: float | None = None
            if isinstance(alpha, int | float):
                minority_is_positive = int(np.sum(y_train == 1)) <= int(np.sum(y_train == 0))
                alpha_pos = float(alpha) if minority_is_positive else 1.0 - float(alpha)
            return lambda out, y: _binary_focal(out.squeeze(1), y, gamma, alpha_pos)
        weights = None
        if isinstance(alpha, list):
            weights = torch.tensor(alpha, dtype=torch.float32, device=device)
        elif isinstance(alpha, int | float) and n_classes:
            # One number for several classes: the minority class gets alpha, the others 1 - alpha.
            counts = np.bincount(y_train.astype(np.int64), minlength=n_classes)
            w = np.full(n_classes, 1.0 - float(alpha), dtype=np.float32)
            w[int(np.argmin(counts))] = float(alpha)
            weights = torch.from_numpy(w).to(device)
        return lambda out, y: _softmax_focal(out, y, gamma, weights)
    if name == "mse":
        return lambda out, y: F.mse_loss(out.float().squeeze(1), y)
    if name == "mae":
        return lambda out, y: F.l1_loss(out.float().squeeze(1), y)
    if name == "huber":
        delta = float(loss.get("delta", 1.0))
        return lambda out, y: F.huber_loss(out.float().squeeze(1), y, delta=delta)
    raise TrainerParamError("loss", f"unknown loss {name!r}")  # pragma: no cover - check_output refuses it


def target_tensor(y: np.ndarray, activation: str, task: Task) -> torch.Tensor:
    """Targets in the dtype the loss wants: float for a sigmoid or linear output, int64 class codes else."""
    if task == "regression" or activation == "sigmoid":
        return torch.as_tensor(np.asarray(y, dtype=np.float32))
    return torch.as_tensor(np.asarray(y, dtype=np.int64))


def output_to_numpy(out: torch.Tensor, activation: str) -> np.ndarray:
    """Apply the output activation: class probabilities ``(n, k)`` or values ``(n,)``."""
    out = out.float()
    if activation == "sigmoid":
        p = torch.sigmoid(out[:, 0])
        return torch.stack([1 - p, p], dim=1).cpu().numpy().astype(np.float64)
    if activation == "softmax":
        return torch.softmax(out, dim=1).cpu().numpy().astype(np.float64)
    return out[:, 0].cpu().numpy().astype(np.float64)
