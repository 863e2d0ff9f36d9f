"""/v1/datasets/{id}/race and /v1/races through the real app: a real race on breast_cancer, the refusals, and
the leaderboard's ordering and verdict on hand-made rows (skipped candidates, regression)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from _job_fixtures import breast_cancer, wait_for
from fastapi.testclient import TestClient

from service.db.models import Job, Race
from service.db.types import utcnow
from service.main import create_app
from service.services import races
from service.settings import Settings


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def dataset_id(client: TestClient) -> str:
    buffer = io.BytesIO()
    breast_cancer().to_csv(buffer, index=False)
    response = client.post("/v1/datasets", files={"file": ("breast_cancer.csv", buffer.getvalue(), "text/csv")},
                           data={"target": "target"})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def test_a_race_trains_top_k_and_the_baseline_then_ranks_them(client: TestClient, dataset_id: str) -> None:
    response = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 2, "time_budget_s": 30})
    assert response.status_code == 202, response.text
    race = response.json()
    assert response.headers["location"] == f"/v1/races/{race['id']}" == race["links"]["self"]
    assert race["status"] == "running" and race["recommendation_id"] and race["agrees_with_recommendation"] is None
    entries = race["leaderboard"]
    # 569 rows: the forests lead the pool, so the race trains them and the baseline; nothing is skipped.
    assert len(race["job_ids"]) == 3 and race["params"]["skipped"] == []
    assert sorted(e["rank"] or 0 for e in entries) == [0, 1, 2]
    assert {e["rank"] or 0: (e["model"], e["trainer"]) for e in entries} == {
        1: ("random_forest", "sklearn_random_forest"), 2: ("extra_trees", "sklearn_extra_trees"),
        0: ("logistic_regression", "sklearn_logistic")}
    assert [e["is_baseline"] for e in entries].count(True) == 1
    assert all(client.get(f"/v1/jobs/{j}").json()["race_id"] == race["id"] for j in race["job_ids"])

    done = wait_for(lambda: (r := client.get(response.headers["location"]).json())["status"] == "finished" and r,
                    timeout=240, interval=0.5)
    assert done["primary_metric"] == "roc_auc" and done["higher_is_better"] is True
    board = done["leaderboard"]
    scores = [e["score"] for e in board if e["score"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    assert all(score > 0.95 for score in scores)  # roc_auc of both forests and the baseline on breast_cancer
    assert [e["position"] for e in board if e["score"] is not None] == list(range(1, len(scores) + 1))
    baseline = next(e for e in board if e["is_baseline"])
    assert baseline["status"] == "succeeded" and baseline["model"] == "logistic_regression" and baseline["score"] > 0.9
    for e in board:
        assert e["status"] == "succeeded", e
        if e["status"] == "succeeded":
            assert e["metrics"]["test"]["roc_auc"] == e["score"] and e["train_s"] > 0
    assert isinstance(done["agrees_with_recommendation"], bool)
    assert done["agrees_with_recommendation"] == (board[0]["rank"] == 1)
    assert done["verdict"].endswith(".") and board[0]["model"] in done["verdict"]
    # The children are ordinary jobs.
    job = client.get(f"/v1/jobs/{done['job_ids'][0]}").json()
    assert job["status"] == "succeeded" and job["recommendation_id"] == done["recommendation_id"]


def test_refusals(client: TestClient, dataset_id: str) -> None:
    assert "no dataset" in _problem(client.post("/v1/datasets/nope/race", json={}), 404)["detail"]
    unknown = client.post(f"/v1/datasets/{dataset_id}/race", json={"recommendation_id": "nope"})
    assert "no recommendation" in _problem(unknown, 404)["detail"]
    assert _problem(client.get("/v1/races/nope"), 404)
    _problem(client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 6}), 422)

    profile = {"modality": "tabular", "task": "binary", "n_rows": 1000, "n_features": 5}
    meta = client.post("/v1/datasets", json={"name": "described only", "profile": profile})
    assert meta.status_code == 201, meta.text
    conflict = _problem(client.post(f"/v1/datasets/{meta.json()['id']}/race", json={}), 409)
    assert "cannot be trained on" in conflict["detail"]

    other = client.post("/v1/recommendations", json={"dataset_id": meta.json()["id"]})
    assert other.status_code == 201, other.text
    mismatch = client.post(f"/v1/datasets/{dataset_id}/race", json={"recommendation_id": other.json()["id"]})
    body = _problem(mismatch, 422)
    assert body["errors"][0]["loc"] == ["body", "recommendation_id"] and "made for dataset" in body["detail"]
    both = {"recommendation_id": other.json()["id"], "constraints": {}}
    _problem(client.post(f"/v1/datasets/{dataset_id}/race", json=both), 422)

    # A callback the service may not call is refused before the race or any job is stored.
    jobs_before = len(client.get("/v1/jobs").json()["items"])
    refused = _problem(client.post(f"/v1/datasets/{dataset_id}/race", json={"callback_url": "http://127.0.0.1/x"}),
                       422)
    assert refused["errors"][0]["loc"] == ["body", "callback_url"]
    assert len(client.get("/v1/jobs").json()["items"]) == jobs_before


def _job(candidate: int, model: str, status: str, metrics: dict[str, float] | None) -> Job:
    now = utcnow()
    return Job(id=f"job-{candidate}", created_at=now, candidate=candidate, model=model, trainer=model,
               status=status, started_at=now, finished_at=now + timedelta(seconds=2),
               result={"metrics": {"test": metrics}} if metrics else None,
               error={"message": "boom"} if status == "failed" else None)


def _race(task: str, skipped: list[dict[str, Any]] | None = None) -> Race:
    return Race(id="r", created_at=utcnow(), dataset_id="d", recommendation_id="rec",
                params={"task": task, "skipped": skipped or []})


def test_leaderboard_lists_skipped_and_failed_and_ranks_regression_ascending() -> None:
    skipped = [{"rank": 3, "model": "resnet", "trainer": "torch_resnet", "reason": "needs images"}]
    jobs = [_job(1, "xgboost", "succeeded", {"rmse": 2.0}), _job(2, "lightgbm", "failed", None),
            _job(0, "ridge", "succeeded", {"rmse": 1.5})]
    read = races.to_read(_race("regression", skipped), jobs)
    assert read.status == "finished" and read.primary_metric == "rmse" and not read.higher_is_better
    assert [(e.model, e.position, e.status) for e in read.leaderboard] == [
        ("ridge", 1, "succeeded"), ("xgboost", 2, "succeeded"), ("lightgbm", None, "failed"),
        ("resnet", None, "skipped")]
    assert read.leaderboard[3].reason == "needs images" and read.leaderboard[2].reason == "boom"
    assert read.agrees_with_recommendation is False and read.verdict.startswith("The baseline ridge beat")


def test_roc_auc_only_when_every_classifier_has_one_and_running_has_no_verdict() -> None:
    jobs = [_job(1, "a", "succeeded", {"roc_auc": 0.9, "balanced_accuracy": 0.8}),
            _job(0, "b", "succeeded", {"roc_auc": None, "balanced_accuracy": 0.7})]
    read = races.to_read(_race("binary"), jobs)
    assert read.primary_metric == "balanced_accuracy" and read.agrees_with_recommendation is True
    assert read.leaderboard[0].model == "a" and "first choice a won" in read.verdict
    running = races.to_read(_race("binary"), [*jobs, _job(2, "c", "running", None)])
    assert running.status == "running" and running.agrees_with_recommendation is None
