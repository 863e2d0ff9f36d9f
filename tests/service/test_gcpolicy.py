"""The serving process keeps what startup built out of the garbage collector's walks (service.gcpolicy)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.anyio


async def test_startup_objects_are_frozen_while_serving_and_given_back_at_shutdown(
    app: FastAPI, open_client: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    gc.unfreeze()
    async with open_client(app) as client:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # modules, classes, the app: everything alive when startup ended
        # a request's objects are not frozen: they stay collectable
        response = await client.post(
            "/v1/recommendations", json={"profile": {"modality": "tabular", "task": "binary", "n_rows": 500}}
        )
        assert response.status_code == 201, response.text
        assert gc.get_freeze_count() <= frozen  # (a frozen object can still be freed by its reference count)
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made after startup
        del garbage
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0
