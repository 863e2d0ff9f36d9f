"""Every registered trainer serves predictions for every modality it declares.

The pairs come from the registry when the tests are collected (``available_trainers()`` × ``MODALITIES``), so a
new trainer fails here until its models predict through the API. Each pair: a tiny dataset of that modality is
uploaded in its own form, a job trains the trainer on it (small recipe, CPU), the model is downloaded and loaded
with the trainer's own ``load``, and the API's predictions for held-out samples, sent in the modality's upload
form, must equal the loaded model's output in this process.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _job_fixtures import wait_for
from _predict_fixtures import (
    TASK_ORDER,
    assert_same,
    csv_bytes,
    digits,
    finished,
    load_model,
    npz_bytes,
    predict_file,
    recipe,
    sequences,
    submit,
    table,
    texts,
    upload_dataset,
)
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from trainers.ingest import MODALITIES as UPLOAD_MODALITIES
from trainers.registry import available_trainers, get_trainer

# A trainer's preferred task per modality when it declares several (the first it supports is used).
PREFERRED = {
    "tabular": TASK_ORDER,
    "image": TASK_ORDER,
    "sequence": ("binary", *TASK_ORDER),
    "text": ("binary", *TASK_ORDER),
}


def _pairs() -> list[Any]:
    pairs = []
    for name in available_trainers():
        cls = get_trainer(name)
        # "audio" has no upload form of its own (audio frames are uploaded as sequences).
        modalities = sorted(set(cls.MODALITIES) & set(UPLOAD_MODALITIES))
        if not modalities:
            pairs.append(pytest.param(name, None, None, id=f"{name}-no-upload-modality"))
        for modality in modalities:
            task = next(t for t in PREFERRED[modality] if t in cls.TASKS)
            pairs.append(pytest.param(name, modality, task, id=f"{name}-{modality}-{task}"))
    return pairs


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def datasets(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    """One uploaded dataset per (modality, task), made on first use."""
    return {}


def _dataset(client: TestClient, cache: dict[tuple[str, str], dict[str, Any]], modality: str, task: str) -> Any:
    if (modality, task) not in cache:
        cache[(modality, task)] = upload_dataset(client, modality, task)
    return cache[(modality, task)]


def _predict(client: TestClient, job_id: str, modality: str, task: str) -> tuple[dict[str, Any], Any]:
    """The API's answer for held-out samples in the modality's upload form, and the same samples in memory."""
    if modality == "tabular":
        rows = table(task).drop(columns=["target"]).tail(25).reset_index(drop=True)
        response = predict_file(client, job_id, "rows.csv", csv_bytes(rows))
        local: Any = pd.read_csv(io.BytesIO(csv_bytes(rows)))
    elif modality == "image":
        local, _ = digits(task, start=1500, n=40)
        response = predict_file(client, job_id, "held_out.npz", npz_bytes(x=local))
    elif modality == "sequence":
        local, _ = sequences(task, n=30, seed=7)
        response = predict_file(client, job_id, "held_out.npz", npz_bytes(x=local))
    else:
        held_out, _ = texts(task, n=20, seed=7)
        response = client.post(f"/v1/jobs/{job_id}/predictions", json={"inputs": held_out})
        local = np.asarray(held_out, dtype=object)
    assert response.status_code == 200, response.text
    return response.json(), local


def _race_ensemble(client: TestClient, dataset_id: str) -> str:
    """A small race on the dataset; the id of the ensemble job it ends with."""
    response = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 1, "time_budget_s": 60})
    assert response.status_code == 202, response.text
    location = response.headers["location"]

    def ensemble_id() -> str | bool:
        race = client.get(location).json()
        found = [e["job_id"] for e in race["leaderboard"] if e["is_ensemble"] and e["job_id"]]
        return found[0] if race["status"] == "finished" and found else False

    return str(wait_for(ensemble_id, timeout=240))


@pytest.mark.parametrize(("trainer", "modality", "task"), _pairs())
def test_trainer_predicts_through_the_api_as_its_artifact_does(
    client: TestClient,
    datasets: dict[tuple[str, str], dict[str, Any]],
    tmp_path: Path,
    trainer: str,
    modality: str | None,
    task: str | None,
) -> None:
    assert modality is not None and task is not None, f"{trainer} declares no modality that can be uploaded"
    dataset = _dataset(client, datasets, modality, task)
    assert (dataset["modality"], dataset["task"]) == (modality, task)
    profile = dict(dataset["profile"])
    if modality == "sequence":  # the upload's profile leaves the features per step out; the recipe needs them
        profile.setdefault("n_features", dataset["details"]["n_channels"])
    if trainer == "ensemble":  # only a race makes one, from its own finished entries
        job = finished(client, _race_ensemble(client, dataset["id"]))
    else:
        job = finished(client, submit(client, dataset["id"], trainer, recipe(trainer, profile)))
    model = load_model(client, job, tmp_path / "model")
    body, samples = _predict(client, job["id"], modality, task)
    assert body["job_id"] == job["id"] and body["task"] == task
    assert_same(body, np.asarray(model.predict_output(samples)), model)
