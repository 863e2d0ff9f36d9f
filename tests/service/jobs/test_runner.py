"""The runner and the reaper, called directly (no HTTP): claim, results, duplicates, crashes, budgets, leases."""

from __future__ import annotations

import math
import shutil
import threading
from datetime import timedelta
from typing import Any

from _job_fixtures import FAST_XGB, SLOW_XGB, get_job, insert_job

from service.db.session import Database
from service.db.types import utcnow
from service.jobs import reaper, runner, states
from service.jobs.process import TrainingProcess
from service.jobs.queue import InProcessQueue
from service.jobs.stored import JobResult
from service.repositories import jobs as repo
from service.settings import Settings

BASELINE = {
    "model": "logistic_regression",
    "trainer": "sklearn_logistic",
    "params": {"C": 1.0, "max_iter": 1000, "scaling": "standard"},
}


def _run(
    job_id: str, db: Database, settings: Settings, warm: list[TrainingProcess | None], **kwargs: Any
) -> runner.RunOutcome:
    outcome = runner.run(job_id, db=db, settings=settings, process=warm[0], **kwargs)
    if outcome.claimed:
        warm[0] = outcome.process
    return outcome


def _finite(values: dict[str, Any]) -> bool:
    return all(v is None or math.isfinite(v) for v in values.values())


