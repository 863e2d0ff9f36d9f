"""§10 "Common Training Issues & Fixes" applied to learning curves. Pure and deterministic.

Epoch numbers in the output are 1-based (the first recorded epoch or boosting round is epoch 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from advisor import tables as t
from advisor.diagnosis import Curves, Diagnosis, Issue

# The cheatsheet's table, verbatim in meaning: issue → (symptoms, fixes).
FIXES: dict[Issue, tuple[str, list[str]]] = {
    "overfitting": ("Train↑ Val↓", ["Dropout", "Early stopping", "More data"]),
    "underfitting": ("Both train/val low", ["More capacity", "Less regularization"]),
    "vanishing_gradients": ("Loss plateaus early", ["ReLU", "Skip connections", "BatchNorm"]),
    "exploding_gradients": ("Loss spikes/NaN", ["Gradient clipping", "Lower LR"]),
    "dead_relus": ("Many 0 activations", ["Leaky ReLU", "Lower LR", "Better init"]),
    "slow_convergence": ("Loss decreases slowly", ["Higher LR", "Adam optimizer", "BatchNorm"]),
}


def _clean(seq: Sequence[float | None] | None) -> list[float]:
    return [math.nan if v is None else float(v) for v in (seq or [])]


def _make(issue: Issue, evidence: str, epoch: int | None = None) -> Diagnosis:
    symptoms, fixes = FIXES[issue]
    return Diagnosis(
        issue=issue, rule_id=f"diagnose.{issue}", evidence=evidence, symptoms=symptoms, fixes=list(fixes), epoch=epoch
    )


def _exploding(name: str, loss: list[float]) -> Diagnosis | None:
    running_min = math.inf
    for i, v in enumerate(loss):
        if not math.isfinite(v):
            return _make("exploding_gradients", f"{name} is NaN or infinite at epoch {i + 1}.", i + 1)
        if i > 0 and running_min > 0 and v > t.EXPLODE_SPIKE_RATIO * running_min:
            return _make(
                "exploding_gradients",
                f"{name} spiked to {v:.4g} at epoch {i + 1}, over "
                f"{t.EXPLODE_SPIKE_RATIO:g}× its lowest value so far ({running_min:.4g}).",
                i + 1,
            )
        running_min = min(running_min, v)
    return None


def _overfitting(train: list[float], val: list[float]) -> Diagnosis | None:
    best = min(range(len(val)), key=lambda i: (val[i], i))
    after = len(val) - 1 - best
    if after < t.OVERFIT_MIN_EPOCHS_AFTER_BEST:
        return None
    rise = (val[-1] - val[best]) / abs(val[best]) if val[best] != 0 else math.inf
    if rise < t.OVERFIT_MIN_RISE or train[-1] > train[best]:
        return None
    return _make(
        "overfitting",
        f"Validation loss was lowest at epoch {best + 1} ({val[best]:.4g}) and rose "
        f"{rise:.0%} by epoch {len(val)} while training loss kept falling ({train[best]:.4g} → "
        f"{train[-1]:.4g}); keep the epoch-{best + 1} model.",
        best + 1,
    )


def _overfitting_metric(train_m: list[float], val_m: list[float], higher: bool) -> Diagnosis | None:
    sign = 1 if higher else -1
    best = max(range(len(val_m)), key=lambda i: (sign * val_m[i], -i))
    if len(val_m) - 1 - best < t.OVERFIT_MIN_EPOCHS_AFTER_BEST:
        return None
    if sign * (train_m[-1] - train_m[best]) > 0 and sign * (val_m[best] - val_m[-1]) > abs(val_m[best]) * 0.02:
        return _make(
            "overfitting",
            f"Validation metric peaked at epoch {best + 1} ({val_m[best]:.4g}) and fell to "
            f"{val_m[-1]:.4g} while the training metric kept improving.",
            best + 1,
        )
    return None


def _plateau(loss: list[float]) -> Diagnosis | None:
    n = len(loss)
    if n < 4 or loss[0] <= 0:
        return None
    k = n - 1
    while k > 0 and abs(loss[k] - loss[k - 1]) <= t.PLATEAU_REL_CHANGE * abs(loss[k - 1]):
        k -= 1
    # loss is flat from index k to the end
    if k <= n // 2 and n - k >= 3 and loss[k] > t.PLATEAU_HIGH_FRACTION * loss[0]:
        return _make(
            "vanishing_gradients",
            f"Training loss stopped moving at epoch {k + 1} and stayed at "
            f"{loss[-1]:.4g}, still {loss[-1] / loss[0]:.0%} of where it started.",
            k + 1,
        )
    return None


def _slow(loss: list[float]) -> Diagnosis | None:
    n = len(loss)
    if n < 3 or loss[0] <= 0:
        return None
    total = (loss[0] - loss[-1]) / loss[0]
    tail = loss[-3:]
    still_falling = all(b < a * (1 - t.PLATEAU_REL_CHANGE / 2) for a, b in pairwise(tail))
    if 0 < total < t.SLOW_TOTAL_DECREASE and still_falling:
        return _make(
            "slow_convergence",
            f"Training loss fell only {total:.0%} in {n} epochs and is still "
            "falling steadily: training has not converged.",
        )
    return None


def _underfitting(c: Curves, train: list[float], val: list[float]) -> Diagnosis | None:
    if c.baseline_loss is not None and c.baseline_loss > 0 and train[-1] >= t.UNDERFIT_BASELINE_RATIO * c.baseline_loss:
        return _make(
            "underfitting",
            f"Final training loss {train[-1]:.4g} is within "
            f"{1 - t.UNDERFIT_BASELINE_RATIO:.0%} of a constant predictor's ({c.baseline_loss:.4g}).",
        )
    if c.train_metric and c.metric_higher_is_better:
        tm = _clean(c.train_metric)
        vm = _clean(c.val_metric) if c.val_metric else tm
        if (
            math.isfinite(tm[-1])
            and tm[-1] < t.UNDERFIT_METRIC
            and (not math.isfinite(vm[-1]) or vm[-1] < t.UNDERFIT_METRIC)
        ):
            return _make(
                "underfitting",
                f"Training metric ends at {tm[-1]:.3g} and validation at {vm[-1]:.3g}, "
                f"both under {t.UNDERFIT_METRIC:g}.",
            )
    return None


def diagnose(curves: Curves) -> list[Diagnosis]:
    """Find §10 training issues in learning curves; each finding names the evidence and the seed's fixes."""
    train = _clean(curves.train_loss)
    val = _clean(curves.val_loss)
    found: list[Diagnosis] = []
    if curves.dead_relu_fraction is not None and curves.dead_relu_fraction > t.DEAD_RELU_FRACTION:
        found.append(_make("dead_relus", f"{curves.dead_relu_fraction:.0%} of ReLU units never activate."))
    for name, loss in (("training loss", train), ("validation loss", val)):
        if loss:
            d = _exploding(name, loss)
            if d is not None:
                found.append(d)
                return found  # later checks need finite curves
    if val:
        d = _overfitting(train, val)
        if d is None and curves.train_metric and curves.val_metric:
            d = _overfitting_metric(
                _clean(curves.train_metric), _clean(curves.val_metric), curves.metric_higher_is_better
            )
        if d is not None:
            found.append(d)
    for check in (_plateau, _slow):
        d = check(train)
        if d is not None:
            found.append(d)
            break
    d = _underfitting(curves, train, val)
    if d is not None:
        found.append(d)
    return found
