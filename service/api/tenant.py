"""/v1/tenant"""

from __future__ import annotations

from fastapi import APIRouter

from service.auth import PrincipalDep
from service.deps import DatabaseDep, SettingsDep
from service.schemas.tenant import TenantRead
from service.services import tenants as service

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])


@router.get("")
async def get_tenant(db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> TenantRead:
    """Return the caller's tenant: its name, the key's rate limit, and its quotas with current usage."""
    return await db.run(service.describe, settings=settings, principal=principal, write=False)
