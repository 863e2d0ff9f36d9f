"""Predict with a job's model, applying exactly the training-time preprocessing (the stored schema/encoder).

Every model takes the forms its modality is uploaded in (see :mod:`trainers.predict_inputs`): table rows (JSON
``rows``, CSV, Parquet), images (``.npz`` with ``x``, a zip, one PNG/JPEG, JSON ``inputs``), sequences (``.npz``,
long-format CSV, JSON ``inputs``) and texts (CSV/Parquet with the text column, JSON ``inputs`` or ``rows``).
Requests above ``predict_batch_rows`` samples or ``predict_batch_bytes`` bytes become batch predictions
(:mod:`service.services.prediction_batches`).

Models are loaded only from the job's artifact folder, which the service wrote, after every file's SHA-256
is checked against the manifest and the manifest against the digest stored with the job; a loaded model is
kept in a small per-process cache keyed by job id and digest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.db.models import Job
from service.db.session import Database
from service.errors import BadRequest, Conflict, InvalidInput, NotFound
from service.repositories import datasets as datasets_repo
from service.repositories import jobs as jobs_repo
from service.schemas.predictions import MAX_JSON_ROWS, PredictionBatchRead, PredictionCreate, PredictionRead
from service.services.datasets import DataProblem
from service.settings import Settings
from service.storage import Storage
from service.uploads import receive_multipart
from trainers.spec import ArtifactInfo

if TYPE_CHECKING:  # the pool runs batches with this module's functions: it imports this one
    from service.services.prediction_batches import BatchPool

_CACHE_SIZE = 8
# explain=true answers directly only: at most this many samples (each carries one number per column and class).
EXPLAIN_MAX_ROWS = 1_000
_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


def _load(settings: Settings, job_id: str, artifact: ArtifactInfo) -> Any:
    from trainers.registry import get_trainer

    key = (job_id, artifact.sha256)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    root = settings.artifacts_dir.resolve()
    folder = (root / artifact.directory).resolve()
    if not folder.is_relative_to(root):
        raise Conflict(f"The model files of job {job_id!r} are not where the service keeps them.")
    trainer_cls = get_trainer(artifact.trainer)
    model = trainer_cls.load(folder, n_threads=settings.threads_per_job or 1, expected_sha256=artifact.sha256)
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


@dataclass(frozen=True)
class Target:
    """A job whose model predicts, and what its dataset recorded about the training inputs."""

    job_id: str
    model_name: str
    artifact: ArtifactInfo  # its directory is relative to the artifacts folder
    dataset_modality: str
    dataset_details: dict[str, Any]

    def model(self, settings: Settings) -> Any:
        """The loaded model (cached)."""
        return _load(settings, self.job_id, self.artifact)

    def spec(self, model: Any) -> Any:
        """What the model takes (:class:`trainers.predict_inputs.ModelInput`)."""
        from trainers.predict_inputs import model_input

        return model_input(model, self.dataset_modality, self.dataset_details)


def target_of(job: Job, dataset: Any) -> Target:
    """The prediction target of a job row that has a model (``Conflict`` otherwise)."""
    if job.result is None:
        raise Conflict(f"Job {job.id!r} has no model yet ({job.status}).", job_status=job.status)
    return Target(
        job_id=job.id,
        model_name=job.model,
        artifact=job.result.model.artifact,
        dataset_modality=str(getattr(dataset, "modality", None) or "tabular"),
        dataset_details=dict(getattr(dataset, "details", None) or {}),
    )


async def _target(db: Database, tenant_id: str, id: str) -> tuple[Job, Target]:
    job = await db.run(jobs_repo.get, id=id, tenant_id=tenant_id, write=False)
    if job is None:
        raise NotFound(f"There is no job with id {id!r}.")
    dataset = await db.run(datasets_repo.get, id=job.dataset_id, tenant_id=tenant_id, write=False)
    return job, target_of(job, dataset)


# -- predicting ---------------------------------------------------------------------------------------------------
def output_of(model: Any, data: Any, warnings: list[str]) -> np.ndarray:
    """Model output for prepared samples (a frame is typed by the stored schema; 422 naming the columns)."""
    from trainers.preprocess import SchemaMismatch

    try:
        return np.asarray(model.predict_output(data, warnings=warnings))
    except SchemaMismatch as exc:
        detail = f"Column {exc.column!r}: {exc.reason}." if len(exc.columns) == 1 else f"{exc.reason}."
        raise InvalidInput(
            detail,
            errors=[{"loc": ["body", "rows", c], "msg": exc.reason, "type": "schema_mismatch"} for c in exc.columns],
            column=exc.column,
            columns=exc.columns,
        ) from exc
    except ValueError as exc:
        if getattr(model, "modality_", "tabular") == "tabular":
            raise
        # The array encoders' own checks (check_array, image size, features per step): the sample is wrong.
        raise InvalidInput(f"The input does not fit the model: {exc}.") from exc


def labels_of(model: Any, output: np.ndarray) -> tuple[list[Any], list[Any] | None, list[list[float]] | None]:
    """Predictions, classes and rounded probabilities of a model output (values only for regression)."""
    if model.task_ == "regression":
        return [float(v) for v in output.reshape(-1)], None, None
    classes = list(model.schema_.classes)
    return [classes[i] for i in output.argmax(axis=1)], classes, np.round(output, 6).tolist()


def _answer(target: Target, model: Any, inputs: Any, explain: bool = False) -> PredictionRead:
    warnings = list(inputs.warnings)
    output = output_of(model, inputs.data, warnings)
    predictions, classes, probabilities = labels_of(model, output)
    contributions = None
    if explain:
        from trainers.explain import contributions as explain_rows

        contributions = explain_rows(model, inputs.data)
    return PredictionRead(
        job_id=target.job_id,
        model=target.model_name,
        task=model.task_,
        n_rows=len(inputs),
        predictions=predictions,
        classes=classes,
        probabilities=probabilities,
        partial_model=bool(getattr(model, "partial_", False)),
        warnings=warnings,
        ids=inputs.ids,
        contributions=contributions,
    )


def _data_problem(fn: Any, *args: Any) -> Any:
    from trainers.errors import DataError

    try:
        return fn(*args)
    except DataError as exc:
        raise DataProblem(exc) from exc


def json_inputs(target: Target, model: Any, body: PredictionCreate) -> Any:
    """The samples of a JSON body, prepared as the model's training data was."""
    import pandas as pd

    from trainers.predict_inputs import Inputs, read_json, texts_from_frame

    spec = target.spec(model)
    if body.rows is not None:
        frame = pd.DataFrame.from_records(body.rows)
        if spec.modality == "text":
            warnings: list[str] = []
            return Inputs(_data_problem(texts_from_frame, frame, spec, warnings), None, warnings)
        if spec.modality != "tabular":
            raise InvalidInput(
                f'This model takes {spec.describe()}: send them as {{"inputs": [...]}} or as a file.',
                expected=spec.reads,
            )
        return Inputs(frame)
    return _data_problem(read_json, body.inputs, spec)


