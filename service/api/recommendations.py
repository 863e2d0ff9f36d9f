"""/v1/recommendations"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from service.auth import PrincipalDep
from service.deps import DatabaseDep, JSONBody
from service.errors import problem_responses
from service.schemas.common import ID_PATTERN
from service.schemas.recommendations import (
    RecommendationCreate,
    RecommendationPage,
    RecommendationRead,
    page_json,
    recommendation_json,
)
from service.services import recommendations as service
from service.services.tenants import Principal

PREFIX = "/v1/recommendations"
router = APIRouter(prefix=PREFIX, tags=["recommendations"])

# Stored documents are returned as stored, without re-validating them: the response models below
# document the shape; the bodies are built by recommendation_json / page_json.


@router.post(
    "",
    status_code=201,
    response_model=RecommendationRead,
    dependencies=[JSONBody],
    responses=problem_responses(400, 404, 415, 422),
)
async def create_recommendation(body: RecommendationCreate, request: Request) -> Response:
    """Recommend a model family, ranked candidates and a training recipe (every value with its rule)."""
    # The hot route: the database and settings straight from the app's state (what DatabaseDep and SettingsDep
    # return), and the principal as the router's authenticate dependency left it (what PrincipalDep returns),
    # rather than more dependencies for FastAPI to solve per request.
    principal: Principal = request.state.principal
    state = request.app.state
    row = await service.create(db=state.db, tenant_id=principal.tenant_id, data=body, settings=state.settings)
    return Response(
        recommendation_json(id=row.id, created_at=row.created_at, document=row.document),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"{PREFIX}/{row.id}"},
    )


@router.get("", response_model=RecommendationPage, responses=problem_responses(422))
async def list_recommendations(
    db: DatabaseDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
) -> Response:
    """List stored recommendations, newest first, with cursor pagination."""
    rows, next_cursor = await service.list_page(db=db, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)
    items = [recommendation_json(id=r.id, created_at=r.created_at, document=r.document) for r in rows]
    return Response(page_json(items, next_cursor), media_type="application/json")


@router.get("/{id}", response_model=RecommendationRead, responses=problem_responses(404, 422))
async def get_recommendation(
    id: Annotated[str, Path(max_length=64, pattern=ID_PATTERN)], db: DatabaseDep, principal: PrincipalDep
) -> Response:
    """Return a stored recommendation exactly as it was produced."""
    row = await service.get(db=db, tenant_id=principal.tenant_id, id=id)
    return Response(
        recommendation_json(id=row.id, created_at=row.created_at, document=row.document),
        media_type="application/json",
    )
