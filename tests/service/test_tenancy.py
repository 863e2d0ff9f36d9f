"""API keys and tenants: isolation over every route, keyless mode, revocation, rate limits, quotas, the CLI."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _testdb import database_url
from fastapi import FastAPI
from sqlalchemy import text

from service import admin, cli
from service.db import migrate
from service.db.session import Database
from service.main import create_app
from service.ratelimit import RateLimiter
from service.services import tenants
from service.settings import Settings

pytestmark = pytest.mark.anyio

CSV = "a,b,y\n" + "".join(f"{i},{(i * 7) % 5},{i % 2}\n" for i in range(60))


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url(tmp_path),
        "workers": 0,
        "worker_prewarm": False,
    }
    values.update(overrides)
    return Settings(**values)


def _problem(response: httpx.Response, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if type_suffix is not None:
        assert body["type"].endswith(type_suffix), body
    return body


def _key(settings: Settings, tenant: str, **kwargs: Any) -> str:
    db = Database.from_url(settings.database_url)
    try:
        return db.call(tenants.create_key, tenant=tenant, **kwargs).key
    finally:
        db.dispose()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _upload(client: httpx.AsyncClient, key: str | None, content: str = CSV) -> httpx.Response:
    headers = _bearer(key) if key else {}
    return await client.post(
        "/v1/datasets", files={"file": ("d.csv", content.encode(), "text/csv")}, data={"target": "y"}, headers=headers
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = _settings(tmp_path)
    migrate.upgrade(s.database_url)
    return s


@pytest.fixture
async def client(settings: Settings, open_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(create_app(settings)) as c:
        yield c


# -- isolation ---------------------------------------------------------------------------------------
async def _resources(client: httpx.AsyncClient, key: str) -> dict[str, str]:
    """One of each resource, owned by ``key``'s tenant."""
    h = _bearer(key)
    created = await _upload(client, key)
    assert created.status_code == 201, created.text
    dataset = created.json()["id"]
    rec = await client.post("/v1/recommendations", json={"dataset_id": dataset}, headers=h)
    assert rec.status_code == 201, rec.text
    job = await client.post(
        "/v1/jobs", json={"dataset_id": dataset, "spec": {"trainer": "sklearn_logistic"}}, headers=h
    )
    assert job.status_code == 202, job.text
    race = await client.post(f"/v1/datasets/{dataset}/race", json={"top_k": 1}, headers=h)
    assert race.status_code == 202, race.text
    return {"dataset": dataset, "recommendation": rec.json()["id"], "job": job.json()["id"], "race": race.json()["id"]}


# Which resource an {id} in a route's path names (a new route with an id must be added here: the test fails).
_ID_KIND = {"/v1/datasets": "dataset", "/v1/recommendations": "recommendation", "/v1/jobs": "job", "/v1/races": "race"}


def _id_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """Every (method, path, kind) of the app's schema whose path holds a resource id."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if "{id}" in path:
            prefix = path.split("/{id}")[0]
            assert prefix in _ID_KIND, f"no resource kind known for {path}: extend _ID_KIND"
            found += [(method.upper(), path, _ID_KIND[prefix]) for method in sorted(operations)]
    return found


def _body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    if method in ("GET", "DELETE"):
        return {}
    if path.endswith("/predictions"):
        return {"json": {"rows": [{"a": 1, "b": 2}]}}
    if path.endswith("/race"):
        return {"json": {"top_k": 1}}
    return {"json": {}}


def _prediction_batch(settings: Settings, job_id: str) -> str:
    """A finished batch prediction of the job, owned by the job's tenant (stored directly: the job never ran)."""
    from service.db.models import PredictionBatch
    from service.db.types import new_id, utcnow
    from service.repositories import jobs as jobs_repo

    db = Database.from_url(settings.database_url)
    try:
        job = db.call(jobs_repo.get, id=job_id, tenant_id=None, write=False)
        assert job is not None
        row = PredictionBatch(
            id=new_id(),
            created_at=utcnow(),
            updated_at=utcnow(),
            tenant_id=job.tenant_id,
            job_id=job_id,
            status="succeeded",
            input_kind="json",
            storage_path="predictions/none",
            n_done=0,
        )

        def add(*, session: Any) -> None:
            session.add(row)

        db.call(add)
        return row.id
    finally:
        db.dispose()


