"""Tenants, their API keys and what they use (active jobs, stored bytes). Functions here never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.db.dml import rowcount
from service.db.models import ApiKey, Dataset, Job, Tenant


def get(*, session: Session, id: str) -> Tenant | None:
    """The tenant with ``id``, if any."""
    return session.get(Tenant, id)


def by_name(*, session: Session, name: str) -> Tenant | None:
    """The tenant called ``name``, if any."""
    return session.scalars(select(Tenant).where(Tenant.name == name)).first()


def all_tenants(*, session: Session) -> list[Tenant]:
    """Every tenant, by name."""
    return list(session.scalars(select(Tenant).order_by(Tenant.name)))


def add(*, session: Session, row: Tenant | ApiKey) -> None:
    """Stage a new tenant or key (the caller's transaction commits it)."""
    session.add(row)
    session.flush()


def lock(*, session: Session, id: str) -> Tenant | None:
    """The tenant row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite writes are
    serialized anyway): quota checks that count and then insert do not race each other."""
    return session.scalars(select(Tenant).where(Tenant.id == id).with_for_update()).first()


def key_by_hash(*, session: Session, key_sha256: str) -> tuple[ApiKey, Tenant] | None:
    """The key with this hash and its tenant (revoked or not), if any."""
    row = session.execute(
        select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.key_sha256 == key_sha256)
    ).first()
    return None if row is None else (row[0], row[1])


def any_active_key(*, session: Session) -> bool:
    """Whether at least one key is not revoked (then every request must carry one)."""
    return session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)).first() is not None


def keys(*, session: Session, tenant_id: str | None = None) -> list[tuple[ApiKey, str]]:
    """Keys (with their tenant's name), oldest first; one tenant's if ``tenant_id`` is given."""
    stmt = select(ApiKey, Tenant.name).join(Tenant, Tenant.id == ApiKey.tenant_id)
    if tenant_id is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant_id)
    return [(r[0], r[1]) for r in session.execute(stmt.order_by(ApiKey.created_at, ApiKey.id))]


def keys_matching(*, session: Session, id_or_prefix: str) -> list[ApiKey]:
    """Keys whose id or display prefix is ``id_or_prefix``."""
    stmt = select(ApiKey).where((ApiKey.id == id_or_prefix) | (ApiKey.prefix == id_or_prefix))
    return list(session.scalars(stmt))


def revoke(*, session: Session, id: str, now: datetime) -> bool:
    """Revoke a key; False if it was revoked already."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.id == id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def jobs_in(*, session: Session, tenant_id: str, status: str) -> int:
    """How many of the tenant's jobs are in ``status`` (queued, running, …)."""
    stmt = select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id, Job.status == status)
    return int(session.scalar(stmt) or 0)


def stored_bytes(*, session: Session, tenant_id: str) -> int:
    """Bytes the tenant stores: its datasets plus its jobs' model files."""
    datasets = session.scalar(
        select(func.coalesce(func.sum(Dataset.size_bytes), 0)).where(Dataset.tenant_id == tenant_id)
    )
    models = session.scalar(select(func.coalesce(func.sum(Job.artifact_bytes), 0)).where(Job.tenant_id == tenant_id))
    return int(datasets or 0) + int(models or 0)
