"""Overhead of the torch_mlp trainer against a minimal hand-written PyTorch loop, measured in the same run.

MLP 28→256→256→1 (ReLU), binary cross-entropy, Adam 1e-3, batch 1024, one epoch over 1,000,000 rows, on
the CPU. The trainer's figure includes everything a job pays for: turning the frame into tensors
(imputation, scaling), the per-batch stop check, loss/metric bookkeeping, a validation pass and keeping
the best checkpoint. The hand loop only shuffles, slices and steps. Target: trainer ≤ 1.2× the hand loop.

    .venv/bin/python bench/torch_overhead.py [--rows 1000000] [--threads 2] [--repeat 2]

Runs alternate (hand, trainer, hand, trainer...) and the best of each is kept, so a noisy neighbour on a
shared machine slows both sides alike rather than one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from bench.results import report
from trainers.spec import ColumnSpec, FeatureSchema, TrainData
from trainers.torch.trainers import TorchMLPTrainer

FEATURES = 28


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable binary task on ``rows`` × 28 standard-normal features."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    y = ((x @ w + 0.5 * np.sin(3 * x[:, 0])) > 0).astype(np.int64)
    return x, y


def recipe(batch_size: int) -> dict[str, object]:
    """The advisor's keys, with the plain network of the benchmark (no BatchNorm, dropout or L2)."""
    return {
        "architecture": {"type": "mlp", "input_features": FEATURES, "hidden_units": [256, 256]},
        "hidden_activation": "relu",
        "output_units": 1,
        "output_activation": "sigmoid",
        "loss": {"name": "binary_crossentropy"},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "batch_size": batch_size,
        "epochs": 1,
        "early_stopping": {"monitor": "val_loss", "patience": 10, "restore_best": True},
        "lr_schedule": None,
        "dropout": {"dense": 0.0},
        "l2": 0.0,
        "augmentation": {},
        "normalization": None,
        "gradient_clipping": None,
        "scaling": "none",
        "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": False},
    }


def hand_loop(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0) -> float:
    """Seconds for one epoch of the minimal loop (tensors built from the arrays inside the timing)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    X = torch.from_numpy(x)
    Y = torch.from_numpy(y.astype(np.float32))
    model = nn.Sequential(nn.Linear(FEATURES, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    perm = torch.randperm(len(X))
    X, Y = X[perm], Y[perm]
    model.train()
    for i in range(0, len(X), batch_size):
        xb, yb = X[i : i + batch_size], Y[i : i + batch_size]
        loss = loss_fn(model(xb).squeeze(1), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def trainer_fit(train: TrainData, valid: TrainData, batch_size: int, threads: int) -> tuple[float, float]:
    """(seconds for ``fit`` from the frame, seconds of its training loop incl. the validation pass)."""
    start = time.perf_counter()
    model = TorchMLPTrainer(recipe(batch_size), seed=0, n_threads=threads).fit(train, valid)
    total = time.perf_counter() - start
    return total, float(model.run_info_["train_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--valid-rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x, y = make_data(args.rows + args.valid_rows)
    names = [f"f{i}" for i in range(FEATURES)]
    schema = FeatureSchema(
        target="y",
        task="binary",
        classes=[0, 1],
        columns=[ColumnSpec(name=n, kind="numeric", source_dtype="float32") for n in names],
    )
    frame = pd.DataFrame(x.astype(np.float64), columns=names)  # prepare_frame gives float64 columns
    train = TrainData(frame.iloc[: args.rows].reset_index(drop=True), y[: args.rows], schema)
    valid = TrainData(frame.iloc[args.rows :].reset_index(drop=True), y[args.rows :], schema)
    xt, yt = x[: args.rows], y[: args.rows]

    hand, fit_total, fit_loop = [], [], []
    for r in range(args.repeat):
        hand.append(hand_loop(xt, yt, args.batch_size, seed=r))
        total, loop = trainer_fit(train, valid, args.batch_size, args.threads)
        fit_total.append(total)
        fit_loop.append(loop)
        print(f"run {r + 1}: hand loop {hand[-1]:.2f} s | trainer fit {total:.2f} s (loop + validation {loop:.2f} s)")
    h, t, loop = min(hand), min(fit_total), min(fit_loop)
    print(
        f"\ntorch {torch.__version__}, {args.threads} threads, {args.rows:,} rows × {FEATURES}, batch {args.batch_size}"
    )
    print(f"hand-written loop, one epoch:          {h:7.2f} s  ({args.rows / h:,.0f} samples/s)")
    print(f"trainer fit (frame → fitted model):   {t:7.2f} s  ratio {t / h:.2f}×  (target ≤ 1.2×)")
    print(f"trainer loop only (+ validation pass): {loop:7.2f} s  ratio {loop / h:.2f}×")
    report("torch_mlp trainer fit / hand-written loop", t / h, "<= 1.2x", t / h <= 1.2, "x")


if __name__ == "__main__":
    main()
