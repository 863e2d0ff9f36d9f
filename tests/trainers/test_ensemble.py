"""The ensemble entry: greedy selection with replacement over stored validation predictions, a self-contained
artifact that loads (verified) and predicts like any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _fixtures_classical import mixed_frame, small_params

from trainers.artifacts import ArtifactError, load_artifact
from trainers.ensemble import ENSEMBLE_FILE, Member, bagged_selection, fit_ensemble, greedy_selection
from trainers.metrics import evaluate, selection_loss
from trainers.run import fit_and_evaluate
from trainers.spec import Task, TrainResult, TrainSpec


def _member(trainer: str, task: Task, out: Path) -> TrainResult:
    spec = TrainSpec(trainer=trainer, params=small_params(trainer, task), seed=1)
    return fit_and_evaluate(spec, mixed_frame(task), "label", task, None, None, out)


def test_greedy_selection_picks_with_replacement_and_never_loses_to_the_best_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    good = np.column_stack([1 - (0.7 * y + 0.15), 0.7 * y + 0.15])
    noisy = np.clip(good + rng.normal(0, 0.3, good.shape), 0.01, 0.99)
    noisy /= noisy.sum(axis=1, keepdims=True)
    useless = np.full_like(good, 0.5)
    weights, path = greedy_selection([useless, noisy, good], y, "binary", rounds=10)
    assert weights.sum() == pytest.approx(1.0) and weights[2] == weights.max() and weights[0] == 0
    best_single = min(evaluate("binary", y, p)[0]["log_loss"] for p in (useless, noisy, good))
    assert path[0] == pytest.approx(best_single) and path[-1] <= path[0] + 1e-12
    assert len(path) == 10


def test_greedy_selection_can_start_from_given_picks() -> None:
    """Caruana et al.'s sorted initialisation: the given picks start the ensemble, rounds add up to ``rounds``."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    preds = [y + rng.normal(0, s, 200) for s in (0.2, 0.4, 3.0)]
    weights, path = greedy_selection(preds, y, "regression", rounds=10, initial=[0, 1, 1])
    assert len(path) == 8 and weights.sum() == pytest.approx(1.0)
    assert weights[2] >= 0.1 and weights[0] > weights[1]  # the bad member keeps its one pick; rounds add the best
    plain, _ = greedy_selection(preds, y, "regression", rounds=10)
    assert np.array_equal(plain, greedy_selection(preds, y, "regression", rounds=10, initial=[0, 0, 0])[0])


