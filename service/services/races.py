"""Races: train a recommendation's top-k candidates and its baseline as sibling jobs, then rank them.

Over 500 lines on purpose: the one service module of the race resource (create, the shared budget, the
leaderboard read from the children, the verdict, the ensemble's follow-up); each part is short and reads
the same rows.

The recommendation checked against reality. A race is a parent row; every child is an ordinary job made by
``service.services.jobs.create`` (same checks, committed before it is enqueued) with ``race_id`` set. A
candidate its trainer refuses is not dropped: the race records it as skipped with the trainer's reason.
The leaderboard is computed on read from the children, so it is never stale.

**Selection on validation.** Entries are ordered by their validation score (k-fold mean on small data, the
holdout validation split above it: ``trainers.run``), never by the test split, which every entry reports
beside it, scored once by its saved model. Every entry has the same seed, so the same folds and test rows.

**One budget for the race.** ``time_budget_s`` (or a default that grows with the data, :func:`default_budget`)
is shared by the entries (:func:`share_budget`): the entries run ``slots`` at a time (the embedded pool's
``workers``; one for Celery, whose concurrency the API cannot see), so each gets the budget's usable part
divided by the number of waves. An entry that runs out keeps its best model so far, marked partial. When the
budget cannot give every entry :data:`MIN_ENTRY_S`, the lowest-ranked candidates are not trained (recorded
as skipped): the race trains the top-k that fit the budget, the baseline always.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import advisor
from service.db.models import Dataset, Job, Race, Recommendation
from service.db.session import Database
from service.db.types import new_id, seconds_between, utcnow
from service.errors import InvalidInput, NotFound
from service.jobs import states
from service.jobs.queue import JobQueue
from service.jobs.stored import JobResult
from service.repositories import races as repo
from service.repositories import recommendations as recommendations_repo
from service.repositories.recommendations import NewRecommendation
from service.schemas.jobs import JobCreate
from service.schemas.races import RaceBudget, RaceCreate, RaceEntry, RaceRead
from service.schemas.recommendations import RecommendationCreate
from service.services import jobs as jobs_service
from service.services import quotas
from service.services import recommendations as recommendations_service
from service.settings import Settings
from trainers.splits import CV_FOLDS, CV_MAX_ROWS, CV_REPEAT_MAX_ROWS, CV_REPEATS

PREFIX = "/v1/races"

# The job service's 422 kinds that mean "this trainer cannot run this candidate here": recorded as skipped.
_SKIPPABLE = frozenset({"trainer_cannot_train", "unknown_trainer", "invalid_param"})


# The share of a race's budget handed to its entries' training (the ensemble's included); the rest covers what
# runs outside each job's own clock (starting a training process, the queue hand-off, saving and zipping).
USABLE_SHARE = 0.9
# The ensemble entry's share (at least MIN_ENTRY_S): it trains nothing, it loads the members and averages.
ENSEMBLE_SHARE = 0.05
ENSEMBLE_ROUNDS = 25
# Its selection is repeated on this many bootstrap samples of the shared validation rows, the weights averaged
# (trainers.ensemble.bagged_selection: why, and what it was measured on).
ENSEMBLE_BAGS = 20
# Below this an entry cannot load its data and fit: such candidates are not trained.
MIN_ENTRY_S = 5.0
# The default budget: DEFAULT_FLOOR_S (an AutoML peer's whole budget on small tables), plus one second per
# DEFAULT_UNITS_PER_S units of rows × feature columns × classes (1 for binary and regression: one tree or
# output per round), up to the service's job default. A 20,000 × 16 table with 26 classes (8.3M units, which
# took 239 s unbudgeted on 2 cores) gets 143 s; a 208 × 60 binary table gets 60 s.
DEFAULT_FLOOR_S = 60.0
DEFAULT_UNITS_PER_S = 100_000


SELECTION = (
    "Entries are ordered by their validation score of the primary metric (ROC AUC for two classes, log loss for "
    "more, whose labels are the arg-max of the class probabilities; RMSE for regression): the mean ± sd over "
    f"{CV_FOLDS} stratified, seeded folds of the non-test rows up to {CV_MAX_ROWS:,} of them (the folds drawn "
    f"{CV_REPEATS} times with different seeds up to {CV_REPEAT_MAX_ROWS:,} rows, as the budget allows), else "
    "the holdout validation split; every entry sees the same folds and test rows. Once validated, each entry is "
    "refit on the train and validation splits (boosting for the rounds early stopping chose on the validation "
    "split), that refit scores the test split once, and the model it serves is then refit on all rows, test rows "
    "included, where its budget holds each refit (else the last fit that did); each job's "
    "validation.served_model says which. The test score is shown beside the validation score and never used to "
    "select. The ensemble of the entries is compared with its members on its own terms: each scored on the same "
    "shared validation rows, all out-of-fold predictions at once; it leads when it is at least as good as each "
    "member there, and is ranked after the single entries when it is not (on the 61 public datasets of "
    "bench/race_quality.py that rule lowered the mean regret of a race's first entry, see the README)."
)


# -- budgets ----------------------------------------------------------------------------------------
def default_budget(n_rows: int, n_features: int, n_classes: int | None, cap_s: float) -> tuple[float, str]:
    """The race budget when none is given, and the reason stated with it: grows with rows × columns × classes."""
    per_round = n_classes if n_classes is not None and n_classes > 2 else 1
    units = max(1, n_rows) * max(1, n_features) * per_round
    seconds = min(cap_s, DEFAULT_FLOOR_S + units / DEFAULT_UNITS_PER_S)
    why = (
        f"default for {n_rows} rows × {n_features} feature columns × {per_round} "
        f"{'classes (trees per boosting round)' if per_round > 1 else 'output per round'}: "
        f"{DEFAULT_FLOOR_S:.0f} s + 1 s per {DEFAULT_UNITS_PER_S:,} units = "
        f"{DEFAULT_FLOOR_S + units / DEFAULT_UNITS_PER_S:.0f} s"
        + (
            f", capped at the service's job default of {cap_s:.0f} s"
            if seconds < DEFAULT_FLOOR_S + units / DEFAULT_UNITS_PER_S
            else ""
        )
    )
    return round(seconds, 3), why


def share_budget(total_s: float, n_entries: int, slots: int, reserved_s: float = 0.0) -> list[float]:
    """Each entry's budget: the usable part of ``total_s`` less ``reserved_s`` (the ensemble's, which runs after
    them), divided by the number of waves in which ``slots`` run ``n_entries``. Laid out on ``slots`` lanes
    (entry i on lane i mod slots), every lane ends within ``USABLE_SHARE × total_s - reserved_s``; with one
    slot the budgets sum to exactly that."""
    if n_entries <= 0:
        return []
    waves = math.ceil(n_entries / max(1, min(slots, n_entries)))
    each = (total_s * USABLE_SHARE - reserved_s) / waves
    return [each] * n_entries


def ensemble_budget(total_s: float) -> float:
    """The ensemble entry's budget: ENSEMBLE_SHARE of the race's, at least MIN_ENTRY_S."""
    return max(MIN_ENTRY_S, ENSEMBLE_SHARE * total_s)


def concurrent_slots(settings: Settings) -> int:
    """How many of a race's jobs run at once: the embedded pool's size, or 1 when a broker hands them out."""
    return max(1, settings.workers) if settings.queue == "inprocess" else 1


def _dataset_units(dataset: Dataset) -> tuple[int, int, int | None]:
    profile = dataset.profile or {}
    n_features = int(profile.get("n_features") or 1)
    n_classes = profile.get("n_classes")
    return int(dataset.n_rows), n_features, int(n_classes) if n_classes else None


def plan_budget(data: RaceCreate, dataset: Dataset, settings: Settings, n_candidates: int) -> tuple[RaceBudget, int]:
    """The race's budget, its source and reason, each entry's share; and how many candidates fit it."""
    source: Literal["request", "default"]
    if data.time_budget_s is not None:
        total, source = float(data.time_budget_s), "request"
        reason = f"the request's time_budget_s of {total:g} s, shared by the race's entries"
    else:
        total, reason = default_budget(*_dataset_units(dataset), cap_s=settings.job_default_time_budget_s)
        source = "default"
    slots = concurrent_slots(settings)
    reserve = ensemble_budget(total)
    fits = n_candidates
    while fits > 0 and share_budget(total, fits + 1, slots, reserve)[0] < MIN_ENTRY_S:
        fits -= 1
    n_entries = fits + 1  # the baseline always runs
    ensemble_s = reserve if n_entries >= 2 else 0.0  # an ensemble needs two members
    per_entry = share_budget(total, n_entries, slots, ensemble_s)[0]
    budget = RaceBudget(
        time_budget_s=total,
        source=source,
        reason=reason,
        slots=slots,
        entries=n_entries,
        per_entry_s=round(max(per_entry, 1.0), 3),
        ensemble_s=round(ensemble_s, 3),
        usable_share=USABLE_SHARE,
        rule=(
            f"{USABLE_SHARE:.0%} of the race budget, less the ensemble's {ensemble_s:.3g} s, divided by the "
            f"{math.ceil(n_entries / min(slots, n_entries))} wave(s) in which {slots} job(s) at a time run "
            f"{n_entries} entries"
        ),
    )
    return budget, fits


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
        msg = (
            f"the recommendation was made for dataset {rec.dataset_id!r}, not {dataset.id!r}"
            if other
            else f"the recommendation is for {rec.modality} {rec.task} data, the dataset is "
            f"{dataset.modality} {dataset.task}"
        )
        raise InvalidInput(
            msg, errors=[{"loc": ["body", "recommendation_id"], "msg": msg, "type": "recommendation_mismatch"}]
        )
    return dataset, rec


async def create(
    *, db: Database, settings: Settings, queue: JobQueue, tenant_id: str, dataset_id: str, data: RaceCreate
) -> RaceRead:
    """Store a race and queue its children: candidates 1..top_k that their trainers accept, then the baseline."""
    if data.callback_url is not None:  # refused before anything is stored, not at the first child
        await run_in_threadpool(jobs_service.check_callback, settings, data.callback_url)
    dataset, found = await db.run(
        _resolve, tenant_id=tenant_id, dataset_id=dataset_id, recommendation_id=data.recommendation_id, write=False
    )
    rec_row: Recommendation | NewRecommendation | None = found
    if rec_row is None:
        wanted = RecommendationCreate(dataset_id=dataset_id, constraints=data.constraints or advisor.Constraints())
        rec_row = await recommendations_service.create(db=db, tenant_id=tenant_id, data=wanted, settings=settings)
    rec = advisor.Recommendation.model_validate_json(rec_row.document)
    wanted_k = min(data.top_k, len(rec.candidates))
    budget, fits = plan_budget(data, dataset, settings, wanted_k)
    params: dict[str, Any] = {
        "top_k": data.top_k,
        "seed": data.seed,
        "time_budget_s": budget.time_budget_s,
        "task": dataset.task,
        "constraints": data.constraints.model_dump(mode="json") if data.constraints is not None else None,
        "budget": budget.model_dump(mode="json"),
        "skipped": [],
    }
    choices = [*range(1, fits + 1), 0]  # 0 = the baseline, as its own job
    over = [
        {
            "rank": r,
            "model": rec.candidates[r - 1].model,
            "trainer": rec.candidates[r - 1].trainer,
            "reason": f"not trained: the race budget of {budget.time_budget_s:g} s gives {fits + 1} entries at "
            f"least {MIN_ENTRY_S:g} s each",
        }
        for r in range(fits + 1, wanted_k + 1)
    ]
    # Room for every child, checked before anything is stored (each child's insert checks again).
    await db.run(
        quotas.check_job_slots, settings=settings, tenant_id=tenant_id, n=len(choices) + (1 if budget.ensemble_s else 0)
    )
    race = Race(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=tenant_id,
        dataset_id=dataset.id,
        recommendation_id=rec_row.id,
        params=params,
    )
    await db.run(repo.add, race=race)  # committed first: the children's race_id must point at a row

    skipped: list[dict[str, Any]] = []
    for choice in choices:
        job = JobCreate(
            dataset_id=dataset.id,
            recommendation_id=rec_row.id,
            candidate=choice,
            seed=data.seed,
            time_budget_s=max(1.0, budget.per_entry_s),
            train_baseline=False,
            callback_url=data.callback_url,
        )
        try:
            await jobs_service.create(
                db=db, settings=settings, queue=queue, tenant_id=tenant_id, data=job, race_id=race.id
            )
        except InvalidInput as exc:
            kinds = {e.get("type") for e in exc.extensions.get("errors") or []}
            if not kinds & _SKIPPABLE:
                raise
            cand = rec.baseline if choice == 0 else rec.candidates[choice - 1]
            skipped.append({"rank": choice or None, "model": cand.model, "trainer": cand.trainer, "reason": exc.detail})
    skipped += over
    if skipped:
        params = {**params, "skipped": skipped}
        await db.run(repo.set_params, id=race.id, params=params)
        race.params = params
    return await get(db=db, tenant_id=tenant_id, id=race.id)


# -- the ensemble entry -----------------------------------------------------------------------------
def _member_ok(status: str, trainer: str, result: JobResult | None) -> bool:
    return (
        status == states.SUCCEEDED
        and trainer != jobs_service.ENSEMBLE_TRAINER
        and result is not None
        and "valid_pred.npy" in result.model.artifact.files
        and result.model.validation is not None
    )


def add_ensemble_if_due(*, session: Session, race_id: str) -> Job | None:
    """Stage the race's ensemble job once every other entry has ended and two of them left stored predictions
    (called in the transaction that ends an entry, so the race never looks finished in between); None otherwise.
    The race row is locked first, so two entries ending at once add one ensemble."""
    from sqlalchemy import select

    race = session.get(Race, race_id, with_for_update=True)
    if race is None or not (race.params or {}).get("budget", {}).get("ensemble_s"):
        return None
    rows = session.execute(
        select(Job.id, Job.status, Job.trainer, Job.result, Job.tenant_id).where(Job.race_id == race_id)
    ).all()
    if any(r.trainer == jobs_service.ENSEMBLE_TRAINER for r in rows):
        return None
    if not rows or not all(states.is_terminal(r.status) for r in rows):
        return None
    if sum(_member_ok(r.status, r.trainer, r.result) for r in rows) < 2:
        return None
    params = race.params or {}
    now = utcnow()
    job = Job(
        id=new_id(),
        created_at=now,
        updated_at=now,
        queued_at=now,
        tenant_id=race.tenant_id,
        dataset_id=race.dataset_id,
        recommendation_id=race.recommendation_id,
        candidate=None,
        model="ensemble",
        trainer=jobs_service.ENSEMBLE_TRAINER,
        params={"rounds": ENSEMBLE_ROUNDS, "bags": ENSEMBLE_BAGS},
        baseline_spec=None,
        seed=int(params.get("seed") or 0),
        time_budget_s=float(params["budget"]["ensemble_s"]),
        queue="cpu",
        status=states.QUEUED,
        attempt=0,
        max_attempts=1,
        cancel_requested=False,
        history=[],
        race_id=race.id,
    )
    session.add(job)
    session.flush()
    return job


def ensemble_members(*, session: Session, race_id: str, tenant_id: str) -> list[dict[str, Any]]:
    """The race's entries an ensemble may combine: succeeded, same tenant, with stored predictions."""
    from sqlalchemy import select

    rows = session.execute(
        select(Job.id, Job.status, Job.trainer, Job.result)
        .where(Job.race_id == race_id, Job.tenant_id == tenant_id)
        .order_by(Job.created_at, Job.id)
    ).all()
    return [
        {"job_id": r.id, "path": r.result.model_path, "sha256": r.result.model.artifact.sha256}
        for r in rows
        if _member_ok(r.status, r.trainer, r.result)
    ]


