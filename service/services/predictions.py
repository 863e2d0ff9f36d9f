"""Predict with a job's model, applying exactly the training-time preprocessing (the stored schema).

Models are loaded only from the job's artifact folder, which the service wrote, after every file's SHA-256
is checked against the manifest and the manifest against the digest stored with the job; a loaded model is
kept in a small per-process cache keyed by job id and digest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.db.session import Database
from service.errors import BadRequest, Conflict, InvalidInput
from service.schemas.predictions import MAX_JSON_ROWS, PredictionRead
from service.services import jobs as jobs_service
from service.settings import Settings
from service.storage import Storage
from service.uploads import receive_multipart

_CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


def _load(settings: Settings, job_id: str, artifact: dict[str, Any]) -> Any:
    from trainers.registry import get_trainer

    key = (job_id, str(artifact["sha256"]))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    root = settings.artifacts_dir.resolve()
    folder = (root / str(artifact["path"])).resolve()
    if not folder.is_relative_to(root):
        raise Conflict(f"The model files of job {job_id!r} are not where the service keeps them.")
    trainer_cls = get_trainer(str(artifact["trainer"]))
    model = trainer_cls.load(folder, n_threads=settings.threads_per_job or 1, expected_sha256=artifact["sha256"])
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def _predict(settings: Settings, job_id: str, model_name: str, artifact: dict[str, Any], frame: Any) -> PredictionRead:
    from trainers.preprocess import SchemaMismatch

    model = _load(settings, job_id, artifact)
    if getattr(model, "schema_", None) is None or not hasattr(model.schema_, "columns"):
        raise Conflict(f"Job {job_id!r} trained on non-tabular data; predictions take table rows only.")
    try:
        output = np.asarray(model.predict_output(frame))
    except SchemaMismatch as exc:
        raise InvalidInput(
            f"Column {exc.column!r}: {exc.reason}.",
            errors=[{"loc": ["body", "rows", exc.column], "msg": exc.reason, "type": "schema_mismatch"}],
            column=exc.column,
        ) from exc
    task = model.task_
    partial = bool(getattr(model, "partial_", False))
    if task == "regression":
        return PredictionRead(job_id=job_id, model=model_name, task=task, n_rows=len(frame),
                              predictions=[float(v) for v in output.reshape(-1)], partial_model=partial)
    classes = list(model.schema_.classes)
    labels = [classes[i] for i in output.argmax(axis=1)]
    return PredictionRead(job_id=job_id, model=model_name, task=task, n_rows=len(frame), predictions=labels,
                          classes=classes, probabilities=np.round(output, 6).tolist(), partial_model=partial)


async def _job_artifact(db: Database, tenant_id: str, id: str) -> tuple[str, dict[str, Any]]:
    job = await jobs_service.get(db=db, tenant_id=tenant_id, id=id)
    if not job.artifact:
        raise Conflict(f"Job {id!r} has no model yet ({job.status}).", job_status=job.status)
    return job.model, job.artifact


async def predict_json(
    *, db: Database, settings: Settings, tenant_id: str, id: str, rows: list[dict[str, Any]]
) -> PredictionRead:
    """Predict JSON rows."""
    import pandas as pd

    model_name, artifact = await _job_artifact(db, tenant_id, id)
    frame = pd.DataFrame.from_records(rows)
    return await run_in_threadpool(_predict, settings, id, model_name, artifact, frame)


def _read_table(path: Path, filename: str | None) -> Any:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        magic = fh.read(4)
    try:
        table = pq.read_table(path) if magic == b"PAR1" else pa_csv.read_csv(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends for unreadable input
        raise BadRequest(f"The file could not be read as CSV or Parquet: {str(exc).splitlines()[0][:200]}") from exc
    if table.num_rows == 0:
        raise BadRequest("The file has no rows.")
    return table.to_pandas()


async def predict_upload(
    *, db: Database, settings: Settings, tenant_id: str, id: str, request: Request
) -> PredictionRead:
    """Predict the rows of an uploaded CSV or Parquet file (multipart field ``file``)."""
    model_name, artifact = await _job_artifact(db, tenant_id, id)
    storage = Storage(settings.data_dir)
    with storage.scratch() as scratch:
        upload = await receive_multipart(request, dest=scratch / "rows.bin", limit=settings.max_upload_bytes)
        if upload.file_path is None:
            raise BadRequest("The form has no 'file' part: send the rows as file=<CSV or Parquet>.")
        frame = await run_in_threadpool(_read_table, upload.file_path, upload.filename)
        return await run_in_threadpool(_predict, settings, id, model_name, artifact, frame)


__all__ = ["MAX_JSON_ROWS", "predict_json", "predict_upload"]
