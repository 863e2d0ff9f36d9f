"""A job's evaluation plots as data, from the prediction files saved beside its model.

Every finished job stores its validation output (out-of-fold under k-fold, else the holdout split) and its
test output as ``.npy`` files listed, with their SHA-256, in the artifact (``trainers.run``). This module
checks those digests, reads the arrays with ``allow_pickle=False`` and reduces them to what a plot needs: a
confusion matrix and ROC curves for classifiers, predicted vs actual values for regression. Read-only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from service.db.session import Database
from service.errors import Conflict, ServiceError
from service.jobs.stored import JobResult
from service.schemas.evaluation import (
    ConfusionMatrixRead,
    EvaluationSplit,
    JobEvaluationRead,
    ResidualsRead,
    RocCurveRead,
)
from service.services import jobs as jobs_service
from service.settings import Settings

# Plots stay light: a residual plot samples this many rows, a ROC curve keeps this many points.
MAX_RESIDUAL_POINTS = 2000
MAX_ROC_POINTS = 201
_PREFIX: dict[str, str] = {"validation": "valid", "test": "test"}


class PredictionsUnavailable(Conflict):
    """409: the job has no stored predictions to evaluate (yet, or for its kind of model)."""

    type = "urn:model-advisor:problem:no-predictions"
    title = "No stored predictions"


class PredictionsCorrupt(ServiceError):
    """500: a stored prediction file no longer matches the digest recorded when it was written."""

    status = 500
    type = "urn:model-advisor:problem:artifact-corrupt"
    title = "Stored model does not match its digest"


def _thin(values: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced entries of ``values``, the first and last kept."""
    if len(values) <= most:
        return values
    return values[np.unique(np.linspace(0, len(values) - 1, most).round().astype(int))]


def _roc(positive: np.ndarray, score: np.ndarray, label: str) -> RocCurveRead:
    from sklearn.metrics import auc, roc_curve

    if positive.all() or not positive.any():
        return RocCurveRead(label=label, fpr=[], tpr=[], auc=None)
    fpr, tpr, _ = roc_curve(positive, score)
    area = float(auc(fpr, tpr))
    keep = _thin(np.arange(len(fpr)), MAX_ROC_POINTS)
    return RocCurveRead(
        label=label, fpr=[round(float(v), 5) for v in fpr[keep]], tpr=[round(float(v), 5) for v in tpr[keep]], auc=area
    )


def classification(
    pred: np.ndarray, target: np.ndarray, labels: list[str]
) -> tuple[ConfusionMatrixRead, list[RocCurveRead]]:
    """Confusion matrix (argmax of the probabilities) and ROC curves: one for the second class of a binary task,
    one per class (one-vs-rest) otherwise. ``pred`` holds probabilities in ``labels`` order; ``target`` codes."""
    k = len(labels)
    probs = np.asarray(pred, dtype=np.float64)
    if probs.ndim == 1 or probs.shape[1] == 1:  # the positive class's probability alone
        p1 = probs.reshape(-1)
        probs = np.column_stack([1.0 - p1, p1])
    codes = np.asarray(target, dtype=np.int64)
    predicted = probs.argmax(axis=1)
    counts = np.bincount(codes * k + predicted, minlength=k * k).reshape(k, k)
    matrix = ConfusionMatrixRead(labels=labels, counts=counts.tolist())
    if k == 2:
        curves = [_roc(codes == 1, probs[:, 1], labels[1])]
    else:
        curves = [_roc(codes == c, probs[:, c], labels[c]) for c in range(k)]
    return matrix, curves


def residuals(pred: np.ndarray, target: np.ndarray, *, max_points: int = MAX_RESIDUAL_POINTS) -> ResidualsRead:
    """Predicted vs actual values (a seeded sample of ``max_points`` rows above that), with RMSE and MAE over all."""
    predicted = np.asarray(pred, dtype=np.float64).reshape(len(target), -1)[:, 0]
    actual = np.asarray(target, dtype=np.float64)
    error = predicted - actual
    n = len(actual)
    rows = np.arange(n)
    if n > max_points:
        rows = np.sort(np.random.default_rng(0).choice(n, size=max_points, replace=False))
    return ResidualsRead(
        predicted=[float(v) for v in predicted[rows]],
        actual=[float(v) for v in actual[rows]],
        n_rows=n,
        sampled=n > max_points,
        rmse=float(np.sqrt(np.mean(error**2))) if n else 0.0,
        mae=float(np.mean(np.abs(error))) if n else 0.0,
    )


