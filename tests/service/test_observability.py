"""Observability: request ids, JSON logs, Prometheus /metrics (multiprocess) and the /readyz checks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from service.db.models import Job
from service.main import create_app
from service.observability import metrics
from service.observability.logging import (
    JsonFormatter,
    configure_logging,
    make_handler,
    uvicorn_log_config,
)
from service.observability.request_id import accept, job_context, request_id
from service.settings import Settings

pytestmark = pytest.mark.anyio

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh multiprocess directory per test; the variable is restored afterwards."""
    path = tmp_path / "prom"
    path.mkdir()
    monkeypatch.setenv(metrics.ENV, str(path))
    return path


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The service's JSON handler on the root logger (INFO) writing to a buffer; call it for the lines so far."""
    buffer = io.StringIO()
    handler = make_handler("json", stream=buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _settings(settings: Settings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": settings.data_dir,
        "database_url": settings.database_url,
        "worker_prewarm": False,
    }
    values.update(overrides)
    return Settings(**values)


async def _scrape(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def _samples(family: Any, name: str, **labels: str) -> list[Any]:
    return [s for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def _value(families: dict[str, Any], family: str, name: str, **labels: str) -> float:
    found = _samples(families[family], name, **labels)
    assert len(found) == 1, (name, labels, families[family].samples)
    return float(found[0].value)


async def _upload(client: httpx.AsyncClient) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    frame["target"] = (frame["a"] + 0.3 * rng.normal(size=120) > 0).astype(int)
    response = await client.post(
        "/v1/datasets",
        files={"file": ("small.csv", frame.to_csv(index=False).encode(), "text/csv")},
        data={"target": "target"},
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _job_body(dataset_id: str) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "spec": {"trainer": "sklearn_logistic"}}


# -- request ids --------------------------------------------------------------------------------------
def test_accept_keeps_plain_ids_and_replaces_others() -> None:
    assert accept("abc-123_x.y:z") == "abc-123_x.y:z"
    assert accept("a" * 128) == "a" * 128
    for bad in (None, "", "a" * 129, "has space", "semi;colon", "naïve", "line\nbreak"):
        assert HEX_ID.fullmatch(accept(bad)), bad


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "trace-42:a.b_c"})
    assert given.headers["x-request-id"] == "trace-42:a.b_c"
    made = await client.get("/healthz")
    assert HEX_ID.fullmatch(made.headers["x-request-id"])
    assert made.headers["x-request-id"] != (await client.get("/healthz")).headers["x-request-id"]
    replaced = await client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert HEX_ID.fullmatch(replaced.headers["x-request-id"])
    # Errors too: an unknown path, and a problem from a route.
    missing = await client.get("/nowhere", headers={"X-Request-ID": "r-404"})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "r-404"
    job = await client.get("/v1/jobs/not-a-job", headers={"X-Request-ID": "r-job"})
    assert job.status_code == 404 and job.headers["x-request-id"] == "r-job"
    assert request_id.get() is None  # nothing left behind in the caller's context


async def test_unexpected_error_logs_and_answers_with_the_request_id(
    migrated: Settings, open_client: Any, assert_problem: Any, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = create_app(migrated)

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    async with open_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
        made = await client.get("/boom")
    body = assert_problem(response, 500)
    assert body["request_id"] == response.headers["x-request-id"] == "req-500"
    assert "kaboom" not in response.text
    assert HEX_ID.fullmatch(made.headers["x-request-id"]) and made.json()["request_id"] == made.headers["x-request-id"]
    errors = [line for line in json_lines() if line["logger"] == "service.errors"]
    assert [e["request_id"] for e in errors] == ["req-500", made.headers["x-request-id"]]
    assert "RuntimeError: kaboom" in errors[0]["exc_info"] and errors[0]["level"] == "ERROR"


# -- JSON logs --------------------------------------------------------------------------------------
def test_json_formatter_fields() -> None:
    logger = logging.getLogger("service.test")
    record = logger.makeRecord(
        "service.test",
        logging.WARNING,
        __file__,
        1,
        "hello %s",
        ("world",),
        None,
        extra={"dataset_id": "d1", "rows": 3, "ratio": 0.5, "tags": ["a", 1], "obj": object(), "nan": float("nan")},
    )
    with job_context("job-1", "req-1"):
        line = JsonFormatter().format(record)
    data = json.loads(line)
    assert "\n" not in line
    assert data["level"] == "WARNING" and data["logger"] == "service.test" and data["message"] == "hello world"
    assert data["request_id"] == "req-1" and data["job_id"] == "job-1"
    assert (data["dataset_id"], data["rows"], data["ratio"], data["tags"]) == ("d1", 3, 0.5, ["a", 1])
    assert "obj" not in data and "nan" not in data and "args" not in data and "exc_info" not in data
    stamp = datetime.fromisoformat(data["ts"])
    assert stamp.utcoffset() == timedelta(0) and abs(stamp.timestamp() - record.created) < 0.001
    # Outside any request or job: no ids; a traceback is one string.
    try:
        raise ValueError("bad")
    except ValueError:
        failed = logger.makeRecord("service.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    data = json.loads(JsonFormatter().format(failed))
    assert "request_id" not in data and "job_id" not in data
    assert data["exc_info"].startswith("Traceback") and "ValueError: bad" in data["exc_info"]


def test_json_access_lines_have_fields() -> None:
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/rules?x=1", "1.1", 200),
        None,
    )
    record.color_message = "\x1b[1m...\x1b[0m"  # uvicorn's coloured copy is left out
    with job_context("ignored", "req-7"):
        data = json.loads(JsonFormatter().format(record))
    assert data["message"] == '127.0.0.1:5000 - "GET /v1/rules?x=1 HTTP/1.1" 200'
    assert (data["client"], data["method"], data["path"], data["status"]) == (
        "127.0.0.1:5000",
        "GET",
        "/v1/rules?x=1",
        200,
    )
    assert data["request_id"] == "req-7" and "color_message" not in data


def test_text_format_and_configure_logging(tmp_path: Path) -> None:
    buffer = io.StringIO()
    handler = make_handler("text", stream=buffer)
    logger = logging.getLogger("service.text-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with job_context("job-9", "req-9"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    inside, outside = buffer.getvalue().splitlines()
    assert inside.endswith("WARNING service.text-test [request_id=req-9 job_id=job-9]: inside")
    assert outside.endswith("WARNING service.text-test: outside")

    root = logging.getLogger()
    level = root.level
    try:
        configure_logging(Settings(data_dir=tmp_path, log_level="debug"))
        installed = configure_logging(Settings(data_dir=tmp_path, log_level="warning", log_format="json"))
        ours = [h for h in root.handlers if h.get_name() == "advisor"]
        assert ours == [installed] and isinstance(installed.formatter, JsonFormatter)
        assert root.level == logging.WARNING
    finally:
        for h in [h for h in root.handlers if h.get_name() == "advisor"]:
            root.removeHandler(h)
        root.setLevel(level)
    config = uvicorn_log_config(Settings(data_dir=tmp_path))
    assert "root" not in config and config["disable_existing_loggers"] is False
    assert all(v["handlers"] == [] and v["propagate"] for v in config["loggers"].values())


# -- /metrics ---------------------------------------------------------------------------------------
async def test_metrics_request_latency_by_route_template(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/rules")).status_code == 200
    assert (await client.get("/v1/jobs/no-such-job")).status_code == 404
    assert (await client.get("/not/a/route")).status_code == 404
    families = await _scrape(client)
    family = "advisor_http_request_duration_seconds"
    name = f"{family}_count"
    assert _value(families, family, name, method="GET", route="/v1/rules", status="200") == 1
    assert _value(families, family, name, method="GET", route="/v1/jobs/{id}", status="404") == 1
    assert _value(families, family, name, method="GET", route="unmatched", status="404") == 1
    routes = {s.labels["route"] for s in families[family].samples}
    assert not any("no-such-job" in r or "not/a" in r for r in routes)
    buckets = _samples(families[family], f"{family}_bucket", route="/v1/rules")
    assert {b.labels["le"] for b in buckets} >= {"0.005", "1.0", "+Inf"}
    # Nothing of this route in the API description (a schema fuzzer reads it).
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]
    # The job gauges are there with every state and queue, at 0 in an empty database.
    assert {s.labels["state"]: s.value for s in families["advisor_jobs"].samples} == dict.fromkeys(
        ("queued", "running", "succeeded", "failed", "cancelled"), 0.0
    )
    assert {s.labels["queue"]: s.value for s in families["advisor_queue_depth"].samples} == {"cpu": 0.0, "gpu": 0.0}


async def test_metrics_job_gauges_and_request_id_on_the_job(migrated: Settings, open_client: Any) -> None:
    app = create_app(_settings(migrated, workers=0))  # no worker: the job stays queued
    async with open_client(app) as client:
        dataset_id = await _upload(client)
        response = await client.post("/v1/jobs", json=_job_body(dataset_id), headers={"X-Request-ID": "submit-1"})
        assert response.status_code == 202, response.text
        families = await _scrape(client)
        job = app.state.db.call(lambda session: session.get(Job, response.json()["id"]), write=False)
    assert job.request_id == "submit-1"
    assert _value(families, "advisor_jobs", "advisor_jobs", state="queued") == 1
    assert _value(families, "advisor_jobs", "advisor_jobs", state="running") == 0
    assert _value(families, "advisor_queue_depth", "advisor_queue_depth", queue="cpu") == 1
    assert _value(families, "advisor_queue_depth", "advisor_queue_depth", queue="gpu") == 0


async def test_metrics_without_database_still_answers(tmp_path: Path, open_client: Any) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}", worker_prewarm=False, workers=0
    )
    async with open_client(create_app(settings)) as client:
        assert (await client.get("/healthz")).status_code == 200
        families = await _scrape(client)
    assert "advisor_jobs" not in families and "advisor_queue_depth" not in families
    assert (
        _value(
            families,
            "advisor_http_request_duration_seconds",
            "advisor_http_request_duration_seconds_count",
            route="/healthz",
            status="200",
        )
        == 1
    )


async def test_a_job_run_records_training_seconds_heartbeats_and_its_ids_in_logs(
    migrated: Settings, open_client: Any, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    settings = _settings(migrated, workers=1, threads_per_job=1, lease_s=3.0, heartbeat_s=0.5)
    async with open_client(create_app(settings)) as client:
        dataset_id = await _upload(client)
        created = await client.post("/v1/jobs", json=_job_body(dataset_id), headers={"X-Request-ID": "train-req-1"})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 45
        while (job := (await client.get(f"/v1/jobs/{job_id}")).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.2)
        assert job["status"] == "succeeded", job["error"]
        families = await _scrape(client)
    assert (
        _value(
            families,
            "advisor_training_seconds",
            "advisor_training_seconds_count",
            trainer="sklearn_logistic",
            status="succeeded",
        )
        == 1
    )
    assert (
        _value(
            families,
            "advisor_training_seconds",
            "advisor_training_seconds_sum",
            trainer="sklearn_logistic",
            status="succeeded",
        )
        > 0
    )
    beats = families["advisor_worker_heartbeats"].samples
    assert len(beats) == 1 and beats[0].value >= 1
    worker = beats[0].labels["worker"]
    assert worker == f"pool-0@{metrics.process_identifier()}"
    last = _value(
        families, "advisor_worker_last_heartbeat_seconds", "advisor_worker_last_heartbeat_seconds", worker=worker
    )
    assert time.time() - 60 < last <= time.time()
    ended = [line for line in json_lines() if line["logger"] == "service.jobs.runner"]
    assert ended and all(line["job_id"] == job_id and line["request_id"] == "train-req-1" for line in ended)
    assert ended[-1]["outcome"] == "succeeded" and ended[-1]["trainer"] == "sklearn_logistic"
    assert ended[-1]["duration_s"] > 0


def test_metrics_of_another_process_are_merged(metrics_dir: Path, app: FastAPI) -> None:
    # A spawned child (as a Celery prefork worker or another API process) writes its own files.
    child = multiprocessing.get_context("spawn").Process(target=metrics.record_heartbeat, args=("child-worker",))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert (metrics_dir / f"counter_{metrics.process_identifier().rsplit('-', 1)[0]}-{child.pid}.db").exists()
    metrics.record_heartbeat("parent-worker")
    text = metrics.exposition(None).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    by_worker = {s.labels["worker"]: s.value for s in families["advisor_worker_heartbeats"].samples}
    assert by_worker == {"child-worker": 1.0, "parent-worker": 1.0}


async def test_metrics_dir_defaults_under_data_dir(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch, open_client: Any
) -> None:
    monkeypatch.delenv(metrics.ENV)
    app = create_app(migrated)
    assert os.environ[metrics.ENV] == str(migrated.data_dir / "metrics")
    async with open_client(app) as client:
        await client.get("/healthz")
        families = await _scrape(client)
    assert (
        _value(
            families,
            "advisor_http_request_duration_seconds",
            "advisor_http_request_duration_seconds_count",
            route="/healthz",
            status="200",
        )
        == 1
    )
    assert any((migrated.data_dir / "metrics").glob("histogram_*.db"))


# -- /readyz ----------------------------------------------------------------------------------------
async def test_readyz_reports_each_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"].startswith("ok (head ")
    assert checks["broker"] == "ok (in-process queue)" and checks["artifact_store"] == "ok"


async def test_readyz_broker_down_is_503_for_the_broker_only(
    migrated: Settings, open_client: Any, assert_problem: Any
) -> None:
    settings = _settings(migrated, queue="celery", broker_url="redis://127.0.0.1:1/0", workers=0)
    async with open_client(create_app(settings)) as client:
        started = time.monotonic()
        body = assert_problem(await client.get("/readyz"), 503)
        assert time.monotonic() - started < 6
        assert (await client.get("/healthz")).status_code == 200
    checks = body["checks"]
    assert checks["broker"].startswith("failing: ")
    assert "127.0.0.1" not in checks["broker"]
    assert {k: v for k, v in checks.items() if v.startswith("failing")} == {"broker": checks["broker"]}
    assert checks["database"] == "ok" and checks["artifact_store"] == "ok"
    assert body["detail"] == "Failing checks: broker."


async def test_readyz_artifact_store_unwritable_is_503_for_it_only(
    migrated: Settings, open_client: Any, assert_problem: Any
) -> None:
    migrated.artifacts_dir.write_text("a file where the folder should be")
    async with open_client(create_app(_settings(migrated, workers=0))) as client:
        body = assert_problem(await client.get("/readyz"), 503)
    checks = body["checks"]
    assert checks["artifact_store"] == "failing: FileExistsError"
    assert checks["database"] == "ok" and checks["broker"] == "ok (in-process queue)"
    assert checks["migrations"].startswith("ok")
    assert body["detail"] == "Failing checks: artifact_store."


def test_artifact_store_check_leaves_nothing_behind(tmp_path: Path) -> None:
    from service.services.health import check_artifact_store

    settings = Settings(data_dir=tmp_path / "new")
    assert check_artifact_store(settings) == "ok"
    assert settings.artifacts_dir.is_dir() and list(settings.artifacts_dir.iterdir()) == []