# -- reading ----------------------------------------------------------------------------------------
# What a classification race selects on, in order of preference, with whether higher is better.
# - binary: ROC AUC. With two classes the served label is one threshold on one score, and AUC judges that score's
#   ranking at every threshold.
# - multiclass: log loss, a proper scoring rule. A served label is the arg-max over the classes' probabilities,
#   so it is only as good as those probabilities are comparable across classes. One-vs-rest AUC scores each
#   class's ranking on its own and never compares the classes with each other: an overconfident model (unpruned
#   extra trees, whose leaves give 0/1 probabilities) can rank each class well and still place its labels
#   badly. Log loss rewards calibrated class probabilities, whose arg-max is the best label, and it is the loss
#   the race's ensemble already minimises (trainers.ensemble.SELECTION_LOSS). Replayed on the corpus races of
#   bench/race_quality.py and checked on multiclass tables nothing had learned from (see the README).
CLASSIFICATION_METRICS: dict[str, tuple[tuple[str, bool], ...]] = {
    "binary": (("roc_auc", True), ("balanced_accuracy", True)),
    "multiclass": (("log_loss", False), ("roc_auc", True), ("balanced_accuracy", True)),
}


def primary_metric(task: str, jobs: list[Job]) -> tuple[str, bool]:
    """The validation metric that orders the leaderboard and whether higher is better: rmse for regression; for
    classification the first of the task's :data:`CLASSIFICATION_METRICS` that every scored classifier has on
    validation (balanced_accuracy, last, every classifier has)."""
    if task == "regression":
        return "rmse", False
    scored = [_valid(j) for j in jobs if j.status == states.SUCCEEDED and _valid(j)]
    for metric, higher in CLASSIFICATION_METRICS.get(task, CLASSIFICATION_METRICS["binary"]):
        if scored and all(m.get(metric) is not None for m in scored):
            return metric, higher
    return "balanced_accuracy", True


