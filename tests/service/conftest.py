"""Service tests: a fresh SQLite file per test, migrated with Alembic, served through the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _testdb import database_url
from fastapi import FastAPI

from service.db import migrate
from service.main import create_app
from service.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # SQLite by default; ADVISOR_TEST_DATABASE_URL=postgresql+psycopg://… runs the suite on PostgreSQL.
    # One slot: an app here warms one training process, not the default two (tests/service/jobs/test_races.py
    # checks the default's slots); the API tests need no second one.
    return Settings(data_dir=tmp_path, database_url=database_url(tmp_path), workers=1)


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    migrate.upgrade(settings.database_url)
    return settings


@pytest.fixture
def app(migrated: Settings) -> FastAPI:
    return create_app(migrated)


@asynccontextmanager
async def _open_client(app: FastAPI, *, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, with its lifespan running (ASGITransport does not run it)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


@pytest.fixture
def open_client() -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with open_client(app) as client``: for tests that build their own app."""
    return _open_client


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _open_client(app) as c:
        yield c


@pytest.fixture
def profile() -> dict[str, Any]:
    """The issue's example profile (a fresh copy per test)."""
    return {"modality": "image", "task": "multiclass", "n_rows": 800, "n_classes": 10, "image_size": [224, 224, 3]}


@pytest.fixture
def constraints() -> dict[str, Any]:
    return {"domain_similarity": "high", "deployment": "mobile"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


@pytest.fixture
def assert_problem() -> Callable[[httpx.Response, int], dict[str, Any]]:
    """Check that a response is an RFC 9457 problem with a given status; returns its body."""
    return _assert_problem
