"""Per-tenant quotas: running jobs, queued jobs and stored bytes. A tenant's own value overrides the settings'.

* **Running jobs** (``max_concurrent_jobs``) are bounded where a job starts: a worker's claim (see
  :func:`may_start`) leaves a job queued while its tenant already runs that many; it starts when one ends.
* **Queued jobs** have their own, much larger bound (``tenant_max_queued_jobs``), checked when a job is created:
  a user can queue a batch.
* **Stored bytes**: a new job needs room for its model.

The creation check runs in the transaction that inserts the jobs, and the start check in the claim's, each with
the tenant row locked (PostgreSQL ``FOR UPDATE``; SQLite serializes writers), so two cannot take the last slot.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import QuotaExceeded, StorageQuotaExceeded
from service.jobs import states
from service.repositories import tenants as repo
from service.settings import Settings

JOB_SLOT_RETRY_AFTER_S = 10


def limits(session: Session, settings: Settings, tenant_id: str, *, lock: bool = False) -> tuple[int, int]:
    """``(max concurrent jobs, max stored bytes)`` of the tenant: its own, else the settings' defaults."""
    tenant = repo.lock(session=session, id=tenant_id) if lock else repo.get(session=session, id=tenant_id)
    jobs = tenant.max_concurrent_jobs if tenant is not None else None
    stored = tenant.max_stored_bytes if tenant is not None else None
    return (
        jobs if jobs is not None else settings.tenant_max_concurrent_jobs,
        stored if stored is not None else settings.tenant_max_stored_bytes,
    )


def check_job_slots(*, session: Session, settings: Settings, tenant_id: str, n: int = 1) -> None:
    """Refuse ``n`` more jobs (429) if they would exceed the tenant's queued jobs, or (413) if its stored bytes
    are used up (a model needs room). Running jobs are bounded when a job starts, not here."""
    _, max_bytes = limits(session, settings, tenant_id, lock=True)
    max_queued = settings.tenant_max_queued_jobs
    queued = repo.jobs_in(session=session, tenant_id=tenant_id, status=states.QUEUED)
    if queued + n > max_queued:
        raise QuotaExceeded(
            f"The tenant has {queued} queued job(s) of {max_queued} allowed; {n} more would exceed it. "
            "Retry when some have started, or cancel some.",
            retry_after_s=JOB_SLOT_RETRY_AFTER_S,
            queued_jobs=queued,
            max_queued_jobs=max_queued,
        )
    used = repo.stored_bytes(session=session, tenant_id=tenant_id)
    if used >= max_bytes:
        raise StorageQuotaExceeded(
            f"The tenant stores {used} bytes of {max_bytes} allowed; delete datasets or jobs to train more.",
            stored_bytes=used,
            max_stored_bytes=max_bytes,
        )


def may_start(*, session: Session, settings: Settings, tenant_id: str) -> tuple[bool, int, int]:
    """``(allowed, running, limit)``: whether one more of the tenant's jobs may start now. Locks the tenant row
    for the rest of the transaction, so two workers cannot both take its last running slot."""
    max_jobs, _ = limits(session, settings, tenant_id, lock=True)
    running = repo.jobs_in(session=session, tenant_id=tenant_id, status=states.RUNNING)
    return running < max_jobs, running, max_jobs


def remaining_bytes(*, session: Session, settings: Settings, tenant_id: str) -> tuple[int, int, int]:
    """``(room, used, quota)`` of the tenant's stored bytes; room may be 0."""
    _, max_bytes = limits(session, settings, tenant_id, lock=False)
    used = repo.stored_bytes(session=session, tenant_id=tenant_id)
    return max(0, max_bytes - used), used, max_bytes
