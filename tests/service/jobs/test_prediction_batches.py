"""Large prediction requests run as batch predictions: 202 + Location, poll, download JSON lines equal to the
direct answers. The thresholds are lowered here (25 samples, 6,000 bytes) so tiny inputs cross them."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _job_fixtures import job_settings, wait_for
from _predict_fixtures import digits, finished, npz_bytes, predict_file, recipe, submit, upload
from fastapi.testclient import TestClient

from service.db import migrate
from service.db.session import Database
from service.main import create_app
from service.settings import Settings

ROWS, BYTES = 25, 6_000


@pytest.fixture(scope="module")
def engine_settings(module_dir: Path) -> Settings:
    settings = job_settings(module_dir, predict_batch_rows=ROWS, predict_batch_bytes=BYTES)
    migrate.upgrade(settings.database_url)
    return settings


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def job_id(client: TestClient) -> str:
    x, y = digits("multiclass")
    dataset = upload(client, "digits.npz", npz_bytes(x=x, y=y))
    return finished(client, submit(client, dataset["id"], "torch_cnn", recipe("torch_cnn", dataset["profile"])))["id"]


def _direct(client: TestClient, job_id: str, images: np.ndarray) -> dict[str, Any]:
    """The direct answer, asked in pieces under the row threshold."""
    parts = [
        client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": images[i : i + ROWS].tolist()})
        for i in range(0, len(images), ROWS)
    ]
    assert all(p.status_code == 200 for p in parts), [p.text for p in parts]
    bodies = [p.json() for p in parts]
    return {
        "predictions": [v for b in bodies for v in b["predictions"]],
        "probabilities": [v for b in bodies for v in b["probabilities"]],
        "classes": bodies[0]["classes"],
    }


def _batch(client: TestClient, response: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Follow a 202 to the finished batch; the batch and its result lines."""
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    created = response.json()
    assert location == f"/v1/jobs/{created['job_id']}/predictions/{created['id']}"
    assert created["status"] == "queued" and created["result_url"] is None

    def done() -> dict[str, Any] | bool:
        polled = client.get(location)
        assert polled.status_code == 200, polled.text
        body: dict[str, Any] = polled.json()
        return body if body["status"] in ("succeeded", "failed") else False

    batch: dict[str, Any] = wait_for(done, timeout=60)
    if batch["status"] != "succeeded":
        return batch, []
    result = client.get(batch["result_url"])
    assert result.status_code == 200 and result.headers["content-type"].startswith("application/x-ndjson")
    assert hashlib.sha256(result.content).hexdigest() == batch["result_sha256"] == result.headers["x-content-sha256"]
    return batch, [json.loads(line) for line in result.text.splitlines()]


def _assert_equal(batch: dict[str, Any], lines: list[dict[str, Any]], direct: dict[str, Any]) -> None:
    assert batch["status"] == "succeeded" and batch["n_rows"] == batch["n_done"] == len(direct["predictions"])
    assert batch["classes"] == direct["classes"] and batch["task"] == "multiclass"
    assert [line["row"] for line in lines] == list(range(len(direct["predictions"])))
    assert [line["prediction"] for line in lines] == direct["predictions"]
    np.testing.assert_allclose([line["probabilities"] for line in lines], direct["probabilities"], atol=2e-6)


