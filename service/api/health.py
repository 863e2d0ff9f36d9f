"""/healthz and /readyz"""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import DatabaseDep, SettingsDep
from service.errors import problem_responses
from service.schemas.health import HealthRead, ReadinessRead
from service.services import health as service

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthRead:
    """Liveness: the process answers."""
    return HealthRead()


@router.get("/readyz", responses=problem_responses(503))
async def readyz(db: DatabaseDep, settings: SettingsDep) -> ReadinessRead:
    """Readiness: the database is reachable and migrated to the head revision, the broker (Celery queue)
    accepts a connection and the artifact store takes a write; each is reported in ``checks``."""
    return await service.readiness(db=db, settings=settings)
