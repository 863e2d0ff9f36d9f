"""Batch predictions: a request too large to answer directly is stored, answered 202 + Location, and predicted
in the background by a small thread pool of the API process; its result is a JSON-lines file to download.

Layout under ``settings.data_dir``::

    predictions/<job id>/<batch id>/input.bin | input.json   the request's file or JSON body, as received
    predictions/<job id>/<batch id>/result.jsonl             one line per sample, in input order

Deleting the job deletes its batches (rows by foreign key, files with the job's folder).

The row (``prediction_batches``) is the truth about a batch. Prediction runs in chunks and each chunk moves
``n_done`` and ``updated_at``; a ``running`` batch that has not moved for ``predict_batch_stale_s`` was left
by a process that stopped, and is marked failed when read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Job, PredictionBatch
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.errors import Conflict, NotFound, ServiceError
from service.repositories import datasets as datasets_repo
from service.repositories import jobs as jobs_repo
from service.schemas.predictions import PredictionBatchRead, PredictionCreate
from service.services import predictions
from service.settings import Settings

log = logging.getLogger(__name__)

CHUNK_ROWS = 4096
RESULT_FILE = "result.jsonl"
ROOT = "predictions"


class ServerStopping(ServiceError):
    """The process stopped while a batch was waiting or running."""

    status = 503
    type = "urn:model-advisor:problem:server-stopping"
    title = "The server stopped"


class BatchPool:
    """The threads that run batch predictions in this process (made by the app's lifespan).

    On close, a running batch stops at its next chunk and every batch not finished here is marked failed, so a
    graceful restart leaves none waiting forever.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._pool = ThreadPoolExecutor(settings.predict_batch_workers, thread_name_prefix="predict-batch")
        self._stopping = threading.Event()
        self._open: set[str] = set()
        self._lock = threading.Lock()

    async def start(
        self,
        *,
        tenant_id: str,
        job: Job,
        n_rows: int | None,
        upload_path: Path | None = None,
        filename: str | None = None,
        json_body: bytes | None = None,
    ) -> PredictionBatchRead:
        """Keep the input, record the batch and hand it to this pool; the batch as first stored."""
        batch_id = new_id()
        folder = _folder(self.settings, job.id, batch_id)
        folder.mkdir(parents=True)
        try:
            if upload_path is not None:
                shutil.move(upload_path, folder / "input.bin")
                kind = "file"
            else:
                (folder / "input.json").write_bytes(json_body or b"")
                kind = "json"
            now = utcnow()
            row = PredictionBatch(
                id=batch_id,
                created_at=now,
                updated_at=now,
                tenant_id=tenant_id,
                job_id=job.id,
                status="queued",
                input_kind=kind,
                filename=(filename or "")[:255] or None,
                storage_path=folder.relative_to(self.settings.data_dir).as_posix(),
                n_rows=n_rows,
                n_done=0,
            )
            await self.db.run(_add, batch=row)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.submit(batch_id)
        return to_read(row)

    def submit(self, batch_id: str) -> None:
        """Predict batch ``batch_id`` on a pool thread."""
        with self._lock:
            self._open.add(batch_id)
        self._pool.submit(self._run, batch_id)

    def _run(self, batch_id: str) -> None:
        try:
            run(self.db, self.settings, batch_id, should_stop=self._stopping.is_set)
        finally:
            with self._lock:
                self._open.discard(batch_id)

    def close(self) -> None:
        """Stop: the running batches end at their next chunk, the waiting ones are not started; both fail."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        error = _failure(ServerStopping("The server stopped before this batch finished; send the request again."))
        for batch_id in sorted(self._open):
            self.db.call(_update, id=batch_id, values={"status": "failed", "error": error, "finished_at": utcnow()})


# -- rows ---------------------------------------------------------------------------------------------------------
def _add(*, session: Session, batch: PredictionBatch) -> None:
    session.add(batch)


def _get(*, session: Session, id: str, job_id: str | None, tenant_id: str | None) -> PredictionBatch | None:
    """The batch ``id`` (of job ``job_id`` and tenant ``tenant_id`` when given; None: the runner's view)."""
    query = select(PredictionBatch).where(PredictionBatch.id == id)
    if job_id is not None:
        query = query.where(PredictionBatch.job_id == job_id)
    if tenant_id is not None:
        query = query.where(PredictionBatch.tenant_id == tenant_id)
    row: PredictionBatch | None = session.scalars(query).one_or_none()
    return row


def _update(*, session: Session, id: str, values: dict[str, Any]) -> None:
    row = session.get(PredictionBatch, id)
    if row is not None:
        for key, value in {**values, "updated_at": utcnow()}.items():
            setattr(row, key, value)


def job_folder(settings: Settings, job_id: str) -> Path:
    """Where a job's batch predictions are kept."""
    return settings.data_dir / ROOT / job_id


def _folder(settings: Settings, job_id: str, batch_id: str) -> Path:
    return job_folder(settings, job_id) / batch_id


def to_read(row: PredictionBatch) -> PredictionBatchRead:
    """The API view of a batch."""
    summary = row.summary or {}
    done = row.status == "succeeded"
    return PredictionBatchRead(
        id=row.id,
        job_id=row.job_id,
        status=row.status,
        n_rows=row.n_rows,
        n_done=row.n_done,
        task=summary.get("task"),
        classes=summary.get("classes"),
        warnings=list(summary.get("warnings") or []),
        result_url=f"/v1/jobs/{row.job_id}/predictions/{row.id}/result" if done else None,
        result_sha256=summary.get("sha256") if done else None,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def location(row: PredictionBatchRead) -> str:
    """Where a batch is polled."""
    return f"/v1/jobs/{row.job_id}/predictions/{row.id}"


# -- API ----------------------------------------------------------------------------------------------------------
async def get(*, db: Database, settings: Settings, tenant_id: str, job_id: str, id: str) -> PredictionBatchRead:
    """The tenant's batch ``id`` of job ``job_id`` (404 otherwise); a stale running one reads as failed."""
    row = await db.run(_get, id=id, job_id=job_id, tenant_id=tenant_id, write=False)
    if row is None:
        raise NotFound(f"Job {job_id!r} has no batch prediction {id!r}.")
    stale = utcnow() - timedelta(seconds=settings.predict_batch_stale_s)
    if row.status == "running" and row.updated_at < stale:
        error = {"detail": "The process predicting this batch stopped; send the request again."}
        await db.run(_update, id=row.id, values={"status": "failed", "error": error, "finished_at": utcnow()})
        row.status, row.error = "failed", error
    return to_read(row)


async def result_path(*, db: Database, settings: Settings, tenant_id: str, job_id: str, id: str) -> tuple[Path, str]:
    """The result file of a succeeded batch and its SHA-256 (409 while it is not done)."""
    batch = await get(db=db, settings=settings, tenant_id=tenant_id, job_id=job_id, id=id)
    if batch.status != "succeeded":
        raise Conflict(f"Batch prediction {id!r} has no result ({batch.status}).", batch_status=batch.status)
    return _folder(settings, job_id, id) / RESULT_FILE, str(batch.result_sha256)


# -- the work -----------------------------------------------------------------------------------------------------
def _line(i: int, prediction: Any, probabilities: list[float] | None, sample_id: str | None) -> str:
    line: dict[str, Any] = {"row": i, "prediction": prediction}
    if probabilities is not None:
        line["probabilities"] = probabilities
    if sample_id is not None:
        line["id"] = sample_id
    return json.dumps(line, allow_nan=False, separators=(",", ":"))


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ServiceError):
        error: dict[str, Any] = {"status": exc.status, "type": exc.type, "detail": exc.detail}
        for key in ("column", "columns", "expected"):
            if key in exc.extensions:
                error[key] = exc.extensions[key]
        return error
    return {"status": 500, "detail": "The batch prediction failed on the server; the error is in the server log."}


def run(db: Database, settings: Settings, batch_id: str, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Predict one batch: read its input as a direct request would, predict chunk by chunk, write the result.

    ``should_stop`` is asked before every chunk; when it turns true the batch fails as stopped."""
    row = db.call(_get, id=batch_id, job_id=None, tenant_id=None, write=False)
    if row is None or row.status != "queued":
        return
    folder = _folder(settings, row.job_id, batch_id)
    db.call(_update, id=batch_id, values={"status": "running"})
    try:
        job = db.call(jobs_repo.get, id=row.job_id, tenant_id=row.tenant_id, write=False)
        if job is None:
            raise NotFound(f"Job {row.job_id!r} is gone.")
        dataset = db.call(datasets_repo.get, id=job.dataset_id, tenant_id=row.tenant_id, write=False)
        target = predictions.target_of(job, dataset)
        model = target.model(settings)
        if row.input_kind == "json":
            body = PredictionCreate.model_validate_json((folder / "input.json").read_bytes())
            inputs = predictions.json_inputs(target, model, body)
        else:
            inputs = predictions.file_inputs(target, model, folder / "input.bin", row.filename)
        n = len(inputs)
        db.call(_update, id=batch_id, values={"n_rows": n})
        warnings = list(inputs.warnings)
        classes: list[Any] | None = None
        digest = hashlib.sha256()
        partial = folder / (RESULT_FILE + ".part")
        with partial.open("w", encoding="utf-8") as out:
            for start in range(0, n, CHUNK_ROWS):
                if should_stop():
                    raise ServerStopping("The server stopped while predicting this batch; send the request again.")
                chunk = inputs.data[start : start + CHUNK_ROWS]
                chunk_warnings: list[str] = []
                output = predictions.output_of(model, chunk, chunk_warnings)
                warnings.extend(w for w in chunk_warnings if w not in warnings)
                labels, classes, probabilities = predictions.labels_of(model, output)
                ids = inputs.ids[start : start + CHUNK_ROWS] if inputs.ids is not None else None
                text = "".join(
                    _line(
                        start + k,
                        label,
                        probabilities[k] if probabilities is not None else None,
                        ids[k] if ids is not None else None,
                    )
                    + "\n"
                    for k, label in enumerate(labels)
                )
                out.write(text)
                digest.update(text.encode())
                db.call(_update, id=batch_id, values={"n_done": start + len(labels)})
        os.replace(partial, folder / RESULT_FILE)
        summary = {
            "task": model.task_,
            "classes": classes if model.task_ != "regression" else None,
            "warnings": warnings,
            "sha256": digest.hexdigest(),
            "partial_model": bool(getattr(model, "partial_", False)),
        }
        db.call(_update, id=batch_id, values={"status": "succeeded", "summary": summary, "finished_at": utcnow()})
    except Exception as exc:
        if not isinstance(exc, ServiceError):
            log.exception("batch prediction %s failed", batch_id)
        db.call(_update, id=batch_id, values={"status": "failed", "error": _failure(exc), "finished_at": utcnow()})
