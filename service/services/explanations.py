"""Explanations of a job's model: the feature importance stored beside it (``importance.json``, written by the
training run, see :mod:`trainers.explain`), verified against the digest recorded with the job before it is read.

Per-row contributions are part of a prediction (``explain=true``, :mod:`service.services.predictions`).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from service.db.models import Job
from service.db.session import Database
from service.errors import ServiceError
from service.schemas.explanations import ImportanceRead
from service.services import jobs as jobs_service
from service.services.jobs import ArtifactCorrupt
from service.settings import Settings
from trainers.explain import IMPORTANCE_FILE, FeatureImportance, read_importance


class ImportanceUnavailable(ServiceError):
    """409: the job has no feature importance (not finished, or a model that has none); ``detail`` says why."""

    status = 409
    type = "urn:model-advisor:problem:no-importance"
    title = "No feature importance"


def _why_none(job: Job) -> str:
    if job.result is None:
        return (
            f"Job {job.id!r} has no model ({job.status}): its feature importance is measured on the validation rows "
            "once it has trained."
        )
    return (
        f"Job {job.id!r} stored no feature importance: it is measured for models that read table columns "
        f"(this one is {job.trainer!r}, stored as {job.result.model.artifact.format!r}), or the job was trained "
        "before importances were stored."
    )


def _read(settings: Settings, job: Job) -> FeatureImportance:
    """The verified ``importance.json`` of a job that lists one (runs on a thread)."""
    from trainers.artifacts import sha256_file

    artifact = job.result.model.artifact if job.result is not None else None
    digest = artifact.files.get(IMPORTANCE_FILE) if artifact is not None else None
    if artifact is None or not digest:
        raise ImportanceUnavailable(_why_none(job), job_status=job.status)
    root = settings.artifacts_dir.resolve()
    path = (root / artifact.directory / IMPORTANCE_FILE).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ArtifactCorrupt(f"The feature importance of job {job.id!r} is missing.", job_id=job.id)
    if sha256_file(path) != digest:
        raise ArtifactCorrupt(
            f"The feature importance of job {job.id!r} does not match its recorded SHA-256.", job_id=job.id
        )
    return read_importance(path.read_bytes())


async def importance(*, db: Database, settings: Settings, tenant_id: str, id: str) -> ImportanceRead:
    """The tenant's job's feature importance; 404 for an unknown job, 409 (saying why) where it has none."""
    job = await jobs_service.get(db=db, tenant_id=tenant_id, id=id)
    stored = await run_in_threadpool(_read, settings, job)
    return ImportanceRead(job_id=job.id, model=job.model, **stored.model_dump())
