"""Lean jobs: a tiny job through the service's worker path vs the same fit in-process, and where each ms goes.

The tiny job of ``bench/scale.py``: XGBoost, 5 rounds, depth 3, on scikit-learn's breast cancer table (569 rows),
one thread, no baseline. Measured side by side in one run, one job of each side in turn:

* in-process: what a Celery task that trains in its own process would run, ``trainers.run.fit_and_evaluate``
  on the table already in memory, writing the artifact into a fresh folder: the same fit (the split, the
  k-fold validation, the refit, the metrics, the saved files), none of the service around it. (A Celery
  round trip adds about 2 ms on this machine to either side; the worker path below starts after it.)
* service: :func:`service.jobs.runner.run` on a job row that ``POST /v1/jobs`` stored, exactly what an
  ``advisor worker`` task runs, with a warm training process: the claim, the hand-off to the training
  process, loading and verifying the stored dataset, the fit, the sample predictions from the reloaded model,
  the zip, the result's trip back, the result document and metric rows written, the next job handed on.

It prints jobs/s of both, the ratio (target: service >= 0.5x in-process), CPU seconds per job of each (the
service's includes its training process), and the mean milliseconds of every stage of the service's path
(:mod:`service.jobs.stages`), with what each one buys.

Usage: ``python bench/job_overhead.py [--jobs 60] [--database sqlite|postgresql] [--baseline] [--profile N]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy

from scale import database as scale_database

TINY = {"objective": "binary:logistic", "n_estimators": 5, "max_depth": 3}

# What each stage of the service's path is and buys (service.jobs.stages stamps; "→" = where the time is spent).
STAGES: dict[str, str] = {
    "claim": "runner: one transaction: the tenant's running quota, the compare-and-set claim (exactly once), "
    "the dataset's path and file digests",
    "prepare": "runner: the job message, a clean attempt folder, a warm process checked (crash isolation)",
    "send": "runner: the job message as JSON down the pipe",
    "handoff": "pipe + the process's listener decoding and validating the message",
    "load": "training process: the stored dataset's files verified (SHA-256), and read from Parquet unless this "
    "process parsed the same files last (then a private copy of that parse)",
    "fit": "training process: fit_and_evaluate (the fit itself: split, folds, refit, metrics, artifact saved "
    "and hashed) and the peak-RSS reading",
    "sample_predictions": "training process: the saved model reloaded (its digests checked) and five rows "
    "predicted: proof the artifact serves",
    "zip": "training process: the deterministic download zip and its SHA-256",
    "result_sent": "training process: the typed result as JSON up the pipe",
    "model_result_received": "runner: the result read and validated (typed messages, never pickle)",
    "baseline": "training process: the baseline's fit (only with --baseline)",
    "baseline_result_received": "runner: the baseline's result read and validated",
    "done": "training process: the end of the job",
    "done_received": "runner: the end read",
    "heartbeat": "runner: progress + lease renewal (a long job's, rarely a tiny one's)",
    "cancel_poll": "runner: the cancel flag read (every 0.5 s while a job runs)",
    "shape": "runner: the result document and MLflow-style metric rows built",
    "stored_bytes": "runner: the attempt's files measured for the tenant's storage quota",
    "end_write": "runner: one transaction: the end (lease-checked), result, metric rows, webhook outbox",
    "start_next": "runner: the tenant's next waiting job handed on (a freed quota slot)",
}


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A SQLite file, or (``postgres``) scale.py's fresh PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'advisor.db'}"
        return
    with scale_database(tmp) as url:
        yield url


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Queue:
    """What a worker publishes to (a retried job, the tenant's next job): counted, not sent."""

    def __init__(self) -> None:
        self.sent = 0

    def enqueue(self, job_id: str, queue: str | None = None) -> None:
        self.sent += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="jobs per side (one of each side in turn)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--baseline", action="store_true", help="jobs also train the advisor's baseline")
    parser.add_argument(
        "--profile", type=int, default=0, help="print the runner's N costliest functions by CPU time (cProfile)"
    )
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from sklearn.datasets import load_breast_cancer

    from service.db import migrate
    from service.db.session import Database
    from service.jobs import runner
    from service.jobs.process import start_training_process
    from service.main import create_app
    from service.settings import Settings
    from trainers.datasets import load_dataset
    from trainers.run import fit_and_evaluate
    from trainers.spec import TrainSpec

    frame = load_breast_cancer(as_frame=True).frame
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name, database(args.database, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        settings = Settings(
            data_dir=tmp,
            database_url=url,
            workers=0,  # nothing trains in the API: this process is the worker
            threads_per_job=1,
            worker_prewarm=False,
            log_level="warning",
            tenant_max_concurrent_jobs=1000,
            tenant_max_queued_jobs=100_000,
        )
        migrate.upgrade(url)
        db = Database.from_url(url, pool_size=2)
        queue = _Queue()
        with TestClient(create_app(settings)) as client:
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            response = client.post(
                "/v1/datasets",
                files={"file": ("breast_cancer.parquet", buffer.getvalue(), "application/octet-stream")},
                data={"target": "target"},
            )
            response.raise_for_status()
            dataset = response.json()
            body = {"dataset_id": dataset["id"], "spec": {"trainer": "xgboost", "params": TINY}}
            body["train_baseline"] = args.baseline

            # The in-process side trains on exactly what the training process loads.
            data = load_dataset(settings.data_dir / dataset_storage(db, dataset["id"]))
            spec = TrainSpec(trainer="xgboost", params=TINY, seed=0, n_threads=1)
            scratch = tmp / "inprocess"

            def in_process() -> None:
                out = scratch / uuid.uuid4().hex
                fit_and_evaluate(spec, data.frame, data.target, data.task, data.feature_columns, None, out)

            one_fit = single_fit(data)

            process = start_training_process(settings)

            def service() -> tuple[runner.RunOutcome, float, float]:
                """One job stored by the API, then run by the runner; the runner's wall and CPU seconds."""
                nonlocal process
                job_id = client.post("/v1/jobs", json=body).json()["id"]
                wall, cpu = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                outcome = runner.run(job_id, db=db, settings=settings, queue=queue, worker="bench", process=process)
                if profiler is not None:
                    profiler.disable()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if outcome.status != "succeeded":
                    raise RuntimeError(f"job {job_id} ended {outcome.status}: {outcome.reason}")
                process = outcome.process
                return outcome, wall, cpu

            profiler = None
            # Warm-up, and what keeping the training process warm saves: its first job pays for the spawn, the
            # imports and the libraries' first-call costs (the process started just before, as a worker's does).
            in_process()
            one_fit()
            cold = service()[1] * 1000
            for _ in range(2):
                in_process()
                one_fit()
                warm = service()[1] * 1000

            sides: dict[str, dict[str, float]] = {
                s: {"wall": 0.0, "cpu": 0.0, "n": 0} for s in ("one xgboost fit", "in-process", "service")
            }
            stages: list[dict[str, float]] = []
            if args.profile:
                import cProfile

                profiler = cProfile.Profile(time.process_time)  # CPU, not waits
            fit_timings: list[dict[str, float]] = []
            # One job of each side in turn: a burst of other work on the machine hits all sides alike.
            for i in range(args.jobs):
                for name, fn in (("one xgboost fit", one_fit), ("in-process", in_process)):
                    wall, cpu = time.perf_counter(), time.process_time()
                    fn()
                    side = sides[name]
                    side["wall"] += time.perf_counter() - wall
                    side["cpu"] += time.process_time() - cpu
                    side["n"] += 1
                # Only runner.run is timed: the POST that stores the job is the API's work, not the worker's.
                assert process is not None
                child_cpu = cpu_seconds(process.pid or 0)
                outcome, wall_s, cpu_s = service()
                assert process is not None
                side = sides["service"]
                side["wall"] += wall_s
                side["cpu"] += cpu_s + cpu_seconds(process.pid or 0) - child_cpu
                side["n"] += 1
                stages.append({**(outcome.stages or {}), "_wall": wall_s * 1000})
                fit_timings.append(last_fit_timings(db, outcome.job_id))
                if i % 10 == 9:
                    shutil.rmtree(scratch, ignore_errors=True)
            if process is not None:
                process.kill()
        db.dispose()
    load_after = os.getloadavg()
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)

    rate = {name: s["n"] / s["wall"] for name, s in sides.items()}
    ratio = rate["service"] / rate["in-process"]
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    extra = ", with the baseline" if args.baseline else ""
    print(f"tiny job (XGBoost 5 rounds, 569 rows, 1 thread{extra}), {args.jobs} jobs per side in turn, {backend}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}, on {os.cpu_count()} cores")
    for name, s in sides.items():
        print(
            f"  {name:16s} {rate[name]:7.2f} jobs/s  {1000 * s['wall'] / s['n']:6.1f} ms wall/job  "
            f"{1000 * s['cpu'] / s['n']:6.1f} ms CPU/job"
        )
    cpu_ratio = (sides["in-process"]["cpu"] / sides["in-process"]["n"]) / (
        sides["service"]["cpu"] / sides["service"]["n"]
    )
    print(f"ratio service / in-process: {ratio:.2f}x (target >= 0.5x); by CPU per job {cpu_ratio:.2f}x")
    print(
        f"a job on a just-started training process: {cold:.0f} ms, on a warm one {warm:.0f} ms "
        "(what reusing the process saves each job; one is replaced after job_max_per_child jobs)"
    )

    mean = {k: statistics.fmean(s.get(k, 0.0) for s in stages) for k in {k for s in stages for k in s}}
    wall_ms = mean.pop("_wall")
    print(f"\nwhere a service job's {wall_ms:.1f} ms go (mean of {len(stages)} jobs):")
    for key in [k for k in STAGES if k in mean] + sorted(k for k in mean if k not in STAGES):
        print(f"  {key:22s} {mean[key]:7.2f} ms  {STAGES.get(key, '')}")
    print(f"  {'(outside the stamps)':22s} {wall_ms - sum(mean.values()):7.2f} ms  the job's log context, the outcome")
    keys = ("prepare_s", "fit_s", "predict_s", "save_s", "total_s")
    fit = {k: statistics.fmean(t.get(k, 0.0) for t in fit_timings) * 1000 for k in keys}
    print(
        "  inside 'fit', fit_and_evaluate's own timings: "
        + ", ".join(f"{k[:-2]} {v:.1f} ms" for k, v in fit.items())
        + (f"; then {mean['fit'] - fit['total_s']:.1f} ms after them (feature importance)" if "fit" in mean else "")
    )
    # Everything of the job but fit_and_evaluate (the 'fit' stage: the same call the in-process side makes).
    overhead = wall_ms - mean.get("fit", fit["total_s"])
    print(f"the service around fit_and_evaluate: {overhead:.1f} ms per job")
    try:
        from bench.results import report
    except ImportError:  # an older checkout: the printed lines are the result
        return
    report("tiny jobs: service worker / in-process fit", ratio, ">= 0.5x", ratio >= 0.5, "x")
    report("tiny jobs: service time around the fit", overhead, "-", None, "ms")


