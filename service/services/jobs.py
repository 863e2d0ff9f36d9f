"""Create, read, list, cancel and delete training jobs; serve their models, metrics and events.

Over 500 lines on purpose: the one service module of the job resource. Every route in
:mod:`service.api.jobs` calls into it, and each operation (create, list, get, cancel, delete, model
download, metrics, events) is short; views live in :mod:`service.views.jobs`, the engine in :mod:`service.jobs`.

Creating a job: the request is checked against the dataset, the recommendation and the trainer (its
own ``check`` / ``check_params``, so an unknown parameter is refused by name before anything is
queued), the row is committed, and only then is the id handed to the queue.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import advisor
from service.db.models import Dataset, Job, Recommendation
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.errors import Conflict, InvalidInput, NotFound, ServiceError
from service.jobs import states
from service.jobs.queue import JobQueue
from service.observability.request_id import current_request_id
from service.repositories import datasets as datasets_repo
from service.repositories import jobs as repo
from service.repositories import recommendations as recommendations_repo
from service.schemas.jobs import MAX_TIME_BUDGET_S, JobCreate, WebhookDeliveryRead
from service.schemas.pagination import after_key, page
from service.services import quotas
from service.settings import Settings
from service.views.jobs import to_read
from service.webhooks import outbox, targets

# The trainer of a race's ensemble entry (trainers.ensemble): made by the runner, never requested.
ENSEMBLE_TRAINER = "ensemble"


class IdempotencyMismatch(ServiceError):
    """422: an Idempotency-Key was reused with a different request body."""

    status = 422
    type = "urn:model-advisor:problem:idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class ArtifactUnavailable(ServiceError):
    """409: the job has no model to download (yet)."""

    status = 409
    type = "urn:model-advisor:problem:no-artifact"
    title = "No model to download"


class ArtifactCorrupt(ServiceError):
    """500: a stored model file no longer matches the digest recorded when it was written."""

    status = 500
    type = "urn:model-advisor:problem:artifact-corrupt"
    title = "Stored model does not match its digest"


def _invalid(loc: list[str | int], msg: str, kind: str) -> InvalidInput:
    return InvalidInput(msg, errors=[{"loc": loc, "msg": msg, "type": kind}])


# -- creating ---------------------------------------------------------------------------------------
@dataclass
class _Plan:
    """A checked job request, ready to become a row."""

    dataset: Dataset
    recommendation_id: str | None
    candidate: int | None
    model: str
    trainer: str
    params: dict[str, Any]
    baseline: dict[str, Any] | None
    recommended_time_budget_s: float | None = None  # the budget the recommendation was made for, if stated


def _pick(data: JobCreate, dataset: Dataset, rec: advisor.Recommendation | None) -> tuple[int | None, str, str, dict]:
    if data.spec is not None:
        return None, data.spec.model or data.spec.trainer, data.spec.trainer, dict(data.spec.params)
    assert rec is not None
    choice = 1 if data.candidate is None else data.candidate
    if choice in (0, "baseline"):
        return 0, rec.baseline.model, rec.baseline.trainer, rec.baseline.params()
    assert isinstance(choice, int)
    if not 1 <= choice <= len(rec.candidates):
        raise _invalid(
            ["body", "candidate"],
            f"candidate must be between 1 and {len(rec.candidates)} (the recommendation's ranked candidates), "
            "or 0 / 'baseline' for its baseline",
            "candidate_out_of_range",
        )
    chosen = rec.candidates[choice - 1]
    return choice, chosen.model, chosen.trainer, chosen.params()


def trainable_dataset(*, session: Session, tenant_id: str, id: str) -> Dataset:
    """The tenant's dataset ``id`` with stored data: 404 if there is none, 409 if it is metadata only."""
    dataset = datasets_repo.get(session=session, id=id, tenant_id=tenant_id)
    if dataset is None:
        raise NotFound(f"There is no dataset with id {id!r}.")
    if not dataset.storage_path:
        raise Conflict(
            f"Dataset {dataset.id!r} was registered from metadata only and cannot be trained on; upload its data.",
            dataset_id=dataset.id,
        )
    return dataset


