"""/v1/jobs through the real app (lifespan, worker pool, reaper), on real data uploaded through /v1/datasets."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _job_fixtures import FAST_XGB, SLOW_XGB, breast_cancer, wait_for
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

URL = "/v1/jobs"


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return breast_cancer()


@pytest.fixture(scope="module")
def dataset_id(client: TestClient, frame: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    response = client.post(
        "/v1/datasets", files={"file": ("breast_cancer.csv", buffer.getvalue(), "text/csv")}, data={"target": "target"}
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def recommendation_id(client: TestClient, dataset_id: str) -> str:
    response = client.post("/v1/recommendations", json={"dataset_id": dataset_id})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _job(client: TestClient, job_id: str) -> dict[str, Any]:
    response = client.get(f"{URL}/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_status(client: TestClient, job_id: str, *statuses: str, timeout: float = 90) -> dict[str, Any]:
    return wait_for(lambda: (j := _job(client, job_id))["status"] in statuses and j, timeout=timeout)


def _submit(client: TestClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{URL}/{job['id']}"
    assert int(response.headers["retry-after"]) >= 1
    return job


def _finite_numbers(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def _diagnosis_of(curves: dict[str, Any]) -> list[dict[str, Any]]:
    """What the advisor's §10 table says of these curves: the job must report exactly that."""
    from advisor import Curves, diagnose
    from trainers.spec import CurveSet

    found = diagnose(Curves(**CurveSet.model_validate(curves).for_diagnosis()))
    return [d.model_dump(mode="json") for d in found]


