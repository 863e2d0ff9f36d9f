"""Job-engine test helpers: real datasets from scikit-learn ingested into a data dir, jobs inserted directly,
short leases so expiry and recovery happen within a test, one thread per job (the test machines are
shared: oversubscribed OpenMP threads made a 500-row XGBoost fit take seconds)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from _testdb import database_url
from fastapi.testclient import TestClient

from service.db.models import Dataset, Job
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.jobs import states
from service.jobs.stored import JobResult, ModelZip
from service.repositories import datasets as datasets_repo
from service.repositories import jobs as jobs_repo
from service.settings import Settings

# Small rounds: a job finishes in well under a second once its process is warm.
FAST_XGB = {"objective": "binary:logistic", "n_estimators": 15, "max_depth": 3, "learning_rate": 0.3}
# Enough rounds that it is still training when a test cancels or kills it.
SLOW_XGB = {
    "objective": "binary:logistic",
    "n_estimators": 200_000,
    "max_depth": 2,
    "learning_rate": 0.001,
    "early_stopping_rounds": None,
}


def job_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a job test: its own SQLite file, one worker with one thread, short leases."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url(data_dir),  # SQLite, or PostgreSQL with ADVISOR_TEST_DATABASE_URL
        "workers": 1,
        "threads_per_job": 1,
        "lease_s": 3.0,
        "heartbeat_s": 0.5,
        "reaper_interval_s": 0.5,
        "job_grace_s": 10.0,
        "job_max_attempts": 2,
        "sse_poll_s": 0.1,
    }
    values.update(overrides)
    return Settings(**values)


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's breast cancer table (569 × 30, binary target ``target``)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def store_dataset(db: Database, settings: Settings, frame: pd.DataFrame, target: str, name: str = "data") -> str:
    """Ingest ``frame`` (as CSV) into ``data_dir/datasets/`` the way an upload is stored; returns the row id."""
    from trainers.ingest import ingest, sha256_file

    scratch = settings.data_dir / "tmp" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    csv = scratch / f"{name}.csv"
    frame.to_csv(csv, index=False)
    folder = settings.data_dir / "datasets" / uuid.uuid4().hex
    result = ingest(csv, filename=csv.name, target=target, task=None, modality=None, work_dir=folder)
    result.details["file_sha256"] = {f: sha256_file(folder / f) for f in result.files}  # as an upload records
    row = Dataset(
        id=new_id(),
        created_at=utcnow(),
        name=name,
        source="upload",
        modality=result.modality,
        task=result.task,
        task_reason=result.task_reason,
        target=result.target,
        format="csv",
        sha256=result.details.get("sha256"),
        fingerprint=uuid.uuid4().hex,
        size_bytes=csv.stat().st_size,
        n_rows=result.profile.n_rows,
        storage_path=folder.relative_to(settings.data_dir).as_posix(),
        profile=result.profile.model_dump(mode="json", exclude_none=True),
        details=result.details,
        warnings=result.warnings,
    )
    db.call(datasets_repo.add, dataset=row)
    return row.id


def insert_job(
    db: Database,
    dataset_id: str,
    *,
    trainer: str = "xgboost",
    params: dict[str, Any] | None = None,
    baseline: dict[str, Any] | None = None,
    time_budget_s: float = 600,
    max_attempts: int = 2,
    **values: Any,
) -> str:
    """A queued job row, as POST /v1/jobs would store it (nothing enqueued)."""
    now = utcnow()
    job = Job(
        id=new_id(),
        created_at=now,
        updated_at=now,
        queued_at=now,
        dataset_id=dataset_id,
        model=trainer,
        trainer=trainer,
        params=dict(FAST_XGB if params is None else params),
        baseline_spec=baseline,
        seed=0,
        time_budget_s=time_budget_s,
        queue="cpu",
        status=states.QUEUED,
        attempt=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        history=[],
    )
    for key, value in values.items():
        setattr(job, key, value)
    db.call(jobs_repo.add, job=job)
    return job.id


def get_job(db: Database, job_id: str) -> Job:
    """The job row, fresh."""
    job = db.call(jobs_repo.get, id=job_id, tenant_id=None, write=False)
    assert job is not None
    return job


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f} s (last value {value!r})")
        time.sleep(interval)


def stored_result(
    metrics: dict[str, dict[str, float | None]],
    validation: dict[str, Any] | None = None,
    *,
    task: str = "regression",
    files: dict[str, str] | None = None,
) -> JobResult:
    """A small valid stored result (for rows built in a test): ``metrics`` per split, ``validation`` a summary."""
    from trainers.spec import ArtifactInfo, CurveSet, SplitInfo, SplitSpec, TrainResult, ValidationSummary

    model = TrainResult(
        trainer="x",
        task=task,  # type: ignore[arg-type]
        params={},
        seed=0,
        n_threads=1,
        metrics=metrics,
        curves=CurveSet(loss_name="loss", train_loss=[1.0]),
        best_iteration=0,
        n_rounds=1,
        artifact=ArtifactInfo(
            trainer="x", format="skops", directory="j/1/model", files=files or {}, sha256="0" * 64, library_versions={}
        ),
        split=SplitInfo(seed=0, fractions=SplitSpec(), stratified=False, train_size=7, validation_size=2, test_size=1),
        timings={},
        library_versions={},
        validation=ValidationSummary.model_validate(validation) if validation else None,
    )
    return JobResult(model=model, zip=ModelZip(path="j/1/model.zip"))


def upload_frame(client: TestClient, frame: pd.DataFrame, target: str, name: str) -> str:
    """Upload ``frame`` as a CSV through the API; the dataset's id."""
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    response = client.post(
        "/v1/datasets", files={"file": (name, buffer.getvalue(), "text/csv")}, data={"target": target}
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def train_spec(
    client: TestClient, dataset_id: str, trainer: str, params: dict[str, Any], timeout: float = 180
) -> dict[str, Any]:
    """Train ``trainer`` with ``params`` (no baseline) through the API and wait for success; the job."""
    response = client.post(
        "/v1/jobs",
        json={"dataset_id": dataset_id, "spec": {"trainer": trainer, "params": params}, "train_baseline": False},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(done, timeout=timeout)
    assert job["status"] == "succeeded", job["error"]
    return job
