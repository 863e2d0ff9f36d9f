"""Observability: request ids, structured logs, Prometheus metrics; :func:`install` wires them into an app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this package is imported by service.errors: keep its import light
    from fastapi import FastAPI

    from service.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Export the metrics directory (before any metric exists), add the request-id and latency middleware
    (the request id outermost, so the latency middleware's and every handler's log lines carry it) and
    ``GET /metrics``."""
    from service.api import metrics as metrics_api
    from service.observability.metrics import RequestMetricsMiddleware, ensure_multiproc_dir
    from service.observability.request_id import RequestIdMiddleware

    ensure_multiproc_dir(settings)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(metrics_api.router)
