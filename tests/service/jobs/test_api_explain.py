"""Explanations through the real app: GET /v1/jobs/{id}/importance (stored with the model, verified, 404/409
problems) and ``explain=true`` on predictions, whose contributions add up to the model's margin on real data."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _job_fixtures import breast_cancer, insert_job, train_spec, upload_frame
from fastapi.testclient import TestClient

from service.db.session import Database
from service.jobs import states
from service.main import create_app
from service.settings import Settings

URL = "/v1/jobs"


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


def problem(response: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    if type_suffix is not None:
        assert body["type"].endswith(type_suffix), body
    return body


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame["sex"] = np.where(frame["sex"] > 0, "male", "female")  # a categorical column, one-hot in linear models
    return frame


@pytest.fixture(scope="module")
def bc(client: TestClient) -> str:
    return upload_frame(client, breast_cancer(), "target", "breast_cancer.csv")


@pytest.fixture(scope="module")
def xgb_job(client: TestClient, bc: str) -> dict[str, Any]:
    return train_spec(client, bc, "xgboost", {"objective": "binary:logistic", "n_estimators": 20, "max_depth": 3})


@pytest.fixture(scope="module")
def logistic_job(client: TestClient, bc: str) -> dict[str, Any]:
    return train_spec(client, bc, "sklearn_logistic", {"C": 1.0, "max_iter": 500})


@pytest.fixture(scope="module")
def forest_job(client: TestClient, bc: str) -> dict[str, Any]:
    return train_spec(client, bc, "sklearn_random_forest", {"n_estimators": 20})


@pytest.fixture(scope="module")
def iris_lgbm_job(client: TestClient) -> dict[str, Any]:
    dataset_id = upload_frame(client, _iris(), "target", "iris.csv")
    return train_spec(client, dataset_id, "lightgbm", {"objective": "multiclass", "n_estimators": 20, "num_leaves": 7})


@pytest.fixture(scope="module")
def ridge_job(client: TestClient) -> dict[str, Any]:
    dataset_id = upload_frame(client, _diabetes(), "target", "diabetes.csv")
    return train_spec(client, dataset_id, "sklearn_ridge", {"alpha": 1.0})


def _rows(frame: pd.DataFrame, target: str, n: int = 25) -> list[dict[str, Any]]:
    return frame.drop(columns=target).sample(n, random_state=4).to_dict(orient="records")


def _explained(client: TestClient, job_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(f"{URL}/{job_id}/predictions?explain=true", json={"rows": rows})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["n_rows"] == len(rows) and len(body["predictions"]) == len(rows)
    return body


def _sums(contrib: dict[str, Any]) -> np.ndarray:
    values, bias, margin = (np.asarray(contrib[k], dtype=np.float64) for k in ("values", "bias", "margin"))
    np.testing.assert_allclose(values.sum(axis=-1) + bias, margin, rtol=1e-6, atol=1e-6)
    return margin


# -- importance -------------------------------------------------------------------------------------------------------
def test_importance_is_stored_with_the_model_and_served(client: TestClient, xgb_job: dict[str, Any]) -> None:
    body = client.get(f"{URL}/{xgb_job['id']}/importance").json()
    assert body["job_id"] == xgb_job["id"] and body["trainer"] == "xgboost" and body["task"] == "binary"
    features = set(breast_cancer().columns) - {"target"}
    assert set(body["columns"]) == features
    perm = body["permutation"]
    assert perm["metric"] == "log_loss" and perm["n_repeats"] >= 1 and perm["n_rows"] > 0
    assert {c["column"] for c in perm["columns"]} == features
    values = [c["value"] for c in perm["columns"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
    assert body["native"]["kind"] == "gain" and {c["column"] for c in body["native"]["columns"]} == features
    # The file is part of the artifact: listed with its hash, and inside the model zip.
    assert "importance.json" in xgb_job["artifact"]["files"]
    archive = client.get(f"{URL}/{xgb_job['id']}/model")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert "importance.json" in zf.namelist()


def test_linear_importance_has_coefficients_per_original_column(client: TestClient, ridge_job: dict[str, Any]) -> None:
    body = client.get(f"{URL}/{ridge_job['id']}/importance").json()
    assert body["native"]["kind"] == "coefficients" and body["permutation"]["metric"] == "rmse"
    columns = [c["column"] for c in body["native"]["columns"]]
    assert sorted(columns) == sorted(set(_diabetes().columns) - {"target"})  # "sex" once, not once per level


def test_importance_problems(client: TestClient, db: Database, bc: str, forest_job: dict[str, Any]) -> None:
    engine_settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    problem(client.get(f"{URL}/nosuchjob/importance"), 404, "not-found")
    failed = insert_job(db, bc, status=states.FAILED)
    body = problem(client.get(f"{URL}/{failed}/importance"), 409, "no-importance")
    assert "has no model" in body["detail"] and body["job_status"] == "failed"
    # A changed file is refused, not served.
    path = next((engine_settings.artifacts_dir / forest_job["id"]).rglob("importance.json"))
    saved = path.read_bytes()
    try:
        path.write_bytes(saved.replace(b'"trainer"', b'"trainer" ', 1))
        problem(client.get(f"{URL}/{forest_job['id']}/importance"), 500, "artifact-corrupt")
    finally:
        path.write_bytes(saved)
    assert client.get(f"{URL}/{forest_job['id']}/importance").json()["native"]["kind"] == "impurity"


# -- per-row contributions --------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_xgboost_contributions_add_up_to_the_log_odds(client: TestClient, xgb_job: dict[str, Any]) -> None:
    rows = _rows(breast_cancer(), "target")
    body = _explained(client, xgb_job["id"], rows)
    contrib = body["contributions"]
    assert contrib["available"] and contrib["method"] == "xgboost_tree_shap" and "log-odds" in contrib["output"]
    assert contrib["columns"] == [c for c in breast_cancer().columns if c != "target"]
    margin = _sums(contrib)
    # The margin is the model's: its sigmoid is the predicted probability of the second class.
    np.testing.assert_allclose(_sigmoid(margin), np.asarray(body["probabilities"])[:, 1], atol=2e-6)


def test_logistic_contributions_add_up_to_the_log_odds(client: TestClient, logistic_job: dict[str, Any]) -> None:
    body = _explained(client, logistic_job["id"], _rows(breast_cancer(), "target"))
    contrib = body["contributions"]
    assert contrib["available"] and contrib["method"] == "linear"
    margin = _sums(contrib)
    np.testing.assert_allclose(_sigmoid(margin), np.asarray(body["probabilities"])[:, 1], atol=2e-6)
    assert len(set(contrib["bias"])) == 1  # the intercept


def test_lightgbm_multiclass_contributions_add_up_to_each_class_margin(
    client: TestClient, iris_lgbm_job: dict[str, Any]
) -> None:
    body = _explained(client, iris_lgbm_job["id"], _rows(_iris(), "target"))
    contrib = body["contributions"]
    assert contrib["method"] == "lightgbm_tree_shap" and contrib["classes"] == body["classes"]
    margin = _sums(contrib)
    assert margin.shape == (25, 3) and np.asarray(contrib["values"]).shape == (25, 3, 4)
    softmax = np.exp(margin - margin.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, np.asarray(body["probabilities"]), atol=2e-6)


def test_ridge_contributions_add_up_to_the_prediction(client: TestClient, ridge_job: dict[str, Any]) -> None:
    frame = _diabetes()
    body = _explained(client, ridge_job["id"], _rows(frame, "target"))
    contrib = body["contributions"]
    assert contrib["output"] == "the predicted value"
    assert contrib["columns"] == [c for c in frame.columns if c != "target"]  # "sex": one column, two levels
    np.testing.assert_allclose(_sums(contrib), body["predictions"], rtol=1e-9, atol=1e-6)


def test_explain_on_an_uploaded_csv(client: TestClient, xgb_job: dict[str, Any]) -> None:
    csv = breast_cancer().drop(columns="target").head(7).to_csv(index=False).encode()
    response = client.post(
        f"{URL}/{xgb_job['id']}/predictions", params={"explain": "true"}, files={"file": ("rows.csv", csv, "text/csv")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    margin = _sums(body["contributions"])
    assert margin.shape == (7,)
    np.testing.assert_allclose(_sigmoid(margin), np.asarray(body["probabilities"])[:, 1], atol=2e-6)


def test_models_without_contributions_say_so_and_still_predict(client: TestClient, forest_job: dict[str, Any]) -> None:
    body = _explained(client, forest_job["id"], _rows(breast_cancer(), "target", 5))
    contrib = body["contributions"]
    assert contrib["available"] is False and contrib["values"] == []
    assert "no per-row contributions" in contrib["reason"] and "sklearn_random_forest" in contrib["reason"]
    assert len(body["probabilities"]) == 5


def test_predictions_without_explain_are_unchanged(client: TestClient, xgb_job: dict[str, Any]) -> None:
    response = client.post(f"{URL}/{xgb_job['id']}/predictions", json={"rows": _rows(breast_cancer(), "target", 3)})
    assert response.status_code == 200 and "contributions" not in response.json()


def test_explain_is_refused_for_batches_and_too_many_rows(client: TestClient, xgb_job: dict[str, Any]) -> None:
    rows = _rows(breast_cancer(), "target", 3)
    body = problem(client.post(f"{URL}/{xgb_job['id']}/predictions?explain=true&mode=batch", json={"rows": rows}), 422)
    assert "explain=true" in body["detail"]
    many = breast_cancer().drop(columns="target").sample(1001, replace=True, random_state=0).to_dict(orient="records")
    body = problem(client.post(f"{URL}/{xgb_job['id']}/predictions?explain=true", json={"rows": many}), 422)
    assert "1001 samples" in body["detail"]