def _resolve(*, session: Session, tenant_id: str, data: JobCreate) -> _Plan:
    """Read and check the tenant's dataset and recommendation the request names (one read transaction)."""
    dataset = trainable_dataset(session=session, tenant_id=tenant_id, id=data.dataset_id)
    rec: advisor.Recommendation | None = None
    if data.recommendation_id is not None:
        row: Recommendation | None = recommendations_repo.get(
            session=session, id=data.recommendation_id, tenant_id=tenant_id
        )
        if row is None:
            raise NotFound(f"There is no recommendation with id {data.recommendation_id!r}.")
        rec = advisor.Recommendation.model_validate_json(row.document)
        if (row.modality, row.task) != (dataset.modality, dataset.task):
            raise _invalid(
                ["body", "recommendation_id"],
                f"the recommendation is for {row.modality} {row.task} data, the dataset is "
                f"{dataset.modality} {dataset.task}",
                "recommendation_mismatch",
            )
    candidate, model, trainer, params = _pick(data, dataset, rec)
    baseline = None
    if data.train_baseline and candidate != 0:
        base = rec.baseline if rec is not None else _advisor_baseline(dataset)
        if base is not None:
            baseline = {"model": base.model, "trainer": base.trainer, "params": base.params()}
    return _Plan(dataset, data.recommendation_id, candidate, model, trainer, params, baseline, _stated_budget(rec))


def _stated_budget(rec: advisor.Recommendation | None) -> float | None:
    """The time budget a recommendation was made for, when its request stated one (an assumed one is not)."""
    if rec is None or rec.constraints.time_budget_s is None:
        return None
    if any(d.rule_id == "assume.time_budget_s" for d in rec.assumptions):
        return None
    return float(rec.constraints.time_budget_s)


def _time_budget(data: JobCreate, plan: _Plan, settings: Settings) -> tuple[float, str]:
    """The job's time budget and where it came from: the request, else the recommendation's, else the default."""
    if data.time_budget_s is not None:
        return data.time_budget_s, "request"
    if plan.recommended_time_budget_s is not None:
        if plan.recommended_time_budget_s > MAX_TIME_BUDGET_S:
            return MAX_TIME_BUDGET_S, "recommendation_capped"
        return plan.recommended_time_budget_s, "recommendation"
    return settings.job_default_time_budget_s, "default"


def _advisor_baseline(dataset: Dataset) -> advisor.Candidate | None:
    """The advisor's baseline for a stored dataset (for jobs given an explicit spec)."""
    try:
        profile = advisor.DatasetProfile.model_validate(dataset.profile)
    except ValueError:
        return None
    return advisor.recommend(profile, advisor.Constraints()).baseline


def _check_trainers(plan: _Plan) -> None:
    """Check the trainer can train this dataset with these parameters (imports the trainer's library:
    runs on a worker thread). A baseline that cannot be trained is recorded as unavailable."""
    from service.jobs.child import trainer_class
    from trainers.base import TrainerCapabilityError, TrainerParamError
    from trainers.datasets import plan_inputs
    from trainers.registry import TrainerRegistryError, available_trainers
    from trainers.spec import SplitSpec

    at: list[str | int] = ["body", "spec"] if plan.candidate is None else ["body", "candidate"]
    task = plan.dataset.task
    if plan.trainer == ENSEMBLE_TRAINER:
        raise _invalid(
            [*at, "trainer"],
            "an ensemble is built by a race from its finished entries; race the dataset instead",
            "trainer_cannot_train",
        )
    try:
        cls = trainer_class(plan.trainer)
    except (TrainerRegistryError, ImportError) as exc:
        known = sorted(available_trainers())
        raise _invalid(
            [*at, "trainer"], f"unknown trainer {plan.trainer!r}; known: {', '.join(known)}", "unknown_trainer"
        ) from exc
    try:
        inputs = plan_inputs(cls, plan.dataset.modality, plan.params)
        cls.check(task, inputs.modality, device=inputs.params.get("device"))
        cls.check_params(inputs.params, task)  # type: ignore[arg-type]
        if "split" in inputs.params:
            SplitSpec.model_validate(inputs.params["split"])
    except TrainerParamError as exc:
        raise _invalid(
            [*at, "params", exc.key], f"{plan.trainer} parameter {exc.key!r}: {exc.reason}", "invalid_param"
        ) from exc
    except TrainerCapabilityError as exc:
        raise _invalid([*at, "trainer"], exc.reason, "trainer_cannot_train") from exc
    except ValueError as exc:
        raise _invalid([*at, "params", "split"], str(exc).splitlines()[0], "invalid_param") from exc
    if plan.baseline is not None:
        try:
            base_cls = trainer_class(plan.baseline["trainer"])
            base_inputs = plan_inputs(base_cls, plan.dataset.modality, plan.baseline["params"])
            base_cls.check(task, base_inputs.modality)
            base_cls.check_params(base_inputs.params, task)  # type: ignore[arg-type]
        except (TrainerRegistryError, TrainerCapabilityError, TrainerParamError, ImportError) as exc:
            plan.baseline["unavailable"] = getattr(exc, "reason", None) or str(exc)


