"""GET /v1/jobs/{id}/model?format=onnx through the real app: a graph that predicts what the job's model predicts,
documented in headers and metadata, cached beside the artifact; 409 problem+json where no export exists."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from _job_fixtures import breast_cancer, train_spec, upload_frame, wait_for
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

URL = "/v1/jobs"


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return breast_cancer()


@pytest.fixture(scope="module")
def logistic_job(client: TestClient, frame: pd.DataFrame) -> dict[str, Any]:
    dataset_id = upload_frame(client, frame, "target", "breast_cancer.csv")
    return train_spec(client, dataset_id, "sklearn_logistic", {"C": 1.0, "max_iter": 500})


def mixed(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """A table with a categorical text column, a numeric column with gaps and a yes/no label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
    label = np.where(x + np.where(color == "red", 1.5, -0.5) + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    x[::9] = np.nan
    return pd.DataFrame({"x": x, "color": color, "label": label})


def test_onnx_download_predicts_what_the_job_predicts(
    client: TestClient, logistic_job: dict[str, Any], frame: pd.DataFrame
) -> None:
    job_id = logistic_job["id"]
    response = client.get(f"{URL}/{job_id}/model", params={"format": "onnx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert f'filename="{job_id}-sklearn_logistic.onnx"' in response.headers["content-disposition"]
    assert response.headers["x-content-sha256"] == hashlib.sha256(response.content).hexdigest()
    assert response.headers["x-artifact-sha256"] == logistic_job["artifact"]["sha256"]
    assert response.headers["x-onnx-inputs"] == "X float32[N,30]"
    assert response.headers["x-onnx-outputs"] == "probabilities float32[N,2]"
    columns = json.loads(response.headers["x-onnx-feature-columns"])
    assert columns == [c for c in frame.columns if c != "target"]
    assert json.loads(response.headers["x-onnx-classes"]) == [0, 1]

    model = onnx.load_from_string(response.content)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["advisor.trainer"] == "sklearn_logistic" and json.loads(meta["advisor.classes"]) == [0, 1]
    assert model.doc_string.startswith("sklearn_logistic binary model")
    assert "input X: float32 [N, 30], columns in this order: mean radius (numeric)" in model.doc_string

    # The documented contract is enough to feed the graph: the columns in order, as float32.
    rows = frame.sample(60, random_state=3)
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"X": rows[columns].to_numpy(np.float32)})
    served = client.post(f"{URL}/{job_id}/predictions", json={"rows": rows.drop(columns="target").to_dict("records")})
    assert served.status_code == 200, served.text
    expected = np.asarray(served.json()["probabilities"])
    assert got.shape == expected.shape == (60, 2)
    assert np.abs(got - expected).max() <= 1e-4


def test_onnx_export_is_cached_beside_the_artifact(
    client: TestClient, logistic_job: dict[str, Any], engine_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{URL}/{logistic_job['id']}/model"
    first = client.get(url, params={"format": "onnx"})
    assert first.status_code == 200
    job_dir = engine_settings.artifacts_dir / logistic_job["id"]
    cached = sorted(p.name for p in job_dir.rglob("onnx/*"))
    assert len(cached) == 2 and cached[0].endswith(".json") and cached[1].endswith(".onnx")

    from trainers.base import Trainer

    def no_conversion(self: Trainer) -> Any:
        raise AssertionError("converted again instead of serving the cached export")

    monkeypatch.setattr(Trainer, "to_onnx", no_conversion)
    again = client.get(url, params={"format": "onnx"})
    assert again.status_code == 200 and again.content == first.content


def test_zip_stays_the_default_download(client: TestClient, logistic_job: dict[str, Any]) -> None:
    url = f"{URL}/{logistic_job['id']}/model"
    default, explicit = client.get(url), client.get(url, params={"format": "zip"})
    for response in (default, explicit):
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        assert response.headers["x-content-sha256"] == logistic_job["artifact"]["zip_sha256"]
        assert response.headers["x-artifact-format"] == "skops"
    assert default.content == explicit.content
    assert hashlib.sha256(default.content).hexdigest() == logistic_job["artifact"]["zip_sha256"]
    _problem(client.get(url, params={"format": "pickle"}), 422)


def test_categorical_xgboost_job_exports(client: TestClient) -> None:
    """A table with a categorical column and gaps: the XGBoost job's graph gives the job's own probabilities."""
    frame = mixed()
    dataset_id = upload_frame(client, frame, "label", "mixed.csv")
    job = train_spec(
        client,
        dataset_id,
        "xgboost",
        {"objective": "binary:logistic", "n_estimators": 15, "max_depth": 3, "learning_rate": 0.3},
    )
    response = client.get(f"{URL}/{job['id']}/model", params={"format": "onnx"})
    assert response.status_code == 200, response.text
    model = onnx.load_from_string(response.content)
    inputs = json.loads({p.key: p.value for p in model.metadata_props}["advisor.inputs"])[0]
    assert [c["name"] for c in inputs["columns"]] == ["x", "color"]
    levels = inputs["columns"][1]["categories"]
    assert levels == ["blue", "green", "red"]
    rows = pd.concat([frame.head(40), pd.DataFrame({"x": [np.nan, 0.3], "color": [None, "purple"]})])
    x = np.column_stack(
        [rows["x"].to_numpy(np.float32), [levels.index(c) if c in levels else -1 for c in rows["color"]]]
    ).astype(np.float32)
    (got,) = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"]).run(None, {"X": x})
    served = client.post(
        f"{URL}/{job['id']}/predictions",
        json={"rows": rows[["x", "color"]].astype(object).where(rows[["x", "color"]].notna(), None).to_dict("records")},
    )
    assert served.status_code == 200, served.text
    assert np.abs(got - np.asarray(served.json()["probabilities"])).max() <= 1e-4


def reviews(n: int = 160, seed: int = 0) -> bytes:
    """A CSV of short generated reviews (filler plus two sentiment words) and a pos/neg label."""
    rng = np.random.default_rng(seed)
    filler = ["the", "food", "was", "and", "service", "place", "really", "quite", "very", "our", "table"]
    good, bad = ["good", "great", "tasty", "fresh"], ["bad", "awful", "stale", "bland"]
    rows = []
    for i in range(n):
        words = [*rng.choice(filler, size=6), *rng.choice(good if i % 2 else bad, size=2)]
        rng.shuffle(words)
        rows.append({"review": " ".join(words), "label": "pos" if i % 2 else "neg"})
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_model_without_a_converter_answers_409_saying_why(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A text LSTM reads word ids made outside its network: the job trains and its zip downloads, the ONNX
    download is refused naming the trainer and the reason, and the refusal is remembered."""
    r = client.post(
        "/v1/datasets",
        files={"file": ("reviews.csv", reviews(), "text/csv")},
        data={"target": "label", "modality": "text"},
    )
    assert r.status_code in (200, 201), r.text
    dataset_id = r.json()["id"]
    rec = client.post("/v1/recommendations", json={"dataset_id": dataset_id}).json()
    rank = next(i for i, c in enumerate(rec["candidates"], start=1) if c["trainer"] == "torch_lstm")
    created = client.post(
        URL,
        json={
            "dataset_id": dataset_id,
            "recommendation_id": rec["id"],
            "candidate": rank,
            "time_budget_s": 15,
            "train_baseline": False,
        },
    )
    assert created.status_code == 202, created.text

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"{URL}/{created.json()['id']}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(done, timeout=180)
    assert job["status"] == "succeeded" and job["trainer"] == "torch_lstm", job["error"]
    url = f"{URL}/{job['id']}/model"
    body = _problem(client.get(url, params={"format": "onnx"}), 409)
    assert body["type"] == "urn:model-advisor:problem:not-convertible"
    assert body["trainer"] == "torch_lstm" and "on text" in body["reason"] and "vocabulary" in body["reason"]
    assert "format=zip" in body["detail"]

    from trainers.base import Trainer

    monkeypatch.setattr(Trainer, "to_onnx", lambda self: pytest.fail("converted a refused model again"))
    assert _problem(client.get(url, params={"format": "onnx"}), 409)["reason"] == body["reason"]
    assert client.get(url).status_code == 200  # the zip is still there


def test_unknown_job_answers_404(client: TestClient) -> None:
    _problem(client.get(f"{URL}/nosuchjob/model", params={"format": "onnx"}), 404)
