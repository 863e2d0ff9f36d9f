"""Per-tenant quotas: concurrent jobs and stored bytes. A tenant's own value overrides the settings' default.

The job check runs in the transaction that inserts the jobs, with the tenant row locked (PostgreSQL
``FOR UPDATE``; SQLite serializes writers), so two requests cannot both take the last slot.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import QuotaExceeded, StorageQuotaExceeded
from service.repositories import tenants as repo
from service.settings import Settings

JOB_SLOT_RETRY_AFTER_S = 10


def limits(session: Session, settings: Settings, tenant_id: str, *, lock: bool = False) -> tuple[int, int]:
    """``(max concurrent jobs, max stored bytes)`` of the tenant: its own, else the settings' defaults."""
    tenant = repo.lock(session=session, id=tenant_id) if lock else repo.get(session=session, id=tenant_id)
    jobs = tenant.max_concurrent_jobs if tenant is not None else None
    stored = tenant.max_stored_bytes if tenant is not None else None
    return (jobs if jobs is not None else settings.tenant_max_concurrent_jobs,
            stored if stored is not None else settings.tenant_max_stored_bytes)


def check_job_slots(*, session: Session, settings: Settings, tenant_id: str, n: int = 1) -> None:
    """Refuse ``n`` more jobs (429) if they would exceed the tenant's concurrent jobs, or (413) if its
    stored bytes are used up (a model needs room)."""
    max_jobs, max_bytes = limits(session, settings, tenant_id, lock=True)
    active = repo.active_jobs(session=session, tenant_id=tenant_id)
    if active + n > max_jobs:
        raise QuotaExceeded(
            f"The tenant has {active} queued or running job(s) of {max_jobs} allowed; {n} more would exceed it. "
            "Retry when one has ended, or cancel one.",
            retry_after_s=JOB_SLOT_RETRY_AFTER_S, active_jobs=active, max_concurrent_jobs=max_jobs,
        )
    used = repo.stored_bytes(session=session, tenant_id=tenant_id)
    if used >= max_bytes:
        raise StorageQuotaExceeded(
            f"The tenant stores {used} bytes of {max_bytes} allowed; delete datasets or jobs to train more.",
            stored_bytes=used, max_stored_bytes=max_bytes,
        )


def remaining_bytes(*, session: Session, settings: Settings, tenant_id: str) -> tuple[int, int, int]:
    """``(room, used, quota)`` of the tenant's stored bytes; room may be 0."""
    _, max_bytes = limits(session, settings, tenant_id, lock=False)
    used = repo.stored_bytes(session=session, tenant_id=tenant_id)
    return max(0, max_bytes - used), used, max_bytes