def test_a_job_runs_to_success_with_metrics_baseline_curves_and_artifact(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    job_id = insert_job(db, bc_dataset, baseline=BASELINE)
    outcome = _run(job_id, db, engine_settings, warm_process)
    assert outcome.claimed and outcome.status == states.SUCCEEDED
    assert outcome.process is not None and outcome.process.alive()  # kept warm for the next job
    # Where its time went, from both processes (the training process's stamps came back with "done").
    assert outcome.stages is not None
    assert {"claim", "send", "handoff", "load", "fit", "zip", "baseline", "end_write"} <= outcome.stages.keys()
    assert all(ms >= 0 for ms in outcome.stages.values()) and outcome.stages["fit"] > 0

    job = get_job(db, job_id)
    assert job.status == "succeeded" and job.attempt == 1 and job.error is None
    assert job.lease_owner is None and job.finished_at is not None
    result = job.result
    assert isinstance(result, JobResult)  # one validated document, read back as its type
    model = result.model
    assert set(model.metrics) == {"validation", "test"}
    assert model.metrics["test"]["roc_auc"] > 0.9 and _finite(model.metrics["test"])
    assert result.baseline is not None and result.baseline.error is None
    assert result.baseline.metrics is not None and result.baseline.metrics["test"]["roc_auc"] > 0.9
    assert result.lift_over_baseline is not None
    assert set(result.lift_over_baseline["test"]) >= {"roc_auc", "log_loss", "accuracy"}
    assert len(model.curves.train_loss) == FAST_XGB["n_estimators"]
    assert model.partial is False and model.seed == 0 and model.n_threads == 1
    # Early stopping on a separable set: the curves carry no §10 issue, and the job says none.
    assert model.diagnosis == []
    device = result.device
    assert device is not None and device.device == "cpu" and device.cpu and device.threads == 1
    assert device.gpu_unused_reason
    assert job.progress["phase"] == "done"

    artifact_dir = engine_settings.artifacts_dir / result.model_path
    assert (artifact_dir / "model.ubj").is_file()
    assert (engine_settings.artifacts_dir / result.zip.path).is_file()
    # The tenant's stored bytes count the job's files.
    job_dir = engine_settings.artifacts_dir / job_id
    assert job.artifact_bytes == sum(p.stat().st_size for p in job_dir.rglob("*") if p.is_file()) > 0

    rows = db.call(repo.metrics, job_id=job_id, write=False)
    keys = {(r.run, r.key) for r in rows}
    assert ("model", "test.roc_auc") in keys and ("baseline", "test.roc_auc") in keys
    curve = [r for r in rows if r.run == "model" and r.key == "valid.logloss"]
    assert [r.step for r in curve] == list(range(FAST_XGB["n_estimators"]))
    assert all(r.timestamp > 1_600_000_000_000 for r in curve)


def test_duplicate_delivery_trains_once(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    job_id = insert_job(db, bc_dataset)
    outcomes: list[runner.RunOutcome] = []
    barrier = threading.Barrier(2)

    def deliver(process: TrainingProcess | None) -> None:
        barrier.wait()
        outcomes.append(runner.run(job_id, db=db, settings=engine_settings, process=process))

    # Only the winner of the claim uses a process; give the warm one to the first thread.
    threads = [threading.Thread(target=deliver, args=(p,)) for p in (warm_process[0], None)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    claimed = [o for o in outcomes if o.claimed]
    assert len(outcomes) == 2 and len(claimed) == 1
    warm_process[0] = claimed[0].process
    assert [o.status for o in outcomes if not o.claimed] == [None]
    job = get_job(db, job_id)
    assert job.status == "succeeded" and job.attempt == 1 and len(job.history) == 1
    steps = [r.step for r in db.call(repo.metrics, job_id=job_id, run="model", key="train.logloss", write=False)]
    assert steps == list(range(FAST_XGB["n_estimators"]))  # written once
    # A third, late delivery of a finished job does nothing.
    late = runner.run(job_id, db=db, settings=engine_settings, process=None)
    assert not late.claimed and get_job(db, job_id).attempt == 1


def test_an_error_in_the_training_process_fails_the_job_with_its_message(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    from service.db.models import Dataset

    good = db.call(lambda session: session.get(Dataset, bc_dataset), write=False)
    broken = engine_settings.data_dir / "datasets" / "broken"
    shutil.copytree(engine_settings.data_dir / good.storage_path, broken)
    (broken / "data.parquet").write_bytes(b"this is not parquet")

    def point_at_broken(*, session: Any) -> str:
        row = Dataset(
            **{
                c: getattr(good, c)
                for c in ("name", "source", "modality", "task", "target", "n_rows", "profile", "details", "warnings")
            }
        )
        row.storage_path = "datasets/broken"
        session.add(row)
        session.flush()
        return row.id

    dataset_id = db.call(point_at_broken)
    job_id = insert_job(db, dataset_id)
    outcome = _run(job_id, db, engine_settings, warm_process)
    job = get_job(db, job_id)
    assert outcome.status == job.status == "failed"
    # The stored file was changed after it was written: refused before anything parses it.
    assert "does not match the sha-256" in job.error["message"].lower(), job.error
    assert job.error["type"] and job.attempt == 1  # a deterministic error is not retried
    assert outcome.process is not None and outcome.process.alive()  # the process survives a Python error

    # A dataset stored before files were hashed is read unverified: the parser's own error then.
    def forget_hashes(*, session: Any) -> None:
        row = session.get(Dataset, dataset_id)
        row.details = {k: v for k, v in row.details.items() if k != "file_sha256"}

    db.call(forget_hashes)
    job_id = insert_job(db, dataset_id)
    _run(job_id, db, engine_settings, warm_process)
    job = get_job(db, job_id)
    assert job.status == "failed"
    assert "parquet" in job.error["message"].lower() or "magic" in job.error["message"].lower()


def test_a_dataset_stored_before_hashing_trains_with_a_note(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    from service.db.models import Dataset

    def unhashed_copy(*, session: Any) -> str:
        good = session.get(Dataset, bc_dataset)
        row = Dataset(
            **{
                c: getattr(good, c)
                for c in (
                    "name",
                    "source",
                    "modality",
                    "task",
                    "target",
                    "n_rows",
                    "profile",
                    "warnings",
                    "storage_path",
                )
            }
        )
        row.details = {k: v for k, v in good.details.items() if k != "file_sha256"}
        session.add(row)
        session.flush()
        return row.id

    job_id = insert_job(db, db.call(unhashed_copy))
    _run(job_id, db, engine_settings, warm_process)
    job = get_job(db, job_id)
    assert job.status == "succeeded"
    assert any("without a SHA-256 check" in n for n in job.result.notes), job.result.notes


def test_the_time_budget_keeps_the_best_model_so_far(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    job_id = insert_job(db, bc_dataset, params=SLOW_XGB, time_budget_s=2.0, baseline=BASELINE)
    outcome = _run(job_id, db, engine_settings, warm_process)
    job = get_job(db, job_id)
    assert outcome.status == job.status == "succeeded", job.error
    result = job.result
    assert result is not None and result.partial is True and result.model.partial_reason == "time_budget"
    assert 0 < result.model.n_rounds < SLOW_XGB["n_estimators"]
    assert result.baseline is not None and result.baseline.error is not None
    assert result.baseline.error["message"].startswith("not trained")


def test_a_runner_that_lost_its_lease_writes_nothing(db: Database, engine_settings: Settings, bc_dataset: str) -> None:
    job_id = insert_job(db, bc_dataset)
    assert db.call(repo.claim, id=job_id, owner="stale", now=utcnow(), lease_s=1.0) is not None
    later = utcnow() + timedelta(seconds=5)
    report = reaper.reap(db, engine_settings, None, now=later)
    assert job_id in report.requeued
    assert get_job(db, job_id).status == "queued"
    wrote = db.call(repo.finish, id=job_id, owner="stale", status="succeeded", values={"error": {"x": 1}})
    assert wrote is False
    assert db.call(repo.heartbeat, id=job_id, owner="stale", now=later, lease_s=1.0) is None
    job = get_job(db, job_id)
    assert job.status == "queued" and job.error != {"x": 1} and job.history[-1]["outcome"] == "lease_expired"


def test_startup_recovery_requeues_fails_cancels_and_reenqueues(
    db: Database, engine_settings: Settings, bc_dataset: str
) -> None:
    past = utcnow() - timedelta(minutes=5)
    running = {"status": "running", "lease_owner": "dead:1:x", "lease_expires_at": past, "started_at": past}
    retry = insert_job(db, bc_dataset, attempt=1, **running)
    exhausted = insert_job(db, bc_dataset, attempt=2, **running)
    cancelling = insert_job(db, bc_dataset, attempt=1, cancel_requested=True, **running)
    alive = insert_job(db, bc_dataset, attempt=1, **{**running, "lease_expires_at": utcnow() + timedelta(hours=1)})
    waiting = insert_job(db, bc_dataset)
    queue = InProcessQueue()

    report = reaper.recover(db, engine_settings, queue)

    assert retry in report.requeued and exhausted in report.failed and cancelling in report.cancelled
    assert {retry, waiting} <= queue.waiting() and alive not in queue.waiting() and exhausted not in queue.waiting()
    assert get_job(db, retry).status == "queued" and get_job(db, retry).attempt == 1
    failed = get_job(db, exhausted)
    assert failed.status == "failed" and "attempt 2 of 2" in failed.error["message"]
    assert get_job(db, cancelling).status == "cancelled"
    assert get_job(db, alive).status == "running"  # its lease is valid: the periodic reaper waits for it
    for job_id in (retry, waiting):  # leave the shared database with nothing pending
        db.call(repo.cancel_queued, id=job_id, now=utcnow())
    db.call(
        repo.release_expired, id=alive, owner="dead:1:x", now=utcnow() + timedelta(hours=2), status="failed", values={}
    )


class _RecordingBroker:
    """Stands in for the Celery publisher: records what the reconciler publishes (no broker needed)."""

    def __init__(self, recent: frozenset[str] = frozenset()) -> None:
        self.published: list[tuple[str, str]] = []
        self.recent = recent

    def recently_published(self, job_id: str, within_s: float) -> bool:
        return job_id in self.recent

    def enqueue(self, job_id: str, queue: str | None = None) -> None:
        self.published.append((job_id, str(queue)))


def test_the_reconciler_publishes_a_requeued_job_in_the_same_pass(
    db: Database, engine_settings: Settings, bc_dataset: str
) -> None:
    from service.jobs.reconciler import reconcile

    job_id = insert_job(db, bc_dataset)
    fresh = insert_job(db, bc_dataset)  # queued just now and published by its POST: not published again
    assert db.call(repo.claim, id=job_id, owner="dead:1:x", now=utcnow(), lease_s=1.0) is not None
    broker = _RecordingBroker(recent=frozenset({job_id, fresh}))  # even if published recently, before it died
    report = reconcile(db, engine_settings, broker, now=utcnow() + timedelta(seconds=5))  # type: ignore[arg-type]
    assert report.requeued == [job_id]
    assert broker.published == [(job_id, "cpu")]
    assert report.enqueued == [job_id]
    for jid in (job_id, fresh):  # leave the shared database with nothing pending
        db.call(repo.cancel_queued, id=jid, now=utcnow())


def test_a_tenant_at_its_running_quota_waits_queued_and_starts_when_a_slot_frees(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    from service.services import tenants

    one_at_a_time = engine_settings.model_copy(update={"tenant_max_concurrent_jobs": 1})
    tenant = db.call(tenants.ensure_tenant, name="one-at-a-time").id  # its own tenant: no other job queued
    holder = insert_job(db, bc_dataset, tenant_id=tenant)
    waiting = insert_job(db, bc_dataset, tenant_id=tenant)
    assert db.call(repo.claim, id=holder, owner="other:1:x", now=utcnow(), lease_s=60.0) is not None

    outcome = _run(waiting, db, one_at_a_time, warm_process)
    assert not outcome.claimed and outcome.reason is not None and "1 job(s) of the 1" in outcome.reason
    assert get_job(db, waiting).status == "queued" and get_job(db, waiting).attempt == 0

    # The holder ends; the next job of the tenant to end hands the waiting one to the queue at once.
    assert db.call(repo.finish, id=holder, owner="other:1:x", status="failed", values={"finished_at": utcnow()})
    third = insert_job(db, bc_dataset, tenant_id=tenant)
    queue = InProcessQueue()
    done = _run(third, db, one_at_a_time, warm_process, queue=queue)
    assert done.claimed and done.status == "succeeded"
    assert queue.waiting() == {waiting}
    assert _run(waiting, db, one_at_a_time, warm_process).status == "succeeded"


def test_a_tenant_below_its_running_quota_gets_no_job_handed_on(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    """Below its limit no claim of the tenant was refused, so its queued jobs still have their messages: an end
    publishes nothing (a broker would deliver a duplicate per job)."""
    from service.services import tenants

    tenant = db.call(tenants.ensure_tenant, name="roomy").id
    first = insert_job(db, bc_dataset, tenant_id=tenant)
    behind = insert_job(db, bc_dataset, tenant_id=tenant)
    queue = InProcessQueue()
    done = _run(first, db, engine_settings, warm_process, queue=queue)
    assert done.claimed and done.status == "succeeded"
    assert engine_settings.tenant_max_concurrent_jobs > 1 and queue.waiting() == frozenset()
    db.call(repo.cancel_queued, id=behind, now=utcnow())  # leave the shared database with nothing pending


def test_a_process_that_ran_its_jobs_is_replaced_once_its_last_job_has_ended(
    db: Database, engine_settings: Settings, bc_dataset: str, warm_process: list[TrainingProcess | None]
) -> None:
    one_job = engine_settings.model_copy(update={"job_max_per_child": 1})
    retired = warm_process[0] or TrainingProcess()
    retired.jobs_run = 0
    outcome = _run(insert_job(db, bc_dataset), db, one_job, [retired])
    assert outcome.status == states.SUCCEEDED and outcome.process is None  # the worker starts a fresh one
    assert not retired.alive()
    warm_process[0] = None
