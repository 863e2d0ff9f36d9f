"""Races: train a recommendation's top-k candidates and its baseline as sibling jobs, then rank them.

The recommendation checked against reality. A race is a parent row; every child is an ordinary job made by
``service.services.jobs.create`` (same checks, committed before it is enqueued) with ``race_id`` set. A
candidate its trainer refuses is not dropped: the race records it as skipped with the trainer's reason.
The leaderboard is computed on read from the children, so it is never stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import advisor
from service.db.models import Dataset, Job, Race, Recommendation
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.errors import InvalidInput, NotFound
from service.jobs import states
from service.jobs.queue import JobQueue
from service.repositories import races as repo
from service.repositories import recommendations as recommendations_repo
from service.schemas.jobs import JobCreate
from service.schemas.races import RaceCreate, RaceEntry, RaceRead
from service.schemas.recommendations import RecommendationCreate
from service.services import jobs as jobs_service
from service.services import quotas
from service.services import recommendations as recommendations_service
from service.settings import Settings

PREFIX = "/v1/races"

# The job service's 422 kinds that mean "this trainer cannot run this candidate here": recorded as skipped.
_SKIPPABLE = frozenset({"trainer_cannot_train", "unknown_trainer", "invalid_param"})


# -- creating ---------------------------------------------------------------------------------------
def _resolve(
    *, session: Session, tenant_id: str, dataset_id: str, recommendation_id: str | None
) -> tuple[Dataset, Recommendation | None]:
    """The tenant's dataset (trainable) and named recommendation (for it), checked in one read transaction."""
    dataset = jobs_service.trainable_dataset(session=session, tenant_id=tenant_id, id=dataset_id)
    if recommendation_id is None:
        return dataset, None
    rec = recommendations_repo.get(session=session, id=recommendation_id, tenant_id=tenant_id)
    if rec is None:
        raise NotFound(f"There is no recommendation with id {recommendation_id!r}.")
    # A recommendation made from an inline profile has no dataset: it may race any dataset of its kind.
    other = rec.dataset_id is not None and rec.dataset_id != dataset.id
    if other or (rec.modality, rec.task) != (dataset.modality, dataset.task):
        msg = (f"the recommendation was made for dataset {rec.dataset_id!r}, not {dataset.id!r}" if other else
               f"the recommendation is for {rec.modality} {rec.task} data, the dataset is "
               f"{dataset.modality} {dataset.task}")
        raise InvalidInput(msg, errors=[{"loc": ["body", "recommendation_id"], "msg": msg,
                                         "type": "recommendation_mismatch"}])
    return dataset, rec


async def create(
    *, db: Database, settings: Settings, queue: JobQueue, tenant_id: str, dataset_id: str, data: RaceCreate
) -> RaceRead:
    """Store a race and queue its children: candidates 1..top_k that their trainers accept, then the baseline."""
    if data.callback_url is not None:  # refused before anything is stored, not at the first child
        await run_in_threadpool(jobs_service.check_callback, settings, data.callback_url)
    dataset, rec_row = await db.run(
        _resolve, tenant_id=tenant_id, dataset_id=dataset_id, recommendation_id=data.recommendation_id, write=False
    )
    if rec_row is None:
        wanted = RecommendationCreate(dataset_id=dataset_id, constraints=data.constraints or advisor.Constraints())
        rec_row = await recommendations_service.create(db=db, tenant_id=tenant_id, data=wanted, settings=settings)
    rec = advisor.Recommendation.model_validate_json(rec_row.document)
    params: dict[str, Any] = {
        "top_k": data.top_k, "seed": data.seed, "time_budget_s": data.time_budget_s, "task": dataset.task,
        "constraints": data.constraints.model_dump(mode="json") if data.constraints is not None else None,
        "skipped": [],
    }
    choices = [*range(1, min(data.top_k, len(rec.candidates)) + 1), 0]  # 0 = the baseline, as its own job
    # Room for every child, checked before anything is stored (each child's insert checks again).
    await db.run(quotas.check_job_slots, settings=settings, tenant_id=tenant_id, n=len(choices))
    race = Race(id=new_id(), created_at=utcnow(), tenant_id=tenant_id, dataset_id=dataset.id,
                recommendation_id=rec_row.id, params=params)
    await db.run(repo.add, race=race)  # committed first: the children's race_id must point at a row

    skipped: list[dict[str, Any]] = []
    for choice in choices:
        job = JobCreate(dataset_id=dataset.id, recommendation_id=rec_row.id, candidate=choice, seed=data.seed,
                        time_budget_s=data.time_budget_s, train_baseline=False, callback_url=data.callback_url)
        try:
            await jobs_service.create(db=db, settings=settings, queue=queue, tenant_id=tenant_id, data=job,
                                      race_id=race.id)
        except InvalidInput as exc:
            kinds = {e.get("type") for e in exc.extensions.get("errors") or []}
            if not kinds & _SKIPPABLE:
                raise
            cand = rec.baseline if choice == 0 else rec.candidates[choice - 1]
            skipped.append({"rank": choice or None, "model": cand.model, "trainer": cand.trainer,
                            "reason": exc.detail})
    if skipped:
        params = {**params, "skipped": skipped}
        await db.run(repo.set_params, id=race.id, params=params)
        race.params = params
    return await get(db=db, tenant_id=tenant_id, id=race.id)


