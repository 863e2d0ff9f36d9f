"""/v1/datasets/{id}/race and /v1/races through the real app: a real race on breast_cancer, the refusals, and
the leaderboard's ordering and verdict on hand-made rows (skipped candidates, regression)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from _job_fixtures import breast_cancer, stored_result, wait_for
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
    response = client.post(
        "/v1/datasets", files={"file": ("breast_cancer.csv", buffer.getvalue(), "text/csv")}, data={"target": "target"}
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def test_a_race_trains_top_k_and_the_baseline_then_ranks_them(client: TestClient, dataset_id: str) -> None:
    started = time.monotonic()
    response = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 2, "time_budget_s": 60})
    assert response.status_code == 202, response.text
    race = response.json()
    assert response.headers["location"] == f"/v1/races/{race['id']}" == race["links"]["self"]
    assert race["status"] == "running" and race["recommendation_id"] and race["agrees_with_recommendation"] is None
    entries = race["leaderboard"]
    # The recommendation's first two candidates (ordered by the portfolio's evidence) and the baseline; none skipped.
    rec = client.get(f"/v1/recommendations/{race['recommendation_id']}").json()
    assert len(race["job_ids"]) == 3 and race["params"]["skipped"] == []
    assert sorted(e["rank"] or 0 for e in entries) == [0, 1, 2]
    assert {e["rank"] or 0: (e["model"], e["trainer"]) for e in entries} == {
        1: (rec["candidates"][0]["model"], rec["candidates"][0]["trainer"]),
        2: (rec["candidates"][1]["model"], rec["candidates"][1]["trainer"]),
        0: ("logistic_regression", "sklearn_logistic"),
    }
    assert [e["is_baseline"] for e in entries].count(True) == 1
    assert all(client.get(f"/v1/jobs/{j}").json()["race_id"] == race["id"] for j in race["job_ids"])
    # One budget for the race, shared: one worker runs the 3 entries one after another, then the ensemble.
    budget = race["budget"]
    assert budget["source"] == "request" and budget["time_budget_s"] == 60 and budget["slots"] == 1
    assert budget["ensemble_s"] == pytest.approx(5.0)  # 5% of 60 s is under the 5 s minimum
    assert budget["entries"] == 3 and budget["per_entry_s"] == pytest.approx((60 * 0.9 - 5) / 3, abs=1e-3)
    per_job = [client.get(f"/v1/jobs/{j}").json()["time_budget_s"] for j in race["job_ids"]]
    assert sum(per_job) + budget["ensemble_s"] == pytest.approx(60 * races.USABLE_SHARE, abs=1e-2)

    done = wait_for(
        lambda: (r := client.get(response.headers["location"]).json())["status"] == "finished" and r,
        timeout=240,
        interval=0.5,
    )
    assert time.monotonic() - started <= 60 * 1.1  # the race ends within its budget + 10%
    assert done["primary_metric"] == "roc_auc" and done["higher_is_better"] is True
    board = done["leaderboard"]
    # The ensemble ran once the others ended: one more job of the race, scored like the others.
    assert len(done["job_ids"]) == len(race["job_ids"]) + 1
    ensemble = next(e for e in board if e["is_ensemble"])
    assert ensemble["status"] == "succeeded" and ensemble["validation"] == "ensemble" and ensemble["test_score"]
    assert "The ensemble of the entries scored" in done["verdict"]
    scores = [e["score"] for e in board if e["score"] is not None]
    assert len(scores) == 4  # 3 entries and the ensemble
    # The single entries by validation score; the ensemble first or last, as it compared with its members scored
    # the same way on the same rows (the verdict says which).
    singles_scores = [e["score"] for e in board if e["score"] is not None and not e["is_ensemble"]]
    assert singles_scores == sorted(singles_scores, reverse=True)
    leads = "leads the leaderboard" in done["verdict"]
    assert leads or "ranked after the single entries" in done["verdict"]
    assert ensemble["position"] == (1 if leads else 4)
    assert all(score > 0.95 for score in scores)  # roc_auc of both candidates, the baseline and their ensemble
    assert [e["position"] for e in board if e["score"] is not None] == list(range(1, len(scores) + 1))
    baseline = next(e for e in board if e["is_baseline"])
    assert baseline["status"] == "succeeded" and baseline["model"] == "logistic_regression" and baseline["score"] > 0.9
    for e in board:
        assert e["status"] == "succeeded", e
        if not e["is_ensemble"]:
            # Ordered on the 5-fold validation mean (569 rows: k-fold; ~480 non-test rows, so drawn up to 3 times:
            # as many as the entry's budget holds, which a loaded machine can cut), the test score beside it.
            assert e["validation"] == "kfold" and e["folds"] == 5 and e["repeats"] in (1, 2, 3) and e["score_sd"] > 0
            assert e["metrics"]["validation"]["roc_auc"] == e["score"] and e["train_s"] > 0
            assert e["metrics"]["test"]["roc_auc"] == e["test_score"]
    assert isinstance(done["agrees_with_recommendation"], bool)
    singles = [e for e in board if not e["is_ensemble"]]
    assert done["agrees_with_recommendation"] == (singles[0]["rank"] == 1)
    assert done["verdict"].endswith(".") and singles[0]["model"] in done["verdict"]
    assert "validation roc_auc" in done["verdict"]
    folds = f"{singles[0]['repeats']}×5-fold" if singles[0]["repeats"] > 1 else "(5-fold)"
    assert folds in done["verdict"]
    # The children are ordinary jobs.
    job = client.get(f"/v1/jobs/{done['job_ids'][0]}").json()
    assert job["status"] == "succeeded" and job["recommendation_id"] == done["recommendation_id"]
    assert job["validation"]["method"] == "kfold" and job["validation"]["k"] == 5
    assert set(job["validation"]["sd"]) == set(job["metrics"]["validation"])
    # Every entry saw the same folds and test rows: same seed, same dataset.
    files = [client.get(f"/v1/jobs/{e['job_id']}").json()["artifact"]["files"] for e in singles if e["job_id"]]
    assert len({f["valid_index.npy"] for f in files}) == 1 and len({f["test_index.npy"] for f in files}) == 1
    # The ensemble is a model like any other: it downloads and predicts.
    ens_job = client.get(f"/v1/jobs/{ensemble['job_id']}").json()
    assert ens_job["trainer"] == "ensemble" and ens_job["artifact"]["format"] == "ensemble-json"
    download = client.get(f"/v1/jobs/{ensemble['job_id']}/model")
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        names = set(zf.namelist())
    assert "ensemble.json" in names and "member-0/manifest.json" in names
    rows = breast_cancer().drop(columns="target").head(3).to_dict(orient="records")
    predicted = client.post(f"/v1/jobs/{ensemble['job_id']}/predictions", json={"rows": rows})
    assert predicted.status_code == 200, predicted.text
    assert len(predicted.json()["predictions"]) == 3
    # A direct request for an ensemble is refused: only a race makes one, from its own entries.
    refused = client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {"trainer": "ensemble"}})
    assert refused.status_code == 422 and "built by a race" in refused.json()["detail"]
    # The finished race is now evidence for the tenant's next recommendation on a table, and it says so.
    again = client.post("/v1/recommendations", json={"dataset_id": dataset_id}).json()
    ranking = next(d for d in again["decisions"] if d["rule_id"] == "family.ranking")
    assert "Your own finished races changed this order" in ranking["reason"] or (
        "Your 1 finished race(s) were weighed too" in ranking["reason"]
    )
    assert "your own races" in again["candidates"][0]["evidence"]


def test_refusals(client: TestClient, dataset_id: str) -> None:
    assert "no dataset" in _problem(client.post("/v1/datasets/nope/race", json={}), 404)["detail"]
    unknown = client.post(f"/v1/datasets/{dataset_id}/race", json={"recommendation_id": "nope"})
    assert "no recommendation" in _problem(unknown, 404)["detail"]
    assert _problem(client.get("/v1/races/nope"), 404)
    _problem(client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 13}), 422)

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
    refused = _problem(client.post(f"/v1/datasets/{dataset_id}/race", json={"callback_url": "http://127.0.0.1/x"}), 422)
    assert refused["errors"][0]["loc"] == ["body", "callback_url"]
    assert len(client.get("/v1/jobs").json()["items"]) == jobs_before


def _job(
    candidate: int,
    model: str,
    status: str,
    metrics: dict[str, float | None] | None,
    test: dict[str, float | None] | None = None,
) -> Job:
    """A finished child: ``metrics`` are its validation scores (5-fold means), ``test`` its test scores."""
    now = utcnow()
    result = None
    if metrics:
        sd = {k: 0.01 for k in metrics}
        summary = {"method": "kfold", "k": 5, "n_rows": 100, "mean": metrics, "sd": sd, "served_model": "holdout fit"}
        result = stored_result({"validation": metrics, "test": test or metrics}, summary)
    return Job(
        id=f"job-{candidate}",
        created_at=now,
        candidate=candidate,
        model=model,
        trainer=model,
        status=status,
        started_at=now,
        finished_at=now + timedelta(seconds=2),
        result=result,
        error={"message": "boom"} if status == "failed" else None,
    )


def _race(task: str, skipped: list[dict[str, Any]] | None = None) -> Race:
    return Race(
        id="r",
        created_at=utcnow(),
        dataset_id="d",
        recommendation_id="rec",
        params={"task": task, "skipped": skipped or []},
    )


def test_leaderboard_lists_skipped_and_failed_and_ranks_regression_ascending() -> None:
    skipped = [{"rank": 3, "model": "resnet", "trainer": "torch_resnet", "reason": "needs images"}]
    jobs = [
        _job(1, "xgboost", "succeeded", {"rmse": 2.0}),
        _job(2, "lightgbm", "failed", None),
        _job(0, "ridge", "succeeded", {"rmse": 1.5}),
    ]
    read = races.to_read(_race("regression", skipped), jobs)
    assert read.status == "finished" and read.primary_metric == "rmse" and not read.higher_is_better
    assert [(e.model, e.position, e.status) for e in read.leaderboard] == [
        ("ridge", 1, "succeeded"),
        ("xgboost", 2, "succeeded"),
        ("lightgbm", None, "failed"),
        ("resnet", None, "skipped"),
    ]
    assert read.leaderboard[3].reason == "needs images" and read.leaderboard[2].reason == "boom"
    assert read.agrees_with_recommendation is False and read.verdict.startswith("The baseline ridge beat")


def test_roc_auc_only_when_every_classifier_has_one_and_running_has_no_verdict() -> None:
    jobs = [
        _job(1, "a", "succeeded", {"roc_auc": 0.9, "balanced_accuracy": 0.8}),
        _job(0, "b", "succeeded", {"roc_auc": None, "balanced_accuracy": 0.7}),
    ]
    read = races.to_read(_race("binary"), jobs)
    assert read.primary_metric == "balanced_accuracy" and read.agrees_with_recommendation is True
    assert read.leaderboard[0].model == "a" and "first choice a won" in read.verdict
    running = races.to_read(_race("binary"), [*jobs, _job(2, "c", "running", None)])
    assert running.status == "running" and running.agrees_with_recommendation is None


def test_the_leaderboard_selects_on_validation_not_on_the_test_split() -> None:
    # b is best on test, a on validation: a wins, and the test scores are only shown.
    jobs = [
        _job(1, "a", "succeeded", {"roc_auc": 0.90, "balanced_accuracy": 0.8}, {"roc_auc": 0.80}),
        _job(2, "b", "succeeded", {"roc_auc": 0.85, "balanced_accuracy": 0.7}, {"roc_auc": 0.99}),
        _job(0, "c", "succeeded", {"roc_auc": 0.70, "balanced_accuracy": 0.6}, {"roc_auc": 0.95}),
    ]
    read = races.to_read(_race("binary"), jobs)
    assert [e.model for e in read.leaderboard] == ["a", "b", "c"]
    assert [e.test_score for e in read.leaderboard] == [0.80, 0.99, 0.95]
    assert read.leaderboard[0].score == 0.90 and read.leaderboard[0].score_sd == 0.01
    assert read.leaderboard[0].validation == "kfold" and read.leaderboard[0].folds == 5
    assert "refit on the train and validation splits" in read.selection and "never used to select" in read.selection
    assert "refit on all rows, test rows included" in read.selection
    assert read.agrees_with_recommendation is True
    assert read.verdict.startswith("The advisor's first choice a won on validation roc_auc (0.9 ± 0.01 (5-fold)")
    # The primary metric is decided from validation: one validation roc_auc missing → balanced_accuracy.
    jobs[2] = _job(0, "c", "succeeded", {"roc_auc": None, "balanced_accuracy": 0.9}, {"roc_auc": 0.95})
    read = races.to_read(_race("binary"), jobs)
    assert read.primary_metric == "balanced_accuracy" and read.leaderboard[0].model == "c"
    assert read.agrees_with_recommendation is False and "on validation balanced_accuracy" in read.verdict


def test_multiclass_races_select_on_log_loss_lower_first() -> None:
    # a ranks each class best (one-vs-rest AUC) but its probabilities are overconfident; b's are calibrated.
    jobs = [
        _job(1, "a", "succeeded", {"roc_auc": 0.95, "log_loss": 2.5, "balanced_accuracy": 0.6}, {"log_loss": 2.0}),
        _job(2, "b", "succeeded", {"roc_auc": 0.90, "log_loss": 0.6, "balanced_accuracy": 0.7}, {"log_loss": 0.7}),
        _job(0, "c", "succeeded", {"roc_auc": 0.80, "log_loss": 0.9, "balanced_accuracy": 0.5}, {"log_loss": 0.8}),
    ]
    read = races.to_read(_race("multiclass"), jobs)
    assert read.primary_metric == "log_loss" and read.higher_is_better is False
    assert [e.model for e in read.leaderboard] == ["b", "c", "a"] and read.leaderboard[0].test_score == 0.7
    assert read.agrees_with_recommendation is False and "on validation log_loss" in read.verdict
    # Without a log loss for every classifier: ROC AUC, then balanced accuracy, as for binary races.
    jobs[2] = _job(0, "c", "succeeded", {"roc_auc": 0.80, "log_loss": None, "balanced_accuracy": 0.5})
    assert races.to_read(_race("multiclass"), jobs).primary_metric == "roc_auc"
    jobs[2] = _job(0, "c", "succeeded", {"roc_auc": None, "log_loss": None, "balanced_accuracy": 0.5})
    assert races.to_read(_race("multiclass"), jobs).primary_metric == "balanced_accuracy"
    # Binary races keep ROC AUC even when every entry has a log loss.
    assert races.to_read(_race("binary"), jobs[:2]).primary_metric == "roc_auc"


def _ensemble_job(pooled: dict[str, float], members: dict[str, dict[str, float | None]]) -> Job:
    """A finished ensemble child: ``pooled`` its scores on the members' shared validation rows, ``members`` each
    member's scores on those rows, scored the same way."""
    summary = {
        "method": "ensemble",
        "n_rows": 100,
        "mean": pooled,
        "sd": {k: None for k in pooled},
        "served_model": "the weighted average of the members' saved models",
        "members": members,
    }
    now = utcnow()
    return Job(
        id="job-ens",
        created_at=now,
        candidate=None,
        model="ensemble",
        trainer="ensemble",
        status="succeeded",
        started_at=now,
        finished_at=now + timedelta(seconds=1),
        result=stored_result({"validation": pooled, "test": {"rmse": 1.0}}, summary),
    )