def _split(job: Job, name: str) -> dict[str, float | None]:
    return dict(job.result.model.metrics.get(name) or {}) if job.result else {}


def _test(job: Job) -> dict[str, float | None]:
    return _split(job, "test")


def _valid(job: Job) -> dict[str, float | None]:
    """The validation scores a race selects on: the fold mean (kfold) or the holdout split."""
    validation = job.result.model.validation if job.result else None
    return dict(validation.mean if validation and validation.mean else _split(job, "validation"))


def _entry(job: Job, metric: str) -> RaceEntry:
    ok = job.status == states.SUCCEEDED
    validation = job.result.model.validation if job.result else None
    reason = None
    if job.status in (states.FAILED, states.CANCELLED):
        reason = str((job.error or {}).get("message") or job.status)
    method: Literal["kfold", "holdout", "ensemble"] | None = (
        validation.method if validation else ("holdout" if _split(job, "validation") else None)
    )
    return RaceEntry(
        position=None,
        job_id=job.id,
        model=job.model,
        trainer=job.trainer,
        rank=job.candidate or None,
        is_baseline=job.candidate == 0,
        is_ensemble=job.trainer == jobs_service.ENSEMBLE_TRAINER,
        status=job.status,
        score=_valid(job).get(metric) if ok else None,
        score_sd=validation.sd.get(metric) if ok and validation else None,
        validation=method if ok else None,
        folds=validation.k if ok and validation else None,
        repeats=validation.repeats if ok and validation and validation.method == "kfold" else None,
        test_score=_test(job).get(metric) if ok else None,
        partial=job.result.partial if job.result else None,
        metrics=job.result.model.metrics if job.result else None,
        train_s=seconds_between(job.started_at, job.finished_at),
        reason=reason,
    )


def _order(entry: RaceEntry, higher_is_better: bool, ensemble_leads: bool | None = None) -> tuple[Any, ...]:
    # Scored first, best validation score first; a tie goes to the better-ranked candidate, the baseline last.
    # The ensemble is compared with its members on its own terms (_ensemble_leads): first when it is at least as
    # good as each of them, after every scored single entry when it is not; by its score for results stored
    # before members were scored alongside it.
    rank = entry.rank if entry.rank is not None else 99
    if entry.score is None:
        return (3, 0.0, entry.status == "skipped", rank)
    if entry.is_ensemble and ensemble_leads is not None:
        return (0 if ensemble_leads else 2, 0.0, False, rank)
    return (1, -entry.score if higher_is_better else entry.score, False, rank)


def _ensemble_leads(jobs: list[Job], metric: str, higher_is_better: bool) -> tuple[bool, str, float] | None:
    """Whether the race's ensemble scored at least as well as each of its members on ``metric``, all scored the
    same way on the same rows (its members' shared validation rows, every out-of-fold prediction at once), with
    the best member's model and score; None when there is no scored ensemble or no such comparison on record.

    Why not its score against the members' fold means: the same predictions score differently pooled and per
    fold (a pooled RMSE is never below the mean of the folds' RMSEs), so that comparison is not on equal terms.
    """
    job = next(
        (j for j in jobs if j.trainer == jobs_service.ENSEMBLE_TRAINER and j.status == states.SUCCEEDED and j.result),
        None,
    )
    validation = job.result.model.validation if job is not None and job.result else None
    if validation is None or not validation.members:
        return None
    own = validation.mean.get(metric)
    values: dict[str, float] = {}
    for job_id, member in validation.members.items():
        value = member.get(metric)
        if value is None:
            return None
        values[job_id] = float(value)
    if own is None:
        return None
    best_id = (max if higher_is_better else min)(values, key=lambda k: values[k])
    best = values[best_id]
    leads = own >= best if higher_is_better else own <= best
    model = next((j.model for j in jobs if j.id == best_id), best_id)
    return leads, model, best


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _scored(e: RaceEntry) -> str:
    """'0.95 ± 0.01 (5-fold), test 0.94' or '0.95 (holdout), test 0.94'."""
    folds = f"{e.repeats}×{e.folds}-fold" if e.repeats and e.repeats > 1 else f"{e.folds}-fold"
    how = {"kfold": folds, "ensemble": "its members' validation predictions"}.get(str(e.validation), "holdout")
    sd = f" ± {_fmt(e.score_sd)}" if e.score_sd is not None else ""
    return f"{_fmt(e.score)}{sd} ({how}), test {_fmt(e.test_score)}"


