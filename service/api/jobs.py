"""/v1/jobs"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from service.auth import PrincipalDep
from service.deps import DatabaseDep, JSONBody, SettingsDep
from service.errors import UnsupportedMediaType, problem_responses
from service.jobs.engine import JobEngine
from service.jobs.states import STATUSES, JobStatus, is_terminal
from service.schemas.common import ID_PATTERN, TEXT_PATTERN
from service.schemas.jobs import JobCreate, JobMetricList, JobMetricRead, JobPage, JobRead
from service.schemas.predictions import PredictionBatchRead, PredictionCreate, PredictionRead
from service.services import exports, prediction_batches, predictions
from service.services import jobs as service
from service.services.prediction_batches import BatchPool
from service.views import jobs as views

PREFIX = views.PREFIX
router = APIRouter(prefix=PREFIX, tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


async def get_engine(request: Request) -> JobEngine:
    """The job engine the app's lifespan started."""
    engine: JobEngine = request.app.state.jobs
    return engine


EngineDep = Annotated[JobEngine, Depends(get_engine)]


def _retry_after(job: JobRead) -> str:
    # A first poll soon after a small job may already see it done; long jobs are still fine at 2 s.
    return "1" if job.status == "queued" else "2"


@router.post(
    "",
    status_code=202,
    response_model=JobRead,
    dependencies=[JSONBody],
    responses=problem_responses(400, 404, 409, 415, 422),
)
async def create_job(
    body: JobCreate,
    db: DatabaseDep,
    settings: SettingsDep,
    engine: EngineDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="Repeat a request safely: the same key and body return the first job.",
        ),
    ] = None,
) -> Response:
    """Queue a training job for a dataset: a recommendation's candidate (default: the first) or an explicit spec."""
    row, replayed = await service.create(
        db=db,
        settings=settings,
        queue=engine.queue,
        tenant_id=principal.tenant_id,
        data=body,
        idempotency_key=idempotency_key,
    )
    read = views.to_read(row)
    headers = {"Location": f"{PREFIX}/{row.id}", "Retry-After": _retry_after(read)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(read.model_dump_json(), status_code=202, media_type="application/json", headers=headers)


@router.get("", response_model=JobPage, responses=problem_responses(422))
async def list_jobs(
    db: DatabaseDep,
    principal: PrincipalDep,
    status: Annotated[JobStatus | None, Query(description=f"One of {', '.join(STATUSES)}.")] = None,
    dataset_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
) -> JobPage:
    """List jobs, newest first, optionally by status and dataset (curves are left out; get the job for them)."""
    rows, next_cursor = await service.list_page(
        db=db, tenant_id=principal.tenant_id, limit=limit, cursor=cursor, status=status, dataset_id=dataset_id
    )
    return JobPage(items=[views.to_read(r, include_curves=False) for r in rows], next_cursor=next_cursor)


@router.get("/{id}", response_model=JobRead, responses=problem_responses(404, 422))
async def get_job(id: JobId, db: DatabaseDep, principal: PrincipalDep) -> Response:
    """Return a job: status and progress, and once done its metrics, baseline, curves, diagnosis and model link."""
    job = await service.get(db=db, tenant_id=principal.tenant_id, id=id)
    read = views.to_read(job)
    if job.callback_url:
        read.webhook_deliveries = await service.webhook_deliveries(db=db, job_id=job.id)
    headers = {} if is_terminal(read.status) else {"Retry-After": _retry_after(read)}
    return Response(read.model_dump_json(), media_type="application/json", headers=headers)


@router.post("/{id}/cancel", response_model=JobRead, responses=problem_responses(404, 409, 422))
async def cancel_job(id: JobId, db: DatabaseDep, principal: PrincipalDep) -> Response:
    """Cancel a job: a queued one at once (200), a running one within about a second (202, best model kept)."""
    read = views.to_read(await service.cancel(db=db, tenant_id=principal.tenant_id, id=id))
    return Response(
        read.model_dump_json(), status_code=202 if read.status == "running" else 200, media_type="application/json"
    )


@router.delete("/{id}", status_code=204, responses=problem_responses(404, 409, 422))
async def delete_job(id: JobId, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Delete a finished job with its metrics and model files (cancel a running one first)."""
    await service.delete(db=db, settings=settings, tenant_id=principal.tenant_id, id=id)
    return Response(status_code=204)


@router.get(
    "/{id}/model",
    response_model=None,
    responses={
        200: {
            "content": {"application/zip": {}, "application/octet-stream": {}},
            "description": "format=zip: the model's files, zipped. format=onnx: one ONNX graph; its input is "
            "X float32 [N, n_features] (tabular: the schema's columns in order, NaN = missing, categorical "
            "columns as the index of their level, -1 = missing or unseen), images uint8 [N, H, W, C] or sequences "
            "float32 [N, T, F]; its "
            "output is probabilities [N, k] in the schema's class order, or values [N, 1]. Headers "
            "X-ONNX-Inputs, X-ONNX-Outputs, X-ONNX-Feature-Columns and X-ONNX-Classes say the same; the model's "
            "doc_string and metadata_props spell it out.",
        },
        **problem_responses(404, 409, 422, 500),
    },
)
async def download_model(
    id: JobId,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    format: Annotated[
        Literal["zip", "onnx"],
        Query(description="zip (default): the safe-format files; onnx: an ONNX graph, 409 where none exists."),
    ] = "zip",
) -> FileResponse:
    """Download the trained model: a zip of the safe-format model, schema.json, meta.json and manifest.json
    (default), or with ``format=onnx`` the model as one ONNX graph (409 problem+json saying why if it cannot be)."""
    if format == "onnx":
        exported, job = await exports.onnx_file(db=db, settings=settings, tenant_id=principal.tenant_id, id=id)
        return FileResponse(
            exported.path,
            media_type="application/octet-stream",
            filename=f"{job.id}-{job.trainer}.onnx",
            headers={
                "X-Content-SHA256": exported.sha256,
                "X-Artifact-SHA256": str(job.result.model.artifact.sha256 if job.result else None),
                "X-Artifact-Format": "onnx",
                **exports.describe_io(exported.summary),
            },
        )
    path, job = await service.model_file(db=db, settings=settings, tenant_id=principal.tenant_id, id=id)
    assert job.result is not None  # model_file refuses a job without a model
    artifact = job.result.model.artifact
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{job.id}-{job.trainer}.zip",
        headers={
            "X-Content-SHA256": str(job.result.zip.sha256),
            "X-Artifact-SHA256": artifact.sha256,
            "X-Artifact-Format": artifact.format,
        },
    )


@router.get("/{id}/metrics", response_model=JobMetricList, responses=problem_responses(404, 422))
async def list_metrics(
    id: JobId,
    db: DatabaseDep,
    principal: PrincipalDep,
    run: Annotated[str | None, Query(pattern="^(model|baseline)$")] = None,
    key: Annotated[
        str | None, Query(max_length=200, pattern=TEXT_PATTERN, description="e.g. valid.logloss, test.roc_auc")
    ] = None,
) -> JobMetricList:
    """Return the job's logged metrics (key, value, step, timestamp), MLflow-style, for curves and export."""
    rows = await service.metrics(db=db, tenant_id=principal.tenant_id, id=id, run=run, key=key)
    return JobMetricList(
        items=[JobMetricRead(run=r.run, key=r.key, value=r.value, step=r.step, timestamp=r.timestamp) for r in rows]
    )


@router.get(
    "/{id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "progress events, then one end event"},
        **problem_responses(404, 422),
    },
)
async def job_events(
    id: JobId, request: Request, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
) -> StreamingResponse:
    """Stream the job's progress as Server-Sent Events until it ends (a final `end` event carries the job)."""
    await service.get(db=db, tenant_id=principal.tenant_id, id=id)  # 404 before the stream starts
    stream = service.events(
        db=db, settings=settings, tenant_id=principal.tenant_id, id=id, is_disconnected=request.is_disconnected
    )
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": PredictionCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The samples in an upload form of the model's "
                            "modality: CSV or Parquet rows (tables, texts, long-format "
                            "sequences), an .npz with x (images, sequences), a zip of "
                            "PNG/JPEG images or one PNG/JPEG.",
                        }
                    },
                }
            },
        },
    }
}
_BATCH_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {
        "model": PredictionBatchRead,
        "description": "Too large to answer directly: a batch prediction; poll Location, then download result_url.",
    }
}


