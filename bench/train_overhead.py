"""Service overhead of training through the API: ``POST /v1/jobs`` … ``succeeded`` vs ``xgboost.train``.

Generated binary task, 1,000,000 rows × 28 float features (HIGGS-shaped), 200 rounds, the same
parameters and threads on both sides, measured in the same run on the same machine.

* direct: what a person would write by hand — ``DMatrix`` for train and validation, ``xgboost.train``
  watching the validation set (early stopping), predicting the test rows. The split is done for it,
  outside the timed region, and the data is already in memory.
* service: the wall time from sending ``POST /v1/jobs`` to reading the finished job from a real
  ``advisor serve`` (embedded pool, warm training process): queueing, the claim, loading the stored
  Parquet, typing and splitting, training with per-round progress and curves, metrics on validation and
  test, saving and hashing the artifact, reloading it for the sample predictions, zipping it, writing the
  metric rows, and the client's polling (every 0.2 s).

The dataset is uploaded before the clock starts. By default the job trains no baseline (it is extra
work, not overhead); ``--with-baseline`` also reports the time with the advisor's logistic regression.

Usage: ``python bench/train_overhead.py [--rows N] [--rounds R] [--repeat K] [--with-baseline]``
Target: service ≤ 1.15 × direct.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from bench.results import report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatch import serve, upload, wait_terminal  # a sibling script, not a package


def make_data(n_rows: int, n_features: int = 28, seed: int = 0) -> pd.DataFrame:
    """28 noisy features, a non-linear logit, about half positives."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    logit = x[:, :6] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3]) + 0.7 * x[:, 6] * x[:, 7] + 0.5 * np.abs(x[:, 8])
    y = (logit - 0.4 + rng.logistic(size=n_rows) > 0).astype(np.int8)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(n_features)])
    frame["y"] = y
    return frame


def params(rounds: int) -> dict[str, Any]:
    """The advisor's XGBoost choices for a large binary table, with ``rounds`` rounds."""
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "n_estimators": rounds,
        "learning_rate": 0.1,
        "early_stopping_rounds": 50,
        "max_depth": 6,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
        "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "stratify": True},
    }


def run_direct(frame: pd.DataFrame, p: dict[str, Any], threads: int, seed: int = 0) -> tuple[float, float]:
    """Wall and CPU seconds for DMatrix + xgboost.train (validation watched, early stopping) + predicting the
    test rows."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    n_train, n_valid = int(0.7 * len(frame)), int(0.15 * len(frame))
    parts = np.split(order, [n_train, n_train + n_valid])
    x = frame.drop(columns=["y"]).to_numpy()
    y = frame["y"].to_numpy()
    booster_params = {k: v for k, v in p.items() if k not in ("n_estimators", "early_stopping_rounds", "split")}
    booster_params.update(nthread=threads, seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    dtrain = xgb.DMatrix(x[parts[0]], label=y[parts[0]], nthread=threads)
    dvalid = xgb.DMatrix(x[parts[1]], label=y[parts[1]], nthread=threads)
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=p["n_estimators"],
        evals=[(dvalid, "valid")],
        early_stopping_rounds=p["early_stopping_rounds"],
        verbose_eval=False,
    )
    booster.predict(xgb.DMatrix(x[parts[2]], nthread=threads), iteration_range=(0, booster.best_iteration + 1))
    return time.perf_counter() - start, time.process_time() - cpu


def run_service(client: Any, dataset: str, p: dict[str, Any], baseline: bool) -> tuple[float, dict[str, Any]]:
    """Seconds from POST to reading the finished job."""
    body = {
        "dataset_id": dataset,
        "spec": {"trainer": "xgboost", "params": p},
        "train_baseline": baseline,
        "time_budget_s": 86400,
    }
    start = time.perf_counter()
    job_id = client.post("/v1/jobs", json=body).json()["id"]
    job = wait_terminal(client, job_id, poll_s=0.2)
    elapsed = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
    return elapsed, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--with-baseline", action="store_true")
    args = parser.parse_args()
    # The same OpenMP wait policy on both sides: the service's training processes use the setting's
    # default (PASSIVE); the direct run in this process reads the variable when xgboost loads.
    policy = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE").upper()
    threads = len(os.sched_getaffinity(0))
    frame = make_data(args.rows)
    p = params(args.rounds)
    direct: list[float] = []
    direct_cpu: list[float] = []
    loads: list[float] = []
    service: list[float] = []
    with_baseline: list[float] = []
    print(f"load average before: {os.getloadavg()[0]:.1f} on {threads} cores (other work on the machine skews both)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(
            Path(tmp), ADVISOR_WORKERS="1", ADVISOR_THREADS_PER_JOB=str(threads), ADVISOR_JOB_OMP_WAIT_POLICY=policy
        ) as client,
    ):
        dataset = upload(client, frame, "y", "bench")
        small = upload(client, frame.head(2000), "y", "warmup")
        run_service(client, small, params(5), False)  # the training process is warm, as on a live server
        job: dict[str, Any] = {}
        for _ in range(args.repeat):
            wall, cpu = run_direct(frame, p, threads)
            direct.append(wall)
            direct_cpu.append(cpu)
            loads.append(os.getloadavg()[0])
            elapsed, job = run_service(client, dataset, p, False)
            service.append(elapsed)
            loads.append(os.getloadavg()[0])
            if args.with_baseline:
                with_baseline.append(run_service(client, dataset, p, True)[0])
    d, s = statistics.median(direct), statistics.median(service)
    t = job["timings"]
    print(
        f"{args.rows:,} rows × 28, {args.rounds} rounds, {threads} threads, OMP_WAIT_POLICY={policy}, "
        f"median of {args.repeat}"
    )
    print(
        f"runs: direct {[round(v, 1) for v in direct]} s, service {[round(v, 1) for v in service]} s, "
        f"1-min load after each {[round(v, 1) for v in loads]}; direct used {statistics.median(direct_cpu):.1f} "
        f"CPU-s"
    )
    print(
        f"direct xgboost.train: {d:.2f} s   service (POST → succeeded): {s:.2f} s   ratio {s / d:.3f} (target ≤ 1.15)"
    )
    report("API job (POST -> succeeded) / direct xgboost.train", s / d, "<= 1.15x", s / d <= 1.15, "x")
    print(
        f"  inside the job: prepare {t['model_prepare_s']:.2f} s, fit {t['model_fit_s']:.2f} s, "
        f"predict+metrics {t['model_predict_s']:.2f} s, save {t['model_save_s']:.2f} s, "
        f"train_s {t['train_s']:.2f} s, queued {t['queued_s']:.3f} s; rounds run {job['n_rounds']}"
    )
    if with_baseline:
        b = statistics.median(with_baseline)
        print(f"with the logistic-regression baseline as well: {b:.2f} s, ratio {b / d:.3f}")


if __name__ == "__main__":
    main()
