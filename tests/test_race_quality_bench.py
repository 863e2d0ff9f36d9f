"""bench/race_quality.py: scoring predictions outside the service, the default LightGBM and the printed summary,
on a tiny dataset made here (the full bench needs a running service and takes minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

race_quality = pytest.importorskip("bench.race_quality")
realdata = pytest.importorskip("bench.realdata")


def test_binary_score_uses_the_second_class_in_sorted_order() -> None:
    y = pd.Series(["yes", "no", "yes", "no"])
    # The service lists classes in its own order; the bench must pick the column of "yes" (sorted: no < yes).
    answer = {
        "predictions": ["yes", "no", "yes", "no"],
        "classes": ["yes", "no"],
        "probabilities": [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]],
    }
    assert race_quality.score_predictions("binary", y, answer) == 1.0
    flipped = {**answer, "classes": ["no", "yes"]}
    assert race_quality.score_predictions("binary", y, flipped) == 0.0


def test_numeric_labels_match_however_a_csv_round_trip_wrote_them() -> None:
    y = pd.Series(["-1.0", "1.0", "1.0", "-1.0"])  # the protocol's string targets; the service answers numbers
    answer = {
        "predictions": [-1, 1, 1, -1],
        "classes": [-1, 1],
        "probabilities": [[0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]],
    }
    assert race_quality.score_predictions("binary", y, answer) == 1.0
    assert race_quality.score_predictions("multiclass", pd.Series(["2.0", "3.0"]), {"predictions": [2, 3.0]}) == 1.0


def test_multiclass_and_regression_scores() -> None:
    y = pd.Series(["1", "2", "3", "1"])
    assert race_quality.score_predictions("multiclass", y, {"predictions": [1, 2, 1, 1]}) == 0.75
    yr = pd.Series([1.0, 2.0, 3.0])
    assert race_quality.score_predictions("regression", yr, {"predictions": [1.0, 2.0, 3.0]}) == 1.0
    assert race_quality.score_predictions("regression", yr, {"predictions": [2.0, 2.0, 2.0]}) == 0.0


def test_default_lightgbm_and_report_on_a_tiny_dataset() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=400), "label": np.where(x > 0, "b", "a")})
    ds = realdata.RealDataset("tiny", "binary", "label", lambda: df)
    train, test = ds.split()
    lgbm = race_quality.default_lightgbm(ds, train, test)
    assert lgbm > 0.95

    ok = race_quality.Result(
        "tiny",
        "roc_auc",
        race=0.90,
        race_s=30.0,
        winner="lightgbm (lightgbm)",
        lightgbm=lgbm,
        flaml=0.95,
        flaml_s=60.0,
        families={"linear": 0.93, "rf": 0.80},
        n_test=80,
    )
    behind = race_quality.Result(
        "tiny2", "accuracy", race=0.80, race_s=90.0, flaml=0.70, flaml_s=60.0, families={"linear": 0.60}, n_test=400
    )
    failed = race_quality.Result("broken", "r2", error="RuntimeError: boom")
    assert ok.hindsight == 0.95 and ok.regret(ok.race) == pytest.approx(0.05)
    assert behind.hindsight == 0.80 and behind.regret(behind.race) == 0.0
    text = race_quality.report([ok, behind, failed])
    assert "broken                           FAILED: RuntimeError: boom" in text
    assert "mean regret vs hindsight best: race 0.0250 (n=2)" in text
    assert "held-out part of 0-99 rows: race 0.0500 (n=1), FLAML-60s 0.0000 (n=1)" in text
    assert "held-out part of 300+ rows: race 0.0000 (n=1), FLAML-60s 0.1000 (n=1)" in text
    assert "100-299" not in text  # no dataset in that band
    assert "race ≥ FLAML-60s on 1 of 2 datasets" in text
    assert "race wall time / FLAML wall time: 1.00 in total" in text
    assert "failed datasets: 1" in text


def test_quick_selection_covers_every_task() -> None:
    tasks = {d.task for d in realdata.select(race_quality.QUICK)}
    assert tasks == {"binary", "multiclass", "regression"}


def test_the_checks_group_is_kept_apart_from_what_is_learned_from() -> None:
    checks = realdata.select("checks")
    assert {d.task for d in checks} == {"binary", "multiclass", "regression"}
    learned = {d.name for d in realdata.ALL}
    assert not learned & {d.name for d in checks}
    # no R data set twice under another group's name, and no KEEL set (those outside the corpus are reserved)
    assert not {d.name.split("/", 1)[1] for d in checks} & {n.split("/", 1)[1] for n in learned}
    assert not [d.name for d in checks if "keel" in d.name]
    learn_portfolio = pytest.importorskip("bench.learn_portfolio")
    with pytest.raises(SystemExit):
        learn_portfolio.main(["--datasets", checks[0].name, "--out", "/nonexistent/portfolio.json"])


@pytest.mark.slow
def test_quick_run_through_the_http_api(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The bench itself: a real ``advisor serve``, a race, its predictions scored here (the smallest setting),
    with ``--dump``: every entry's held-out score, answer and stored out-of-fold predictions kept for study."""
    assert race_quality.main(["--datasets", "dev/iris", "--dump", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dev/iris: race " in out and "dev/iris: race       -" not in out
    assert "failed datasets: 0" in out and "mean regret vs hindsight best: race" in out
    doc = json.loads((tmp_path / "dev__iris.json").read_text())
    succeeded = [e for e in doc["race"]["leaderboard"] if e["status"] == "succeeded"]
    assert succeeded and set(doc["held_out"]) == {e["job_id"] for e in succeeded}
    folder = tmp_path / "dev__iris"
    truth = json.loads((folder / "truth.json").read_text())
    for e in succeeded:
        answer = json.loads((folder / f"{e['job_id']}.answer.json").read_text())
        assert len(answer["predictions"]) == len(truth) == 30
        if not e["is_ensemble"]:  # the members' out-of-fold predictions, rows and targets (the ensemble's too)
            valid = np.load(folder / f"{e['job_id']}.valid_pred.npy")
            rows = np.load(folder / f"{e['job_id']}.valid_index.npy")
            targets = np.load(folder / f"{e['job_id']}.valid_target.npy")
            assert valid.shape == (len(rows), 3) and len(targets) == len(rows)
    # The selection study replays its rules on that dump: every rule's pick scored on the held-out rows.
    selection_study = pytest.importorskip("bench.selection_study")
    assert selection_study.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dev/iris" in out and "mean regret (n=1)" in out
    doc = selection_study._load(tmp_path, "dev__iris")
    picks = selection_study.picks(doc)
    assert set(picks) == set(selection_study.RULES) and all(0.0 <= v <= 1.0 for v in picks.values())
    assert picks["leaderboard"] == doc["held_out"][next(e["job_id"] for e in succeeded if e["position"] == 1)]
    # A multiclass race selects on log loss; the study replays the rule before it (one-vs-rest ROC AUC) on request.
    assert doc["race"]["primary_metric"] == "log_loss" and doc["race"]["higher_is_better"] is False
    by_auc = selection_study.picks(doc, {**selection_study.METRICS, "multiclass": (("roc_auc", True),)})
    assert set(by_auc) == set(selection_study.RULES)
    assert selection_study.main([str(tmp_path), "--multiclass-metric", "roc_auc"]) == 0


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_the_studys_selection_variants(task: str) -> None:
    """Sorted initialisation starts from the three members with the best own loss; bagged weights are a
    distribution over the members."""
    selection_study = pytest.importorskip("bench.selection_study")
    rng = np.random.default_rng(0)
    n = 120
    if task == "regression":
        y = rng.normal(size=n)
        preds = [y + rng.normal(0, s, n) for s in (0.3, 0.5, 0.8, 2.0)]
    else:
        y = rng.integers(0, 3, n)
        preds = []
        for s in (0.5, 1.0, 2.0, 4.0):
            logits = np.eye(3)[y] * 2 + rng.normal(0, s, (n, 3))
            preds.append(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
    sorted_init = selection_study._sorted_init(preds, y, task)
    assert np.isclose(sorted_init.sum(), 1.0) and (sorted_init[:3] >= 1 / 25).all()
    bagged = selection_study.bagged_selection(preds, y, task)[0]
    assert np.isclose(bagged.sum(), 1.0) and (bagged >= 0).all()


def test_the_imbalance_study_on_a_bundled_table(capsys: pytest.CaptureFixture[str]) -> None:
    study = pytest.importorskip("bench.imbalance_study")
    ds = realdata.BY_NAME["dev/breast_cancer"]
    df = study.imbalanced(ds, 0.2, seed=0)
    assert df is not None and (df[ds.target].astype(str).value_counts(normalize=True).min()) == pytest.approx(
        0.2, abs=0.01
    )
    assert study.imbalanced(ds, 0.02, seed=0) is None  # under 40 minority rows: left out
    assert study.main(["--datasets", "dev/breast_cancer", "--share", "0.2", "--draws", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 fits, minority 20%" in out
    for way in study.WAYS:
        assert f"lightgbm {way}" in out and f"xgboost {way}" in out


def test_the_regression_loss_study_on_a_bundled_table(capsys: pytest.CaptureFixture[str]) -> None:
    study = pytest.importorskip("bench.regression_loss_study")
    assert study.mode_share(np.r_[np.zeros(3), np.ones(1)]) == 0.75
    assert study.main(["--datasets", "dev/diabetes"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("dev/diabetes"))
    assert len(line.split()) == 5 + 6  # name, outliers, mode, the loss before and now, six held-out R²
    assert line.split()[3:5] == ["mse", "mse"]  # no outliers and no point mass: MSE either way
    assert "mean held-out R² with the advisor's loss" in out
