"""Stored training jobs and their metrics.

Every write a runner makes after claiming a job is a conditional ``UPDATE`` on ``(id, lease_owner,
status='running')``: the row count says whether this runner still holds the job, and a runner that lost
its lease (the reaper re-queued the job) changes nothing. Functions here never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from service.db.dml import rowcount, table
from service.db.models import Job, JobMetric
from service.jobs import states


def add(*, session: Session, job: Job) -> Job:
    """Stage a new job row (the caller's transaction commits it)."""
    session.add(job)
    session.flush()
    return job


def get(*, session: Session, id: str, tenant_id: str | None) -> Job | None:
    """The job with ``id``, if any; only the tenant's when ``tenant_id`` is given (None: the runner's view)."""
    if tenant_id is None:
        return session.get(Job, id)
    return session.scalars(select(Job).where(Job.id == id, Job.tenant_id == tenant_id)).first()


def by_idempotency_key(*, session: Session, key: str, tenant_id: str) -> Job | None:
    """The tenant's job created with this ``Idempotency-Key``, if any."""
    return session.scalars(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key)).first()


def list_page(
    *,
    session: Session,
    tenant_id: str,
    limit: int,
    after: tuple[datetime, str] | None = None,
    status: str | None = None,
    dataset_id: str | None = None,
) -> list[Job]:
    """Up to ``limit`` of the tenant's jobs, newest first, strictly after the ``(created_at, id)`` key, filtered."""
    stmt = select(Job).where(Job.tenant_id == tenant_id).order_by(Job.created_at.desc(), Job.id.desc())
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if dataset_id is not None:
        stmt = stmt.where(Job.dataset_id == dataset_id)
    if after is not None:
        created_at, id_ = after
        stmt = stmt.where(or_(Job.created_at < created_at, and_(Job.created_at == created_at, Job.id < id_)))
    return list(session.scalars(stmt.limit(limit)))


# -- the runner's writes ---------------------------------------------------------------------------
def claim(*, session: Session, id: str, owner: str, now: datetime, lease_s: float) -> Job | None:
    """Compare-and-set ``queued`` → ``running`` for ``owner``; the claimed row, or None if it was not queued.

    Two deliveries of the same id race here and exactly one wins: the update only matches while the
    status is still ``queued``.
    """
    result = session.execute(
        update(Job)
        .where(Job.id == id, Job.status == states.QUEUED)
        .values(
            status=states.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            heartbeat_at=now,
            attempt=Job.attempt + 1,
            started_at=now,
            updated_at=now,
            child_pid=None,
            progress={"phase": "starting", "current": 0, "total": 0, "fraction": 0.0, "eta_s": None},
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return None
    return session.get(Job, id, populate_existing=True)


def _held(id: str, owner: str) -> Any:
    return and_(Job.id == id, Job.lease_owner == owner, Job.status == states.RUNNING)


def heartbeat(
    *,
    session: Session,
    id: str,
    owner: str,
    now: datetime,
    lease_s: float,
    progress: Mapping[str, Any] | None = None,
    child_pid: int | None = None,
) -> bool | None:
    """Renew the lease (and store progress / the child's pid); returns the cancel flag, or None if
    ``owner`` no longer holds the job."""
    values: dict[str, Any] = {
        "heartbeat_at": now,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "updated_at": now,
    }
    if progress is not None:
        values["progress"] = dict(progress)
    if child_pid is not None:
        values["child_pid"] = child_pid
    row = session.execute(update(Job).where(_held(id, owner)).values(**values).returning(Job.cancel_requested)).first()
    return None if row is None else bool(row[0])


def cancel_flag(*, session: Session, id: str, owner: str) -> bool | None:
    """The cancel flag of a job ``owner`` holds, or None if it holds it no more (a read, no lock)."""
    row = session.execute(select(Job.cancel_requested).where(_held(id, owner))).first()
    return None if row is None else bool(row[0])


def finish(*, session: Session, id: str, owner: str, status: str, values: Mapping[str, Any]) -> bool:
    """End ``owner``'s run of the job with ``status`` (terminal, or ``queued`` to retry) and ``values``.

    Returns False (and changes nothing) if ``owner`` no longer holds the job.
    """
    states.check_transition(states.RUNNING, status)
    result = session.execute(
        update(Job)
        .where(_held(id, owner))
        .values(status=status, lease_owner=None, lease_expires_at=None, child_pid=None, **values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def add_metrics(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert metric rows (``job_id, run, key, value, step, timestamp``) with one executemany."""
    if rows:
        session.execute(insert(table(JobMetric)), list(rows))


def metrics(*, session: Session, job_id: str, run: str | None = None, key: str | None = None) -> list[JobMetric]:
    """A job's metric rows ordered by run, key and step; optionally one run and/or key."""
    stmt = select(JobMetric).where(JobMetric.job_id == job_id)
    if run is not None:
        stmt = stmt.where(JobMetric.run == run)
    if key is not None:
        stmt = stmt.where(JobMetric.key == key)
    return list(session.scalars(stmt.order_by(JobMetric.run, JobMetric.key, JobMetric.step)))


# -- cancellation ----------------------------------------------------------------------------------
def cancel_queued(*, session: Session, id: str, now: datetime) -> bool:
    """``queued`` → ``cancelled`` at once; False if the job was not queued any more."""
    result = session.execute(
        update(Job)
        .where(Job.id == id, Job.status == states.QUEUED)
        .values(
            status=states.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            updated_at=now,
            progress=None,
            error={"type": "cancelled", "message": "cancelled before it started"},
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def request_cancel(*, session: Session, id: str, now: datetime) -> bool:
    """Raise the cancel flag of a running job (its runner stops it); False if it was not running."""
    result = session.execute(
        update(Job)
        .where(Job.id == id, Job.status == states.RUNNING)
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


# -- the reaper ------------------------------------------------------------------------------------
def expired(*, session: Session, now: datetime, limit: int = 100) -> list[Job]:
    """Running jobs whose lease ran out (their runner stopped heartbeating)."""
    stmt = (
        select(Job)
        .where(Job.status == states.RUNNING, Job.lease_expires_at < now)
        .order_by(Job.lease_expires_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def release_expired(
    *, session: Session, id: str, owner: str | None, now: datetime, status: str, values: Mapping[str, Any]
) -> bool:
    """Take a job from a runner whose lease expired: compare-and-set on the same owner and expiry."""
    states.check_transition(states.RUNNING, status)
    owner_matches = Job.lease_owner.is_(None) if owner is None else Job.lease_owner == owner
    result = session.execute(
        update(Job)
        .where(Job.id == id, Job.status == states.RUNNING, owner_matches, Job.lease_expires_at < now)
        .values(status=status, lease_owner=None, lease_expires_at=None, child_pid=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def queued(
    *, session: Session, before: datetime | None = None, tenant_id: str | None = None, limit: int = 1000
) -> list[tuple[str, str]]:
    """``(id, queue)`` of queued jobs, oldest first; only those queued before ``before`` and of ``tenant_id``
    if given."""
    stmt = select(Job.id, Job.queue).where(Job.status == states.QUEUED)
    if before is not None:
        stmt = stmt.where(Job.queued_at < before)
    if tenant_id is not None:
        stmt = stmt.where(Job.tenant_id == tenant_id)
    rows = session.execute(stmt.order_by(Job.created_at, Job.id).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]