def test_the_ensemble_is_compared_with_its_members_scored_the_same_way() -> None:
    singles = [
        _job(1, "xgboost", "succeeded", {"rmse": 1.8}),
        _job(2, "forest", "succeeded", {"rmse": 2.4}),
        _job(0, "ridge", "succeeded", {"rmse": 1.7}),
    ]
    # Pooled over all rows its RMSE (2.0) is above the ridge's fold mean (1.7), but below every member's own
    # pooled RMSE on the same rows: it leads, and the verdict says so and why.
    pooled = {"job-1": {"rmse": 2.3}, "job-2": {"rmse": 2.6}, "job-0": {"rmse": 2.1}}
    read = races.to_read(_race("regression"), [*singles, _ensemble_job({"rmse": 2.0}, pooled)])
    assert [(e.model, e.position) for e in read.leaderboard] == [
        ("ensemble", 1),
        ("ridge", 2),
        ("xgboost", 3),
        ("forest", 4),
    ]
    assert "leads the leaderboard and is the model to serve" in read.verdict
    assert (
        read.verdict.startswith("The baseline ridge beat the advisor's first choice") and "(ridge, 2.1)" in read.verdict
    )
    assert read.agrees_with_recommendation is False  # about the single entries: the advisor's first choice lost
    assert "compared with its members on its own terms" in read.selection
    # Worse than a member on those rows: after every single entry, whatever its score.
    pooled["job-0"] = {"rmse": 1.9}
    read = races.to_read(_race("regression"), [*singles, _ensemble_job({"rmse": 2.0}, pooled)])
    assert [e.model for e in read.leaderboard] == ["ridge", "xgboost", "forest", "ensemble"]
    assert read.leaderboard[3].position == 4 and "ranked after the single entries" in read.verdict
    assert read.verdict.startswith("The baseline ridge beat the advisor's first choice")
    # Higher is better for roc_auc; a tie leads.
    binary = [_job(1, "a", "succeeded", {"roc_auc": 0.95}), _job(0, "b", "succeeded", {"roc_auc": 0.90})]
    ens = _ensemble_job({"roc_auc": 0.93}, {"job-1": {"roc_auc": 0.93}, "job-0": {"roc_auc": 0.91}})
    read = races.to_read(_race("binary"), [*binary, ens])
    assert [e.model for e in read.leaderboard] == ["ensemble", "a", "b"]
    assert read.verdict.startswith("The advisor's first choice a was the best single entry on validation roc_auc")
    # Stored before members were scored beside it: ordered by its score, as then.
    old = _ensemble_job({"roc_auc": 0.93}, {})
    read = races.to_read(_race("binary"), [*binary, old])
    assert [e.model for e in read.leaderboard] == ["a", "ensemble", "b"]