def test_json_above_the_row_threshold_runs_as_a_batch(client: TestClient, job_id: str) -> None:
    images = digits("multiclass", start=1400, n=60)[0]
    batch, lines = _batch(client, client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": images.tolist()}))
    _assert_equal(batch, lines, _direct(client, job_id, images))


def test_files_above_either_threshold_run_as_batches(client: TestClient, job_id: str) -> None:
    few_many = digits("multiclass", start=1500, n=40)[0]  # 40 samples > 25, in fewer than 6,000 bytes
    data = npz_bytes(x=few_many)
    assert len(data) < BYTES
    batch, lines = _batch(client, predict_file(client, job_id, "x.npz", data))
    _assert_equal(batch, lines, _direct(client, job_id, few_many))

    big = digits("multiclass", start=1600, n=100)[0]
    assert len(npz_bytes(x=big)) > BYTES
    batch, lines = _batch(client, predict_file(client, job_id, "x.npz", npz_bytes(x=big)))
    _assert_equal(batch, lines, _direct(client, job_id, big))


def test_small_requests_answer_directly_unless_asked_for_a_batch(client: TestClient, job_id: str) -> None:
    images = digits("multiclass", start=1700, n=5)[0]
    direct = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": images.tolist()})
    assert direct.status_code == 200 and direct.json()["n_rows"] == 5
    asked = client.post(f"/v1/jobs/{job_id}/predictions", params={"mode": "batch"}, json={"inputs": images.tolist()})
    batch, lines = _batch(client, asked)
    _assert_equal(batch, lines, _direct(client, job_id, images))


def test_a_batch_with_bad_input_fails_naming_the_problem(client: TestClient, job_id: str) -> None:
    wrong = np.zeros((30, 16, 16), dtype=np.uint8).tolist()
    batch, lines = _batch(client, client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": wrong}))
    assert batch["status"] == "failed" and lines == []
    assert batch["error"]["status"] == 422 and "8×8×1" in batch["error"]["detail"]
    assert batch["result_url"] is None
    result = client.get(f"/v1/jobs/{job_id}/predictions/{batch['id']}/result")
    assert result.status_code == 409


def test_unknown_batches_answer_404(client: TestClient, job_id: str) -> None:
    images = digits("multiclass", start=1700, n=3)[0]
    asked = client.post(f"/v1/jobs/{job_id}/predictions", params={"mode": "batch"}, json={"inputs": images.tolist()})
    batch_id = asked.json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/predictions/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404
    other = submit(client, client.get(f"/v1/jobs/{job_id}").json()["dataset_id"], "sklearn_logistic", {})
    assert client.get(f"/v1/jobs/{other}/predictions/{batch_id}").status_code == 404


def test_closing_the_pool_fails_the_batches_it_did_not_finish(
    job_id: str, db: Database, engine_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.db.models import PredictionBatch
    from service.db.types import new_id, utcnow
    from service.repositories import jobs as jobs_repo
    from service.services import prediction_batches

    tenant = db.call(jobs_repo.get, id=job_id, tenant_id=None, write=False).tenant_id
    ids = [new_id(), new_id()]
    for batch_id in ids:
        folder = engine_settings.data_dir / "predictions" / job_id / batch_id
        folder.mkdir(parents=True)
        (folder / "input.json").write_text(json.dumps({"inputs": digits("multiclass", n=3)[0].tolist()}))
        row = PredictionBatch(
            id=batch_id,
            created_at=utcnow(),
            updated_at=utcnow(),
            tenant_id=tenant,
            job_id=job_id,
            status="queued",
            input_kind="json",
            storage_path=f"predictions/{job_id}/{batch_id}",
            n_done=0,
        )
        db.call(lambda *, session, r=row: session.add(r))
    started = threading.Event()
    real_run = prediction_batches.run

    def predicting(db: Any, settings: Any, batch_id: str, should_stop: Any) -> None:
        started.set()
        while not should_stop():  # a long batch: its first chunk comes only once the pool is closing
            time.sleep(0.01)
        real_run(db, settings, batch_id, should_stop=should_stop)

    monkeypatch.setattr(prediction_batches, "run", predicting)
    pool = prediction_batches.BatchPool(db, engine_settings)  # one thread: the second batch waits
    for batch_id in ids:
        pool.submit(batch_id)
    assert started.wait(10)
    pool.close()
    first, waiting = (db.call(lambda *, session, i=i: session.get(PredictionBatch, i), write=False) for i in ids)
    assert first.status == "failed" and first.error["status"] == 503
    assert "stopped while predicting" in first.error["detail"]
    assert waiting.status == "failed" and waiting.error["status"] == 503
    assert "stopped before this batch finished" in waiting.error["detail"]


def test_deleting_the_job_deletes_its_batches(client: TestClient, job_id: str, engine_settings: Settings) -> None:
    images = digits("multiclass", start=1700, n=3)[0]
    asked = client.post(f"/v1/jobs/{job_id}/predictions", params={"mode": "batch"}, json={"inputs": images.tolist()})
    batch, _ = _batch(client, asked)
    folder = engine_settings.data_dir / "predictions" / job_id / batch["id"]
    assert (folder / "result.jsonl").is_file()
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert client.get(f"/v1/jobs/{job_id}/predictions/{batch['id']}").status_code == 404
    assert not folder.parent.exists()
