"""/v1/datasets"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from service.auth import PrincipalDep
from service.deps import DatabaseDep, SettingsDep
from service.errors import UnsupportedMediaType, problem_responses
from service.schemas.common import ID_PATTERN
from service.schemas.datasets import DatasetMetadataCreate, DatasetPage, DatasetRead
from service.services import datasets as service
from service.storage import Storage

PREFIX = "/v1/datasets"
DatasetId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
router = APIRouter(prefix=PREFIX, tags=["datasets"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, Parquet, a zip of class folders, or an .npz with x and y.",
                        },
                        "target": {"type": "string", "description": "Column to predict (tables)."},
                        "task": {"type": "string", "enum": ["binary", "multiclass", "regression"]},
                        "modality": {"type": "string", "enum": ["tabular", "image", "text", "sequence"]},
                        "name": {"type": "string", "maxLength": 200},
                    },
                }
            },
            "application/json": {
                "schema": DatasetMetadataCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            },
        },
    }
}


def _created(row_read: DatasetRead, status: int) -> Response:
    return JSONResponse(
        row_read.model_dump(mode="json"), status_code=status, headers={"Location": f"{PREFIX}/{row_read.id}"}
    )


@router.post(
    "",
    status_code=201,
    response_model=DatasetRead,
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": DatasetRead, "description": "The same upload was stored before"},
        **problem_responses(400, 413, 415, 422),
    },
)
async def create_dataset(request: Request, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Upload a dataset (multipart: file + target) to be validated and profiled, or register one by its
    description (JSON: name + profile)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        storage = Storage(settings.data_dir)
        row, is_new = await service.create_from_upload(
            db=db,
            storage=storage,
            request=request,
            limit=settings.max_upload_bytes,
            tenant_id=principal.tenant_id,
            settings=settings,
        )
        return _created(service.to_read(row), 201 if is_new else 200)
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = DatasetMetadataCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
        row = await service.create_from_metadata(db=db, tenant_id=principal.tenant_id, data=data)
        return _created(service.to_read(row), 201)
    raise UnsupportedMediaType("Send multipart/form-data (file + target) or application/json (name + profile).")


@router.get("", response_model=DatasetPage, responses=problem_responses(422))
async def list_datasets(
    db: DatabaseDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
) -> DatasetPage:
    """List datasets, newest first, with cursor pagination."""
    rows, next_cursor = await service.list_page(db=db, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)
    return DatasetPage(items=[service.to_read(r) for r in rows], next_cursor=next_cursor)


@router.get("/{id}", response_model=DatasetRead, responses=problem_responses(404))
async def get_dataset(id: DatasetId, db: DatabaseDep, principal: PrincipalDep) -> DatasetRead:
    """Return a dataset, its measured profile and warnings."""
    return service.to_read(await service.get(db=db, tenant_id=principal.tenant_id, id=id))


@router.delete("/{id}", status_code=204, responses=problem_responses(404, 409))
async def delete_dataset(id: DatasetId, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Delete a dataset and its stored files."""
    await service.delete(db=db, storage=Storage(settings.data_dir), tenant_id=principal.tenant_id, id=id)
    return Response(status_code=204)
