"""GET /v1/jobs/{id}/evaluation: the reductions on hand-made predictions, then real jobs (a classifier and a
regressor) whose test figures must agree with the metrics the job itself reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _ui_fixtures import csv_bytes, table, ui_settings, wait_for
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

from service.main import create_app
from service.services import evaluation


def test_binary_confusion_matrix_and_roc() -> None:
    target = np.array([0, 0, 1, 1, 1, 0])
    p1 = np.array([0.1, 0.6, 0.8, 0.4, 0.9, 0.2], dtype=np.float32)
    matrix, curves = evaluation.classification(np.column_stack([1 - p1, p1]), target, ["no", "yes"])
    assert matrix.labels == ["no", "yes"]
    assert matrix.counts == [[2, 1], [1, 2]]  # rows actual, columns predicted (argmax)
    assert len(curves) == 1 and curves[0].label == "yes"
    assert curves[0].auc == pytest.approx(roc_auc_score(target, p1))
    assert curves[0].fpr[0] == 0 and curves[0].fpr[-1] == 1 and curves[0].tpr[-1] == 1
    # The positive class's probability alone reads the same.
    assert evaluation.classification(p1, target, ["no", "yes"])[0].counts == matrix.counts


def test_multiclass_gives_one_curve_per_class_and_a_single_class_split_has_no_auc() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=60)
    target = rng.integers(0, 3, size=60)
    matrix, curves = evaluation.classification(probs, target, ["a", "b", "c"])
    assert np.sum(matrix.counts) == 60 and [c.label for c in curves] == ["a", "b", "c"]
    for k, curve in enumerate(curves):
        assert curve.auc == pytest.approx(roc_auc_score(target == k, probs[:, k]))
    _, single = evaluation.classification(probs[:5], np.zeros(5, dtype=int), ["a", "b", "c"])
    assert single[0].auc is None and single[0].fpr == []


def test_residuals_sample_large_splits_and_score_all_rows() -> None:
    actual = np.arange(5000, dtype=np.float64)
    predicted = actual + np.where(actual % 2 == 0, 1.0, -1.0)
    found = evaluation.residuals(predicted.astype(np.float32), actual, max_points=100)
    assert found.n_rows == 5000 and found.sampled and len(found.predicted) == len(found.actual) == 100
    assert found.rmse == pytest.approx(1.0) and found.mae == pytest.approx(1.0)
    assert all(abs(p - a) == pytest.approx(1.0) for p, a in zip(found.predicted, found.actual, strict=True))
    small = evaluation.residuals(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    assert not small.sampled and small.predicted == [1.0, 2.0] and small.rmse == pytest.approx(np.sqrt(0.125))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ui_settings(tmp_path_factory.mktemp("ui-eval"))
    with TestClient(create_app(settings)) as c:
        yield c


def _trained(client: TestClient, task: str, trainer: str) -> dict:
    upload = client.post(
        "/v1/datasets",
        files={"file": (f"{task}.csv", csv_bytes(table(120, task=task)), "text/csv")},
        data={"target": "y", "task": task},
    )
    assert upload.status_code in (200, 201), upload.text  # 200: the same table, stored before
    created = client.post("/v1/jobs", json={"dataset_id": upload.json()["id"], "spec": {"trainer": trainer}})
    assert created.status_code == 202, created.text
    url = created.headers["location"]
    job = wait_for(lambda: (j := client.get(url).json())["status"] in ("succeeded", "failed") and j, timeout=120)
    assert job["status"] == "succeeded", job.get("error")
    return job


def test_a_classifiers_evaluation_matches_its_reported_test_metrics(client: TestClient) -> None:
    job = _trained(client, "binary", "sklearn_logistic")
    valid = client.get(f"/v1/jobs/{job['id']}/evaluation")
    assert valid.status_code == 200, valid.text
    body = valid.json()
    assert body["split"] == "validation" and body["task"] == "binary" and body["classes"] == ["0", "1"]
    assert body["source"].startswith("out-of-fold") and body["residuals"] is None
    assert np.sum(body["confusion_matrix"]["counts"]) == body["n_rows"] == job["validation"]["n_rows"]
    test = client.get(f"/v1/jobs/{job['id']}/evaluation", params={"split": "test"}).json()
    counts = np.array(test["confusion_matrix"]["counts"])
    assert counts.trace() / counts.sum() == pytest.approx(job["metrics"]["test"]["accuracy"])
    assert test["roc"][0]["auc"] == pytest.approx(job["metrics"]["test"]["roc_auc"], abs=1e-6)
    refused = client.get(f"/v1/jobs/{job['id']}/evaluation", params={"split": "train"})
    assert refused.status_code == 422
    assert client.get("/v1/jobs/nope/evaluation").status_code == 404
    # The dashboard's page script reads the same thing.
    assert client.get(f"/ui/data/jobs/{job['id']}/evaluation", params={"split": "test"}).json() == test


def test_a_regressors_evaluation_has_residuals_matching_its_test_rmse(client: TestClient) -> None:
    job = _trained(client, "regression", "sklearn_ridge")
    test = client.get(f"/v1/jobs/{job['id']}/evaluation", params={"split": "test"}).json()
    assert test["task"] == "regression" and test["confusion_matrix"] is None and test["roc"] is None
    residuals = test["residuals"]
    assert residuals["n_rows"] == len(residuals["actual"]) == test["n_rows"] and not residuals["sampled"]
    assert residuals["rmse"] == pytest.approx(job["metrics"]["test"]["rmse"], rel=1e-4)
    assert residuals["mae"] == pytest.approx(job["metrics"]["test"]["mae"], rel=1e-4)


def test_a_damaged_prediction_file_is_refused(client: TestClient, tmp_path: Path) -> None:
    job = _trained(client, "binary", "sklearn_logistic")
    settings = client.app.state.settings  # type: ignore[attr-defined]
    folder = next(settings.artifacts_dir.glob(f"{job['id']}/*/model"))
    (folder / "test_pred.npy").write_bytes(b"\x93NUMPY tampered")
    response = client.get(f"/v1/jobs/{job['id']}/evaluation", params={"split": "test"})
    assert response.status_code == 500 and "SHA-256" in response.json()["detail"]