async def test_another_tenants_ids_answer_404_on_every_route(client: httpx.AsyncClient, settings: Settings) -> None:
    key_a, key_b = _key(settings, "acme"), _key(settings, "globex")
    ids = await _resources(client, key_a)
    batch = _prediction_batch(settings, ids["job"])
    routes = _id_routes(create_app(settings))
    assert len(routes) >= 10, routes
    for method, path, kind in routes:
        url = path.replace("{id}", ids[kind]).replace("{batch_id}", batch)
        foreign = await client.request(method, url, headers=_bearer(key_b), **_body_for(method, path, ids))
        _problem(foreign, 404, "not-found")
        assert ids[kind] in foreign.json()["detail"], foreign.text  # the same answer as an id that never existed
    # The owner still sees everything (nothing above deleted or changed it).
    for kind, prefix in (
        ("dataset", "/v1/datasets"),
        ("recommendation", "/v1/recommendations"),
        ("job", "/v1/jobs"),
        ("race", "/v1/races"),
    ):
        assert (await client.get(f"{prefix}/{ids[kind]}", headers=_bearer(key_a))).status_code == 200
    owned = await client.get(f"/v1/jobs/{ids['job']}/predictions/{batch}", headers=_bearer(key_a))
    assert owned.status_code == 200 and owned.json()["status"] == "succeeded", owned.text


async def test_lists_and_references_stay_inside_the_tenant(client: httpx.AsyncClient, settings: Settings) -> None:
    key_a, key_b = _key(settings, "acme"), _key(settings, "globex")
    ids = await _resources(client, key_a)
    for prefix in ("/v1/datasets", "/v1/recommendations", "/v1/jobs"):
        own = (await client.get(prefix, headers=_bearer(key_a))).json()["items"]
        other = (await client.get(prefix, headers=_bearer(key_b))).json()["items"]
        assert own and other == [], prefix
    assert (await client.get(f"/v1/jobs?dataset_id={ids['dataset']}", headers=_bearer(key_b))).json()["items"] == []
    # Naming another tenant's dataset or recommendation in a body is a 404 too.
    _problem(await client.post("/v1/recommendations", json={"dataset_id": ids["dataset"]}, headers=_bearer(key_b)), 404)
    _problem(
        await client.post(
            "/v1/jobs", json={"dataset_id": ids["dataset"], "spec": {"trainer": "xgboost"}}, headers=_bearer(key_b)
        ),
        404,
    )
    own_b = (await _upload(client, key_b)).json()["id"]
    _problem(
        await client.post(
            "/v1/jobs", json={"dataset_id": own_b, "recommendation_id": ids["recommendation"]}, headers=_bearer(key_b)
        ),
        404,
    )
    # The same file uploaded by two tenants is two datasets (a tenant learns nothing of another's uploads).
    assert own_b != ids["dataset"]


async def test_idempotency_keys_are_per_tenant(client: httpx.AsyncClient, settings: Settings) -> None:
    key_a, key_b = _key(settings, "acme"), _key(settings, "globex")
    body_a = {"dataset_id": (await _upload(client, key_a)).json()["id"], "spec": {"trainer": "sklearn_logistic"}}
    body_b = {"dataset_id": (await _upload(client, key_b)).json()["id"], "spec": {"trainer": "sklearn_logistic"}}
    first = await client.post("/v1/jobs", json=body_a, headers={**_bearer(key_a), "Idempotency-Key": "k1"})
    other = await client.post("/v1/jobs", json=body_b, headers={**_bearer(key_b), "Idempotency-Key": "k1"})
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"] and "Idempotent-Replayed" not in other.headers


# -- keys ---------------------------------------------------------------------------------------------
async def test_keyless_until_the_first_key_then_keys_are_required(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await client.get("/v1/datasets")).status_code == 200  # no key exists: the default tenant
    dataset = (await _upload(client, None)).json()["id"]
    key = _key(settings, "acme")
    refused = _problem(await client.get("/v1/datasets"), 401, "unauthorized")
    assert "advisor keys create" in refused["detail"]
    assert (await client.get("/v1/datasets")).headers["www-authenticate"].startswith("Bearer")
    # The default tenant's data is not the new tenant's.
    _problem(await client.get(f"/v1/datasets/{dataset}", headers=_bearer(key)), 404)
    # Health, readiness and metrics need no key.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200, path


def _security(schema: dict[str, Any]) -> set[str]:
    """Each /v1 operation's security requirement, as text: one value when every operation agrees."""
    return {
        json.dumps(op.get("security"))
        for path, item in schema["paths"].items()
        if path.startswith("/v1")
        for op in item.values()
        if isinstance(op, dict)
    }


async def test_the_openapi_document_says_when_the_key_is_required(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path, open_client: Callable[..., Any]
) -> None:
    # Keyless default: the key is optional ({} is OpenAPI's "no authentication" alternative).
    assert _security((await client.get("/openapi.json")).json()) == {'[{"apiKey": []}, {}]'}
    _key(settings, "acme")
    # From the first key on, requests need one, and the document says so.
    assert _security((await client.get("/openapi.json")).json()) == {'[{"apiKey": []}]'}
    (tmp_path / "required").mkdir()
    s = _settings(tmp_path / "required", auth_mode="required")
    migrate.upgrade(s.database_url)
    async with open_client(create_app(s)) as c:
        assert _security((await c.get("/openapi.json")).json()) == {'[{"apiKey": []}]'}
        assert (await c.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer adv_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer", "adv_x", "Bearer " + "x" * 300]
)
async def test_bad_credentials_answer_401(client: httpx.AsyncClient, settings: Settings, header: str) -> None:
    _key(settings, "acme")
    body = _problem(await client.get("/v1/rules", headers={"Authorization": header}), 401, "unauthorized")
    assert "adv_not-a-real-key" not in str(body)  # a key is never echoed


