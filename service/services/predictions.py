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
from service.services.datasets import DataProblem
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


def _tabular_model(settings: Settings, job_id: str, artifact: dict[str, Any]) -> Any:
    model = _load(settings, job_id, artifact)
    if getattr(model, "schema_", None) is None or not hasattr(model.schema_, "columns"):
        raise Conflict(f"Job {job_id!r} trained on non-tabular data; predictions take table rows only.")
    return model


def _predict(settings: Settings, job_id: str, model_name: str, artifact: dict[str, Any], frame: Any) -> PredictionRead:
    """Predict ``frame`` with the job's model; its stored schema types every column (``apply_schema``)."""
    from trainers.preprocess import SchemaMismatch

    model = _tabular_model(settings, job_id, artifact)
    warnings: list[str] = []
    try:
        output = np.asarray(model.predict_output(frame, warnings=warnings))
    except SchemaMismatch as exc:
        detail = f"Column {exc.column!r}: {exc.reason}." if len(exc.columns) == 1 else f"{exc.reason}."
        raise InvalidInput(
            detail,
            errors=[{"loc": ["body", "rows", c], "msg": exc.reason, "type": "schema_mismatch"} for c in exc.columns],
            column=exc.column,
            columns=exc.columns,
        ) from exc
    task = model.task_
    partial = bool(getattr(model, "partial_", False))
    if task == "regression":
        return PredictionRead(
            job_id=job_id,
            model=model_name,
            task=task,
            n_rows=len(frame),
            predictions=[float(v) for v in output.reshape(-1)],
            partial_model=partial,
            warnings=warnings,
        )
    classes = list(model.schema_.classes)
    labels = [classes[i] for i in output.argmax(axis=1)]
    return PredictionRead(
        job_id=job_id,
        model=model_name,
        task=task,
        n_rows=len(frame),
        predictions=labels,
        classes=classes,
        probabilities=np.round(output, 6).tolist(),
        partial_model=partial,
        warnings=warnings,
    )


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


def _read_table(path: Path, known_columns: list[str]) -> Any:
    """The rows of an uploaded file, read as uploads are (sniffed CSV dialect: delimiter, header, decimal
    comma, BOM; or Parquet), so that the same text reaches the same column typing."""
    from trainers.errors import DataError
    from trainers.ingest.csv_tabular import read_csv, read_parquet

    with open(path, "rb") as fh:
        magic = fh.read(4)
    try:
        table = read_parquet(path) if magic == b"PAR1" else read_csv(path, target=None, known_columns=known_columns)[0]
    except DataError as exc:
        raise DataProblem(exc) from exc
    return table.to_pandas()


def _predict_file(
    settings: Settings, job_id: str, model_name: str, artifact: dict[str, Any], path: Path
) -> PredictionRead:
    model = _tabular_model(settings, job_id, artifact)
    frame = _read_table(path, model.schema_.feature_names)
    return _predict(settings, job_id, model_name, artifact, frame)


async def predict_upload(
    *, db: Database, settings: Settings, tenant_id: str, id: str, request: Request
) -> PredictionRead:
    """Predict the rows of an uploaded CSV or Parquet file (multipart field ``file``), read as uploads are."""
    model_name, artifact = await _job_artifact(db, tenant_id, id)
    storage = Storage(settings.data_dir)
    with storage.scratch() as scratch:
        upload = await receive_multipart(request, dest=scratch / "rows.bin", limit=settings.max_upload_bytes)
        if upload.file_path is None:
            raise BadRequest("The form has no 'file' part: send the rows as file=<CSV or Parquet>.")
        return await run_in_threadpool(_predict_file, settings, id, model_name, artifact, upload.file_path)


__all__ = ["MAX_JSON_ROWS", "predict_json", "predict_upload"]
