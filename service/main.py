"""The FastAPI application: ``create_app(settings)``; the lifespan owns the engine.

``uvicorn --factory service.main:create_app`` serves it with settings from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

import advisor
from service import body_limit, errors, gcpolicy, ui
from service.api import (
    datasets,
    diagnoses,
    evaluation,
    explanations,
    health,
    jobs,
    metrics,
    races,
    recommendations,
    rules,
    tenant,
)
from service.auth import authenticate, document_auth
from service.db.keylookup import KeyLookup
from service.db.session import Database
from service.jobs.engine import JobEngine
from service.observability.metrics import RequestMetricsMiddleware, ensure_multiproc_dir
from service.observability.request_id import RequestIdMiddleware
from service.ratelimit import make_limiter
from service.services.prediction_batches import BatchPool
from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (the environment's when None). Nothing connects until startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.from_url(
            settings.database_url,
            busy_timeout_s=settings.sqlite_busy_timeout_s,
            pool_size=settings.db_pool_size,
            echo=settings.db_echo,
        )
        app.state.db = db
        app.state.key_lookup = KeyLookup(db, busy_timeout_s=settings.sqlite_busy_timeout_s)
        # Training pool + reaper (startup recovery is the reaper's first pass, on its own thread).
        app.state.jobs = engine = JobEngine(db=db, settings=settings)
        engine.start()
        app.state.prediction_batches = batches = BatchPool(db, settings)
        gcpolicy.freeze_startup_objects()  # what startup built lives as long as the process
        try:
            yield
        finally:
            batches.close()
            await engine.aclose()
            db.dispose()
            gcpolicy.thaw()

    app = FastAPI(
        title="Model-selection advisor",
        version=advisor.TABLES_VERSION,
        summary="Explained model and training-recipe recommendations from a dataset profile.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limiter = make_limiter(settings.rate_limit_redis_url)
    errors.install(app)
    app.add_middleware(body_limit.BodyLimitMiddleware, max_bytes=settings.max_json_bytes)
    _observe(app, settings)  # request ids + latency, outermost: after every add_middleware
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Every /v1 route needs a principal (a key, or keyless as the default tenant while none exists):
    # declared here once, so a new router cannot forget it.
    for module in (datasets, recommendations, rules, diagnoses, jobs, evaluation, explanations, races, tenant):
        app.include_router(
            module.router, dependencies=[Depends(authenticate)], responses=errors.problem_responses(401, 429)
        )
    document_auth(app, settings)
    ui.install(app)  # the web dashboard at /ui: the same principals, through the same service functions
    return app


def _observe(app: FastAPI, settings: Settings) -> None:
    """Export the metrics directory (before any metric exists), then add the request-id and latency
    middleware, the request id outermost, so the latency middleware's and every handler's log lines carry it
    (the last one added runs first)."""
    ensure_multiproc_dir(settings)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
