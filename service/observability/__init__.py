"""Observability: request ids, structured logs, Prometheus metrics.

The app wires them in (``service.main``); ``GET /metrics`` is a route (``service.api.metrics``). This package
imports no route, so the routes and ``service.errors`` can import it.
"""