def single_fit(data: Any) -> Any:
    """For scale: the single XGBoost fit a hand-written task might run (no folds, refit, metrics or files):
    ``xgboost.train`` on a 70 % split, 5 rounds watching the rest, and the rest predicted."""
    import numpy as np
    import xgboost as xgb

    x = data.frame[data.feature_columns].to_numpy(dtype=np.float32)
    y = data.frame[data.target].to_numpy()
    cut = int(0.7 * len(x))
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}

    def fit() -> None:
        train, valid = xgb.DMatrix(x[:cut], label=y[:cut]), xgb.DMatrix(x[cut:], label=y[cut:])
        booster = xgb.train(params, train, TINY["n_estimators"], evals=[(valid, "valid")], verbose_eval=False)
        booster.inplace_predict(x[cut:])

    return fit


def dataset_storage(db: Any, dataset_id: str) -> str:
    """The dataset's folder, relative to the data dir."""
    from service.db.models import Dataset

    def read(*, session: Any) -> str:
        return str(session.get(Dataset, dataset_id).storage_path)

    return str(db.call(read, write=False))


def last_fit_timings(db: Any, job_id: str) -> dict[str, float]:
    """fit_and_evaluate's own timings of a finished job."""
    from service.db.models import Job

    def read(*, session: Any) -> dict[str, float]:
        return dict(session.get(Job, job_id).result.model.timings)

    return dict(db.call(read, write=False))


if __name__ == "__main__":
    main()
