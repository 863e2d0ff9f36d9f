"""The caller's own tenant: who it is, its limits and what it uses."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TenantQuota(BaseModel):
    """A limit and how much of it is used."""

    limit: int
    used: int


class TenantRead(BaseModel):
    """The tenant a request acts for (``default`` without a key), with its quotas and usage."""

    id: str
    name: str
    key_prefix: str | None = Field(description="The display prefix of the key used (None: keyless).")
    rate_limit_per_minute: int | None = Field(description="This key's request rate; None when keyless (unlimited).")
    concurrent_jobs: TenantQuota = Field(description="Running jobs against the tenant's quota; more wait queued.")
    queued_jobs: TenantQuota = Field(description="Queued jobs against the tenant's (much larger) queue bound.")
    stored_bytes: TenantQuota = Field(description="Bytes of datasets and model files against the tenant's quota.")