async def test_required_mode_refuses_keyless_requests(tmp_path: Path, open_client: Callable[..., Any]) -> None:
    s = _settings(tmp_path, auth_mode="required")
    migrate.upgrade(s.database_url)
    async with open_client(create_app(s)) as c:
        _problem(await c.get("/v1/rules"), 401)
        assert (await c.get("/v1/rules", headers=_bearer(_key(s, "acme")))).status_code == 200


async def test_revocation_takes_effect_on_the_next_request(client: httpx.AsyncClient, settings: Settings) -> None:
    key = _key(settings, "acme")
    assert (await client.get("/v1/jobs", headers=_bearer(key))).status_code == 200
    db = Database.from_url(settings.database_url)  # another connection, as `advisor keys revoke` would use
    try:
        assert db.call(tenants.revoke_key, id_or_prefix=key[:12])
    finally:
        db.dispose()
    body = _problem(await client.get("/v1/jobs", headers=_bearer(key)), 401, "unauthorized")
    assert "revoked" in body["detail"]
    assert 'error="invalid_token"' in (await client.get("/v1/jobs", headers=_bearer(key))).headers["www-authenticate"]


# -- rate limits and quotas ----------------------------------------------------------------------------
def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.check("k", per_minute=60, burst=3) for _ in range(3)] == [0, 0, 0]
    assert limiter.check("k", per_minute=60, burst=3) == 1  # one token per second
    assert limiter.check("other", per_minute=60, burst=3) == 0  # buckets are per key
    now[0] = 1.0
    assert limiter.check("k", per_minute=60, burst=3) == 0
    now[0] = 100.0  # a long pause refills to the burst, not beyond
    assert [limiter.check("k", per_minute=60, burst=3) for _ in range(4)] == [0, 0, 0, 1]
    assert RateLimiter(clock=lambda: 0.0).check("k", per_minute=6, burst=1) == 0


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, open_client: Callable[..., Any]) -> None:
    s = _settings(tmp_path, rate_limit_burst=3)
    migrate.upgrade(s.database_url)
    slow, fast = _key(s, "acme", rate_limit_per_minute=6), _key(s, "acme")
    async with open_client(create_app(s)) as c:
        codes = [(await c.get("/v1/rules", headers=_bearer(slow))).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = await c.get("/v1/rules", headers=_bearer(slow))
        body = _problem(limited, 429, "rate-limited")
        assert int(limited.headers["retry-after"]) >= 1 and body["retry_after_s"] == int(limited.headers["retry-after"])
        assert (await c.get("/v1/rules", headers=_bearer(fast))).status_code == 200  # per key, not per tenant


async def test_queued_jobs_have_their_own_bound(tmp_path: Path, open_client: Callable[..., Any]) -> None:
    s = _settings(tmp_path, tenant_max_queued_jobs=2, tenant_max_concurrent_jobs=1)  # workers=0: jobs stay queued
    migrate.upgrade(s.database_url)
    async with open_client(create_app(s)) as client:
        key = _key(s, "acme")
        dataset = (await _upload(client, key)).json()["id"]
        body = {"dataset_id": dataset, "spec": {"trainer": "sklearn_logistic"}}
        # More jobs than the tenant may run at once are accepted: they wait, queued.
        first, second = [await client.post("/v1/jobs", json=body, headers=_bearer(key)) for _ in range(2)]
        assert first.status_code == second.status_code == 202
        refused = await client.post("/v1/jobs", json=body, headers=_bearer(key))
        problem = _problem(refused, 429, "quota-exceeded")
        assert problem["max_queued_jobs"] == 2 and problem["queued_jobs"] == 2 and refused.headers["retry-after"]
        # A race needing more slots than are left is refused before anything is stored.
        _problem(await client.post(f"/v1/datasets/{dataset}/race", json={"top_k": 1}, headers=_bearer(key)), 429)
        assert len((await client.get("/v1/jobs", headers=_bearer(key))).json()["items"]) == 2
        me = (await client.get("/v1/tenant", headers=_bearer(key))).json()
        assert me["queued_jobs"] == {"limit": 2, "used": 2} and me["concurrent_jobs"] == {"limit": 1, "used": 0}
        # Cancelling frees a place in the queue.
        await client.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=_bearer(key))
        assert (await client.post("/v1/jobs", json=body, headers=_bearer(key))).status_code == 202


