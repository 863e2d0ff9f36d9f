"""GPU check for the torch trainers: an MLP job on 1,000,000 × 28 rows and the digits CNN job, each
against a minimal hand-written PyTorch loop on the same data in the same run.

Prints the device, samples/s of trainer and hand loop, their ratio (target ≥ 0.8), peak GPU memory, the
mixed-precision type and whether the run is bit-reproducible; writes the same as JSON to
``$OUT/gpu_check.json`` when ``OUT`` is set. Needs a CUDA device (exits 2 without one).

    .venv/bin/python bench/gpu_check.py [--rows 1000000] [--mlp-epochs 3] [--cnn-epochs 20]

Both sides use the same network, batch size, optimizer, bfloat16 autocast and data already on the GPU;
the trainer also validates every epoch, checks for cancellation between batches and keeps the best
checkpoint, which the hand loop does not. A short warm-up of each runs first (CUDA context, kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor import Constraints, DatasetProfile, recommend
from bench.results import report, skip
from trainers.spec import ColumnSpec, FeatureSchema, TrainData
from trainers.torch.data import make_array_data
from trainers.torch.models import CNNNet
from trainers.torch.trainers import TorchCNNTrainer, TorchMLPTrainer

FEATURES = 28


def dl_params(profile: DatasetProfile, constraints: Constraints, trainer: str) -> dict[str, Any]:
    """The advisor's candidate for ``trainer``."""
    for cand in recommend(profile, constraints).candidates:
        if cand.trainer == trainer:
            return cand.params()
    raise LookupError(trainer)


def peak_mib() -> float:
    return torch.cuda.max_memory_allocated() / 2**20


def amp() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# -- MLP --------------------------------------------------------------------------------------------------------
def mlp_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    return x, ((x @ w + 0.5 * np.sin(3 * x[:, 0])) > 0).astype(np.int64)


