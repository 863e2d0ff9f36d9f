"""OpenAPI, and the problem+json rendering of unexpected errors."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.anyio


async def test_docs_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    for path in (
        "/v1/recommendations",
        "/v1/recommendations/{id}",
        "/v1/rules",
        "/v1/diagnoses",
        "/healthz",
        "/readyz",
    ):
        assert path in paths
    create = paths["/v1/recommendations"]["post"]
    assert create["summary"] and create["description"]
    assert "201" in create["responses"] and "422" in create["responses"]
    assert "RecommendationCreate" in spec["components"]["schemas"]
    assert "RecommendationRead" in spec["components"]["schemas"]


async def test_unexpected_error_is_a_500_problem_with_request_id(
    app: FastAPI, open_client: Any, assert_problem: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with open_client(app, raise_app_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="service.errors"):
            response = await client.get("/boom", headers={"x-request-id": "req-123"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-123"
    assert response.headers["x-request-id"] == "req-123"
    assert "secret" not in response.text
    assert any("req-123" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient, assert_problem: Any) -> None:
    assert_problem(await client.get("/v2/nothing"), 404)
