"""/v1/diagnoses"""

from __future__ import annotations

from fastapi import APIRouter

from advisor import Curves
from service.deps import JSONBody
from service.errors import problem_responses
from service.schemas.diagnoses import DiagnosisList
from service.services import diagnoses as service

router = APIRouter(prefix="/v1/diagnoses", tags=["diagnoses"])


@router.post("", dependencies=[JSONBody], responses=problem_responses(400, 415, 422))
async def diagnose_curves(body: Curves) -> DiagnosisList:
    """Diagnose training issues (overfitting, underfitting, ...) from learning curves, with fixes."""
    return service.diagnose(curves=body)
