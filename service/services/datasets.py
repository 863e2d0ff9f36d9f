"""Upload, validate, profile and store datasets; register metadata-only ones; list and delete.

Nothing is half-stored: the upload and the normalized copy live in a scratch folder until every check
passed, the folder is then moved into place in one rename, and the row is inserted after it; if the
insert fails the folder is removed again. A ``DataError`` from ingestion becomes a 4xx problem.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.db.models import Dataset
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.errors import BadRequest, Conflict, NotFound, ServiceError, StorageQuotaExceeded
from service.repositories import datasets as repo
from service.schemas.datasets import DatasetMetadataCreate, DatasetRead
from service.schemas.pagination import after_key, page
from service.services import quotas
from service.settings import Settings
from service.storage import Storage
from service.uploads import PayloadTooLarge, receive_multipart
from trainers.errors import DataError, ErrorKind

FORM_FIELDS = {"target", "task", "modality", "name"}


# The HTTP status of a data problem, by its kind (trainers/ knows no HTTP): 400 the bytes are broken, 413 too
# big once unpacked, 415 a format we do not read, 422 readable but unusable as asked.
DATA_PROBLEM_STATUS: dict[ErrorKind, int] = {"malformed": 400, "too_large": 413, "unsupported": 415, "data": 422}


class DataProblem(ServiceError):
    """A problem with the uploaded data itself, as the data layer described it."""

    def __init__(self, error: DataError) -> None:
        super().__init__(error.detail, **error.extra)
        self.status = DATA_PROBLEM_STATUS[error.kind]
        self.type = f"urn:model-advisor:problem:{error.type_slug}"
        self.title = error.title


def fingerprint(sha256: str, fields: dict[str, str], tenant_id: str) -> str:
    """Identity of a stored dataset: its tenant, the bytes and the options that shape the normalized copy.

    The tenant is part of it: two tenants uploading the same file get separate datasets and folders, so
    one tenant learns nothing about another's uploads and deleting one copy never touches the other.
    """
    options = "\x1f".join(f"{k}={fields.get(k) or ''}" for k in ("target", "task", "modality"))
    return hashlib.sha256(f"{tenant_id}\x1e{sha256}\x1e{options}".encode()).hexdigest()


def to_read(row: Dataset) -> DatasetRead:
    """The API view of a row."""
    profile = dict(row.profile)
    feature_types = row.details.get("feature_types")
    if feature_types is not None:
        profile["feature_types"] = feature_types
    return DatasetRead(
        id=row.id,
        created_at=row.created_at,
        name=row.name,
        source=row.source,
        trainable=row.storage_path is not None,
        modality=row.modality,
        task=row.task,
        task_reason=row.task_reason,
        target=row.target,
        format=row.format,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        profile=profile,
        details=row.details,
        warnings=row.warnings,
    )


async def create_from_upload(
    *, db: Database, storage: Storage, request: Request, limit: int, tenant_id: str, settings: Settings
) -> tuple[Dataset, bool]:
    """Stream, check and store an upload for ``tenant_id``; returns the row and whether it is new (False:
    seen before). The upload may be no larger than ``limit`` nor than the room left in the tenant's quota."""
    # Deferred import: ingestion pulls in pyarrow/Pillow only when an upload arrives.
    from trainers.ingest import ingest

    room, used, quota = await db.run(quotas.remaining_bytes, settings=settings, tenant_id=tenant_id, write=False)
    if room <= 0:
        raise StorageQuotaExceeded(
            f"The tenant stores {used} bytes of {quota} allowed; delete datasets or jobs before uploading more.",
            stored_bytes=used,
            max_stored_bytes=quota,
        )
    with storage.scratch() as scratch:
        try:
            upload = await receive_multipart(request, dest=scratch / "upload.bin", limit=min(limit, room))
        except PayloadTooLarge as exc:
            if room >= limit:
                raise
            raise StorageQuotaExceeded(
                f"The upload is larger than the {room} bytes left in the tenant's storage quota ({used} of "
                f"{quota} bytes used).",
                stored_bytes=used,
                max_stored_bytes=quota,
            ) from exc
        unknown = set(upload.fields) - FORM_FIELDS
        if unknown:
            raise BadRequest(
                f"Unknown form field(s): {', '.join(sorted(unknown))}; accepted: file, "
                f"{', '.join(sorted(FORM_FIELDS))}."
            )
        if upload.file_path is None:
            raise BadRequest("The form has no 'file' part: send the data as file=<your file>.")
        fields = {k: v.strip() for k, v in upload.fields.items() if v.strip()}
        fp = fingerprint(upload.sha256, fields, tenant_id)
        existing = await db.run(repo.by_fingerprint, fingerprint=fp, write=False)
        if existing is not None:
            return existing, False
        work_dir = scratch / "work"
        try:
            result = await run_in_threadpool(
                ingest,
                upload.file_path,
                filename=upload.filename,
                target=fields.get("target"),
                task=fields.get("task"),
                modality=fields.get("modality"),
                work_dir=work_dir,
                sha256=upload.sha256,
            )
        except DataError as exc:
            raise DataProblem(exc) from exc
        # Recorded in the row: a job verifies the files against it before it parses any of them.
        result.details["file_sha256"] = await run_in_threadpool(_hash_files, work_dir, result.files, result.file_sha256)
        final = storage.publish(work_dir, fp)
        row = Dataset(
            id=new_id(),
            created_at=utcnow(),
            tenant_id=tenant_id,
            name=(fields.get("name") or _name_from(upload.filename))[:200],
            source="upload",
            modality=result.modality,
            task=result.task,
            task_reason=result.task_reason,
            target=result.target,
            format=result.details.get("format"),
            sha256=upload.sha256,
            fingerprint=fp,
            size_bytes=upload.size,
            n_rows=result.profile.n_rows,
            storage_path=storage.relative(final),
            profile=result.profile.model_dump(mode="json", exclude_none=True),
            details=result.details,
            warnings=result.warnings,
        )
        try:
            await db.run(repo.add, dataset=row)
        except IntegrityError:
            # Same bytes and options stored by a concurrent request: that row owns the folder.
            existing = await db.run(repo.by_fingerprint, fingerprint=fp, write=False)
            if existing is None:
                storage.remove(storage.relative(final))
                raise
            return existing, False
        except BaseException:
            storage.remove(storage.relative(final))
            raise
        return row, True


