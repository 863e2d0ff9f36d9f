"""Tenants and API keys: create, list, revoke; quotas. (Each request's key lookup: ``service.db.keylookup``.)

A key is ``adv_`` + 43 URL-safe random characters (256 bits). Only its SHA-256 (hex) and a display prefix
(``adv_`` + 8 characters) are stored: the key itself is shown once, by ``advisor keys create``. A key of 256
random bits needs no slow hash: nobody can brute-force its preimage, and a plain digest keeps the lookup
to one indexed read per request.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.db.models import DEFAULT_TENANT_ID, ApiKey, Tenant
from service.db.types import utcnow
from service.errors import NotFound
from service.jobs import states
from service.repositories import tenants as repo
from service.schemas.tenant import TenantQuota, TenantRead
from service.services import quotas
from service.settings import Settings

KEY_PREFIX = "adv_"
_DISPLAY_CHARS = 8


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: a tenant, and the key it came with (None: keyless, the default tenant)."""

    tenant_id: str
    key_id: str | None = None
    rate_limit_per_minute: int | None = None


ANONYMOUS = Principal(tenant_id=DEFAULT_TENANT_ID)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A created key: ``key`` is the secret, shown once and never stored."""

    key: str
    id: str
    prefix: str
    tenant: str


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def ensure_tenant(*, session: Session, name: str) -> Tenant:
    """The tenant called ``name``, created if missing."""
    tenant = repo.by_name(session=session, name=name)
    if tenant is None:
        tenant = Tenant(name=name, webhook_secret=new_webhook_secret())
        repo.add(session=session, row=tenant)
    return tenant


def create_key(
    *, session: Session, tenant: str, name: str | None = None, rate_limit_per_minute: int | None = None
) -> NewKey:
    """A new key for ``tenant`` (created if missing)."""
    row_tenant = ensure_tenant(session=session, name=tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        tenant_id=row_tenant.id,
        name=name,
        prefix=key[: len(KEY_PREFIX) + _DISPLAY_CHARS],
        key_sha256=hash_key(key),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    repo.add(session=session, row=row)
    return NewKey(key=key, id=row.id, prefix=row.prefix, tenant=row_tenant.name)


class AmbiguousKey(ValueError):
    """A display prefix that more than one active key shares: revoke by id instead."""


def revoke_key(*, session: Session, id_or_prefix: str) -> list[str]:
    """Revoke the active key with this id or display prefix; the id revoked (empty: none matched). A prefix
    that several active keys share revokes nothing (``AmbiguousKey`` lists their ids)."""
    active = [k for k in repo.keys_matching(session=session, id_or_prefix=id_or_prefix) if k.revoked_at is None]
    if len(active) > 1:
        raise AmbiguousKey(
            f"{len(active)} active keys have the prefix {id_or_prefix!r}: "
            f"revoke one by id ({', '.join(k.id for k in active)})"
        )
    now = utcnow()
    return [k.id for k in active if repo.revoke(session=session, id=k.id, now=now)]


def set_quota(
    *, session: Session, tenant: str, max_concurrent_jobs: int | None = None, max_stored_bytes: int | None = None
) -> Tenant:
    """Set a tenant's own quotas (created if missing); a value left None keeps the current one."""
    row = ensure_tenant(session=session, name=tenant)
    if max_concurrent_jobs is not None:
        row.max_concurrent_jobs = max_concurrent_jobs
    if max_stored_bytes is not None:
        row.max_stored_bytes = max_stored_bytes
    session.flush()
    return row


def describe(*, session: Session, settings: Settings, principal: Principal) -> TenantRead:
    """The caller's tenant with its limits and usage (``GET /v1/tenant``)."""
    tenant = repo.get(session=session, id=principal.tenant_id)
    if tenant is None:  # the key's tenant row is gone with it (cascade): the key would not have authenticated
        raise NotFound("The tenant of this key no longer exists.")
    key = session.get(ApiKey, principal.key_id) if principal.key_id else None
    max_jobs, max_bytes = quotas.limits(session, settings, tenant.id)
    return TenantRead(
        id=tenant.id,
        name=tenant.name,
        key_prefix=key.prefix if key else None,
        rate_limit_per_minute=(principal.rate_limit_per_minute or settings.rate_limit_per_minute) if key else None,
        concurrent_jobs=TenantQuota(
            limit=max_jobs, used=repo.jobs_in(session=session, tenant_id=tenant.id, status=states.RUNNING)
        ),
        queued_jobs=TenantQuota(
            limit=settings.tenant_max_queued_jobs,
            used=repo.jobs_in(session=session, tenant_id=tenant.id, status=states.QUEUED),
        ),
        stored_bytes=TenantQuota(limit=max_bytes, used=repo.stored_bytes(session=session, tenant_id=tenant.id)),
    )
