"""Real ``advisor worker`` processes on Redis and RabbitMQ, with PostgreSQL as the truth: jobs submitted
through the API are trained; a worker killed mid-job loses nothing; 200 jobs (some published twice) run
exactly once each; a broker restart with jobs queued loses none of them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _job_fixtures import FAST_XGB, SLOW_XGB, breast_cancer, get_job, insert_job, store_dataset, wait_for
from _services import Broker, WorkerProcs, cleanup_broker, free_port, reachable, scale_env
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.db import migrate
from service.db.session import Database
from service.jobs import states
from service.main import create_app
from service.settings import Settings

pytestmark = pytest.mark.integration
TERMINAL = {states.SUCCEEDED, states.FAILED, states.CANCELLED}


def _settings(env: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("ADVISOR_").lower(): v for k, v in env.items()})


@contextlib.contextmanager
def _api(env: dict[str, str]) -> Iterator[TestClient]:
    """The real app in celery mode (publisher + reconciler, no local pool). No background pre-import of the
    trainers: it can deadlock with a request's registry lookup (a lock-order bug outside this suite)."""
    with TestClient(create_app(_settings({**env, "ADVISOR_WORKER_PREWARM": "false"}))) as client:
        yield client


def _upload(client: TestClient) -> str:
    buffer = io.BytesIO()
    breast_cancer().to_csv(buffer, index=False)
    response = client.post(
        "/v1/datasets", files={"file": ("bc.csv", buffer.getvalue(), "text/csv")}, data={"target": "target"}
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _submit(
    client: TestClient,
    dataset_id: str,
    params: dict[str, Any] = FAST_XGB,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> str:
    payload = {
        "dataset_id": dataset_id,
        "spec": {"trainer": "xgboost", "params": params},
        "train_baseline": False,
        **body,
    }
    response = client.post("/v1/jobs", json=payload, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _wait_done(client: TestClient, job_id: str, workers: WorkerProcs, timeout: float = 90) -> dict[str, Any]:
    try:
        return wait_for(
            lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["status"] in TERMINAL and j,
            timeout=timeout,
            interval=0.2,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker logs ---\n{workers.logs()}") from None


def test_workers_train_jobs_submitted_through_the_api(
    broker: Broker, pg_url: str, tmp_path: Path, workers: WorkerProcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One metrics directory for the API (this process) and the workers, as a shared volume gives them.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    env = scale_env(tmp_path / "data", pg_url, broker, log_level="info")
    migrate.upgrade(pg_url)
    workers.start(env, "--queues", "cpu")
    trace = f"it-{uuid.uuid4().hex}"
    with _api(env) as client:
        dataset_id = _upload(client)
        ids = [
            _submit(client, dataset_id, train_baseline=i == 0, headers={"X-Request-ID": f"{trace}-{i}"})
            for i in range(3)
        ]
        for job_id in ids:
            job = _wait_done(client, job_id, workers)
            assert job["status"] == states.SUCCEEDED, job
            assert job["attempt"] == 1 and job["queue"] == "cpu"
            assert job["metrics"]["test"]["accuracy"] > 0.9
        first = client.get(f"/v1/jobs/{ids[0]}").json()
        assert first["baseline"]["metrics"]["test"]["accuracy"] > 0.9
        model = client.get(first["artifact"]["url"])
        assert model.status_code == 200 and model.headers["content-type"] == "application/zip"
        # What the worker processes recorded is in the API's /metrics.
        samples = [s for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples]
        trained = [
            s
            for s in samples
            if s.name == "advisor_training_seconds_count" and s.labels == {"trainer": "xgboost", "status": "succeeded"}
        ]
        assert trained and trained[0].value == 3, trained
    # The request id of each POST followed its job into the worker process: its JSON log lines carry both ids.
    lines = [
        json.loads(line)
        for log in workers.log_dir.glob("worker-*.log")
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    for i, job_id in enumerate(ids):
        assert any(r.get("request_id") == f"{trace}-{i}" and r.get("job_id") == job_id for r in lines), job_id


def test_a_worker_killed_mid_job_is_retried_by_another(
    redis_broker: Broker, pg_url: str, tmp_path: Path, workers: WorkerProcs
) -> None:
    # A long republish period: only the reconciler's at-once publish of a re-queued job can bring it back in time.
    env = scale_env(tmp_path / "data", pg_url, redis_broker, broker_republish_s=600)
    lease_s, reaper_s = float(env["ADVISOR_LEASE_S"]), float(env["ADVISOR_REAPER_INTERVAL_S"])
    migrate.upgrade(pg_url)
    procs = [workers.start(env, "--queues", "cpu") for _ in range(2)]
    with _api(env) as client:
        dataset_id = _upload(client)
        job_id = _submit(client, dataset_id, params=SLOW_XGB, time_budget_s=4)
        running = wait_for(
            lambda: (
                (j := client.get(f"/v1/jobs/{job_id}").json())["status"] == "running"
                and j["progress"]
                and j["progress"]["phase"] != "starting"
                and j
            ),
            timeout=60,
        )
        owner_pid = int(get_owner(pg_url, job_id).split(":")[1])  # the prefork child holding the lease
        holder = next(p for p in procs if p.pid == os.getpgid(owner_pid))  # its worker's process group
        survivor = next(p for p in procs if p is not holder)
        killed_at = time.monotonic()
        workers.kill(holder)  # SIGKILL: worker, pool child and training process; no chance to clean up
        wait_for(
            lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["status"] == "running" and j["attempt"] == 2,
            timeout=60,
            interval=0.05,
        )
        back_s = time.monotonic() - killed_at
        new_owner = int(get_owner(pg_url, job_id).split(":")[1])
        job = _wait_done(client, job_id, workers, timeout=60)
    assert survivor.poll() is None
    assert os.getpgid(new_owner) == survivor.pid  # the retry runs on the other worker
    assert running["attempt"] == 1
    assert job["attempt"] == 2, job
    assert job["status"] == states.SUCCEEDED and job["partial"], job  # the retry stopped at its 4 s budget
    outcomes = [h["outcome"] for h in job["history"]]
    assert outcomes == ["lease_expired", "succeeded"], job["history"]
    # Running again within a lease and two reaper passes of the kill (plus the claim's round trip, 0.5 s).
    assert back_s < lease_s + 2 * reaper_s + 0.5, back_s


def get_owner(url: str, job_id: str) -> str:
    db = Database.from_url(url)
    try:
        owner = get_job(db, job_id).lease_owner
        assert owner
        return owner
    finally:
        db.dispose()


def test_200_jobs_across_two_workers_none_lost_or_duplicated(
    redis_broker: Broker, pg_url: str, tmp_path: Path, workers: WorkerProcs
) -> None:
    from service.jobs.celery_app import make_celery
    from service.jobs.celery_queue import CeleryQueue

    env = scale_env(tmp_path / "data", pg_url, redis_broker)
    settings = _settings(env)
    migrate.upgrade(pg_url)
    db = Database.from_url(pg_url)
    try:
        dataset_id = store_dataset(db, settings, breast_cancer(), "target", "bc")
        tiny = {**FAST_XGB, "n_estimators": 3}
        ids = [insert_job(db, dataset_id, params=tiny) for _ in range(200)]
        workers.start(env, "--queues", "cpu")
        workers.start(env, "--queues", "cpu")
        queue = CeleryQueue(make_celery(settings), settings, background=False)
        for n, job_id in enumerate(ids):
            queue.enqueue(job_id, "cpu")
            if n % 4 == 0:
                queue.enqueue(job_id, "cpu")  # a duplicate delivery must not train twice
        try:
            wait_for(lambda: all(get_job(db, i).status in TERMINAL for i in ids[-20:]), timeout=200, interval=0.5)
            wait_for(lambda: db.call(_count_done, ids=ids, write=False) == len(ids), timeout=60, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{workers.logs()}") from None
        jobs = [get_job(db, i) for i in ids]
        assert {j.status for j in jobs} == {states.SUCCEEDED}
        assert all(j.attempt == 1 and len(j.history) == 1 for j in jobs)  # each trained exactly once
        owners = {j.history[0]["owner"].split(":")[1] for j in jobs}
        assert len(owners) >= 2, "both workers should have trained jobs"
    finally:
        db.dispose()


def _count_done(*, session: Any, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from service.db.models import Job

    stmt = select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.status.in_(TERMINAL))
    return int(session.scalar(stmt) or 0)


def test_broker_restart_while_jobs_are_queued_loses_none(pg_url: str, tmp_path: Path, workers: WorkerProcs) -> None:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0:
        pytest.skip("redis-server not installed: this test restarts a private Redis on a free port")
    port = free_port()
    broker = Broker("redis", f"redis://127.0.0.1:{port}/0", "restart-")
    env = scale_env(tmp_path / "data", pg_url, broker)
    migrate.upgrade(pg_url)
    log = tmp_path / "redis.log"

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: reachable("127.0.0.1", port), timeout=10)
        return proc

    redis_proc = start_redis()
    try:
        with _api(env) as client:
            dataset_id = _upload(client)
            before = [_submit(client, dataset_id) for _ in range(3)]  # published, no worker yet
            queue = client.app.state.jobs.queue
            wait_for(lambda: queue.pending() == 0, timeout=20)
            redis_proc.kill()  # no persistence: the queued messages are gone with it
            redis_proc.wait(5)
            t0 = time.monotonic()
            during = [_submit(client, dataset_id) for _ in range(2)]  # accepted while the broker is down
            assert time.monotonic() - t0 < 3.0, "POST /v1/jobs must not wait for the broker"
            workers.start(env, "--queues", "cpu")  # starts while the broker is down: it keeps retrying
            time.sleep(2.0)
            redis_proc = start_redis()
            for job_id in before + during:
                job = _wait_done(client, job_id, workers, timeout=90)
                assert job["status"] == states.SUCCEEDED and job["attempt"] == 1, job
    finally:
        if redis_proc.poll() is None:
            redis_proc.kill()
            redis_proc.wait(5)
        cleanup_broker(broker)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(redis_proc.pid, signal.SIGKILL)


def test_a_race_runs_on_celery_workers_and_ends_with_its_ensemble(
    redis_broker: Broker, pg_url: str, tmp_path: Path, workers: WorkerProcs
) -> None:
    """The race of the embedded default on PostgreSQL + Redis + a Celery worker: entries, then the ensemble made
    when the last one ends (published by that worker), ordered on validation, predicting like any model."""
    env = scale_env(tmp_path / "data", pg_url, redis_broker)
    migrate.upgrade(pg_url)
    workers.start(env, "--queues", "cpu")
    with _api(env) as client:
        dataset_id = _upload(client)
        response = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 1, "time_budget_s": 90})
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        try:
            race = wait_for(
                lambda: (
                    (r := client.get(location).json())["status"] == "finished"
                    and any(e["is_ensemble"] and e["status"] in TERMINAL for e in r["leaderboard"])
                    and r
                ),
                timeout=240,
                interval=0.5,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker logs ---\n{workers.logs()}") from None
        board = race["leaderboard"]
        assert [e["status"] for e in board] == [states.SUCCEEDED] * 3, board  # candidate, baseline, ensemble
        assert all(e["validation"] in ("kfold", "ensemble") and e["test_score"] > 0.9 for e in board), board
        ensemble = next(e for e in board if e["is_ensemble"])
        rows = breast_cancer().drop(columns="target").head(4).to_dict(orient="records")
        predicted = client.post(f"/v1/jobs/{ensemble['job_id']}/predictions", json={"rows": rows})
        assert predicted.status_code == 200 and len(predicted.json()["predictions"]) == 4, predicted.text
