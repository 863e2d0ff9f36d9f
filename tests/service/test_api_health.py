"""/healthz and /readyz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from service.db import migrate
from service.main import create_app
from service.settings import Settings

pytestmark = pytest.mark.anyio


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    head = migrate.head_revision()
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "migrations": f"ok (head {head})",
            "broker": "ok (in-process queue)",
            "artifact_store": "ok",
        },
    }


async def test_readyz_without_migrations_is_503(settings: Settings, open_client: Any, assert_problem: Any) -> None:
    async with open_client(create_app(settings)) as client:
        body = assert_problem(await client.get("/readyz"), 503)
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].startswith("failing")
    assert "migrations" in body["detail"]


async def test_readyz_behind_head_is_503(settings: Settings, open_client: Any, assert_problem: Any) -> None:
    migrate.upgrade(settings.database_url)
    migrate.downgrade(settings.database_url, "base")
    async with open_client(create_app(settings)) as client:
        body = assert_problem(await client.get("/readyz"), 503)
    assert "no revision" in body["checks"]["migrations"]


async def test_readyz_database_unreachable_is_503(tmp_path: Path, open_client: Any, assert_problem: Any) -> None:
    # A database file inside a folder that does not exist cannot be opened.
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    async with open_client(create_app(settings)) as client:
        body = assert_problem(await client.get("/readyz"), 503)
        assert (await client.get("/healthz")).status_code == 200
    assert body["checks"]["database"].startswith("failing")
    assert "database" in body["detail"]
