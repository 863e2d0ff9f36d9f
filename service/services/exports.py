"""Serve a job's model as ONNX: converted once per artifact, cached beside it, refused with the reason (409).

The conversion itself lives in the trainers (:meth:`trainers.base.Trainer.to_onnx`); this module finds the
job's verified artifact, keeps the exported file (or the refusal) next to it under a key made of the
artifact's SHA-256, the export version and the converter libraries' versions, and maps "not convertible"
to a problem document.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from service.db.models import Job
from service.db.session import Database
from service.errors import ServiceError
from service.services import jobs as jobs_service
from service.settings import Settings

# Libraries whose versions change what a conversion produces (or whether it succeeds).
_CONVERTERS = ("onnx", "onnxruntime", "skl2onnx", "onnxmltools", "torch")
_MAX_HEADER = 4096
# One conversion per artifact at a time in this process (striped: a fixed number of locks, not one per job).
_locks = tuple(threading.Lock() for _ in range(32))


class ModelNotConvertible(ServiceError):
    """409: the job's model has no ONNX converter, or its converted graph does not reproduce the model."""

    status = 409
    type = "urn:model-advisor:problem:not-convertible"
    title = "Model cannot be exported to ONNX"


@dataclass(frozen=True)
class OnnxFile:
    """An exported model on disk, its digest and what its inputs and outputs are."""

    path: Path
    sha256: str
    summary: dict[str, Any]


def _versions() -> str:
    found = []
    for name in _CONVERTERS:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=-")
    return ",".join(found)


def _cache_key(artifact_sha256: str) -> str:
    from trainers.export.onnx import EXPORT_VERSION

    return hashlib.sha256(f"{artifact_sha256}\0{EXPORT_VERSION}\0{_versions()}".encode()).hexdigest()[:32]


def _lock(key: str) -> threading.Lock:
    return _locks[int(key[:8], 16) % len(_locks)]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _refuse(job: Job, reason: str) -> ModelNotConvertible:
    return ModelNotConvertible(
        f"The {job.trainer} model of job {job.id!r} cannot be exported to ONNX: {reason}. "
        "Download it with format=zip instead.",
        trainer=job.trainer,
        reason=reason,
    )


def _cached(job: Job, onnx_path: Path, meta_path: Path) -> OnnxFile | None:
    from trainers.artifacts import sha256_file

    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if meta.get("refused"):
        raise _refuse(job, str(meta.get("reason")))
    if onnx_path.is_file() and sha256_file(onnx_path) == meta.get("sha256"):
        return OnnxFile(onnx_path, str(meta["sha256"]), dict(meta.get("summary") or {}))
    return None  # missing or damaged: export again


def _export(settings: Settings, job: Job) -> OnnxFile:
    """Export (or reuse) the job's ONNX file; runs on a worker thread."""
    from trainers.artifacts import ArtifactError
    from trainers.export.onnx import NotConvertible
    from trainers.registry import TrainerRegistryError, get_trainer

    if job.result is None:
        raise jobs_service.ArtifactCorrupt(f"The model files of job {job.id!r} are missing.", job_id=job.id)
    a = job.result.model.artifact
    root = settings.artifacts_dir.resolve()
    folder = (root / a.directory).resolve()
    zip_path = (root / job.result.zip.path).resolve()
    if not a.directory or not folder.is_relative_to(root) or not zip_path.is_relative_to(root):
        raise jobs_service.ArtifactCorrupt(f"The model files of job {job.id!r} are missing.", job_id=job.id)
    cache_dir = zip_path.parent / "onnx"
    key = _cache_key(a.sha256)
    onnx_path, meta_path = cache_dir / f"{key}.onnx", cache_dir / f"{key}.json"
    with _lock(key):
        found = _cached(job, onnx_path, meta_path)
        if found is not None:
            return found
        try:
            cls = get_trainer(a.trainer)
        except TrainerRegistryError as exc:
            raise _refuse(job, f"its trainer {a.trainer!r} is not available in this service") from exc
        try:
            model = cls.load(folder, n_threads=1, expected_sha256=a.sha256)
        except ArtifactError as exc:
            raise jobs_service.ArtifactCorrupt(
                f"The model files of job {job.id!r} do not match their recorded SHA-256.", job_id=job.id
            ) from exc
        cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            export = model.to_onnx()
        except NotConvertible as exc:
            meta = {"refused": True, "reason": exc.reason, "trainer": job.trainer}
            _write_atomic(meta_path, json.dumps(meta, sort_keys=True).encode())
            raise _refuse(job, exc.reason) from exc
        digest = hashlib.sha256(export.data).hexdigest()
        _write_atomic(onnx_path, export.data)
        meta = {"refused": False, "sha256": digest, "summary": export.summary()}
        _write_atomic(meta_path, json.dumps(meta, sort_keys=True, allow_nan=False, default=str).encode())
        return OnnxFile(onnx_path, digest, export.summary())


async def onnx_file(*, db: Database, settings: Settings, tenant_id: str, id: str) -> tuple[OnnxFile, Job]:
    """The tenant's job's model as an ONNX file (404 unknown job, 409 no model or not convertible)."""
    job = await jobs_service.get(db=db, tenant_id=tenant_id, id=id)
    if job.result is None:
        raise jobs_service.ArtifactUnavailable(
            f"Job {id!r} has no model ({job.status}); a model exists once a job succeeded or was cancelled after "
            "its first round.",
            job_status=job.status,
        )
    return await run_in_threadpool(_export, settings, job), job


def describe_io(summary: dict[str, Any]) -> dict[str, str]:
    """Short ASCII headers naming the graph's inputs and outputs (the full description is in the model)."""

    def one(entries: list[dict[str, Any]]) -> str:
        return ", ".join(f"{e['name']} {e['dtype']}[{','.join(str(d) for d in e['shape'])}]" for e in entries)

    headers = {"X-ONNX-Inputs": one(summary.get("inputs") or []), "X-ONNX-Outputs": one(summary.get("outputs") or [])}
    names = [c["name"] for i in summary.get("inputs") or [] for c in i.get("columns") or []]
    classes = next((o.get("classes") for o in summary.get("outputs") or [] if o.get("classes") is not None), None)
    for header, value in (("X-ONNX-Feature-Columns", names or None), ("X-ONNX-Classes", classes)):
        text = json.dumps(value, ensure_ascii=True) if value is not None else ""
        if text and len(text) <= _MAX_HEADER:  # wide tables: the model's metadata_props carry the full lists
            headers[header] = text
    return headers