def mlp_hand(x: np.ndarray, y: np.ndarray, params: dict[str, Any], epochs: int) -> float:
    """Samples/s of a minimal loop over the same MLP recipe (BatchNorm, dropout, Adam, bf16, data on GPU)."""
    dev = torch.device("cuda")
    units = params["architecture"]["hidden_units"]
    p_drop = params["dropout"].get("dense", 0.0)
    layers: list[nn.Module] = []
    width = FEATURES
    for u in units:
        layers += [nn.Linear(width, u), nn.BatchNorm1d(u), nn.ReLU(), nn.Dropout(p_drop)]
        width = u
    model = nn.Sequential(*layers, nn.Linear(width, 1)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=params["optimizer"]["learning_rate"], fused=True)
    X = torch.from_numpy(x).to(dev)
    Y = torch.from_numpy(y.astype(np.float32)).to(dev)
    bs = int(params["batch_size"])
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(X), device=dev)
        Xp, Yp = X[perm], Y[perm]
        for i in range(0, len(X), bs):
            with torch.autocast("cuda", dtype=amp()):
                loss = F.binary_cross_entropy_with_logits(model(Xp[i : i + bs]).float().squeeze(1), Yp[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    torch.cuda.synchronize()
    return len(X) * epochs / (time.perf_counter() - start)


def mlp_check(rows: int, epochs: int) -> dict[str, Any]:
    x, y = mlp_data(rows + rows // 10)
    names = [f"f{i}" for i in range(FEATURES)]
    schema = FeatureSchema(
        target="y",
        task="binary",
        classes=[0, 1],
        columns=[ColumnSpec(name=n, kind="numeric", source_dtype="float32") for n in names],
    )
    frame = pd.DataFrame(x.astype(np.float64), columns=names)
    train = TrainData(frame.iloc[:rows].reset_index(drop=True), y[:rows], schema)
    valid = TrainData(frame.iloc[rows:].reset_index(drop=True), y[rows:], schema)
    params = dl_params(
        DatasetProfile(modality="tabular", task="binary", n_rows=max(rows, 200_000), n_features=FEATURES),
        Constraints(gpu_available=True, compute="ample", performance="state_of_the_art"),
        "torch_mlp",
    )
    params.update(epochs=epochs, lr_schedule={**params["lr_schedule"], "t_max_epochs": epochs})
    # Warm-up both paths (CUDA context, cuBLAS handles, kernel selection).
    TorchMLPTrainer({**params, "epochs": 1}, seed=0).fit(
        TrainData(train.X.iloc[:50_000], train.y[:50_000], schema), valid
    )
    mlp_hand(x[:50_000], y[:50_000], params, 1)

    torch.cuda.reset_peak_memory_stats()
    model = TorchMLPTrainer(params, seed=0).fit(train, valid)
    trainer_peak = peak_mib()
    info = model.run_info_
    trainer_sps = rows * model.n_rounds_ / info["train_seconds"]
    torch.cuda.reset_peak_memory_stats()
    hand_sps = mlp_hand(x[:rows], y[:rows], params, model.n_rounds_)
    return {
        "job": f"torch_mlp {rows:,}×{FEATURES}, batch {params['batch_size']}, {model.n_rounds_} epochs",
        "device": info["device_name"],
        "mixed_precision": info["mixed_precision"],
        "bit_reproducible": info["bit_reproducible"],
        "data_on_device": info["data_on_device"],
        "trainer_samples_per_s": round(trainer_sps),
        "hand_samples_per_s": round(hand_sps),
        "ratio": round(trainer_sps / hand_sps, 3),
        "trainer_peak_mib": round(trainer_peak, 1),
        "hand_peak_mib": round(peak_mib(), 1),
        "val_accuracy": model.curves_.val_metric[model.best_iteration_],
    }


# -- digits CNN -------------------------------------------------------------------------------------------------
def cnn_hand(x: np.ndarray, y: np.ndarray, kwargs: dict[str, Any], params: dict[str, Any], epochs: int) -> float:
    """Samples/s of a minimal loop over the same CNN (no augmentation on either side)."""
    dev = torch.device("cuda")
    model = CNNNet(**kwargs).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=params["optimizer"]["learning_rate"], fused=True)
    X = torch.from_numpy(x).to(dev)
    Y = torch.from_numpy(y).to(dev)
    mean, std = X.float().mean() / 255, X.float().std() / 255
    bs = int(params["batch_size"])
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(X), device=dev)
        for i in range(0, len(X), bs):
            idx = perm[i : i + bs]
            xb = (X[idx].permute(0, 3, 1, 2).float() / 255 - mean) / std
            with torch.autocast("cuda", dtype=amp()):
                loss = F.cross_entropy(model(xb).float(), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    torch.cuda.synchronize()
    return len(X) * epochs / (time.perf_counter() - start)


def cnn_check(epochs: int) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * 16.0, 0, 255).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    data = make_array_data(x, y, "multiclass", "image")
    n_train, n_valid = 1257, 270
    train, valid = data.subset(np.arange(n_train)), data.subset(np.arange(n_train, n_train + n_valid))
    test = data.subset(np.arange(n_train + n_valid, len(y)))
    params = dl_params(
        DatasetProfile(modality="image", task="multiclass", n_rows=1797, n_classes=10, image_size=(8, 8, 1)),
        Constraints(gpu_available=True),
        "torch_cnn",
    )
    # The recipe without augmentation for the speed ratio (the hand loop has none); flip dropped for digits.
    timed = {
        **params,
        "epochs": epochs,
        "augmentation": {},
        "lr_schedule": {"name": "cosine", "t_max_epochs": epochs},
        "early_stopping": None,
    }
    TorchCNNTrainer({**timed, "epochs": 1}, seed=0).fit(train, valid)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    model = TorchCNNTrainer(timed, seed=0).fit(train, valid)
    trainer_peak = peak_mib()
    trainer_sps = n_train * model.n_rounds_ / model.run_info_["train_seconds"]
    kwargs = model.build_["kwargs"]
    cnn_hand(x[:256], y[:256], kwargs, params, 1)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    hand_sps = cnn_hand(x[:n_train], y[:n_train], kwargs, params, model.n_rounds_)
    # Accuracy with the recipe's augmentation (crop + rotation) as the test suite runs it.
    aug = {k: v for k, v in params["augmentation"].items() if k != "horizontal_flip"}
    full = TorchCNNTrainer(
        {**params, "epochs": 30, "augmentation": aug, "lr_schedule": {"name": "cosine", "t_max_epochs": 30}}, seed=0
    ).fit(train, valid)
    acc = float((full.predict(test.x) == test.y).mean())
    return {
        "job": f"torch_cnn digits 8×8, batch {params['batch_size']}, {model.n_rounds_} epochs",
        "device": model.run_info_["device_name"],
        "mixed_precision": model.run_info_["mixed_precision"],
        "bit_reproducible": model.run_info_["bit_reproducible"],
        "trainer_samples_per_s": round(trainer_sps),
        "hand_samples_per_s": round(hand_sps),
        "ratio": round(trainer_sps / hand_sps, 3),
        "trainer_peak_mib": round(trainer_peak, 1),
        "hand_peak_mib": round(peak_mib(), 1),
        "test_accuracy_30_epochs_with_augmentation": round(acc, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mlp-epochs", type=int, default=3)
    parser.add_argument("--cnn-epochs", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        skip("GPU only: no CUDA device on this machine")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
    results = {"mlp": mlp_check(args.rows, args.mlp_epochs), "cnn": cnn_check(args.cnn_epochs)}
    for name, r in results.items():
        print(
            f"\n[{name}] {r['job']} on {r['device']} ({r['mixed_precision']}, bit-reproducible: "
            f"{r['bit_reproducible']})"
        )
        print(f"  trainer {r['trainer_samples_per_s']:>12,} samples/s   peak {r['trainer_peak_mib']:.0f} MiB")
        print(f"  hand    {r['hand_samples_per_s']:>12,} samples/s   peak {r['hand_peak_mib']:.0f} MiB")
        print(f"  ratio   {r['ratio']:.2f} (target ≥ 0.8)")
        report(f"{name}: trainer / hand-loop samples/s", r["ratio"], ">= 0.8", r["ratio"] >= 0.8, "x")
        extra = {k: v for k, v in r.items() if "accuracy" in k}
        if extra:
            print(f"  {extra}")
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_check.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
