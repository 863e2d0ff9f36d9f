"""The Python client against a live ``advisor serve``: uploads, recommendations, jobs followed over SSE,
predictions (direct and batch), model downloads, races, and the service's problems as typed exceptions."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import Live

from advisor_client import (
    Advisor,
    AsyncAdvisor,
    ClientError,
    Explanation,
    Job,
    NotFound,
    ProblemError,
    RateLimited,
    Unauthorized,
    ValidationError,
    WaitTimeout,
)


@pytest.fixture(scope="module")
def advisor(live: Live) -> Iterator[Advisor]:
    with Advisor(live.url, live.key) as client:
        yield client


@pytest.fixture(scope="module")
def trained(advisor: Advisor, live: Live) -> Job:
    """The baseline (logistic regression) trained on the table: a quick job with a model."""
    handle = advisor.train(live.csv, "diagnosis", candidate=0, train_baseline=False, time_budget_s=60)
    return handle.wait(progress=False, timeout=240)


def test_upload_a_path_or_a_dataframe_then_recommend(advisor: Advisor, live: Live) -> None:
    dataset = advisor.upload(live.csv, "diagnosis")
    assert dataset.target == "diagnosis" and dataset.task == "binary" and dataset.profile["n_rows"] == 569
    assert advisor.upload(live.csv, "diagnosis").id == dataset.id  # the same bytes again: the stored dataset
    assert advisor.dataset(dataset.id).id == dataset.id
    from_frame = advisor.upload(pd.read_csv(live.csv).head(300), "diagnosis")  # sent as CSV
    assert from_frame.profile["n_rows"] == 300 and from_frame.name == "dataframe.csv"

    recommendation = advisor.recommend(dataset_id=dataset.id, constraints={"interpretability_required": True})
    assert recommendation.candidates and recommendation.candidates[0].rank == 1
    assert recommendation.baseline is not None and recommendation.baseline.trainer == "sklearn_logistic"
    first = recommendation.candidates[0]
    assert all(d.rule_id and d.reason for d in first.choices.values())
    assert recommendation.model_extra is not None and "tables_version" in recommendation.model_extra
    # A path is uploaded on the way.
    assert advisor.recommend(live.csv, "diagnosis").profile["n_rows"] == 569


def test_a_job_is_followed_over_sse_with_a_progress_bar(
    advisor: Advisor, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = advisor.train(live.csv, "diagnosis", candidate=0, train_baseline=False, time_budget_s=60, seed=1)
    assert handle.status in ("queued", "running") or handle.job.done
    job = handle.wait(progress=True, timeout=240)
    assert job.status == "succeeded" and job.id == handle.id
    assert job.metrics and job.metrics["validation"]["roc_auc"] > 0.9
    assert job.model_extra and job.model_extra.get("curves") is not None  # the whole job, curves included
    err = capsys.readouterr().err
    assert f"job {job.id[:8]} [" in err and "100%" in err and "succeeded" in err and "elapsed" in err


def test_wait_gives_up_at_its_timeout(advisor: Advisor, live: Live) -> None:
    handle = advisor.train(live.csv, "diagnosis", candidate=1, time_budget_s=60, seed=2)
    try:
        with pytest.raises(WaitTimeout):
            handle.wait(progress=False, timeout=0.5)
    finally:
        cancelled = handle.cancel()
    assert cancelled.status in ("cancelled", "running")
    assert handle.wait(progress=False, timeout=120).status == "cancelled"


def _flat(rows: list[list[float]] | None) -> list[float]:
    return [p for row in rows or [] for p in row]


def test_predict_rows_a_file_and_a_dataframe_the_same(advisor: Advisor, trained: Job, live: Live) -> None:
    frame = pd.read_csv(live.new_csv)
    by_file = advisor.predict(trained.id, live.new_csv)
    by_rows = advisor.predict(trained, frame.to_dict(orient="records"))
    by_frame = advisor.predict(trained.id, frame)
    assert by_file.n_rows == 5 and by_file.classes == ["benign", "malignant"]
    assert by_file.predictions == by_rows.predictions == by_frame.predictions
    assert _flat(by_file.probabilities) == pytest.approx(_flat(by_rows.probabilities))
    # A batch prediction (202, polled, its JSON lines read back) answers the same.
    batch = advisor.predict(trained.id, live.new_csv, batch=True)
    assert batch.predictions == by_file.predictions
    assert _flat(batch.probabilities) == pytest.approx(_flat(by_file.probabilities))
    assert batch.model_extra and batch.model_extra.get("batch_id")


def test_download_the_model(advisor: Advisor, trained: Job, tmp_path: Path) -> None:
    model = advisor.download_model(trained.id, tmp_path)
    path = Path(model.path)
    assert path.parent == tmp_path and path.suffix == ".zip" and model.size_bytes == path.stat().st_size
    assert model.sha256 == trained.artifact["zip_sha256"]  # type: ignore[index]
    with zipfile.ZipFile(path) as archive:
        assert "schema.json" in archive.namelist()


def test_explain_returns_each_rows_contributions(advisor: Advisor, trained: Job, live: Live) -> None:
    explanation = advisor.explain(trained.id, live.new_csv)
    assert isinstance(explanation, Explanation) and explanation.n_rows == 5
    contributions = explanation.contributions
    assert isinstance(contributions, dict)
    if trained.trainer in {"xgboost", "lightgbm", "sklearn_logistic"}:  # SHAP values or coefficient x value
        assert contributions["available"] is True and len(contributions["values"]) == 5
        assert len(contributions["values"][0]) == len(contributions["columns"])
    else:  # forests, k-NN, SVMs: a plain reason, and the predictions still come back
        assert contributions["available"] is False and contributions["reason"]
        assert len(explanation.predictions) == 5


def test_problems_become_typed_exceptions_with_their_fields(advisor: Advisor, live: Live) -> None:
    with pytest.raises(NotFound) as missing:
        advisor.get_job("no-such-job")
    problem = missing.value
    assert isinstance(problem, ClientError) and isinstance(problem, ProblemError)
    assert problem.status == 404 and problem.type == "urn:model-advisor:problem:not-found"
    assert problem.title == "Resource not found" and "no-such-job" in problem.detail
    assert problem.instance == "/v1/jobs/no-such-job"

    dataset = advisor.upload(live.csv, "diagnosis")
    with pytest.raises(ValidationError) as invalid:
        advisor.race(dataset_id=dataset.id, top_k=99)
    assert invalid.value.status == 422 and invalid.value.errors
    assert invalid.value.errors[0]["loc"][-1] == "top_k"
    assert invalid.value.to_dict()["errors"] == invalid.value.extensions["errors"]

    with Advisor(live.url, "adv_not_a_key") as stranger, pytest.raises(Unauthorized) as refused:
        stranger.jobs()
    assert refused.value.status == 401 and refused.value.response is not None
    assert refused.value.response.headers["www-authenticate"].startswith("Bearer")


def test_a_rate_limited_key_gets_rate_limited_with_its_retry_after(live: Live) -> None:
    with Advisor(live.url, live.slow_key) as slow:
        slow.jobs()
        with pytest.raises(RateLimited) as limited:
            slow.jobs()
    assert limited.value.status == 429 and limited.value.retry_after and limited.value.retry_after > 0
    assert limited.value.retry_after_s == limited.value.retry_after  # an extension member, as an attribute


def test_jobs_lists_the_tenants_jobs(advisor: Advisor, trained: Job) -> None:
    page = advisor.jobs(limit=100)
    assert trained.id in [j.id for j in page.items]
    assert all(j.status == "succeeded" for j in advisor.jobs(status="succeeded").items)


def test_a_race_is_followed_to_its_leaderboard(
    advisor: Advisor, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = advisor.race(live.csv, "diagnosis", top_k=1, time_budget_s=20)
    race = handle.wait(progress=True, timeout=240)
    assert race.status == "finished" and race.verdict and race.primary_metric == "roc_auc"
    assert {e.is_baseline for e in race.leaderboard} == {True, False}
    assert race.winner is not None and race.winner.score is not None
    best = handle.best_job()
    assert best is not None and best.job.status == "succeeded"
    err = capsys.readouterr().err
    assert f"race {race.id[:8]} [" in err and "finished" in err


def test_the_async_twin(live: Live, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncAdvisor(live.url, live.key) as advisor:
            dataset = await advisor.upload(io.BytesIO(live.csv.read_bytes()), "diagnosis", name="cancer.csv")
            recommendation = await advisor.recommend(dataset_id=dataset.id)
            handle = await advisor.train(
                dataset_id=dataset.id,
                recommendation_id=recommendation.id,
                candidate=0,
                train_baseline=False,
                time_budget_s=60,
                seed=3,
            )
            job = await handle.wait(progress=False, timeout=240)
            assert job.status == "succeeded" and job.recommendation_id == recommendation.id
            prediction = await handle.predict(live.new_csv)
            assert prediction.n_rows == 5 and set(prediction.predictions) <= {"benign", "malignant"}
            model = await handle.download_model(tmp_path / "model.zip")
            assert zipfile.is_zipfile(model.path)
            assert job.id in [j.id for j in (await advisor.jobs(limit=100)).items]
            with pytest.raises(NotFound):
                await advisor.get_race("no-such-race")
            race_handle = await advisor.race(dataset_id=dataset.id, top_k=1, time_budget_s=10)
            race = await race_handle.wait(progress=False, timeout=240)
            assert race.status == "finished" and race.leaderboard and race.verdict
            best = await race_handle.best_job()
            assert best is not None and best.job.status == "succeeded"

    asyncio.run(scenario())