def test_jobs_from_before_the_validation_summary_fall_back_to_the_holdout_split() -> None:
    now = utcnow()
    old = Job(
        id="old",
        created_at=now,
        candidate=1,
        model="x",
        trainer="x",
        status="succeeded",
        started_at=now,
        finished_at=now,
        result=stored_result({"validation": {"rmse": 3.0}, "test": {"rmse": 1.0}}),
    )
    entry = races.to_read(_race("regression"), [old]).leaderboard[0]
    assert (entry.score, entry.test_score, entry.validation, entry.folds) == (3.0, 1.0, "holdout", None)


def test_budget_shares_fill_the_race_budget_and_no_more() -> None:
    # One slot: entries run one after another and their budgets sum to the usable part of the race budget.
    shares = races.share_budget(100.0, 4, 1)
    assert sum(shares) == pytest.approx(100.0 * races.USABLE_SHARE) and len(shares) == 4
    # Two slots, five entries: three waves; every lane (entries i, i + 2, ...) ends within the usable part.
    shares = races.share_budget(100.0, 5, 2)
    lanes = [sum(shares[i::2]) for i in range(2)]
    assert max(lanes) == pytest.approx(100.0 * races.USABLE_SHARE) and shares[0] == pytest.approx(30.0)
    # More slots than entries: each entry may use the whole usable part.
    assert races.share_budget(100.0, 2, 8) == [pytest.approx(90.0)] * 2
    # The ensemble's reserve comes off the top: entries and ensemble together fill the usable part.
    shares = races.share_budget(100.0, 4, 1, reserved_s=races.ensemble_budget(100.0))
    assert sum(shares) + races.ensemble_budget(100.0) == pytest.approx(90.0) and races.ensemble_budget(100.0) == 5.0
    assert races.ensemble_budget(1000.0) == pytest.approx(50.0)