# -- reading ----------------------------------------------------------------------------------------
def primary_metric(task: str, jobs: list[Job]) -> tuple[str, bool]:
    """The test metric that orders the leaderboard and whether higher is better: rmse for regression;
    roc_auc when every scored classifier has one, else balanced_accuracy (comparable across all)."""
    if task == "regression":
        return "rmse", False
    scored = [_test(j) for j in jobs if j.status == states.SUCCEEDED and _test(j)]
    if scored and all(m.get("roc_auc") is not None for m in scored):
        return "roc_auc", True
    return "balanced_accuracy", True


def _test(job: Job) -> dict[str, float | None]:
    metrics = (job.result or {}).get("metrics") or {}
    return dict(metrics.get("test") or {})


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def _entry(job: Job, metric: str) -> RaceEntry:
    score = _test(job).get(metric) if job.status == states.SUCCEEDED else None
    reason = None
    if job.status in (states.FAILED, states.CANCELLED):
        reason = str((job.error or {}).get("message") or job.status)
    return RaceEntry(
        position=None, job_id=job.id, model=job.model, trainer=job.trainer,
        rank=job.candidate or None, is_baseline=job.candidate == 0,
        status=job.status,  # type: ignore[arg-type]
        score=score, metrics=(job.result or {}).get("metrics"), train_s=_seconds(job.started_at, job.finished_at),
        reason=reason,
    )


def _order(entry: RaceEntry, higher_is_better: bool) -> tuple[Any, ...]:
    # Scored first, best first; a tie goes to the better-ranked candidate, the baseline last.
    rank = entry.rank if entry.rank is not None else 99
    if entry.score is None:
        return (1, 0.0, entry.status == "skipped", rank)
    return (0, -entry.score if higher_is_better else entry.score, False, rank)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _verdict(board: list[RaceEntry], metric: str, finished: bool, n_ended: int, n_jobs: int) -> str:
    if not finished:
        return f"Running: {n_ended} of {n_jobs} jobs have ended; the leaderboard is final once all have."
    scored = [e for e in board if e.score is not None]
    if not scored:
        return f"No job produced a test {metric}, so the race cannot check the recommendation."
    win = scored[0]
    first = next((e for e in board if e.rank == 1), None)
    if win.rank == 1:
        if len(scored) == 1:
            return f"The advisor's first choice {win.model} was the only one scored (test {metric} {_fmt(win.score)})."
        runner_up = scored[1]
        return (f"The advisor's first choice {win.model} won on test {metric} ({_fmt(win.score)}), ahead of "
                f"{runner_up.model} ({_fmt(runner_up.score)}).")
    who = f"The baseline {win.model}" if win.is_baseline else f"{win.model} (rank {win.rank})"
    if first is None:
        return f"{who} won on test {metric} ({_fmt(win.score)}); the advisor's first choice was not raced."
    if first.score is None:
        return (f"{who} won on test {metric} ({_fmt(win.score)}): the advisor's first choice {first.model} "
                f"was {first.status}.")
    return (f"{who} beat the advisor's first choice {first.model} on test {metric}: "
            f"{_fmt(win.score)} vs {_fmt(first.score)}.")


def to_read(race: Race, jobs: list[Job]) -> RaceRead:
    """The API view of a race and its child jobs, with the leaderboard."""
    params = race.params or {}
    metric, higher = primary_metric(str(params.get("task")), jobs)
    board = [_entry(j, metric) for j in jobs]
    board += [RaceEntry(position=None, job_id=None, model=s["model"], trainer=s["trainer"], rank=s.get("rank"),
                        is_baseline=s.get("rank") is None, status="skipped", score=None, reason=s["reason"])
              for s in params.get("skipped") or []]
    board.sort(key=lambda e: _order(e, higher))
    for i, e in enumerate(e for e in board if e.score is not None):
        e.position = i + 1
    n_ended = sum(states.is_terminal(j.status) for j in jobs)
    finished = n_ended == len(jobs)
    scored = [e for e in board if e.score is not None]
    agrees = (scored[0].rank == 1) if finished and scored else None
    return RaceRead(
        id=race.id, created_at=race.created_at, dataset_id=race.dataset_id, recommendation_id=race.recommendation_id,
        status="finished" if finished else "running", params=params, job_ids=[j.id for j in jobs],
        primary_metric=metric, higher_is_better=higher, leaderboard=board, agrees_with_recommendation=agrees,
        verdict=_verdict(board, metric, finished, n_ended, len(jobs)),
        links={"self": f"{PREFIX}/{race.id}", "dataset": f"/v1/datasets/{race.dataset_id}",
               **({"recommendation": f"/v1/recommendations/{race.recommendation_id}"}
                  if race.recommendation_id else {})},
    )


async def get(*, db: Database, tenant_id: str, id: str) -> RaceRead:
    """The race ``id`` with its leaderboard; ``NotFound`` if there is none."""
    found = await db.run(repo.with_children, id=id, tenant_id=tenant_id, write=False)
    if found is None:
        raise NotFound(f"There is no race with id {id!r}.")
    return to_read(*found)
