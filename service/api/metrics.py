"""/metrics: Prometheus text exposition (not in the OpenAPI document)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.deps import DatabaseDep, SettingsDep
from service.observability import metrics

router = APIRouter(tags=["observability"])
logger = logging.getLogger(__name__)

DB_TIMEOUT_S = 2.0  # a scrape does not wait longer for the job counts


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(db: DatabaseDep, settings: SettingsDep) -> Response:
    """Every process's metrics (multiprocess files) plus job counts read from the database now; without the
    job counts when the database does not answer within ``DB_TIMEOUT_S``."""
    counts: metrics.JobCounts | None
    try:
        counts = await asyncio.wait_for(
            asyncio.to_thread(db.call, metrics.job_counts, settings=settings, write=False), DB_TIMEOUT_S
        )
    except Exception as exc:  # database down or slow: the other series are still worth a scrape
        reason = (str(exc).splitlines() or [""])[0]
        logger.warning("metrics: job counts left out (%s: %s)", type(exc).__name__, reason)
        counts = None
    body = await run_in_threadpool(metrics.exposition, counts)
    return Response(body, media_type=metrics.CONTENT_TYPE)