def test_bagged_selection_averages_selections_on_resampled_rows() -> None:
    """Weights are a distribution, reproducible by seed; where one member is clearly best every bag picks it
    most; where two are equally good, the bags share the weight instead of one pick of the rows deciding."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=150)
    a, b = y + rng.normal(0, 0.5, 150), y + rng.normal(0, 0.5, 150)
    bad = y + rng.normal(0, 3.0, 150)
    w, path = bagged_selection([a, b, bad], y, "regression", rounds=10, bags=8, seed=1)
    assert w.sum() == pytest.approx(1.0) and w[2] < 0.1 and len(path) == 8
    assert path[-1] == pytest.approx(selection_loss("regression", y, w[0] * a + w[1] * b + w[2] * bad))
    assert np.array_equal(w, bagged_selection([a, b, bad], y, "regression", rounds=10, bags=8, seed=1)[0])
    assert min(w[0], w[1]) > 0.2  # two equal members: both carry weight
    assert not np.array_equal(w, bagged_selection([a, b, bad], y, "regression", rounds=10, bags=8, seed=2)[0])
    # past its deadline no further bag starts; the first always runs
    w1, path1 = bagged_selection([a, b, bad], y, "regression", rounds=10, bags=8, seed=1, deadline=0.0)
    assert len(path1) == 1 and w1.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_selection_loss_is_the_loss_evaluate_reports(task: Task) -> None:
    rng = np.random.default_rng(2)
    if task == "regression":
        y, out = rng.normal(size=50), rng.normal(size=50)
        name = "rmse"
    else:
        k = 2 if task == "binary" else 4
        y = rng.integers(0, k, 50)
        out = rng.dirichlet(np.ones(k), 50)
        out[0] = 0.0  # clipped as evaluate clips it
        name = "log_loss"
    assert selection_loss(task, y, out) == evaluate(task, y, out)[0][name]
    out[1] = np.nan
    assert selection_loss(task, y, out) is None and evaluate(task, y, out)[0][name] is None


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_an_ensemble_is_a_verified_artifact_that_predicts(task: Task, tmp_path: Path) -> None:
    trainers = ["xgboost", "sklearn_logistic"] if task != "regression" else ["xgboost", "sklearn_ridge"]
    runs = [_member(t, task, tmp_path / t) for t in trainers]
    members = [Member(t, Path(r.artifact.directory), r.artifact.sha256) for t, r in zip(trainers, runs, strict=True)]
    spec = TrainSpec(trainer="ensemble", params={"rounds": 10}, seed=1)
    result = fit_ensemble(spec, mixed_frame(task), "label", task, None, members, tmp_path / "ens")
    assert result.trainer == "ensemble" and result.validation is not None
    assert result.validation.method == "ensemble" and "optimistic" in (result.validation.note or "")
    doc = json.loads((tmp_path / "ens" / ENSEMBLE_FILE).read_text())
    assert [m["job_id"] for m in doc["members"]] == trainers
    assert [m["sha256"] for m in doc["members"]] == [r.artifact.sha256 for r in runs]
    assert sum(m["weight"] for m in doc["members"]) == pytest.approx(1.0)
    # Its importance is the members' own, weighted as the ensemble weighs them, stored and hashed like its files.
    from trainers.explain import IMPORTANCE_FILE, read_importance

    assert IMPORTANCE_FILE in result.artifact.files
    importance = read_importance((tmp_path / "ens" / IMPORTANCE_FILE).read_text())
    assert importance.trainer == "ensemble" and importance.permutation is not None
    assert "weighted average" in importance.permutation.model and importance.native is None
    # Loads through the generic path (manifest verified) and predicts raw rows as its members' saved models, weighted.
    model = load_artifact(tmp_path / "ens", expected_sha256=result.artifact.sha256)
    frame = mixed_frame(task)
    test_index = np.load(tmp_path / "ens" / "test_index.npy", allow_pickle=False)
    rows = frame.drop(columns="label").iloc[test_index]
    out = model.predict_output(rows)
    weights = [m["weight"] for m in doc["members"]]
    saved = [load_artifact(Path(r.artifact.directory)).predict_output(rows) for r in runs]
    assert np.allclose(out, sum(w * o for w, o in zip(weights, saved, strict=True)), atol=1e-4)
    # Its test score is the members' stored test predictions, weighted: those of fits that never saw the test rows
    # (the members' saved models were refit on all rows after).
    stored = [np.load(Path(r.artifact.directory) / "test_pred.npy", allow_pickle=False) for r in runs]
    test_pred = np.load(tmp_path / "ens" / "test_pred.npy", allow_pickle=False)
    assert np.allclose(test_pred, sum(w * o for w, o in zip(weights, stored, strict=True)), atol=1e-4)
    assert not np.allclose(out, test_pred, atol=1e-4)
    # Its validation score is its weights' on the members' shared validation rows; the weights were averaged over
    # bootstrap samples of those rows (so, unlike one selection on them, not bound to beat the best member there:
    # the race's equal-terms comparison decides whether it leads).
    assert doc["rounds"] == 10 and doc["bags"] == 20 and "20 bootstrap sample(s)" in (result.validation.note or "")
    loss = "log_loss" if task != "regression" else "rmse"
    pooled, valid = [], []
    for r in runs:
        d = Path(r.artifact.directory)
        y = np.load(d / "valid_target.npy", allow_pickle=False)
        valid.append(np.load(d / "valid_pred.npy", allow_pickle=False).astype(np.float64))
        pooled.append(evaluate(task, y, valid[-1])[0][loss])
    mixed = sum(w * v for w, v in zip(weights, valid, strict=True))
    assert result.metrics["validation"][loss] == pytest.approx(evaluate(task, y, np.asarray(mixed))[0][loss])
    # Each member is scored as the ensemble is, on the same rows (every member here was cross-validated over all
    # non-test rows): what a race compares the ensemble with.
    assert list(result.validation.members) == trainers
    assert [m[loss] for m in result.validation.members.values()] == pytest.approx(pooled)
    assert set(result.validation.members[trainers[0]]) == set(result.validation.mean)
    # A member's copy that changed is refused at load.
    (tmp_path / "ens" / "member-0" / "schema.json").write_text("{}")
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "ens", expected_sha256=result.artifact.sha256)


def test_an_ensemble_needs_two_usable_members(tmp_path: Path) -> None:
    run = _member("xgboost", "binary", tmp_path / "a")
    members = [
        Member("a", Path(run.artifact.directory), run.artifact.sha256),
        Member("b", Path(run.artifact.directory), "0" * 64),
    ]  # wrong digest: left out
    with pytest.raises(ValueError, match="two members"):
        fit_ensemble(
            TrainSpec(trainer="ensemble"), mixed_frame("binary"), "label", "binary", None, members, tmp_path / "ens"
        )
