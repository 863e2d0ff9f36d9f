"""/v1/jobs/{id}/evaluation"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.auth import PrincipalDep
from service.deps import DatabaseDep, SettingsDep
from service.errors import problem_responses
from service.schemas.common import ID_PATTERN
from service.schemas.evaluation import EvaluationSplit, JobEvaluationRead
from service.services import evaluation as service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{id}/evaluation", response_model=JobEvaluationRead, responses=problem_responses(404, 409, 422, 500))
async def get_evaluation(
    id: Annotated[str, Path(max_length=64, pattern=ID_PATTERN)],
    db: DatabaseDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    split: Annotated[
        EvaluationSplit, Query(description="validation (out-of-fold or holdout, the default) or test.")
    ] = "validation",
) -> JobEvaluationRead:
    """Plots as data from the job's stored predictions: confusion matrix and ROC curves for classifiers,
    predicted vs actual values for regression (409 while the job has no model)."""
    return await service.evaluate(db=db, settings=settings, tenant_id=principal.tenant_id, id=id, split=split)