def _verdict(
    board: list[RaceEntry],
    metric: str,
    finished: bool,
    n_ended: int,
    n_jobs: int,
    leads: tuple[bool, str, float] | None = None,
) -> str:
    if not finished:
        return f"Running: {n_ended} of {n_jobs} jobs have ended; the leaderboard is final once all have."
    singles = [e for e in board if not e.is_ensemble]
    verdict = _single_verdict(singles, metric, ensemble_leads=leads is not None and leads[0])
    ensemble = next((e for e in board if e.is_ensemble and e.score is not None), None)
    best = next((e for e in singles if e.score is not None), None)
    if ensemble is not None and leads is not None:
        ahead, model, score = leads
        verdict += (
            f" The ensemble of the entries scored {_fmt(ensemble.score)} {metric} on its members' shared validation "
            f"rows, {'at least as well as' if ahead else 'below'} its best member scored the same way on those rows "
            f"({model}, {_fmt(score)}), so it "
            + ("leads the leaderboard and is the model to serve" if ahead else "is ranked after the single entries")
            + f" (test {_fmt(ensemble.test_score)}). Its weights were chosen on those predictions, so its "
            "validation score is optimistic."
        )
    elif ensemble is not None and best is not None:
        higher = (ensemble.score or 0) > (best.score or 0)
        better = higher if metric != "rmse" else not higher and ensemble.score != best.score
        verdict += (
            f" The ensemble of the entries scored {_scored(ensemble)}, "
            f"{'above' if better else 'not above'} the best single entry (its weights were chosen on "
            "those validation predictions, so its validation score is optimistic)."
        )
    return verdict


