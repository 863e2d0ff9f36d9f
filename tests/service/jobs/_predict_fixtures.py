"""Tiny datasets of every upload modality, small recipes for any registered trainer, and API helpers for the
prediction tests. Data ships with scikit-learn (digits, wine, breast cancer, diabetes) or is generated here."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _job_fixtures import wait_for
from fastapi.testclient import TestClient

TASK_ORDER = ("multiclass", "binary", "regression")
# Library parameters that keep a fit short, applied to a trainer only where it declares the key.
FAST = {"n_estimators": 10, "num_leaves": 7, "min_child_samples": 5, "max_iter": 300, "epochs": 3}
# A small from-scratch network per architecture type, for recipes the advisor sized for big data.
SMALL_ARCH: dict[str, dict[str, Any]] = {
    "lstm": {"hidden_size": 16, "num_layers": 1, "vocab_size": 300, "embedding_dim": 16, "max_length": 24},
    "gru": {"hidden_size": 16, "num_layers": 1, "vocab_size": 300, "embedding_dim": 16, "max_length": 24},
    "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32, "max_length": 24, "vocab_size": 300},
    "mlp": {"hidden_units": [16]},
}


# -- data ---------------------------------------------------------------------------------------------------------
def _labels(score: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return score.astype(np.float64)
    if task == "binary":
        return np.where(score > np.median(score), "yes", "no")
    return np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))


def table(task: str) -> pd.DataFrame:
    """wine (multiclass), breast cancer (binary, 200 rows) or diabetes (regression) with column ``target``."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    if task == "multiclass":
        frame = load_wine(as_frame=True).frame
    elif task == "binary":
        frame = load_breast_cancer(as_frame=True).frame.head(200)
    else:
        frame = load_diabetes(as_frame=True).frame
    return frame.rename(columns={c: str(c).replace(" ", "_") for c in frame.columns})


def digits(task: str, start: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as uint8 N×8×8 (0-16 scaled to 0-240) and labels for ``task``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[start : start + n] * 15).astype(np.uint8)
    y = d.target[start : start + n]
    labels = {"multiclass": y, "binary": np.where(y >= 5, "high", "low"), "regression": y.astype(np.float64)}[task]
    return x, labels


def sequences(task: str, n: int = 160, steps: int = 12, features: int = 2, seed: int = 0) -> tuple[np.ndarray, Any]:
    """Generated N×T×F sequences whose label lives in the last steps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype(np.float32)
    return x, _labels(x[:, -4:, 0].mean(axis=1) - x[:, :4, 1].mean(axis=1), task)


POSITIVE = ["good", "great", "excellent", "love", "tasty", "fresh", "perfect", "delicious"]
NEGATIVE = ["bad", "awful", "terrible", "hate", "stale", "bland", "broken", "disgusting"]
FILLER = ["the", "food", "was", "and", "it", "really", "this", "product", "box", "arrived", "taste", "price", "order"]


def texts(task: str, n: int = 160, seed: int = 0) -> tuple[list[str], Any]:
    """Generated reviews (filler words plus sentiment words) and labels for ``task``."""
    rng = np.random.default_rng(seed)
    rows, score = [], []
    for i in range(n):
        k = int(rng.integers(0, 4))
        words = list(rng.choice(FILLER, size=int(rng.integers(6, 12)))) + list(rng.choice(POSITIVE, size=k))
        words += list(rng.choice(NEGATIVE, size=3 - k))
        rng.shuffle(words)
        rows.append(" ".join(words).capitalize() + f". Review number {i}.")
        score.append(k + 0.01 * i % 1)
    return rows, _labels(np.asarray(score, dtype=np.float64), task)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.squeeze() if image.ndim == 3 and image.shape[-1] == 1 else image).save(buffer, "PNG")
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# -- API ----------------------------------------------------------------------------------------------------------
def upload(client: TestClient, name: str, data: bytes, **fields: str) -> dict[str, Any]:
    """POST /v1/datasets; the dataset."""
    response = client.post("/v1/datasets", files={"file": (name, data, "application/octet-stream")}, data=fields)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def upload_dataset(client: TestClient, modality: str, task: str) -> dict[str, Any]:
    """A tiny dataset of ``modality`` and ``task`` uploaded in that modality's own form."""
    if modality == "tabular":
        return upload(client, f"{task}.csv", csv_bytes(table(task)), target="target")
    if modality == "image":
        x, y = digits(task)
        return upload(client, "digits.npz", npz_bytes(x=x, y=y))
    if modality == "sequence":
        x, y = sequences(task)
        return upload(client, "sequences.npz", npz_bytes(x=x, y=y))
    rows, y = texts(task)
    frame = pd.DataFrame({"review": rows, "label": y})
    return upload(client, "reviews.csv", csv_bytes(frame), target="label", modality="text")