async def test_stored_bytes_quota(client: httpx.AsyncClient, settings: Settings) -> None:
    key = _key(settings, "acme")
    admin.set_quota(
        settings, tenant="acme", max_concurrent_jobs=None, max_stored_bytes=len(CSV) + 2000, err=io.StringIO()
    )
    assert (await _upload(client, key)).status_code == 201
    big = CSV + "".join(f"{i},1,{i % 2}\n" for i in range(1000, 1400))
    problem = _problem(await _upload(client, key, big), 413, "storage-quota-exceeded")
    assert problem["max_stored_bytes"] == len(CSV) + 2000
    assert len((await client.get("/v1/datasets", headers=_bearer(key))).json()["items"]) == 1
    stored = [p for p in (settings.data_dir / "datasets").iterdir() if p.is_dir()]
    assert len(stored) == 1  # nothing half-stored


async def test_tenant_shows_its_limits_and_usage(client: httpx.AsyncClient, settings: Settings) -> None:
    keyless = (await client.get("/v1/tenant")).json()
    assert keyless["name"] == "default" and keyless["key_prefix"] is None and keyless["rate_limit_per_minute"] is None
    key = _key(settings, "acme", rate_limit_per_minute=120)
    admin.set_quota(settings, tenant="acme", max_concurrent_jobs=3, max_stored_bytes=None, err=io.StringIO())
    dataset = (await _upload(client, key)).json()
    await client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "spec": {"trainer": "sklearn_logistic"}}, headers=_bearer(key)
    )
    me = (await client.get("/v1/tenant", headers=_bearer(key))).json()
    assert me["name"] == "acme" and me["key_prefix"] == key[:12] and me["rate_limit_per_minute"] == 120
    assert me["concurrent_jobs"]["limit"] == 3 and me["queued_jobs"]["limit"] == settings.tenant_max_queued_jobs
    assert me["concurrent_jobs"]["used"] + me["queued_jobs"]["used"] == 1  # queued, or already running
    assert me["stored_bytes"] == {"limit": settings.tenant_max_stored_bytes, "used": dataset["size_bytes"]}


# -- the CLI ---------------------------------------------------------------------------------------------
def test_cli_keys_create_list_revoke(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["keys", "create", "--tenant", "acme", "--name", "ci"]) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"adv_[A-Za-z0-9_-]{43}", key)
    assert cli.main(["keys", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert key[:12] in listed and key not in listed  # the prefix is shown, the key never again
    db = Database.from_url(settings.database_url)
    try:
        stored = db.call(
            lambda session: session.execute(text("SELECT key_sha256, prefix FROM api_keys")).all(), write=False
        )
    finally:
        db.dispose()
    assert stored == [(tenants.hash_key(key), key[:12])]
    assert cli.main(["keys", "revoke", key[:12]]) == 0
    assert cli.main(["keys", "revoke", key[:12]]) == 1  # already revoked
    # A prefix two active keys share revokes neither (an operator names the one by id).
    db = Database.from_url(settings.database_url)
    try:
        first = db.call(tenants.create_key, tenant="acme")
        second = db.call(tenants.create_key, tenant="acme")
        db.call(
            lambda session: session.execute(
                text("UPDATE api_keys SET prefix = 'adv_same0000' WHERE id IN (:a, :b)"),
                {"a": first.id, "b": second.id},
            )
        )
        with pytest.raises(tenants.AmbiguousKey):
            db.call(tenants.revoke_key, id_or_prefix="adv_same0000")
        assert db.call(tenants.revoke_key, id_or_prefix=first.id) == [first.id]
    finally:
        db.dispose()
    assert cli.main(["tenants", "webhook-secret", "acme"]) == 0
    assert capsys.readouterr().out.startswith("whsec_")


def test_serve_refuses_an_open_address_without_keys(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert admin.refuse_open_bind(settings, "127.0.0.1", insecure=False) is None
    assert admin.refuse_open_bind(settings, "::1", insecure=False) is None
    refusal = admin.refuse_open_bind(settings, "0.0.0.0", insecure=False)
    assert refusal is not None and "--insecure" in refusal
    assert admin.refuse_open_bind(settings, "0.0.0.0", insecure=True) is None
    assert (
        admin.refuse_open_bind(settings.model_copy(update={"auth_mode": "required"}), "0.0.0.0", insecure=False) is None
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2  # refused before binding
    _key(settings, "acme")
    assert admin.refuse_open_bind(settings, "0.0.0.0", insecure=False) is None
    unmigrated = settings.model_copy(update={"database_url": f"sqlite:///{settings.data_dir / 'empty.db'}"})
    refusal = admin.refuse_open_bind(unmigrated, "0.0.0.0", insecure=False)
    assert refusal is not None and "advisor migrate" in refusal
