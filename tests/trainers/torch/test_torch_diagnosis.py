"""Every §10 issue is provoked by real training through the trainer and then diagnosed.

Nothing here hand-makes curves: each run goes through :func:`trainers.run.fit_and_evaluate` with
``torch_mlp`` and the advisor's recipe, changed only where the issue needs it (no regularization for
overfitting, a huge learning rate for divergence and dead units). Small data, a few epochs each.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from _torch_fixtures import tabular_params
from torch import nn

from trainers.run import fit_and_evaluate
from trainers.spec import TrainResult, TrainSpec
from trainers.torch.loop import LoopConfig, TensorBatches, probe_dead_relus

# The recipe's safeguards, all off: what a careless run looks like.
NO_SAFEGUARDS: dict[str, Any] = {
    "dropout": None,
    "l2": 0.0,
    "normalization": None,
    "early_stopping": None,
    "lr_schedule": None,
    "gradient_clipping": None,
}


def _frame(n: int, noise: float, seed: int, d: int = 10) -> pd.DataFrame:
    """``d`` Gaussian features; the label is x0 + x1 > 0 with a share ``noise`` of labels flipped."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] + X[:, 1] > 0
    y = np.where(rng.random(n) < noise, ~y, y)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(d)])
    frame["target"] = np.where(y, "yes", "no")
    return frame


def _train(tmp_path: Path, frame: pd.DataFrame, **overrides: Any) -> TrainResult:
    params = tabular_params("binary", frame.shape[1] - 1, **overrides)
    spec = TrainSpec(trainer="torch_mlp", params=params, seed=0, n_threads=1)
    return fit_and_evaluate(spec, frame, "target", "binary", None, None, tmp_path)


def _issues(result: TrainResult) -> list[str]:
    return [d["issue"] for d in result.diagnosis or []]


def test_a_big_unregularized_mlp_on_a_tiny_noisy_set_is_diagnosed_overfitting(tmp_path: Path) -> None:
    result = _train(
        tmp_path,
        _frame(100, noise=0.3, seed=1),
        **NO_SAFEGUARDS,
        architecture={"type": "mlp", "hidden_units": [128, 128]},
        batch_size=16,
        epochs=25,
        optimizer={"name": "adam", "learning_rate": 0.003},
    )
    assert "overfitting" in _issues(result)
    found = next(d for d in result.diagnosis or [] if d["issue"] == "overfitting")
    val = result.curves.val_loss or []
    # The epoch it names is where validation loss was lowest, and it rose after it.
    assert found["epoch"] is not None and val[found["epoch"] - 1] == min(v for v in val if v is not None)
    assert val[-1] is not None and val[-1] > val[found["epoch"] - 1]
    assert (result.curves.train_loss[-1] or 0) < (result.curves.train_loss[0] or 0)


def test_a_diverging_learning_rate_is_diagnosed_exploding_and_the_run_is_still_reported(tmp_path: Path) -> None:
    result = _train(
        tmp_path,
        _frame(300, noise=0.05, seed=1),
        **NO_SAFEGUARDS,
        batch_size=32,
        epochs=4,
        optimizer={"name": "sgd", "learning_rate": 50.0, "momentum": 0.9},
    )
    assert "exploding_gradients" in _issues(result)
    assert None in result.curves.train_loss  # NaN, stored as None (JSON has no NaN)
    # The diverged model scores nothing, says why, and its NaN activations are not mistaken for dead units.
    assert result.metrics["test"]["accuracy"] is None
    assert "diverged" in result.metric_notes["test"]["accuracy"]
    assert result.curves.dead_relu_fraction is None
    assert "dead_relus" not in _issues(result)


def test_a_huge_adam_step_on_a_deep_relu_mlp_kills_units_and_is_diagnosed(tmp_path: Path) -> None:
    result = _train(
        tmp_path,
        _frame(300, noise=0.05, seed=1),
        **NO_SAFEGUARDS,
        architecture={"type": "mlp", "hidden_units": [32] * 6},
        batch_size=32,
        epochs=4,
        optimizer={"name": "adam", "learning_rate": 1.0},
    )
    fraction = result.curves.dead_relu_fraction
    assert fraction is not None and fraction > 0.5
    assert "dead_relus" in _issues(result)
    found = next(d for d in result.diagnosis or [] if d["issue"] == "dead_relus")
    assert f"{fraction:.0%}" in found["evidence"] and "Leaky ReLU" in found["fixes"]


def _sgd(tmp_path: Path, lr: float) -> TrainResult:
    return _train(
        tmp_path,
        _frame(300, noise=0.05, seed=1),
        **NO_SAFEGUARDS,
        batch_size=64,
        epochs=6,
        optimizer={"name": "sgd", "learning_rate": lr, "momentum": 0.0},
    )


def test_a_loss_that_never_moves_is_diagnosed_a_plateau_and_underfitting(tmp_path: Path) -> None:
    # §10 "loss plateaus early" (listed under vanishing gradients); here a step too small to move the weights.
    result = _sgd(tmp_path, 1e-4)
    assert _issues(result) == ["vanishing_gradients", "underfitting"]
    assert result.curves.baseline_loss is not None
    assert (result.curves.train_loss[-1] or 0) >= 0.9 * result.curves.baseline_loss


def test_a_loss_that_falls_steadily_but_little_is_diagnosed_slow_convergence(tmp_path: Path) -> None:
    result = _sgd(tmp_path, 0.1)
    assert _issues(result) == ["slow_convergence"]
    loss = [v or 0.0 for v in result.curves.train_loss]
    assert all(b < a for a, b in pairwise(loss)) and loss[-1] > 0.7 * loss[0]


def test_the_advisors_recipe_on_clean_data_trains_without_a_diagnosis(tmp_path: Path) -> None:
    result = _train(tmp_path, _frame(600, noise=0.05, seed=1), batch_size=32, epochs=10)
    assert _issues(result) == []
    assert result.curves.dead_relu_fraction is not None and result.curves.dead_relu_fraction < 0.1
    assert (result.metrics["test"]["accuracy"] or 0) > 0.85


def _probe(model: nn.Module, x: torch.Tensor) -> Any:
    cfg = LoopConfig(
        task="binary", activation="sigmoid", epochs=1, batch_size=8, eval_batch_size=8, device=torch.device("cpu")
    )
    data = TensorBatches([x], torch.zeros(len(x)), torch.device("cpu"))
    return probe_dead_relus(model, data, lambda b, _training: tuple(b), cfg)


def test_the_probe_counts_dense_units_and_conv_channels_that_never_fire() -> None:
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        dense[0].bias[:6] = -1e3  # six of eight units can never fire
    probe = _probe(dense, torch.randn(64, 4))
    assert (probe.units, probe.dead, probe.layers) == (8, 6, 1) and probe.fraction == 0.75

    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    with torch.no_grad():
        conv[0].bias[0] = -1e3
    probe = _probe(conv, torch.randn(16, 1, 6, 6))
    assert (probe.units, probe.dead) == (4, 1)  # one unit per channel, not per pixel

    smooth = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 1))
    assert _probe(smooth, torch.randn(8, 4)).fraction is None  # no ReLU: nothing to measure