@router.post(
    "/{id}/predictions",
    response_model=PredictionRead,
    openapi_extra=_PREDICT_BODY,
    responses={**_BATCH_RESPONSE, **problem_responses(400, 404, 409, 413, 415, 422)},
)
async def predict(
    id: JobId,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    mode: Annotated[
        Literal["auto", "batch"],
        Query(description="batch: always answer 202 with a batch prediction (auto: only above the thresholds)."),
    ] = "auto",
    explain: Annotated[
        bool,
        Query(
            description="Also return each row's contributions per input column to the model's margin (XGBoost and "
            "LightGBM SHAP values, coefficient x value for linear models; a plain reason for other models). "
            "At most 1,000 samples, answered directly."
        ),
    ] = False,
) -> Response:
    """Predict with the job's model, preprocessed exactly as in training: JSON `rows` (tables, texts) or `inputs`
    (images, sequences, texts), or a file in an upload form of the model's modality. Above
    `ADVISOR_PREDICT_BATCH_ROWS` samples or `ADVISOR_PREDICT_BATCH_BYTES` bytes the answer is 202 + Location of a
    batch prediction. `explain=true` adds per-row contributions."""
    batches: BatchPool = request.app.state.prediction_batches
    force = mode == "batch"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    answer: PredictionRead | PredictionBatchRead
    if content_type == "multipart/form-data":
        answer = await predictions.predict_upload(
            db=db,
            settings=settings,
            tenant_id=principal.tenant_id,
            id=id,
            request=request,
            batches=batches,
            force_batch=force,
            explain=explain,
        )
    elif content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = PredictionCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
        answer = await predictions.predict_json(
            db=db,
            settings=settings,
            tenant_id=principal.tenant_id,
            id=id,
            body=body,
            batches=batches,
            force_batch=force,
            explain=explain,
        )
    else:
        raise UnsupportedMediaType(
            'Send application/json ({"rows": [...]} or {"inputs": [...]}) or multipart/form-data (file=...).'
        )
    if isinstance(answer, PredictionBatchRead):
        return JSONResponse(
            answer.model_dump(mode="json"),
            status_code=202,
            headers={"Location": prediction_batches.location(answer), "Retry-After": "1"},
        )
    return JSONResponse(answer.body())