def _single_verdict(board: list[RaceEntry], metric: str, ensemble_leads: bool = False) -> str:
    scored = [e for e in board if e.score is not None]
    if not scored:
        return f"No job produced a validation {metric}, so the race cannot check the recommendation."
    win = scored[0]
    first = next((e for e in board if e.rank == 1), None)
    on = f"validation {metric}"
    won = "was the best single entry on" if ensemble_leads else "won on"
    if win.rank == 1:
        if len(scored) == 1:
            return f"The advisor's first choice {win.model} was the only one scored ({on} {_scored(win)})."
        runner_up = scored[1]
        return (
            f"The advisor's first choice {win.model} {won} {on} ({_scored(win)}), ahead of "
            f"{runner_up.model} ({_scored(runner_up)})."
        )
    who = f"The baseline {win.model}" if win.is_baseline else f"{win.model} (rank {win.rank})"
    if first is None:
        return f"{who} {won} {on} ({_scored(win)}); the advisor's first choice was not raced."
    if first.score is None:
        return f"{who} {won} {on} ({_scored(win)}): the advisor's first choice {first.model} was {first.status}."
    return f"{who} beat the advisor's first choice {first.model} on {on}: {_scored(win)} vs {_scored(first)}."


def to_read(race: Race, jobs: list[Job]) -> RaceRead:
    """The API view of a race and its child jobs, with the leaderboard."""
    params = race.params or {}
    metric, higher = primary_metric(str(params.get("task")), jobs)
    board = [_entry(j, metric) for j in jobs]
    board += [
        RaceEntry(
            position=None,
            job_id=None,
            model=s["model"],
            trainer=s["trainer"],
            rank=s.get("rank"),
            is_baseline=s.get("rank") is None,
            status="skipped",
            score=None,
            reason=s["reason"],
        )
        for s in params.get("skipped") or []
    ]
    leads = _ensemble_leads(jobs, metric, higher)
    board.sort(key=lambda e: _order(e, higher, leads[0] if leads is not None else None))
    for i, e in enumerate(e for e in board if e.score is not None):
        e.position = i + 1
    n_ended = sum(states.is_terminal(j.status) for j in jobs)
    finished = n_ended == len(jobs)
    scored = [e for e in board if e.score is not None and not e.is_ensemble]
    agrees = (scored[0].rank == 1) if finished and scored else None
    return RaceRead(
        id=race.id,
        created_at=race.created_at,
        dataset_id=race.dataset_id,
        recommendation_id=race.recommendation_id,
        status="finished" if finished else "running",
        params=params,
        job_ids=[j.id for j in jobs],
        primary_metric=metric,
        higher_is_better=higher,
        leaderboard=board,
        agrees_with_recommendation=agrees,
        budget=RaceBudget.model_validate(params["budget"]) if params.get("budget") else None,
        selection=SELECTION,
        verdict=_verdict(board, metric, finished, n_ended, len(jobs), leads),
        links={
            "self": f"{PREFIX}/{race.id}",
            "dataset": f"/v1/datasets/{race.dataset_id}",
            **({"recommendation": f"/v1/recommendations/{race.recommendation_id}"} if race.recommendation_id else {}),
        },
    )


async def get(*, db: Database, tenant_id: str, id: str) -> RaceRead:
    """The race ``id`` with its leaderboard; ``NotFound`` if there is none."""
    found = await db.run(repo.with_children, id=id, tenant_id=tenant_id, write=False)
    if found is None:
        raise NotFound(f"There is no race with id {id!r}.")
    return to_read(*found)