def _hash_files(folder: Path, names: list[str], known: dict[str, str]) -> dict[str, str]:
    """Each file's SHA-256: ``known`` (hashed as ingestion wrote it) or read here."""
    from trainers.artifacts import sha256_file

    return {name: known.get(name) or sha256_file(folder / name) for name in names}


def _name_from(filename: str | None) -> str:
    # Only used as a display name, never as a path.
    return (filename or "dataset").replace("/", "_").replace("\\", "_") or "dataset"


async def create_from_metadata(*, db: Database, tenant_id: str, data: DatasetMetadataCreate) -> Dataset:
    """Register a dataset from its description alone."""
    p = data.profile
    row = Dataset(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=tenant_id,
        name=data.name,
        source="metadata",
        modality=p.modality,
        task=p.task,
        task_reason="Given by the caller.",
        n_rows=p.n_rows,
        profile=p.model_dump(mode="json", exclude_none=True),
        details={},
        warnings=["Registered from metadata only: recommendations work, training needs an upload."],
    )
    await db.run(repo.add, dataset=row)
    return row


async def get(*, db: Database, tenant_id: str, id: str) -> Dataset:
    """The tenant's dataset ``id``; ``NotFound`` if there is none."""
    row = await db.run(repo.get, id=id, tenant_id=tenant_id, write=False)
    if row is None:
        raise NotFound(f"There is no dataset with id {id!r}.")
    return row


async def list_page(
    *, db: Database, tenant_id: str, limit: int, cursor: str | None = None
) -> tuple[list[Dataset], str | None]:
    """A page of the tenant's datasets, newest first, and the cursor of the next page (None at the end)."""
    rows = await db.run(repo.list_page, tenant_id=tenant_id, limit=limit + 1, after=after_key(cursor), write=False)
    return page(rows, limit)


async def delete(*, db: Database, storage: Storage, tenant_id: str, id: str) -> None:
    """Delete the tenant's dataset row, then its files. A dataset that jobs still use answers 409."""
    try:
        row = await db.run(repo.remove, id=id, tenant_id=tenant_id)
    except IntegrityError as exc:
        raise Conflict(f"Dataset {id!r} is used by training jobs; delete those first.") from exc
    if row is None:
        raise NotFound(f"There is no dataset with id {id!r}.")
    storage.remove(row.storage_path)