def file_inputs(target: Target, model: Any, path: Path, filename: str | None) -> Any:
    """The samples of an uploaded file, read as uploads of the model's modality are."""
    from trainers.predict_inputs import read_file

    return _data_problem(read_file, path, filename, target.spec(model))


def _too_many_to_explain(n: int | None) -> InvalidInput:
    many = f"{n} samples" if n is not None else "a file this large"
    return InvalidInput(
        f"explain=true answers at most {EXPLAIN_MAX_ROWS} samples directly, not {many} (nor as a batch "
        "prediction): send fewer rows, or predict without explain=true.",
        errors=[{"loc": ["query", "explain"], "msg": "too many samples to explain", "type": "too_many_to_explain"}],
        limit=EXPLAIN_MAX_ROWS,
    )


def _predict_json(settings: Settings, target: Target, body: PredictionCreate, explain: bool = False) -> PredictionRead:
    model = target.model(settings)
    return _answer(target, model, json_inputs(target, model, body), explain)


def _predict_file(
    settings: Settings, target: Target, path: Path, filename: str | None, explain: bool = False
) -> PredictionRead | int:
    """The answer, or the number of samples when there are more than a request answers directly."""
    model = target.model(settings)
    inputs = file_inputs(target, model, path, filename)
    if explain and len(inputs) > EXPLAIN_MAX_ROWS:
        raise _too_many_to_explain(len(inputs))
    if len(inputs) > settings.predict_batch_rows:
        return len(inputs)
    return _answer(target, model, inputs, explain)


async def predict_json(
    *,
    db: Database,
    settings: Settings,
    tenant_id: str,
    id: str,
    body: PredictionCreate,
    batches: BatchPool,
    force_batch: bool = False,
    explain: bool = False,
) -> PredictionRead | PredictionBatchRead:
    """Predict a JSON body; a batch prediction when it holds more than ``predict_batch_rows`` samples. With
    ``explain``, each row's contributions too (at most :data:`EXPLAIN_MAX_ROWS` samples, never as a batch)."""
    job, target = await _target(db, tenant_id, id)
    if explain and (force_batch or body.n_samples > EXPLAIN_MAX_ROWS):
        raise _too_many_to_explain(body.n_samples)
    if force_batch or body.n_samples > settings.predict_batch_rows:
        return await batches.start(
            tenant_id=tenant_id,
            job=job,
            json_body=body.model_dump_json().encode(),
            n_rows=body.n_samples,
        )
    return await run_in_threadpool(_predict_json, settings, target, body, explain)


async def predict_upload(
    *,
    db: Database,
    settings: Settings,
    tenant_id: str,
    id: str,
    request: Request,
    batches: BatchPool,
    force_batch: bool = False,
    explain: bool = False,
) -> PredictionRead | PredictionBatchRead:
    """Predict an uploaded file (multipart field ``file``), read as uploads of the model's modality are; a
    batch prediction above ``predict_batch_bytes`` bytes or ``predict_batch_rows`` samples. With ``explain``,
    each row's contributions too (at most :data:`EXPLAIN_MAX_ROWS` samples, never as a batch)."""
    job, target = await _target(db, tenant_id, id)
    if explain and force_batch:
        raise _too_many_to_explain(None)
    storage = Storage(settings.data_dir)
    with storage.scratch() as scratch:
        upload = await receive_multipart(request, dest=scratch / "rows.bin", limit=settings.max_upload_bytes)
        if upload.file_path is None:
            raise BadRequest(
                "The form has no 'file' part: send the samples as file=<CSV, Parquet, .npz, zip or PNG/JPEG>."
            )
        n_rows: int | None = None
        if explain and upload.size > settings.predict_batch_bytes:
            raise _too_many_to_explain(None)
        if not force_batch and upload.size <= settings.predict_batch_bytes:
            answer = await run_in_threadpool(
                _predict_file, settings, target, upload.file_path, upload.filename, explain
            )
            if isinstance(answer, PredictionRead):
                return answer
            n_rows = answer
        return await batches.start(
            tenant_id=tenant_id,
            job=job,
            upload_path=upload.file_path,
            filename=upload.filename,
            n_rows=n_rows,
        )


__all__ = ["MAX_JSON_ROWS", "predict_json", "predict_upload"]