def _insert(*, session: Session, settings: Settings, job: Job) -> tuple[Job, bool]:
    """Insert the job, or return the one an equal Idempotency-Key created first. The tenant's quotas are
    checked in this (write) transaction, with the tenant row locked."""
    if job.idempotency_key is not None:
        existing = repo.by_idempotency_key(session=session, key=job.idempotency_key, tenant_id=job.tenant_id)
        if existing is not None:
            return existing, True
    quotas.check_job_slots(session=session, settings=settings, tenant_id=job.tenant_id)
    repo.add(session=session, job=job)
    return job, False


def _check_replay(job: Job, fingerprint: str) -> None:
    if job.request_sha256 != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used for a different request; use a new key for a new job.",
            job_id=job.id,
        )


def check_callback(settings: Settings, url: str) -> None:
    """Refuse a ``callback_url`` this service may not call (SSRF guard; resolves the host: blocking)."""
    try:
        targets.check_url(url, allow_private=settings.webhook_allow_private_targets)
    except targets.TargetRefused as exc:
        raise _invalid(["body", "callback_url"], f"callback_url refused: {exc}", "callback_url_refused") from exc


def _create(
    *,
    db: Database,
    settings: Settings,
    tenant_id: str,
    data: JobCreate,
    idempotency_key: str | None,
    race_id: str | None = None,
    request_id: str | None = None,
) -> tuple[Job, bool]:
    """Check and insert a job (blocking): a read transaction, the trainer checks, then a short write one."""
    from trainers.torch import preferred_queue

    fingerprint = data.fingerprint()
    if idempotency_key is not None:
        existing = db.call(repo.by_idempotency_key, key=idempotency_key, tenant_id=tenant_id, write=False)
        if existing is not None:
            _check_replay(existing, fingerprint)
            return existing, True
    if data.callback_url is not None:
        check_callback(settings, data.callback_url)
    plan = db.call(_resolve, tenant_id=tenant_id, data=data, write=False)
    _check_trainers(plan)  # outside any transaction: it may import an ML library the first time
    budget, budget_source = _time_budget(data, plan, settings)
    now = utcnow()
    job = Job(
        id=new_id(),
        created_at=now,
        updated_at=now,
        queued_at=now,
        tenant_id=tenant_id,
        request_id=request_id,
        dataset_id=plan.dataset.id,
        recommendation_id=plan.recommendation_id,
        candidate=plan.candidate,
        model=plan.model,
        trainer=plan.trainer,
        params=plan.params,
        baseline_spec=plan.baseline,
        seed=data.seed,
        time_budget_s=budget,
        time_budget_source=budget_source,
        queue=preferred_queue(plan.trainer, plan.params),
        status=states.QUEUED,
        attempt=0,
        max_attempts=settings.job_max_attempts,
        cancel_requested=False,
        history=[],
        idempotency_key=idempotency_key,
        request_sha256=fingerprint,
        race_id=race_id,
        callback_url=data.callback_url,
    )
    try:
        row, replayed = db.call(_insert, settings=settings, job=job)
    except IntegrityError:  # a concurrent request with the same key won (PostgreSQL; SQLite serialises)
        if idempotency_key is None:
            raise
        found = db.call(repo.by_idempotency_key, key=idempotency_key, tenant_id=tenant_id, write=False)
        if found is None:
            raise
        row, replayed = found, True
    if replayed:
        _check_replay(row, fingerprint)
    return row, replayed


