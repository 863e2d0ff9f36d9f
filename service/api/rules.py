"""/v1/rules"""

from __future__ import annotations

from fastapi import APIRouter

from service.schemas.rules import RuleCatalogRead
from service.services import rules as service

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("")
async def list_rules() -> RuleCatalogRead:
    """Return the whole rule base as data: every rule's id, cheatsheet section, conditions and description."""
    return service.catalog()