def test_round_trip_upload_recommend_train_download_reload(
    client: TestClient, dataset_id: str, recommendation_id: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    # This round trip trains the XGBoost candidate, wherever the portfolio's evidence ranked it.
    ranked = [c["model"] for c in client.get(f"/v1/recommendations/{recommendation_id}").json()["candidates"]]
    assert sorted(ranked) == ["extra_trees", "knn", "lightgbm", "random_forest", "svm", "xgboost"]
    rank = ranked.index("xgboost") + 1
    created = _submit(client, {"dataset_id": dataset_id, "recommendation_id": recommendation_id, "candidate": rank})
    assert created["status"] in ("queued", "running") and created["model"] == "xgboost" and created["queue"] == "cpu"
    job = _wait_status(client, created["id"], "succeeded", "failed", "cancelled")
    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1 and job["progress"]["phase"] == "done"
    assert job["metrics"]["test"]["roc_auc"] > 0.9
    assert job["baseline"]["model"] == "logistic_regression" and job["baseline"]["metrics"]["test"]["accuracy"] > 0.9
    assert "roc_auc" in job["lift_over_baseline"]["test"]
    assert job["curves"]["train_loss"] and job["diagnosis"] == _diagnosis_of(job["curves"])
    assert _finite_numbers(job) and job["partial"] is False
    assert job["device"]["device"] == "cpu" and "gpu_unused_reason" in job["device"]
    assert job["timings"]["queued_s"] is not None and job["timings"]["train_s"] > 0
    # What ran: boosting rounds, seconds and the training process's own memory peak; no §13 estimate for trees.
    run = job["run"]
    assert run["trainer"] == "xgboost" and run["device"] == "cpu" and run["round_unit"] == "boosting_rounds"
    assert run["rounds_run"] == job["n_rounds"] and 0 < run["seconds"] <= job["timings"]["train_s"]
    assert run["peak_memory_bytes"] > 50 * 2**20 and "RSS" in run["peak_memory_measure"]
    assert run["estimates"] is None and run["ratios"] is None and run["backbone"] is None
    # The recommendation assumed its budget (none was stated): the job runs under the service default.
    assert job["time_budget_source"] == "default" and job["time_budget_s"] == 3600

    # Download: the zip's digest is in a header and matches the job record.
    response = client.get(job["artifact"]["url"])
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    digest = hashlib.sha256(response.content).hexdigest()
    assert digest == response.headers["x-content-sha256"] == job["artifact"]["zip_sha256"]
    assert response.headers["x-artifact-sha256"] == job["artifact"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert set(zf.namelist()) == {*job["artifact"]["files"], "manifest.json"}
        zf.extractall(tmp_path)

    # Reload with the trainer's own load() (hashes checked) and predict the rows the job predicted.
    from trainers.registry import get_trainer

    model = get_trainer(job["trainer"]).load(tmp_path, expected_sha256=job["artifact"]["sha256"])
    sample = job["sample_predictions"]
    rows = frame.drop(columns=["target"]).iloc[sample["row_index"]]
    np.testing.assert_allclose(model.predict_output(rows), np.asarray(sample["output"]), rtol=1e-6, atol=1e-9)

    # Metrics, MLflow-style.
    curve = client.get(f"{URL}/{job['id']}/metrics", params={"key": "valid.logloss", "run": "model"}).json()["items"]
    assert [m["step"] for m in curve] == list(range(len(curve))) and len(curve) == job["n_rounds"]
    finals = client.get(f"{URL}/{job['id']}/metrics", params={"run": "baseline"}).json()["items"]
    assert any(m["key"] == "test.roc_auc" for m in finals)

    # Listing with filters; curves are left out of lists.
    page = client.get(URL, params={"status": "succeeded", "dataset_id": dataset_id}).json()
    assert job["id"] in [j["id"] for j in page["items"]] and all(j["curves"] is None for j in page["items"])
    assert client.get(URL, params={"status": "nonsense"}).status_code == 422

    # The finished job: cancelling is a conflict; its event stream is one final event.
    body = _problem(client.post(f"{URL}/{job['id']}/cancel"), 409)
    assert "succeeded" in body["detail"]
    events = client.get(f"{URL}/{job['id']}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: end" in events.text and '"status":"succeeded"' in events.text.replace(" ", "")


def test_a_recommendations_stated_time_budget_reaches_the_job(client: TestClient, dataset_id: str) -> None:
    rec = client.post("/v1/recommendations", json={"dataset_id": dataset_id, "constraints": {"time_budget_s": 120}})
    assert rec.status_code == 201, rec.text
    created = _submit(client, {"dataset_id": dataset_id, "recommendation_id": rec.json()["id"]})
    assert created["time_budget_s"] == 120 and created["time_budget_source"] == "recommendation"
    assert rec.json()["id"] in created["time_budget_reason"]
    # A budget in the request wins over the recommendation's.
    own = _submit(client, {"dataset_id": dataset_id, "recommendation_id": rec.json()["id"], "time_budget_s": 60})
    assert own["time_budget_s"] == 60 and own["time_budget_source"] == "request"
    # The recommendation's budget trains to the end; the second job only had to show whose budget it got (it is
    # still queued behind the first: cancelled at once, no second training).
    assert client.post(f"{URL}/{own['id']}/cancel").status_code in (200, 202)
    assert _wait_status(client, created["id"], "succeeded", "failed", "cancelled")["status"] == "succeeded"
    assert _wait_status(client, own["id"], "succeeded", "failed", "cancelled")["status"] in ("cancelled", "succeeded")


def test_events_stream_progress_until_the_end(client: TestClient, dataset_id: str) -> None:
    job = _submit(
        client, {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": FAST_XGB}, "train_baseline": False}
    )
    with client.stream("GET", f"{URL}/{job['id']}/events") as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("event:")]
    names = [b.split("\n", 1)[0].removeprefix("event: ") for b in blocks]
    assert names[-1] == "end" and "progress" in names[:-1]
    final = json.loads(blocks[-1].split("data: ", 1)[1])
    assert final["status"] == "succeeded" and final["baseline"] is None


def test_idempotent_resubmission_returns_the_first_job(client: TestClient, dataset_id: str) -> None:
    body = {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": FAST_XGB}, "train_baseline": False}
    first = _submit(client, body, **{"Idempotency-Key": "key-1"})
    again = client.post(URL, json=body, headers={"Idempotency-Key": "key-1"})
    assert again.status_code == 202 and again.json()["id"] == first["id"]
    assert again.headers["location"] == f"{URL}/{first['id']}" and again.headers["idempotent-replayed"] == "true"
    other = client.post(URL, json={**body, "seed": 7}, headers={"Idempotency-Key": "key-1"})
    assert _problem(other, 422)["job_id"] == first["id"]
    _wait_status(client, first["id"], "succeeded")
    ids = [j["id"] for j in client.get(URL, params={"dataset_id": dataset_id, "limit": 100}).json()["items"]]
    assert ids.count(first["id"]) == 1


def test_requests_that_cannot_be_trained_are_refused_by_name(
    client: TestClient, dataset_id: str, recommendation_id: str
) -> None:
    base = {"dataset_id": dataset_id, "recommendation_id": recommendation_id}
    assert "no dataset" in _problem(client.post(URL, json={**base, "dataset_id": "nope"}), 404)["detail"]
    assert "no recommendation" in _problem(client.post(URL, json={**base, "recommendation_id": "nope"}), 404)["detail"]
    out_of_range = _problem(client.post(URL, json={**base, "candidate": 9}), 422)
    assert "between 1 and" in out_of_range["detail"] and out_of_range["errors"][0]["loc"] == ["body", "candidate"]
    spec = {"dataset_id": dataset_id, "spec": {"trainer": "no_such_trainer"}}
    detail = _problem(client.post(URL, json=spec), 422)["detail"]
    assert "no_such_trainer" in detail and "sklearn_svm" in detail and "torch_mlp" in detail  # the registry's names
    bad_param = {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": {"n_trees": 5}}}
    body = _problem(client.post(URL, json=bad_param), 422)
    assert "n_trees" in body["detail"] and body["errors"][0]["loc"][-1] == "n_trees"
    _problem(client.post(URL, json={**base, "time_budget_s": 0}), 422)
    _problem(client.post(URL, json={**base, "candidate": 1, "spec": {"trainer": "xgboost"}}), 422)
    _problem(client.post(URL, json={"dataset_id": dataset_id}), 422)

    profile = {"modality": "tabular", "task": "binary", "n_rows": 1000, "n_features": 5}
    meta = client.post("/v1/datasets", json={"name": "described only", "profile": profile})
    assert meta.status_code == 201, meta.text
    conflict = _problem(client.post(URL, json={**base, "dataset_id": meta.json()["id"]}), 409)
    assert "cannot be trained on" in conflict["detail"]
    assert client.get(f"{URL}/nope").status_code == 404


def test_cancel_queued_at_once_and_running_keeps_a_partial_model(client: TestClient, dataset_id: str) -> None:
    slow = _submit(client, {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": SLOW_XGB}})
    wait_for(lambda: (p := _job(client, slow["id"])["progress"]) and p["phase"] == "training" and p["current"] > 0)

    # The only worker is busy: this one waits in the queue, and is cancelled at once.
    queued = _submit(client, {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": FAST_XGB}})
    response = client.post(f"{URL}/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert client.post(f"{URL}/{queued['id']}/cancel").status_code == 200  # idempotent

    response = client.post(f"{URL}/{slow['id']}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    job = _wait_status(client, slow["id"], "cancelled", "succeeded", "failed", timeout=30)
    assert job["status"] == "cancelled", job["error"]
    assert job["partial"] is True and job["partial_reason"] == "cancelled" and job["artifact"]["partial"] is True
    assert job["baseline"]["error"]["message"].startswith("not trained")
    assert client.get(job["artifact"]["url"]).status_code == 200
    assert _job(client, queued["id"])["attempt"] == 0  # never ran


def test_a_killed_training_process_is_retried_then_failed_never_left_running(
    client: TestClient, dataset_id: str
) -> None:
    job = _submit(
        client, {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": SLOW_XGB}, "train_baseline": False}
    )

    def training_pid(attempt: int) -> int | None:
        j = _job(client, job["id"])
        row_pid = _child_pid(client, job["id"])
        if j["attempt"] == attempt and j["status"] == "running" and (j["progress"] or {}).get("current"):
            return row_pid
        return None

    os.kill(wait_for(lambda: training_pid(1)), signal.SIGKILL)
    os.kill(wait_for(lambda: training_pid(2), timeout=120), signal.SIGKILL)
    assert client.get("/healthz").status_code == 200  # the API never noticed
    final = _wait_status(client, job["id"], "failed", timeout=30)
    assert "SIGKILL" in final["error"]["message"] and "attempt 2 of 2" in final["error"]["message"]
    assert [h["outcome"] for h in final["history"]] == ["retried", "failed"]
    assert "SIGKILL" in final["history"][0]["reason"]


def _child_pid(client: TestClient, job_id: str) -> int | None:
    """The training process's pid, as the runner recorded it in the job row."""
    from service.db.models import Job

    db = client.app.state.db  # type: ignore[attr-defined]
    with db.transaction(write=False) as session:
        row = session.get(Job, job_id)
        return None if row is None else row.child_pid


def test_deleting_a_finished_job_removes_its_files(
    client: TestClient, dataset_id: str, engine_settings: Settings
) -> None:
    job = _submit(
        client, {"dataset_id": dataset_id, "spec": {"trainer": "xgboost", "params": FAST_XGB}, "train_baseline": False}
    )
    _wait_status(client, job["id"], "succeeded")
    assert (engine_settings.artifacts_dir / job["id"]).is_dir()
    assert client.delete(f"{URL}/{job['id']}").status_code == 204
    assert client.get(f"{URL}/{job['id']}").status_code == 404
    assert not (engine_settings.artifacts_dir / job["id"]).exists()


def test_predictions_apply_the_training_preprocessing(
    client: TestClient, dataset_id: str, recommendation_id: str, frame: pd.DataFrame
) -> None:
    created = _submit(client, {"dataset_id": dataset_id, "recommendation_id": recommendation_id, "candidate": 0})
    job = _wait_status(client, created["id"], "succeeded", "failed", "cancelled")
    assert job["status"] == "succeeded", job["error"]
    rows = frame.drop(columns=["target"]).iloc[:5]

    # JSON rows: labels in the dataset's own values, probabilities in `classes` order
    r = client.post(f"{URL}/{job['id']}/predictions", json={"rows": rows.to_dict(orient="records")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_rows"] == 5 and body["task"] == "binary" and len(body["probabilities"]) == 5
    assert set(body["predictions"]) <= set(body["classes"]) and len(body["classes"]) == 2
    assert all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    truth = frame["target"].iloc[:5].tolist()
    assert sum(int(p == t) for p, t in zip(body["predictions"], truth, strict=True)) >= 4

    # the same rows as a CSV upload give the same answer
    buffer = io.BytesIO()
    rows.to_csv(buffer, index=False)
    r2 = client.post(f"{URL}/{job['id']}/predictions", files={"file": ("rows.csv", buffer.getvalue(), "text/csv")})
    assert r2.status_code == 200, r2.text
    np.testing.assert_allclose(r2.json()["probabilities"], body["probabilities"], atol=1e-6)

    # a missing column is refused, naming it; a value that is not a number is read as missing, and said
    missing = rows.drop(columns=["mean radius"]).to_dict(orient="records")
    problem = _problem(client.post(f"{URL}/{job['id']}/predictions", json={"rows": missing}), 422)
    assert "mean radius" in problem["detail"]
    typed = rows.to_dict(orient="records")
    typed[0]["mean texture"] = "not a number"
    r3 = client.post(f"{URL}/{job['id']}/predictions", json={"rows": typed})
    assert r3.status_code == 200, r3.text
    assert len(r3.json()["predictions"]) == len(typed)
    assert [w for w in r3.json()["warnings"] if "'mean texture'" in w and "'not a number'" in w]
    _problem(client.post(f"{URL}/{job['id']}/predictions", json={"rows": []}), 422)
    _problem(client.post(f"{URL}/nope/predictions", json={"rows": [{"a": 1}]}), 404)


def test_deep_learning_job_trains_the_recommended_cnn(client: TestClient) -> None:
    """Digits uploaded as .npz → the advisor picks a CNN → a torch job trains that recipe and reports the same
    metrics, curves and artifact as a classical job (a short budget keeps CI fast: the model may be partial)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    buffer = io.BytesIO()
    np.savez(buffer, x=(digits.images * 16).astype(np.uint8)[:, :, :, None], y=digits.target)
    r = client.post("/v1/datasets", files={"file": ("digits.npz", buffer.getvalue())})
    assert r.status_code in (200, 201), r.text
    dataset = r.json()
    assert dataset["modality"] == "image" and dataset["profile"]["image_size"] == [8, 8, 1]
    rec = client.post("/v1/recommendations", json={"dataset_id": dataset["id"]}).json()
    assert rec["family"] == "deep_learning" and rec["candidates"][0]["trainer"] == "torch_cnn"

    created = _submit(
        client, {"dataset_id": dataset["id"], "recommendation_id": rec["id"], "candidate": 1, "time_budget_s": 25}
    )
    assert created["queue"] == "gpu"  # a torch job prefers the GPU queue; without GPU workers it trains on a CPU
    job = _wait_status(client, created["id"], "succeeded", "failed", "cancelled", timeout=180)
    assert job["status"] == "succeeded", job["error"]
    assert job["model"] == "cnn" and job["metrics"]["test"]["accuracy"] > 0.5
    assert job["curves"]["train_loss"] and job["diagnosis"] == _diagnosis_of(job["curves"])
    assert job["artifact"]["format"] and job["device"]["device"] == "cpu"
    assert _finite_numbers(job)
    # What ran, beside the advisor's §13 estimates that came with the recipe.
    run, params = job["run"], job["params"]
    assert job["time_budget_source"] == "request" and job["time_budget_s"] == 25
    assert run["round_unit"] == "epochs" and run["rounds_run"] == job["n_rounds"] >= 1
    assert run["estimates"]["parameters"] == params["memory_estimate"]["parameters"]
    assert run["estimates"]["memory_bytes"] == params["memory_estimate"]["total_bytes"]
    assert run["estimates"]["seconds_per_epoch"] == params["time_estimate"]["seconds_per_epoch"]
    assert run["parameters"] == run["trainable_parameters"] > 0
    assert run["ratios"]["parameters"] == round(run["parameters"] / run["estimates"]["parameters"], 3)
    assert 0.5 < run["ratios"]["parameters"] < 2  # the estimate counts the same network
    assert run["ratios"]["memory"] == round(run["peak_memory_bytes"] / run["estimates"]["memory_bytes"], 3)
    assert run["ratios"]["seconds_per_epoch"] > 0 and any("RSS" in n for n in run["notes"])
    assert 0 < run["memory_at_start_bytes"] <= run["peak_memory_bytes"]
    assert 0 <= run["ratios"]["memory_growth"] < run["ratios"]["memory"]
    assert run["dead_relu_fraction"] == job["curves"]["dead_relu_fraction"] and 0 <= run["dead_relu_fraction"] <= 1
