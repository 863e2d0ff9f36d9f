"""Small parts of the engine: state machine, queue, settings, lift and metric rows, dataset loading."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from service.jobs import states
from service.jobs.process import describe_exit
from service.jobs.queue import InProcessQueue, JobQueue, QueueClosed
from service.jobs.results import lift, metric_rows
from service.settings import Settings


def test_transitions_allow_only_the_documented_moves() -> None:
    assert states.can_transition("queued", "running") and states.can_transition("running", "queued")
    assert states.can_transition("queued", "cancelled") and states.can_transition("running", "succeeded")
    for terminal in states.TERMINAL:
        assert not any(states.can_transition(terminal, s) for s in states.STATUSES)
    with pytest.raises(states.InvalidTransition):
        states.check_transition("succeeded", "running")


def test_in_process_queue_is_fifo_deduplicates_and_closes() -> None:
    queue = InProcessQueue()
    assert isinstance(queue, JobQueue)
    for job_id in ("a", "b", "a"):
        queue.enqueue(job_id, "cpu")
    assert len(queue) == 2 and queue.waiting() == {"a", "b"}
    assert queue.get(0) == "a" and queue.get(0) == "b" and queue.get(0.01) is None
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(5)))
    waiter.start()
    queue.close()
    waiter.join(2)
    assert got == [None]
    with pytest.raises(QueueClosed):
        queue.enqueue("c", "gpu")


def test_settings_refuse_oversubscription_and_default_threads(tmp_path: Path) -> None:
    import os

    cores = len(os.sched_getaffinity(0))
    assert Settings(data_dir=tmp_path, workers=1).threads_per_job == cores
    # job_threads is the resolved count as an int, also for settings built without validation.
    assert Settings(data_dir=tmp_path, workers=1, threads_per_job=1).job_threads == 1
    assert Settings.model_construct(workers=1, threads_per_job=None).job_threads == cores
    with pytest.raises(ValidationError, match="exceeds"):
        Settings(data_dir=tmp_path, workers=cores, threads_per_job=2)
    with pytest.raises(ValidationError, match="heartbeat"):
        Settings(data_dir=tmp_path, lease_s=4, heartbeat_s=3)


@pytest.mark.parametrize(
    ("cores", "threads_per_job", "workers", "threads"),
    [(8, None, 2, 4), (2, None, 2, 1), (1, None, 1, 1), (2, 2, 1, 2), (8, 2, 2, 2), (8, 8, 1, 8)],
)
def test_default_slots_fit_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, threads_per_job: int | None, workers: int, threads: int
) -> None:
    import service.settings as settings_module

    monkeypatch.setattr(settings_module, "available_cores", lambda: cores)
    given = {} if threads_per_job is None else {"threads_per_job": threads_per_job}
    s = Settings(data_dir=tmp_path, **given)
    assert (s.workers, s.job_threads) == (workers, threads)
    assert Settings(data_dir=tmp_path).artifacts_dir == tmp_path.resolve() / "artifacts"


def test_lift_is_positive_when_the_model_is_better_losses_included() -> None:
    model = {"test": {"roc_auc": 0.95, "log_loss": 0.2, "accuracy": None}}
    baseline = {"test": {"roc_auc": 0.90, "log_loss": 0.3, "accuracy": 0.8}}
    assert lift(model, baseline) == {"test": {"roc_auc": pytest.approx(0.05), "log_loss": pytest.approx(0.1)}}


def test_every_reported_metric_has_one_direction() -> None:
    from trainers.metrics import CLASSIFICATION_METRICS, HIGHER_IS_BETTER, REGRESSION_METRICS, higher_is_better

    losses = {"log_loss", "rmse", "mae"}
    for name in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS):
        assert (name in HIGHER_IS_BETTER) == (name not in losses) == higher_is_better(name), name
    # The libraries' spellings (early stopping) come from the same set.
    assert higher_is_better("auc") and higher_is_better("ndcg@5") and not higher_is_better("logloss")


def test_metric_rows_are_mlflow_style_with_round_times() -> None:
    result = {
        "metrics": {"validation": {"rmse": 1.5, "r2": None}},
        "curves": {"history": {"train": {"rmse": [3.0, 2.0]}, "valid": {"rmse": [3.5, None]}}},
    }
    rows = metric_rows("j", "model", result, [111, 222], 999)
    assert {"job_id": "j", "run": "model", "key": "validation.r2", "value": None, "step": 0, "timestamp": 999} in rows
    valid = [(r["step"], r["value"], r["timestamp"]) for r in rows if r["key"] == "valid.rmse"]
    assert valid == [(0, 3.5, 111), (1, None, 222)]


def test_exit_descriptions_name_the_signal() -> None:
    assert "SIGKILL" in describe_exit(-9) and "status 3" in describe_exit(3)


def test_load_dataset_and_plan_inputs_for_tables_and_images(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from trainers.base import TrainerCapabilityError
    from trainers.datasets import load_dataset, plan_inputs
    from trainers.ingest import ingest
    from trainers.registry import get_trainer

    digits = load_digits()
    src = tmp_path / "digits.npz"
    np.savez(src, x=(digits.images * 16).clip(0, 255).astype(np.uint8), y=digits.target)
    ingest(src, filename=src.name, target=None, task=None, modality="image", work_dir=tmp_path / "images")
    images = load_dataset(tmp_path / "images")
    assert images.modality == "image" and images.x is not None and images.x.shape[:3] == (1797, 8, 8)
    frame, features = images.flat_frame()
    assert len(features) == 64 and len(frame) == 1797 and sorted(frame[images.target].unique()) == list(range(10))

    logistic = get_trainer("sklearn_logistic")
    plan = plan_inputs(logistic, "image", {"C": 1.0, "input_features": "flattened_pixels"})
    assert plan.kind == "frame" and plan.flatten and "input_features" not in plan.params
    text_plan = plan_inputs(logistic, "text", {"C": 1.0, "input_features": "tfidf"})
    assert text_plan.kind == "frame" and text_plan.text and text_plan.params == {"C": 1.0}
    with pytest.raises(TrainerCapabilityError, match="xgboost does not build TF-IDF"):
        plan_inputs(get_trainer("xgboost"), "text", {"input_features": "tfidf"})
    assert plan_inputs(get_trainer("xgboost"), "tabular", {}).kind == "frame"

    from sklearn.datasets import load_iris

    table = load_iris(as_frame=True).frame
    table["when"] = pd_dates(len(table))
    table.to_csv(tmp_path / "iris.csv", index=False)
    ingest(
        tmp_path / "iris.csv",
        filename="iris.csv",
        target="target",
        task=None,
        modality=None,
        work_dir=tmp_path / "iris",
    )
    iris = load_dataset(tmp_path / "iris")
    assert iris.frame is not None and iris.feature_columns is not None and "target" not in iris.feature_columns
    assert iris.task == "multiclass" and iris.n_rows == 150
    if "when" in iris.feature_columns:  # ingestion kept the dates: they arrive as numbers
        assert iris.frame["when"].dtype.kind == "f" and any("datetime" in n for n in iris.notes)


def pd_dates(n: int) -> list[str]:
    """ISO dates, one a day."""
    import pandas as pd

    return [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-01-01", periods=n, freq="D")]


def test_the_pool_prewarms_processes_with_the_child_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.jobs import pool, process

    started = threading.Event()
    envs: list[dict[str, str]] = []

    class Recorded:
        def __init__(self, *, preload: bool = True, env: dict[str, str] | None = None) -> None:
            envs.append(dict(env or {}))
            started.set()

        def kill(self) -> int | None:
            return 0

    monkeypatch.setattr(process, "TrainingProcess", Recorded)
    monkeypatch.setattr(pool, "PREWARM_DELAY_S", 0.0)
    settings = Settings(data_dir=tmp_path, workers=1, job_omp_wait_policy="PASSIVE", worker_prewarm=True)
    workers = pool.WorkerPool(db=None, settings=settings, queue=InProcessQueue())  # type: ignore[arg-type]
    workers.start()
    try:
        assert started.wait(10.0)
    finally:
        workers.stop()
    assert envs == [process.child_env(settings)]
    assert envs[0]["OMP_WAIT_POLICY"] == "PASSIVE"


def test_a_training_process_sizes_its_thread_pools_to_the_job(tmp_path: Path) -> None:
    """OpenMP and BLAS default to the job's threads: a call that takes no thread count stays within them."""
    from service.jobs.process import THREAD_VARIABLES, child_env

    settings = Settings(data_dir=tmp_path, workers=1, threads_per_job=1, job_omp_wait_policy="inherit")
    assert child_env(settings) == dict.fromkeys(THREAD_VARIABLES, "1")
    assert "OMP_NUM_THREADS" in THREAD_VARIABLES


def test_a_warm_process_is_replaced_after_its_job_count_or_when_it_holds_far_more_memory() -> None:
    from service.jobs.process import TrainingProcess

    proc = object.__new__(TrainingProcess)  # the policy alone: no process spawned
    proc.jobs_run, proc.settled_rss = 1, None
    sizes = iter([300 << 20, 450 << 20, 700 << 20])
    proc.rss_bytes = lambda: next(sizes)  # type: ignore[method-assign]
    assert proc.retire_reason(500) is None  # after its first job: the size it settles at
    assert proc.retire_reason(500) is None  # grown, but less than twice
    assert proc.retire_reason(500) == "it holds 700 MiB, 300 MiB after its first job"
    proc.jobs_run = 500
    assert proc.retire_reason(500) == "it ran 500 jobs"