def test_the_default_budget_grows_with_rows_columns_and_classes() -> None:
    small, why = races.default_budget(208, 60, 2, cap_s=3600)
    assert small == pytest.approx(60.1248, abs=1e-3) and "208 rows × 60 feature columns" in why
    wide = races.default_budget(20_000, 16, 26, cap_s=3600)[0]
    assert wide == pytest.approx(60 + 20_000 * 16 * 26 / 100_000)
    assert (
        small < races.default_budget(2_000, 60, 2, cap_s=3600)[0] < races.default_budget(2_000, 120, 2, cap_s=3600)[0]
    )
    assert races.default_budget(2_000, 60, 2, cap_s=3600)[0] < races.default_budget(2_000, 60, 10, cap_s=3600)[0]
    capped, why = races.default_budget(10**7, 100, 50, cap_s=3600)
    assert capped == 3600 and "capped" in why


def test_a_tight_budget_trains_only_the_candidates_that_fit(client: TestClient, dataset_id: str) -> None:
    # 20 s × 0.9 less the ensemble's 5 s, on one worker: two entries of 6.5 s; three would get 4.3 s each,
    # under the 5 s minimum.
    race = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 3, "time_budget_s": 20}).json()
    assert race["budget"]["entries"] == 2 and race["budget"]["per_entry_s"] == pytest.approx(6.5)
    assert race["budget"]["ensemble_s"] == pytest.approx(5.0)
    over = [s for s in race["params"]["skipped"] if "race budget" in s["reason"]]
    # Candidate 1 and the baseline run; every lower-ranked candidate is recorded as not trained.
    assert over and [s["rank"] for s in over] == list(range(2, len(over) + 2))
    assert len(race["job_ids"]) == 2
    wait_for(lambda: client.get(f"/v1/races/{race['id']}").json()["status"] == "finished", timeout=120, interval=0.5)


