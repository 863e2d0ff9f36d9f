"""/v1/jobs/{id}/importance and /v1/jobs/{id}/report: what a trained model learned, for people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import HTMLResponse, Response

from service.auth import PrincipalDep
from service.deps import DatabaseDep, SettingsDep
from service.errors import problem_responses
from service.schemas.common import ID_PATTERN
from service.schemas.explanations import ImportanceRead
from service.services import explanations, reports
from service.views.jobs import PREFIX

router = APIRouter(prefix=PREFIX, tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


@router.get("/{id}/importance", response_model=ImportanceRead, responses=problem_responses(404, 409, 422, 500))
async def get_importance(id: JobId, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> ImportanceRead:
    """Feature importance of the job's model on its validation rows, per original column, largest first:
    permutation importance (every tabular model) and the model's own (gain, coefficients, impurity); 409 saying
    why where there is none (not finished, or a model of images, sequences or text)."""
    return await explanations.importance(db=db, settings=settings, tenant_id=principal.tenant_id, id=id)


@router.get(
    "/{id}/report",
    # A plain Response class (no media type) keeps the problem answers documented as problem+json.
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {}},
            "description": "One self-contained HTML page (nothing loads from elsewhere).",
        },
        **problem_responses(404, 422),
    },
)
async def get_report(id: JobId, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep) -> HTMLResponse:
    """A self-contained HTML report of the job to send to a colleague: the recipe and the reasons for each choice,
    learning curves, metrics, feature importance, and the race it came from."""
    page = await reports.report(db=db, settings=settings, tenant_id=principal.tenant_id, id=id)
    return HTMLResponse(
        page,
        headers={
            "Content-Disposition": f'inline; filename="{id}-report.html"',
            # The page needs no other resource: forbid any, so a stored label cannot make it load one.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )
