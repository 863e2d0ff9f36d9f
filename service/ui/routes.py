"""The dashboard's routes: server-rendered pages, the forms they post, and the data their scripts read.

Every read and write goes through the same service functions the ``/v1`` routes call, with the tenant of the
same principal (:mod:`service.ui.session`), so the dashboard sees exactly what the API shows that key, and
nothing more. Pages are ``/ui/...``; what page scripts fetch (JSON, Server-Sent Events, the upload) is
``/ui/data/...`` and answers errors as the API does (problem+json).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from service.deps import DatabaseDep, SettingsDep
from service.errors import ServiceError, Unauthorized, render
from service.jobs.engine import JobEngine
from service.jobs.states import is_terminal
from service.schemas.common import ID_PATTERN
from service.schemas.evaluation import EvaluationSplit
from service.schemas.jobs import JobCreate, JobRead
from service.schemas.races import DEFAULT_TOP_K, RaceCreate, RaceRead
from service.schemas.recommendations import RecommendationCreate, RecommendationRead, recommendation_json
from service.services import datasets as datasets_service
from service.services import evaluation as evaluation_service
from service.services import explanations as explanations_service
from service.services import jobs as jobs_service
from service.services import races as races_service
from service.services import recommendations as recommendations_service
from service.storage import Storage
from service.ui import session, views
from service.ui.session import UiPrincipal
from service.views import jobs as job_views

PREFIX = "/ui"
DATA = f"{PREFIX}/data"
Id = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
CsrfField = Annotated[str, Form(alias=session.CSRF_FIELD, max_length=128)]  # checked by session.check_csrf


def _is_data(request: Request) -> bool:
    return request.url.path.startswith(f"{DATA}/")


def _safe_next(target: str | None) -> str:
    """A redirect target inside the dashboard (never another host)."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


class UiRoute(APIRoute):
    """Pages answer errors as pages: a missing login redirects to the login page, a service error renders the
    error page with its status. Data endpoints keep the API's problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except session.LoginRequired as exc:
                if _is_data(request):
                    return render(Unauthorized(exc.reason), request)
                back = request.url.path if request.method == "GET" else request.headers.get("referer", "")
                path = back if back.startswith(PREFIX) else f"{PREFIX}/"
                return RedirectResponse(f"{PREFIX}/login?next={quote(path)}", status_code=303)
            except ServiceError as exc:
                if _is_data(request):
                    raise
                return views.page(
                    request,
                    "error.html",
                    {"title": exc.title, "status": exc.status, "detail": exc.detail},
                    status_code=exc.status,
                )

        return ui_handler


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=UiRoute)


def _engine(request: Request) -> JobEngine:
    engine: JobEngine = request.app.state.jobs
    return engine


# -- login ------------------------------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, next: str | None = Query(None, max_length=512)) -> Response:
    """The login form, unless this browser's key (or keyless access) already works."""
    try:
        await session.principal_for(request, session.session_key(request))
        return RedirectResponse(_safe_next(next), status_code=303)
    except Unauthorized:
        pass
    return views.page(request, "login.html", {"title": "Log in", "next": _safe_next(next), "error": None})


@router.post("/login")
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=512)] = f"{PREFIX}/",
    csrf: CsrfField = "",
) -> Response:
    """Check the key as the API would; keep it in an HttpOnly cookie."""
    session.check_csrf(request, csrf)
    key = key.strip()
    try:
        if not key:
            raise Unauthorized("Enter an API key.")
        await session.principal_for(request, key)
    except Unauthorized as exc:
        context = {"title": "Log in", "next": _safe_next(next), "error": exc.detail}
        return views.page(request, "login.html", context, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.set_session(response, request, key)
    return response


@router.post("/logout")
async def logout(request: Request, csrf: CsrfField = "") -> Response:
    """Forget this browser's key."""
    session.check_csrf(request, csrf)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    session.clear_session(response, request)
    return response


# -- datasets ---------------------------------------------------------------------------------------
@router.get("")
@router.get("/")
async def home() -> Response:
    """The dashboard starts at the datasets."""
    return RedirectResponse(f"{PREFIX}/datasets", status_code=303)


@router.get("/datasets")
async def datasets_page(request: Request, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """Stored datasets, and the upload form."""
    rows, _ = await datasets_service.list_page(db=db, tenant_id=principal.tenant_id, limit=100)
    items = [datasets_service.to_read(r) for r in rows]
    return views.page(request, "datasets.html", {"title": "Datasets", "datasets": items, "principal": principal})


@router.get("/datasets/{id}")
async def dataset_page(request: Request, id: Id, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """A dataset: its profile, column types, warnings, and the jobs and races trained on it."""
    dataset = datasets_service.to_read(await datasets_service.get(db=db, tenant_id=principal.tenant_id, id=id))
    rows, _ = await jobs_service.list_page(db=db, tenant_id=principal.tenant_id, limit=100, dataset_id=id)
    jobs = [job_views.to_read(r, include_curves=False) for r in rows]
    context = {
        "title": dataset.name,
        "dataset": dataset,
        "columns": views.columns(dataset),
        "jobs": jobs,
        "race_ids": list(dict.fromkeys(j.race_id for j in jobs if j.race_id)),
        "principal": principal,
        "default_top_k": DEFAULT_TOP_K,
    }
    return views.page(request, "dataset.html", context)


@router.post("/data/datasets", status_code=201)
async def upload(request: Request, db: DatabaseDep, settings: SettingsDep, principal: UiPrincipal) -> Response:
    """The upload form's target (an XHR, for its progress bar): the API's upload, answered with the page to go
    to. The CSRF token comes as the X-CSRF-Token header, so the body streams to disk untouched."""
    session.check_csrf(request, None)
    row, is_new = await datasets_service.create_from_upload(
        db=db,
        storage=Storage(settings.data_dir),
        request=request,
        limit=settings.max_upload_bytes,
        tenant_id=principal.tenant_id,
        settings=settings,
    )
    read = datasets_service.to_read(row)
    return JSONResponse(
        {"id": read.id, "created": is_new, "url": f"{PREFIX}/datasets/{read.id}"}, status_code=201 if is_new else 200
    )


@router.post("/datasets/{id}/recommend")
async def recommend(
    request: Request,
    id: Id,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: UiPrincipal,
    csrf: CsrfField = "",
) -> Response:
    """Ask the advisor about this dataset; show the answer."""
    session.check_csrf(request, csrf)
    row = await recommendations_service.create(
        db=db, tenant_id=principal.tenant_id, data=RecommendationCreate(dataset_id=id), settings=settings
    )
    return RedirectResponse(f"{PREFIX}/recommendations/{row.id}?dataset={id}", status_code=303)


@router.post("/datasets/{id}/race")
async def race(
    request: Request,
    id: Id,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: UiPrincipal,
    top_k: Annotated[str, Form(max_length=8)] = "",
    time_budget_s: Annotated[str, Form(max_length=16)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Race this dataset's recommended candidates and baseline; show the race."""
    session.check_csrf(request, csrf)
    try:
        data = RaceCreate.model_validate(
            {
                **({"top_k": top_k} if top_k.strip() else {}),
                **({"time_budget_s": time_budget_s} if time_budget_s.strip() else {}),
            }
        )
    except ValidationError as exc:
        return views.invalid_form(request, exc)
    created = await races_service.create(
        db=db, settings=settings, queue=_engine(request).queue, tenant_id=principal.tenant_id, dataset_id=id, data=data
    )
    return RedirectResponse(f"{PREFIX}/races/{created.id}", status_code=303)


# -- recommendations --------------------------------------------------------------------------------
@router.get("/recommendations/{id}")
async def recommendation_page(
    request: Request,
    id: Id,
    db: DatabaseDep,
    principal: UiPrincipal,
    dataset: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
) -> Response:
    """A recommendation: every value with its rule, cheatsheet section and reason (and, with the dataset it was
    made for, a button to train each candidate)."""
    row = await recommendations_service.get(db=db, tenant_id=principal.tenant_id, id=id)
    rec = RecommendationRead.model_validate_json(
        recommendation_json(id=row.id, created_at=row.created_at, document=row.document)
    )
    context = {
        "title": f"Recommendation for a {rec.profile.modality} {rec.profile.task} dataset",
        "rec": rec,
        "dataset_id": dataset,
        "principal": principal,
    }
    return views.page(request, "recommendation.html", context)


@router.post("/recommendations/{id}/train")
async def train(
    request: Request,
    id: Id,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: UiPrincipal,
    dataset_id: Annotated[str, Form(max_length=64, pattern=ID_PATTERN)],
    candidate: Annotated[str, Form(max_length=8)] = "1",
    csrf: CsrfField = "",
) -> Response:
    """Train one of the recommendation's candidates (0: its baseline); show the job."""
    session.check_csrf(request, csrf)
    try:
        data = JobCreate.model_validate({"dataset_id": dataset_id, "recommendation_id": id, "candidate": candidate})
    except ValidationError as exc:
        return views.invalid_form(request, exc)
    row, _ = await jobs_service.create(
        db=db, settings=settings, queue=_engine(request).queue, tenant_id=principal.tenant_id, data=data
    )
    return RedirectResponse(f"{PREFIX}/jobs/{row.id}", status_code=303)


# -- jobs -------------------------------------------------------------------------------------------
@router.get("/jobs")
async def jobs_page(request: Request, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """The newest jobs."""
    rows, _ = await jobs_service.list_page(db=db, tenant_id=principal.tenant_id, limit=100)
    jobs = [job_views.to_read(r, include_curves=False) for r in rows]
    return views.page(request, "jobs.html", {"title": "Jobs", "jobs": jobs, "principal": principal})


async def _job(db: DatabaseDep, tenant_id: str, id: str) -> JobRead:
    return job_views.to_read(await jobs_service.get(db=db, tenant_id=tenant_id, id=id))


@router.get("/jobs/{id}")
async def job_page(
    request: Request, id: Id, db: DatabaseDep, settings: SettingsDep, principal: UiPrincipal
) -> Response:
    """A job: live status, learning curves, diagnosis, metrics, evaluation plots and feature importance."""
    job = await _job(db, principal.tenant_id, id)
    importance = None
    if job.artifact is not None:
        try:  # the same read as GET /v1/jobs/{id}/importance; a job without one says so on the page
            importance = await explanations_service.importance(
                db=db, settings=settings, tenant_id=principal.tenant_id, id=id
            )
        except ServiceError:
            importance = None
    context = {
        "title": f"Job {job.model}",
        "job": job,
        "terminal": is_terminal(job.status),
        "metrics": views.metric_table(job),
        "importance": views.feature_importance(importance),
        "principal": principal,
    }
    return views.page(request, "job.html", context)


@router.post("/jobs/{id}/cancel")
async def cancel(request: Request, id: Id, db: DatabaseDep, principal: UiPrincipal, csrf: CsrfField = "") -> Response:
    """Cancel the job; back to its page."""
    session.check_csrf(request, csrf)
    await jobs_service.cancel(db=db, tenant_id=principal.tenant_id, id=id)
    return RedirectResponse(f"{PREFIX}/jobs/{id}", status_code=303)


@router.get("/data/jobs/{id}")
async def job_data(id: Id, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """The job as GET /v1/jobs/{id} shows it."""
    job = await _job(db, principal.tenant_id, id)
    return Response(job.model_dump_json(), media_type="application/json")


@router.get("/data/jobs/{id}/evaluation")
async def evaluation_data(
    id: Id, db: DatabaseDep, settings: SettingsDep, principal: UiPrincipal, split: EvaluationSplit = "validation"
) -> Response:
    """The job's plots as data, as GET /v1/jobs/{id}/evaluation shows them."""
    found = await evaluation_service.evaluate(
        db=db, settings=settings, tenant_id=principal.tenant_id, id=id, split=split
    )
    return Response(found.model_dump_json(), media_type="application/json")


@router.get("/data/jobs/{id}/events")
async def job_events(
    id: Id, request: Request, db: DatabaseDep, settings: SettingsDep, principal: UiPrincipal
) -> StreamingResponse:
    """The job's Server-Sent Events, as GET /v1/jobs/{id}/events streams them."""
    await jobs_service.get(db=db, tenant_id=principal.tenant_id, id=id)
    stream = jobs_service.events(
        db=db, settings=settings, tenant_id=principal.tenant_id, id=id, is_disconnected=request.is_disconnected
    )
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


# -- races ------------------------------------------------------------------------------------------
async def _race_context(db: DatabaseDep, tenant_id: str, id: str) -> dict[str, Any]:
    found: RaceRead = await races_service.get(db=db, tenant_id=tenant_id, id=id)
    curves: dict[str, Any] = {}
    for entry in found.leaderboard:
        if entry.job_id and is_terminal(entry.status) and entry.status != "skipped":
            job = await _job(db, tenant_id, entry.job_id)
            if job.curves:
                curves[entry.job_id] = {"model": entry.model, "curves": job.curves}
    chart = {"race": json.loads(found.model_dump_json()), "curves": curves}
    return {"race": found, "chart": chart}


@router.get("/races/{id}")
async def race_page(request: Request, id: Id, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """A race: the leaderboard with its chart, learning curves, the verdict, and a button to race again."""
    context = await _race_context(db, principal.tenant_id, id)
    context.update(title="Race", principal=principal)
    return views.page(request, "race.html", context)


@router.get("/races/{id}/board")
async def race_board(request: Request, id: Id, db: DatabaseDep, principal: UiPrincipal) -> Response:
    """The race page's live part (leaderboard, verdict, chart data), polled while the race runs."""
    return views.page(request, "_race_board.html", await _race_context(db, principal.tenant_id, id))