def recipe(trainer: str, profile: dict[str, Any]) -> dict[str, Any]:
    """The advisor's recipe for ``trainer`` on this profile (or, if it proposes the trainer only for big data,
    on the same profile with 200,000 rows), trained from scratch with a small network; else the defaults."""
    from advisor import Constraints, DatasetProfile, recommend
    from trainers.registry import get_trainer

    cls = get_trainer(trainer)
    params: dict[str, Any] = {}
    profile = {k: v for k, v in profile.items() if k != "feature_types"}  # a display field of the API
    big = {**profile, "n_rows": 200_000}
    for prof, constraints in ((profile, None), (big, Constraints(compute="ample", performance="state_of_the_art"))):
        rec = recommend(DatasetProfile.model_validate(prof), constraints)
        params = next((c.params() for c in rec.candidates if c.trainer == trainer), {})
        if params:
            break
    arch = params.get("architecture")
    if isinstance(arch, dict):
        kind = str(arch.get("type"))
        if "backbone" in arch:  # the pretrained text encoder is slow on CPU: the same type from scratch
            arch = {"type": kind, "pooling": "mean"}
            params["transfer"] = {"strategy": "none", "unfreeze_fraction": 1.0}
        small = dict(SMALL_ARCH.get(kind, {}))
        if profile.get("modality") != "text":
            small = {k: v for k, v in small.items() if k not in ("vocab_size", "embedding_dim")}
        params["architecture"] = {**arch, **small}
        params.pop("lr_schedule", None)
        params.pop("early_stopping", None)
    for key, value in FAST.items():
        if key in cls.PARAMS or (key == "epochs" and "epochs" in params):
            params[key] = value
    return params


def submit(client: TestClient, dataset_id: str, trainer: str, params: dict[str, Any]) -> str:
    body = {"dataset_id": dataset_id, "spec": {"trainer": trainer, "params": params}, "train_baseline": False}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(client: TestClient, job_id: str, timeout: float = 240) -> dict[str, Any]:
    def done() -> dict[str, Any] | bool:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else False

    job: dict[str, Any] = wait_for(done, timeout=timeout)
    assert job["status"] == "succeeded", job["error"]
    return job


def load_model(client: TestClient, job: dict[str, Any], folder: Path) -> Any:
    """The job's model downloaded, unzipped and loaded with its trainer's own ``load``."""
    from trainers.registry import get_trainer

    response = client.get(job["artifact"]["url"])
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        zf.extractall(folder)
    return get_trainer(job["trainer"]).load(folder)


def predict_file(client: TestClient, job_id: str, name: str, data: bytes, **params: str) -> Any:
    return client.post(
        f"/v1/jobs/{job_id}/predictions", files={"file": (name, data, "application/octet-stream")}, params=params
    )


def assert_same(body: dict[str, Any], local: np.ndarray, model: Any) -> None:
    """The API's answer equals the loaded artifact's output (probabilities rounded to 6 decimals)."""
    assert body["n_rows"] == len(local) == len(body["predictions"])
    if model.task_ == "regression":
        np.testing.assert_allclose(body["predictions"], local.reshape(-1), rtol=1e-5, atol=1e-6)
        return
    np.testing.assert_allclose(np.asarray(body["probabilities"]), local, rtol=0, atol=2e-6)
    classes = list(model.schema_.classes)
    assert body["classes"] == classes
    assert body["predictions"] == [classes[i] for i in local.argmax(axis=1)]
