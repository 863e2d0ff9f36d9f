"""Each upload form of a modality predicts, preprocessed as in training: images as an .npz, a zip (resized as
ingestion resizes), one PNG, JSON lists and base64; sequences as a long-format CSV (padded to the training
length) and JSON lists; a table model trained on flattened sequences takes them as arrays too. Wrong shapes and
wrong forms answer 4xx problems naming what was expected."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _predict_fixtures import (
    csv_bytes,
    digits,
    finished,
    load_model,
    npz_bytes,
    png_bytes,
    predict_file,
    recipe,
    sequences,
    submit,
    upload,
    zip_bytes,
)
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _train(client: TestClient, dataset: dict[str, Any], trainer: str, tmp: Path) -> tuple[str, Any]:
    profile = dict(dataset["profile"])
    if dataset["modality"] == "sequence":
        profile.setdefault("n_features", dataset["details"]["n_channels"])
    job = finished(client, submit(client, dataset["id"], trainer, recipe(trainer, profile)))
    return job["id"], load_model(client, job, tmp)


@pytest.fixture(scope="module")
def cnn(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    x, y = digits("multiclass")
    dataset = upload(client, "digits.npz", npz_bytes(x=x, y=y))
    return _train(client, dataset, "torch_cnn", tmp_path_factory.mktemp("cnn"))


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    return digits("multiclass", start=1500, n=12)[0]


def test_images_from_npz_zip_png_and_json_predict_alike(
    cnn: tuple[str, Any], client: TestClient, held_out: np.ndarray
) -> None:
    job_id, model = cnn
    expected = np.asarray(model.predict_output(held_out))
    from_npz = predict_file(client, job_id, "x.npz", npz_bytes(x=held_out, y=np.zeros(len(held_out))))
    assert from_npz.status_code == 200, from_npz.text
    np.testing.assert_allclose(from_npz.json()["probabilities"], expected, atol=2e-6)
    assert "ids" not in from_npz.json()

    names = {f"batch/{i:02d}.png": png_bytes(img) for i, img in enumerate(held_out)}
    from_zip = predict_file(client, job_id, "images.zip", zip_bytes(names))
    assert from_zip.status_code == 200, from_zip.text
    assert from_zip.json()["ids"] == sorted(names)
    np.testing.assert_allclose(from_zip.json()["probabilities"], expected, atol=2e-6)

    one = predict_file(client, job_id, "three.png", png_bytes(held_out[3]))
    assert one.status_code == 200, one.text
    assert one.json()["ids"] == ["three.png"] and one.json()["n_rows"] == 1
    np.testing.assert_allclose(one.json()["probabilities"], expected[3:4], atol=2e-6)

    lists = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": held_out.tolist()})
    assert lists.status_code == 200, lists.text
    np.testing.assert_allclose(lists.json()["probabilities"], expected, atol=2e-6)
    encoded = [base64.b64encode(png_bytes(img)).decode() for img in held_out[:4]]
    b64 = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": encoded})
    assert b64.status_code == 200, b64.text
    np.testing.assert_allclose(b64.json()["probabilities"], expected[:4], atol=2e-6)


def test_png_of_another_size_is_resized_as_at_ingestion(
    cnn: tuple[str, Any], client: TestClient, held_out: np.ndarray
) -> None:
    from PIL import Image

    job_id, model = cnn
    big = np.asarray(Image.fromarray(held_out[0]).resize((16, 16), Image.Resampling.BILINEAR))
    back = np.array(Image.fromarray(big).resize((8, 8), Image.Resampling.BILINEAR))[None, ..., None]
    response = predict_file(client, job_id, "big.png", png_bytes(big))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["warnings"] == ["1 image(s) were resized to the training size 8x8 (height x width)."]
    np.testing.assert_allclose(body["probabilities"], model.predict_output(back), atol=2e-6)


def test_wrong_image_arrays_and_forms_are_refused_naming_the_expected_shape(
    cnn: tuple[str, Any], client: TestClient
) -> None:
    job_id, _ = cnn
    problem = _problem(predict_file(client, job_id, "x.npz", npz_bytes(x=np.zeros((3, 16, 16), np.uint8))), 422)
    assert problem["expected_shape"] == ["N", 8, 8, 1] and "8×8×1" in problem["detail"]
    problem = _problem(client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": [[[1, 2], [3, 4]]]}), 422)
    assert "8×8×1" in problem["detail"] and "inputs[0]" in problem["detail"]
    problem = _problem(client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": ["not base64 ***"]}), 422)
    assert "base64" in problem["detail"]
    problem = _problem(client.post(f"/v1/jobs/{job_id}/predictions", json={"rows": [{"x": 1}]}), 422)
    assert "inputs" in problem["detail"] and "8×8×1" in problem["detail"]
    _problem(predict_file(client, job_id, "rows.csv", b"a,b\n1,2\n3,4\n"), 415)
    _problem(predict_file(client, job_id, "x.npz", npz_bytes(y=np.zeros(3))), 422)
    _problem(predict_file(client, job_id, "bad.png", b"\x89PNG\r\n\x1a\nnot really"), 400)
    problem = _problem(client.post(f"/v1/jobs/{job_id}/predictions", json={"rows": [{"x": 1}], "inputs": [[1]]}), 422)
    assert "send either 'rows'" in problem["errors"][0]["msg"]


def _long(x: np.ndarray, ids: list[str], labels: Any | None = None) -> pd.DataFrame:
    frames = []
    for i, seq in enumerate(x):
        part = pd.DataFrame({"id": ids[i], "time": np.arange(len(seq)), "f1": seq[:, 0], "f2": seq[:, 1]})
        if labels is not None:
            part["label"] = labels[i]
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def test_sequences_from_a_long_csv_and_json_lists_padded_to_the_training_length(
    client: TestClient, tmp_path: Path
) -> None:
    x, y = sequences("binary", n=120, steps=10)
    train = _long(x, [f"s{i:03d}" for i in range(len(x))], y)
    dataset = upload(client, "long.csv", csv_bytes(train), target="label")
    assert dataset["modality"] == "sequence" and dataset["details"]["sequence_length"] == 10
    job_id, model = _train(client, dataset, "torch_lstm", tmp_path)

    held, _ = sequences("binary", n=5, steps=10, seed=3)
    short = held[2][:6]
    rows = _long(held, ["a", "b", "c", "d", "e"])
    rows = rows[~((rows["id"] == "c") & (rows["time"] >= 6))].sample(frac=1.0, random_state=0)  # any row order
    expected_x = held.copy()
    expected_x[2] = 0.0
    expected_x[2, :6] = short
    expected = model.predict_output(expected_x)

    response = predict_file(client, job_id, "rows.csv", csv_bytes(rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ids"] == ["a", "b", "c", "d", "e"]
    assert body["warnings"] == [
        "Sequences were brought to the training length 10: 1 zero-padded at the end, 0 truncated."
    ]
    np.testing.assert_allclose(body["probabilities"], expected, atol=2e-6)

    as_json = [s.tolist() for s in held[:2]] + [short.tolist()] + [s.tolist() for s in held[3:]]
    lists = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": as_json})
    assert lists.status_code == 200, lists.text
    np.testing.assert_allclose(lists.json()["probabilities"], expected, atol=2e-6)

    problem = _problem(predict_file(client, job_id, "x.npz", npz_bytes(x=held[:, :, :1])), 422)
    assert problem["expected_shape"] == ["N", 10, 2]
    problem = _problem(predict_file(client, job_id, "rows.csv", csv_bytes(rows.drop(columns=["f2"]))), 422)
    assert "'f2'" in problem["detail"]


def test_a_table_model_on_flattened_sequences_takes_the_arrays(client: TestClient, tmp_path: Path) -> None:
    x, y = sequences("binary", n=120, steps=6)
    dataset = upload(client, "seq.npz", npz_bytes(x=x, y=y))
    job_id, model = _train(client, dataset, "xgboost", tmp_path)
    held, _ = sequences("binary", n=7, steps=6, seed=5)
    flat = pd.DataFrame(held.reshape(len(held), -1), columns=[f"x{i}" for i in range(12)])
    response = predict_file(client, job_id, "x.npz", npz_bytes(x=held))
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["probabilities"], model.predict_output(flat), atol=2e-6)
    lists = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": held.tolist()})
    assert lists.status_code == 200, lists.text
    assert lists.json()["probabilities"] == response.json()["probabilities"]


def test_texts_from_a_csv_json_rows_and_json_strings(client: TestClient, tmp_path: Path) -> None:
    from _predict_fixtures import texts

    rows, y = texts("binary")
    dataset = upload(client, "reviews.csv", csv_bytes(pd.DataFrame({"review": rows, "label": y})), target="label")
    assert dataset["modality"] == "text"
    job_id, model = _train(client, dataset, "torch_lstm", tmp_path)
    held, _ = texts("binary", n=6, seed=9)
    expected = model.predict_output(np.asarray(held, dtype=object))
    url = f"/v1/jobs/{job_id}/predictions"

    as_csv = predict_file(client, job_id, "rows.csv", csv_bytes(pd.DataFrame({"note": "x", "review": held})))
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json()["warnings"] == ["Column(s) the model does not use were ignored: 'note'."]
    np.testing.assert_allclose(as_csv.json()["probabilities"], expected, atol=2e-6)
    as_rows = client.post(url, json={"rows": [{"review": t} for t in held]})
    assert as_rows.status_code == 200, as_rows.text
    as_strings = client.post(url, json={"inputs": held})
    assert as_rows.json()["probabilities"] == as_strings.json()["probabilities"] == as_csv.json()["probabilities"]

    problem = _problem(predict_file(client, job_id, "rows.csv", csv_bytes(pd.DataFrame({"a": held, "b": held}))), 422)
    assert problem["column"] == "review"
    problem = _problem(client.post(url, json={"inputs": [[1.0, 2.0]]}), 422)
    assert "inputs[0] must be a string" in problem["detail"]


def test_a_table_model_refuses_array_inputs_and_images(client: TestClient, tmp_path: Path) -> None:
    from _predict_fixtures import table

    dataset = upload(client, "wine.csv", csv_bytes(table("multiclass")), target="target")
    job_id, _ = _train(client, dataset, "sklearn_logistic", tmp_path)
    problem = _problem(client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": [[1.0, 2.0]]}), 422)
    assert '{"rows"' in problem["detail"]
    problem = _problem(predict_file(client, job_id, "one.png", png_bytes(np.zeros((8, 8), np.uint8))), 422)
    assert "rows with the columns alcohol" in problem["detail"]
    problem = _problem(predict_file(client, job_id, "x.npz", npz_bytes(x=np.zeros((2, 13)))), 422)
    assert problem["columns"][:2] == ["alcohol", "malic_acid"]
