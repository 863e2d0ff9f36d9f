"""/v1/datasets/{id}/race and /v1/races"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from service.api.jobs import EngineDep
from service.auth import PrincipalDep
from service.deps import DatabaseDep, JSONBody, SettingsDep
from service.errors import problem_responses
from service.schemas.common import ID_PATTERN
from service.schemas.races import RaceCreate, RaceRead
from service.services import races as service

router = APIRouter(tags=["races"])

Id = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


def _headers(race: RaceRead) -> dict[str, str]:
    return {"Retry-After": "2"} if race.status == "running" else {}


@router.post(
    "/v1/datasets/{id}/race",
    status_code=202,
    response_model=RaceRead,
    dependencies=[JSONBody],
    responses=problem_responses(404, 409, 415, 422),
)
async def create_race(
    id: Id, body: RaceCreate, db: DatabaseDep, settings: SettingsDep, engine: EngineDep, principal: PrincipalDep
) -> Response:
    """Race a recommendation's top-k candidates and its baseline as jobs of one race; poll it for the leaderboard."""
    race = await service.create(
        db=db, settings=settings, queue=engine.queue, tenant_id=principal.tenant_id, dataset_id=id, data=body
    )
    headers = {"Location": race.links["self"], **_headers(race)}
    return Response(race.model_dump_json(), status_code=202, media_type="application/json", headers=headers)


@router.get(f"{service.PREFIX}/{{id}}", response_model=RaceRead, responses=problem_responses(404, 422))
async def get_race(id: Id, db: DatabaseDep, principal: PrincipalDep) -> Response:
    """Return a race: running until every job ended, then a leaderboard and whether the advisor's first choice won."""
    race = await service.get(db=db, tenant_id=principal.tenant_id, id=id)
    return Response(race.model_dump_json(), media_type="application/json", headers=_headers(race))