async def create(
    *,
    db: Database,
    settings: Settings,
    queue: JobQueue,
    tenant_id: str,
    data: JobCreate,
    idempotency_key: str | None = None,
    race_id: str | None = None,
    request_id: str | None = None,
) -> tuple[Job, bool]:
    """Check and store a job, then enqueue it; returns the job and whether it is an idempotent replay.
    ``race_id`` makes it a child of that race (service.services.races). ``request_id`` (default: the current
    request's) is stored on the job, so its runner's log lines carry it.

    One worker-thread hop for the whole unit of work (each thread hop costs scheduler latency on a
    busy machine, and dispatch latency is a target).
    """
    row, replayed = await run_in_threadpool(
        _create,
        db=db,
        settings=settings,
        tenant_id=tenant_id,
        data=data,
        idempotency_key=idempotency_key,
        race_id=race_id,
        request_id=request_id or current_request_id(),
    )
    if not replayed:
        # The row is committed: only now may a worker hear of it.
        queue.enqueue(row.id, row.queue)
    return row, replayed


# -- reading ----------------------------------------------------------------------------------------
async def get(*, db: Database, tenant_id: str, id: str) -> Job:
    """The tenant's job ``id``; ``NotFound`` if there is none."""
    row = await db.run(repo.get, id=id, tenant_id=tenant_id, write=False)
    if row is None:
        raise NotFound(f"There is no job with id {id!r}.")
    return row


async def list_page(
    *,
    db: Database,
    tenant_id: str,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    dataset_id: str | None = None,
) -> tuple[list[Job], str | None]:
    """A page of the tenant's jobs, newest first, and the cursor of the next page (None at the end)."""
    rows = await db.run(
        repo.list_page,
        tenant_id=tenant_id,
        limit=limit + 1,
        after=after_key(cursor),
        status=status,
        dataset_id=dataset_id,
        write=False,
    )
    return page(rows, limit)


async def webhook_deliveries(*, db: Database, job_id: str) -> list[WebhookDeliveryRead]:
    """The job's webhook calls, oldest first (the caller has checked the job is the tenant's)."""
    rows = await db.run(outbox.for_job, job_id=job_id, write=False)
    return [
        WebhookDeliveryRead(
            id=r.id,
            event=r.event,
            status=r.status,  # type: ignore[arg-type]
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
        )
        for r in rows
    ]


# -- cancelling and deleting ------------------------------------------------------------------------
def _cancel(*, session: Session, tenant_id: str, id: str) -> Job:
    job = repo.get(session=session, id=id, tenant_id=tenant_id)
    if job is None:
        raise NotFound(f"There is no job with id {id!r}.")
    now = utcnow()
    # The write transaction holds the lock (SQLite) and the updates are conditional (PostgreSQL): a job
    # claimed or finished since the read above is not cancelled by mistake.
    if job.status == states.CANCELLED:
        return job
    done = (job.status == states.QUEUED and repo.cancel_queued(session=session, id=id, now=now)) or (
        job.status == states.RUNNING and repo.request_cancel(session=session, id=id, now=now)
    )
    if not done:
        raise Conflict(f"Job {id!r} has already {job.status}; there is nothing to cancel.", job_status=job.status)
    if job.status == states.QUEUED and job.callback_url:  # it ended here: its webhook commits with the cancel
        outbox.enqueue_for_job(session, id)
    refreshed = session.get(Job, id, populate_existing=True)
    assert refreshed is not None
    return refreshed


async def cancel(*, db: Database, tenant_id: str, id: str) -> Job:
    """Cancel a queued job at once, or ask a running one to stop (its runner keeps the best model so far)."""
    return await db.run(_cancel, tenant_id=tenant_id, id=id)


