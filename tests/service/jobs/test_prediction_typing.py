"""Prediction rows are typed by the schema stored with the model, as the upload typed its columns.

Every development-set dataset goes through the API: the train part is uploaded as pandas writes a CSV, a small
LightGBM model is trained by a job, and the held-out rows (target dropped, written the same way) predict with one
answer per row. Then one test per rule on a table with a yes/no column, a category and numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _job_fixtures import wait_for
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

FAST_LGB = {"n_estimators": 8, "num_leaves": 7, "min_child_samples": 5}
MAX_TRAIN, MAX_TEST = 2_000, 500


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def _upload(client: TestClient, frame: pd.DataFrame, target: str, name: str) -> str:
    response = client.post(
        "/v1/datasets", files={"file": (f"{name}.csv", _csv(frame), "text/csv")}, data={"target": target}
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _submit(client: TestClient, dataset_id: str) -> str:
    body = {"dataset_id": dataset_id, "spec": {"trainer": "lightgbm", "params": FAST_LGB}, "train_baseline": False}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _finished(client: TestClient, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | bool:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else False

    job: dict[str, Any] = wait_for(done, timeout=120)
    assert job["status"] == "succeeded", job["error"]
    return job


def _predict_csv(client: TestClient, job_id: str, data: bytes, name: str = "rows.csv") -> Any:
    return client.post(f"/v1/jobs/{job_id}/predictions", files={"file": (name, data, "application/octet-stream")})


def test_every_development_dataset_predicts_its_held_out_rows_as_pandas_writes_them(client: TestClient) -> None:
    from bench.realdata import DEV

    pending: list[tuple[str, str, pd.DataFrame]] = []
    for dataset in DEV:
        train, test = dataset.split()
        if len(train) > MAX_TRAIN:
            train = train.sample(n=MAX_TRAIN, random_state=0)
        held_out = test.drop(columns=[dataset.target]).head(MAX_TEST)
        dataset_id = _upload(client, train, dataset.target, dataset.name.replace("/", "_"))
        pending.append((dataset.name, _submit(client, dataset_id), held_out))
    failures: dict[str, str] = {}
    for name, job_id, held_out in pending:
        _finished(client, job_id)
        response = _predict_csv(client, job_id, _csv(held_out))
        if response.status_code != 200:
            failures[name] = response.text[:300]
            continue
        body = response.json()
        if body["n_rows"] != len(held_out) or len(body["predictions"]) != len(held_out):
            failures[name] = f"{len(body['predictions'])} predictions for {len(held_out)} rows"
    assert not failures, failures


# -- one rule at a time, on a table with a yes/no column -------------------------------------------------


def _survey(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    urban = rng.random(n) < 0.5
    region = rng.choice(["north", "south", "east"], n)
    income = rng.normal(50, 10, n)
    score = 2.0 * urban + (region == "north") + 0.05 * income + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "Urban": np.where(urban, "Yes", "No"),
            "region": region,
            "income": income.round(2),
            "bought": np.where(score > np.median(score), "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def survey_job(client: TestClient) -> str:
    frame = _survey()
    dataset_id = _upload(client, frame, "bought", "survey")
    dataset = client.get(f"/v1/datasets/{dataset_id}").json()
    kinds = {c["name"]: c["kind"] for c in dataset["details"]["columns"]}
    assert kinds["Urban"] == "boolean"  # the upload read Yes/No as booleans
    job_id = _submit(client, dataset_id)
    _finished(client, job_id)
    return job_id


def _rows(urban: list[Any]) -> list[dict[str, Any]]:
    return [{"Urban": u, "region": "north", "income": 50.0} for u in urban]


def test_boolean_column_takes_every_spelling_in_csv(client: TestClient, survey_job: str) -> None:
    text = "Urban,region,income\nyes,north,50\nNO,north,50\nY,north,50\nn,north,50\ntrue,north,50\n0,north,50\n"
    body = _predict_csv(client, survey_job, text.encode()).json()
    assert body["n_rows"] == 6, body
    p_yes = [p[body["classes"].index("yes")] for p in body["probabilities"]]
    # true spellings agree with each other, false spellings with each other, and they differ
    assert p_yes[0] == p_yes[2] == p_yes[4] and p_yes[1] == p_yes[3] == p_yes[5] and p_yes[0] != p_yes[1]
    assert body["warnings"] == []


def test_boolean_column_takes_json_booleans_numbers_and_words(client: TestClient, survey_job: str) -> None:
    response = client.post(
        f"/v1/jobs/{survey_job}/predictions", json={"rows": _rows([True, 1, "Yes", "t", False, 0, "no", "F", None])}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    p_yes = [p[body["classes"].index("yes")] for p in body["probabilities"]]
    assert len(set(p_yes[:4])) == 1 and len(set(p_yes[4:8])) == 1 and p_yes[0] != p_yes[4]
    # a word that is not a yes/no is missing, as an unseen category is, and the answer says so
    odd = client.post(f"/v1/jobs/{survey_job}/predictions", json={"rows": _rows(["maybe", "yes"])})
    assert odd.status_code == 200, odd.text
    assert [w for w in odd.json()["warnings"] if "'Urban'" in w and "'maybe'" in w and "missing" in w]


def test_parquet_rows_with_real_booleans(client: TestClient, survey_job: str) -> None:
    frame = pd.DataFrame({"Urban": [True, False], "region": ["north", "north"], "income": [50.0, 50.0]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    as_parquet = _predict_csv(client, survey_job, buffer.getvalue(), "rows.parquet")
    assert as_parquet.status_code == 200, as_parquet.text
    as_words = _predict_csv(client, survey_job, b"Urban,region,income\nYes,north,50\nNo,north,50\n")
    assert as_parquet.json()["probabilities"] == as_words.json()["probabilities"]


def test_missing_columns_answer_422_naming_every_one(client: TestClient, survey_job: str) -> None:
    response = client.post(f"/v1/jobs/{survey_job}/predictions", json={"rows": [{"income": 3.0}]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["columns"] == ["Urban", "region"]
    assert "'Urban'" in problem["detail"] and "'region'" in problem["detail"]
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("body", "rows", "Urban"), ("body", "rows", "region")}


def test_extra_columns_and_unseen_categories_are_reported_not_refused(client: TestClient, survey_job: str) -> None:
    rows = [{"Urban": "yes", "region": "west", "income": 50.0, "bought": "no", "note": "x"}, *_rows(["no"])]
    response = client.post(f"/v1/jobs/{survey_job}/predictions", json={"rows": rows})
    assert response.status_code == 200, response.text
    warnings = response.json()["warnings"]
    assert len(warnings) == 2, warnings
    assert "'bought'" in warnings[0] and "'note'" in warnings[0] and "ignored" in warnings[0]
    assert "'region'" in warnings[1] and "'west'" in warnings[1] and "unknown" in warnings[1]


# -- dates and times of day -----------------------------------------------------------------------------


def test_dates_and_times_of_day_predict_as_they_trained(client: TestClient) -> None:
    """A date column and a time-of-day column (as a marathon table writes finishing times) train as seconds, and
    prediction rows bring them back as the same numbers whether they come as CSV (read as Arrow dates and times),
    Parquet (real dates and times) or JSON text; before, the time column failed training and the date column
    refused every CSV row."""
    import datetime as dt

    rng = np.random.default_rng(1)
    n = 300
    day = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    secs = rng.integers(2 * 3600, 5 * 3600, n)
    frame = pd.DataFrame(
        {
            "date": day.strftime("%Y-%m-%d"),
            "time": [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in secs],
            "noise": rng.normal(size=n).round(3),
        }
    )
    frame["fast"] = np.where((secs < 3.5 * 3600) & (day < pd.Timestamp("2015-12-01")), "yes", "no")
    dataset_id = _upload(client, frame, "fast", "marathon")
    job = _finished(client, _submit(client, dataset_id))
    assert job["metrics"]["test"]["accuracy"] > 0.8  # the model read both columns
    rows = frame.drop(columns="fast").head(20)
    as_csv = _predict_csv(client, job["id"], _csv(rows))
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json()["warnings"] == []
    parquet = rows.assign(
        date=pd.to_datetime(rows["date"]).dt.date,
        time=[dt.time(*map(int, t.split(":"))) for t in rows["time"]],
    )
    buffer = io.BytesIO()
    parquet.to_parquet(buffer, index=False)
    as_parquet = _predict_csv(client, job["id"], buffer.getvalue(), "rows.parquet")
    as_json = client.post(f"/v1/jobs/{job['id']}/predictions", json={"rows": rows.to_dict(orient="records")})
    for other in (as_parquet, as_json):
        assert other.status_code == 200, other.text
        assert other.json()["warnings"] == []
        np.testing.assert_allclose(other.json()["probabilities"], as_csv.json()["probabilities"], atol=1e-9)


def test_dates_with_two_digit_years_train_and_predict_as_the_same_days(client: TestClient) -> None:
    """ "8/6/20 18:57", as a survey export writes its timestamps: read as 2020 (strptime's %Y read the year 20,
    which no nanosecond timestamp holds, and every entry of the race failed), and prediction rows in the same
    form give the model the same numbers as at training."""
    rng = np.random.default_rng(2)
    n = 300
    stamp = pd.Timestamp("2020-08-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 60, n), unit="min")
    frame = pd.DataFrame(
        {
            "timestamp": [f"{t.month}/{t.day}/{t.year % 100} {t.hour}:{t.minute:02d}" for t in stamp],
            "noise": rng.normal(size=n).round(3),
        }
    )
    frame["late"] = np.where(stamp > pd.Timestamp("2020-09-01"), "yes", "no")
    dataset_id = _upload(client, frame, "late", "survey")
    job = _finished(client, _submit(client, dataset_id))
    assert job["metrics"]["test"]["accuracy"] > 0.9  # the model read the dates in the right century and order
    rows = frame.drop(columns="late").head(40)
    as_csv = _predict_csv(client, job["id"], _csv(rows))
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json()["warnings"] == []
    truth = frame["late"].head(40).to_numpy()
    assert (np.asarray(as_csv.json()["predictions"]) == truth).mean() > 0.9
    as_json = client.post(f"/v1/jobs/{job['id']}/predictions", json={"rows": rows.to_dict(orient="records")})
    assert as_json.status_code == 200, as_json.text
    np.testing.assert_allclose(as_json.json()["probabilities"], as_csv.json()["probabilities"], atol=1e-9)