def test_a_race_without_a_budget_states_its_default(client: TestClient, dataset_id: str) -> None:
    race = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 1}).json()
    budget = race["budget"]
    assert budget["source"] == "default" and budget["time_budget_s"] == pytest.approx(60 + 569 * 30 / 100_000, abs=1e-3)
    assert "569 rows × 30 feature columns" in budget["reason"]
    wait_for(lambda: client.get(f"/v1/races/{race['id']}").json()["status"] == "finished", timeout=120, interval=0.5)


def test_a_default_race_trains_five_candidates_two_at_a_time(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from service.schemas.races import DEFAULT_TOP_K, RaceCreate

    settings = Settings(data_dir=tmp_path)  # the embedded defaults
    assert settings.workers == 2 and races.concurrent_slots(settings) == 2
    dataset = SimpleNamespace(n_rows=300, profile={"n_features": 8, "n_classes": 2})
    data = RaceCreate()
    assert data.top_k == DEFAULT_TOP_K == 5
    # Six ranked candidates; the race asks for the top five (races.create passes min(top_k, candidates)).
    budget, fits = races.plan_budget(data, dataset, settings, n_candidates=min(data.top_k, 6))  # type: ignore[arg-type]
    # Five candidates and the baseline on two lanes: three waves share 90% of the budget less the ensemble's 5 s.
    assert fits == 5 and budget.entries == 6 and budget.slots == 2
    total = races.default_budget(300, 8, 2, cap_s=settings.job_default_time_budget_s)[0]  # 60 s + 2,400 units
    assert budget.per_entry_s == pytest.approx((total * 0.9 - 5) / 3, abs=1e-3)
    # Behind a broker the race cannot count on two slots: one wave per entry.
    celery = Settings(data_dir=tmp_path, queue="celery", broker_url="redis://127.0.0.1:6379/0")
    assert races.concurrent_slots(celery) == 1