def _delete(*, session: Session, tenant_id: str, id: str) -> Job:
    job = repo.get(session=session, id=id, tenant_id=tenant_id)
    if job is None:
        raise NotFound(f"There is no job with id {id!r}.")
    if job.status in states.ACTIVE:
        raise Conflict(f"Job {id!r} is {job.status}; cancel it first.", job_status=job.status)
    session.delete(job)
    return job


async def delete(*, db: Database, settings: Settings, tenant_id: str, id: str) -> None:
    """Delete a finished job, its metrics, its model files and its batch predictions."""
    from service.services.prediction_batches import job_folder

    job = await db.run(_delete, tenant_id=tenant_id, id=id)
    folder = (settings.artifacts_dir / job.id).resolve()
    if folder.is_relative_to(settings.artifacts_dir.resolve()):
        await run_in_threadpool(shutil.rmtree, folder, True)
    await run_in_threadpool(shutil.rmtree, job_folder(settings, job.id), True)


async def metrics(
    *, db: Database, tenant_id: str, id: str, run: str | None = None, key: str | None = None
) -> list[Any]:
    """The job's logged metrics (404 if the tenant has no such job)."""

    def read(*, session: Session) -> list[Any]:
        if repo.get(session=session, id=id, tenant_id=tenant_id) is None:
            raise NotFound(f"There is no job with id {id!r}.")
        return repo.metrics(session=session, job_id=id, run=run, key=key)

    return await db.run(read, write=False)


# -- the model file ---------------------------------------------------------------------------------
def _verified_zip(settings: Settings, job: Job) -> tuple[Path, str]:
    """The job's model zip after checking its SHA-256 against the stored one (runs on a thread)."""
    from trainers.artifacts import sha256_file

    download = job.result.zip if job.result is not None else None
    root = settings.artifacts_dir.resolve()
    path = (root / (download.path if download else "")).resolve()
    expected = download.sha256 if download else None
    if not expected or not path.is_relative_to(root) or not path.is_file():
        raise ArtifactCorrupt(f"The model files of job {job.id!r} are missing.", job_id=job.id)
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactCorrupt(f"The model file of job {job.id!r} does not match its recorded SHA-256.", job_id=job.id)
    return path, actual


async def model_file(*, db: Database, settings: Settings, tenant_id: str, id: str) -> tuple[Path, Job]:
    """The verified zip of the tenant's job's model and the job; 409 while there is none."""
    job = await get(db=db, tenant_id=tenant_id, id=id)
    if job.result is None:
        raise ArtifactUnavailable(
            f"Job {id!r} has no model ({job.status}); a model exists once a job succeeded or was cancelled after "
            "its first round.",
            job_status=job.status,
        )
    path, _ = await run_in_threadpool(_verified_zip, settings, job)
    return path, job


# -- server-sent events -----------------------------------------------------------------------------
def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, allow_nan=False, default=str)}\n\n".encode()


async def events(
    *, db: Database, settings: Settings, tenant_id: str, id: str, is_disconnected: Any
) -> AsyncIterator[bytes]:
    """SSE: a ``progress`` event whenever status, attempt or progress change, then one ``end`` event with the
    whole job once it is terminal. Polls the row every ``sse_poll_s``."""
    last: Any = None
    last_sent = asyncio.get_running_loop().time()
    yield b"retry: 2000\n\n"
    while True:
        job = await db.run(repo.get, id=id, tenant_id=tenant_id, write=False)
        if job is None:
            yield _event("error", {"detail": f"job {id!r} was deleted"})
            return
        state = (job.status, job.attempt, json.dumps(job.progress, sort_keys=True), job.cancel_requested)
        if states.is_terminal(job.status):
            yield _event("end", to_read(job, include_curves=False).model_dump(mode="json"))
            return
        now = asyncio.get_running_loop().time()
        if state != last:
            last = state
            last_sent = now
            yield _event(
                "progress",
                {
                    "id": job.id,
                    "status": job.status,
                    "attempt": job.attempt,
                    "cancel_requested": job.cancel_requested,
                    "progress": job.progress,
                },
            )
        elif now - last_sent > 15:
            last_sent = now
            yield b": keep-alive\n\n"
        if await is_disconnected():
            return
        await asyncio.sleep(settings.sse_poll_s)