def _checked(folder: Path, name: str, files: dict[str, str], job_id: str) -> Path:
    from trainers.artifacts import sha256_file

    path = folder / name
    if not path.is_file() or sha256_file(path) != files[name]:
        raise PredictionsCorrupt(f"The stored file {name} of job {job_id!r} does not match its SHA-256.", job_id=job_id)
    return path


def _evaluate(
    settings: Settings, job_id: str, task: str, result: JobResult, split: EvaluationSplit
) -> JobEvaluationRead:
    """Read and summarise the split's predictions (on a worker thread)."""
    files: dict[str, str] = dict(result.model.artifact.files)
    prefix = _PREFIX[split]
    pred_name, target_name = f"{prefix}_pred.npy", f"{prefix}_target.npy"
    if pred_name not in files or target_name not in files:
        raise PredictionsUnavailable(
            f"Job {job_id!r} stored no {split} predictions (its model predates them, or its kind stores none).",
            job_id=job_id,
        )
    root = settings.artifacts_dir.resolve()
    folder = (root / result.model_path).resolve()
    if not result.model_path or not folder.is_relative_to(root) or not folder.is_dir():
        raise PredictionsCorrupt(f"The model files of job {job_id!r} are missing.", job_id=job_id)
    pred = np.load(_checked(folder, pred_name, files, job_id), allow_pickle=False)
    target = np.load(_checked(folder, target_name, files, job_id), allow_pickle=False)
    validation = result.model.validation
    method = validation.method if validation is not None else None
    if split == "test":
        source = "the test split, predicted once by the served model"
    elif method == "kfold" and validation is not None:
        source = f"out-of-fold predictions of {validation.k}-fold cross-validation"
    elif method == "ensemble":
        source = "the ensemble's output on its members' validation rows"
    else:
        source = "the holdout validation split"
    out = JobEvaluationRead(job_id=job_id, task=task, split=split, source=source, n_rows=len(target))
    if task == "regression":
        out.residuals = residuals(pred, target)
        return out
    classes: list[Any] = []
    if "schema.json" in files:
        schema = json.loads(_checked(folder, "schema.json", files, job_id).read_text())
        classes = list(schema.get("classes") or [])
    k = pred.shape[1] if pred.ndim == 2 and pred.shape[1] > 1 else 2
    labels = [str(c) for c in classes] if len(classes) == k else [str(i) for i in range(k)]
    out.classes = labels
    out.confusion_matrix, out.roc = classification(pred, target, labels)
    return out


async def evaluate(
    *, db: Database, settings: Settings, tenant_id: str, id: str, split: EvaluationSplit = "validation"
) -> JobEvaluationRead:
    """The tenant's job's plots as data for ``split``; 404 for another tenant's job, 409 without predictions."""
    job = await jobs_service.get(db=db, tenant_id=tenant_id, id=id)
    if job.result is None:
        raise PredictionsUnavailable(
            f"Job {id!r} has no model yet ({job.status}); its predictions are stored with its model.",
            job_id=id,
            job_status=job.status,
        )
    result: JobResult = job.result
    task = str(result.model.task or (job.params or {}).get("task") or "")
    if not task:
        task = await _task_of_dataset(db=db, tenant_id=tenant_id, dataset_id=job.dataset_id)
    return await run_in_threadpool(_evaluate, settings, job.id, task, result, split)


async def _task_of_dataset(*, db: Database, tenant_id: str, dataset_id: str | None) -> str:
    from service.services import datasets as datasets_service

    if dataset_id is None:
        raise PredictionsUnavailable("The job's dataset is gone, so its task is unknown.")
    return str((await datasets_service.get(db=db, tenant_id=tenant_id, id=dataset_id)).task)