BatchId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


@router.get("/{id}/predictions/{batch_id}", response_model=PredictionBatchRead, responses=problem_responses(404, 422))
async def get_prediction_batch(
    id: JobId, batch_id: BatchId, response: Response, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
) -> PredictionBatchRead:
    """A batch prediction: status and progress, then `result_url` once it succeeded."""
    batch = await prediction_batches.get(
        db=db, settings=settings, tenant_id=principal.tenant_id, job_id=id, id=batch_id
    )
    if batch.status in ("queued", "running"):
        response.headers["Retry-After"] = "1"
    return batch


@router.get(
    "/{id}/predictions/{batch_id}/result",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "one JSON object per sample, in input order"},
        **problem_responses(404, 409, 422),
    },
)
async def get_prediction_batch_result(
    id: JobId, batch_id: BatchId, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
) -> FileResponse:
    """Download a succeeded batch prediction's result (JSON lines: row, prediction, probabilities, id)."""
    path, sha256 = await prediction_batches.result_path(
        db=db, settings=settings, tenant_id=principal.tenant_id, job_id=id, id=batch_id
    )
    return FileResponse(
        path,
        media_type="application/x-ndjson",
        filename=f"{batch_id}-predictions.jsonl",
        headers={"X-Content-SHA256": sha256},
    )
