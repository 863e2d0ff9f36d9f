"""Honest validation in a training run: k-fold on small data, holdout above the cut-off or when the budget
cannot hold the folds; the same folds for every run with the same seed; the stored predictions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _fixtures_classical import mixed_frame, real_frame, small_params

import trainers.run as run_module
import trainers.splits as splits
from trainers.artifacts import load_artifact, read_manifest
from trainers.callbacks import Callbacks
from trainers.metrics import evaluate
from trainers.preprocess import prepare_frame
from trainers.registry import get_trainer
from trainers.run import PREDICTION_FILES, fit_and_evaluate
from trainers.spec import Task, TrainData, TrainResult, TrainSpec


def _run(trainer: str, task: Task, out: Path, frame_task: str = "mixed", seed: int = 0, **spec: object) -> TrainResult:
    frame = mixed_frame(task) if frame_task == "mixed" else real_frame(task)
    target = "label" if frame_task == "mixed" else "target"
    train_spec = TrainSpec(trainer=trainer, params=small_params(trainer, task), seed=seed, **spec)  # type: ignore[arg-type]
    return fit_and_evaluate(train_spec, frame, target, task, None, None, out)


def _load(result: TrainResult, role: str) -> np.ndarray:
    return np.load(Path(result.artifact.directory) / PREDICTION_FILES[role], allow_pickle=False)


def test_kfold_up_to_the_cut_off_and_holdout_above() -> None:
    assert splits.use_kfold(splits.CV_MAX_ROWS) and not splits.use_kfold(splits.CV_MAX_ROWS + 1)
    assert splits.CV_FOLDS == 5


def test_a_small_table_is_cross_validated(tmp_path: Path) -> None:
    result = _run("xgboost", "multiclass", tmp_path)
    v = result.validation
    non_test = result.split.train_size + result.split.validation_size
    # 340 non-test rows: below the repeat cut-off, so 3 partitions of 5 folds are scored.
    assert non_test <= splits.CV_REPEAT_MAX_ROWS and splits.CV_REPEATS == 3
    assert v is not None and v.method == "kfold" and v.k == 5 and v.repeats == 3 and v.note is None
    assert len(v.folds) == 15
    assert v.n_rows == non_test
    for name in ("accuracy", "balanced_accuracy", "log_loss"):
        values = np.array([f[name] for f in v.folds])
        assert v.mean[name] == pytest.approx(values.mean()) and v.sd[name] == pytest.approx(values.std(ddof=1))
        assert v.sd[name] > 0
    # The job's validation metrics are the fold means: what a race selects on.
    assert result.metrics["validation"] == v.mean
    # The test split is scored by a refit on train + validation for the rounds early stopping chose; the saved
    # model is then refit on every row for the same rounds.
    n_all = non_test + result.split.test_size
    rounds = f"{result.best_iteration + 1} rounds as early stopping chose"
    assert v.served_model.startswith(f"refit on all {n_all} rows (train, validation and test, {rounds});")
    assert f"scored before, by the refit on the train and validation splits ({non_test} rows, {rounds})" in (
        v.served_model
    )


def test_repeated_folds_are_whole_partitions_and_the_first_is_the_unrepeated_one() -> None:
    assert splits.cv_repeats(splits.CV_REPEAT_MAX_ROWS) == splits.CV_REPEATS
    assert splits.cv_repeats(splits.CV_REPEAT_MAX_ROWS + 1) == 1
    frame = mixed_frame("multiclass")
    _, y, _ = prepare_frame(frame, "label", None, "multiclass")
    rows = np.arange(30, len(y))
    once = splits.kfold_rows(y, "multiclass", rows, seed=7)
    thrice = splits.kfold_rows(y, "multiclass", rows, seed=7, repeats=3)
    assert thrice.k == 5 and thrice.repeats == 3 and len(thrice.validation) == 15
    partitions = [thrice.validation[r * 5 : (r + 1) * 5] for r in range(3)]
    for r, part in enumerate(partitions):
        assert np.array_equal(np.sort(np.concatenate(part)), rows)  # each row validated once per partition
        for tr, va in zip(thrice.train[r * 5 : (r + 1) * 5], part, strict=True):
            assert np.intersect1d(tr, va).size == 0 and len(tr) + len(va) == len(rows)
    assert all(np.array_equal(a, b) for a, b in zip(once.validation, partitions[0], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(partitions[0], partitions[1], strict=True))


def test_above_the_repeat_cut_off_one_partition_is_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(splits, "CV_REPEAT_MAX_ROWS", 100)  # 340 non-test rows, above it
    result = _run("sklearn_logistic", "binary", tmp_path)
    v = result.validation
    assert v is not None and v.method == "kfold" and v.k == 5 and v.repeats == 1 and len(v.folds) == 5


class _Budget:
    """A budget with a fixed number of seconds left."""

    def __init__(self, left: float) -> None:
        self.left = left

    def remaining(self) -> float:
        return self.left


@pytest.mark.parametrize(("fits_left", "repeats"), [(16, 3), (11, 2), (6, 1), (4, None)])
def test_the_budget_decides_how_many_partitions_are_scored(fits_left: int, repeats: int | None) -> None:
    frame = real_frame("binary")
    X, y, schema = prepare_frame(frame, "target", None, "binary")
    spec = TrainSpec(trainer="sklearn_logistic", params=small_params("sklearn_logistic", "binary"))
    cls = get_trainer("sklearn_logistic")
    fit_s = 1.0  # each fit is taken to last a second; the budget holds ``fits_left`` of them, with the margin
    budget = _Budget(fits_left * fit_s * run_module.FOLD_TIME_MARGIN)
    non_test = np.arange(len(y))
    cv, note = run_module._cross_validate(
        cls,
        spec,
        None,
        X,
        y,
        schema,
        "binary",
        non_test,
        None,
        budget,
        fit_s,  # type: ignore[arg-type]
        lambda model, data: model._predict_output(data.X),
    )
    if repeats is None:
        assert cv is None and "cannot hold 5 folds" in (note or "")
        return
    assert cv is not None
    scores, oof, got = cv
    assert got == repeats and len(scores) == 5 * repeats and oof.shape == (len(y), 2)
    assert np.allclose(oof.sum(axis=1), 1.0)  # the mean of each row's repeats is still a distribution


def test_above_the_cut_off_the_holdout_split_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(splits, "CV_MAX_ROWS", 100)  # 400 rows: 340 non-test rows, above it
    result = _run("sklearn_logistic", "binary", tmp_path)
    v = result.validation
    assert v is not None and v.method == "holdout" and v.k is None and v.folds == []
    assert v.n_rows == result.split.validation_size and "above the k-fold cut-off" in (v.note or "")
    assert all(sd is None for sd in v.sd.values())
    assert _load(result, "valid_pred").shape == (result.split.validation_size, 2)


def test_the_stored_predictions_load_without_pickle_and_have_the_right_shapes(tmp_path: Path) -> None:
    for task, n_out in (("multiclass", 3), ("regression", None)):
        result = _run("lightgbm", task, tmp_path / task)
        manifest = read_manifest(Path(result.artifact.directory), expected_sha256=result.artifact.sha256)
        assert set(PREDICTION_FILES.values()) <= set(manifest.files)
        n_valid, n_test = result.validation.n_rows, result.split.test_size  # type: ignore[union-attr]

        def shape(n: int, n_out: int | None = n_out) -> tuple[int, ...]:
            return (n, n_out) if n_out else (n,)

        assert _load(result, "valid_pred").shape == shape(n_valid) and _load(result, "valid_pred").dtype == np.float32
        assert _load(result, "test_pred").shape == shape(n_test)
        assert _load(result, "valid_index").shape == (n_valid,) and _load(result, "valid_index").dtype == np.int64
        assert _load(result, "test_index").shape == (n_test,)
        target_dtype = np.float64 if task == "regression" else np.int64
        assert _load(result, "valid_target").dtype == target_dtype and _load(result, "test_target").shape == (n_test,)
        if n_out:
            assert np.allclose(_load(result, "valid_pred").sum(axis=1), 1.0, atol=1e-5)
        # A stored file that changed is caught before the model loads.
        (Path(result.artifact.directory) / "test_pred.npy").write_bytes(b"tampered")
        with pytest.raises(Exception, match="SHA-256"):
            load_artifact(result.artifact.directory, expected_sha256=result.artifact.sha256)


def test_out_of_fold_rows_cover_the_non_test_rows_and_the_test_split_is_only_reported(tmp_path: Path) -> None:
    result = _run("sklearn_logistic", "binary", tmp_path, frame_task="real")
    frame = real_frame("binary")
    _, y, _ = prepare_frame(frame, "target", None, "binary")
    valid_index, test_index = _load(result, "valid_index"), _load(result, "test_index")
    assert np.array_equal(np.sort(np.concatenate([valid_index, test_index])), np.arange(len(y)))
    assert np.intersect1d(valid_index, test_index).size == 0
    assert np.array_equal(_load(result, "valid_target"), y[valid_index])
    assert np.array_equal(_load(result, "test_target"), y[test_index])
    # The test score is the stored test predictions', on exactly the stored test rows: those of the refit on train +
    # validation, which never saw them. The saved model was refit on all rows afterwards, so its output differs.
    test_pred = _load(result, "test_pred").astype(np.float64)
    assert result.metrics["test"]["roc_auc"] == pytest.approx(
        evaluate("binary", y[test_index], test_pred)[0]["roc_auc"]
    )
    assert result.validation is not None and result.validation.served_model.startswith(f"refit on all {len(y)} rows")
    model = load_artifact(result.artifact.directory, expected_sha256=result.artifact.sha256)
    test_out = model.predict_output(frame.drop(columns="target").iloc[test_index])
    assert not np.allclose(test_out, test_pred, atol=1e-6)
    # The out-of-fold predictions are fold models' (not the saved model's): their pooled score differs.
    oof_auc = evaluate("binary", y[valid_index], _load(result, "valid_pred").astype(np.float64))[0]["roc_auc"]
    assert oof_auc is not None and 0.9 < oof_auc <= 1.0


def test_every_run_with_the_same_seed_sees_the_same_folds_and_test_rows(tmp_path: Path) -> None:
    frame = mixed_frame("multiclass")
    _, y, _ = prepare_frame(frame, "label", None, "multiclass")
    rows = np.arange(50, len(y))
    a, b = splits.kfold_rows(y, "multiclass", rows, seed=3), splits.kfold_rows(y, "multiclass", rows, seed=3)
    assert all(np.array_equal(x, z) for x, z in zip(a.validation, b.validation, strict=True))
    assert a.stratified and a.k == 5
    assert np.array_equal(np.sort(np.concatenate(a.validation)), rows)
    other = splits.kfold_rows(y, "multiclass", rows, seed=4)
    assert not all(np.array_equal(x, z) for x, z in zip(a.validation, other.validation, strict=True))
    # Two entries of a race (different trainers, same seed): the same out-of-fold and test rows.
    xgb = _run("xgboost", "multiclass", tmp_path / "xgb", seed=3)
    lin = _run("sklearn_logistic", "multiclass", tmp_path / "lin", seed=3)
    for role in ("valid_index", "test_index", "valid_target"):
        assert np.array_equal(_load(xgb, role), _load(lin, role))
    assert xgb.validation.folds != lin.validation.folds  # type: ignore[union-attr]


def test_a_budget_that_cannot_hold_the_folds_falls_back_to_holdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "FOLD_TIME_MARGIN", 1e9)  # no budget can hold folds this slow
    result = _run("xgboost", "binary", tmp_path, time_budget_s=600)
    v = result.validation
    assert v is not None and v.method == "holdout" and "cannot hold 5 folds" in (v.note or "")
    # Without a budget the same run is cross-validated.
    assert _run("xgboost", "binary", tmp_path / "free").validation.method == "kfold"  # type: ignore[union-attr]


class _CancelAfterFirstFit(Callbacks):
    """Asks to stop once the saved model's fit has ended (i.e. during the folds)."""

    def __init__(self) -> None:
        self.ended = False

    def on_round(self, round: int, metrics: Mapping[str, float]) -> None:
        return None

    def on_end(self) -> None:
        self.ended = True

    def should_stop(self) -> bool:
        return self.ended


def test_a_stop_request_during_the_folds_keeps_the_saved_model_and_validates_on_holdout(tmp_path: Path) -> None:
    spec = TrainSpec(trainer="xgboost", params=small_params("xgboost", "binary"))
    result = fit_and_evaluate(spec, mixed_frame("binary"), "label", "binary", None, _CancelAfterFirstFit(), tmp_path)
    v = result.validation
    assert not result.partial and v is not None and v.method == "holdout"
    assert "fold 1 of 5" in (v.note or "")
    assert _load(result, "valid_index").shape == (result.split.validation_size,)


def test_without_refit_all_the_saved_model_is_the_one_the_test_split_scored(tmp_path: Path) -> None:
    result = _run("sklearn_logistic", "binary", tmp_path, frame_task="real", refit_all=False)
    frame = real_frame("binary")
    _, y, _ = prepare_frame(frame, "target", None, "binary")
    test_index = _load(result, "test_index")
    model = load_artifact(result.artifact.directory, expected_sha256=result.artifact.sha256)
    test_out = model.predict_output(frame.drop(columns="target").iloc[test_index])
    assert np.allclose(test_out, _load(result, "test_pred"), atol=1e-6)
    assert result.metrics["test"]["roc_auc"] == pytest.approx(evaluate("binary", y[test_index], test_out)[0]["roc_auc"])
    assert result.validation is not None and result.validation.served_model.startswith(
        "refit on the train and validation splits"
    )


def test_the_refit_on_all_rows_yields_to_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = run_module._refit_on

    def refuse_all_rows(*args: object, **kwargs: object) -> object:
        what = args[-1]
        calls.append(str(what))
        return "no time left to refit it on all rows" if what == "all rows" else real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "_refit_on", refuse_all_rows)
    result = _run("sklearn_logistic", "binary", tmp_path, frame_task="real")
    assert calls == ["train + validation", "all rows"]
    v = result.validation
    assert v is not None and v.served_model.startswith("refit on the train and validation splits")
    assert v.served_model.endswith("; not refit on all rows: no time left to refit it on all rows")
    # What serves is then the model the test split scored.
    frame = real_frame("binary")
    model = load_artifact(result.artifact.directory, expected_sha256=result.artifact.sha256)
    test_out = model.predict_output(frame.drop(columns="target").iloc[_load(result, "test_index")])
    assert np.allclose(test_out, _load(result, "test_pred"), atol=1e-6)


def test_boosting_folds_fit_the_rounds_the_validation_split_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold model never early-stops on the fold it is scored on: it fits the train-split fit's best round + 1."""
    from trainers.classical.xgboost_trainer import XGBoostTrainer

    seen: list[dict[str, object]] = []
    init = XGBoostTrainer.__init__

    def record(self: XGBoostTrainer, params: Mapping[str, object], *args: object, **kwargs: object) -> None:
        seen.append(dict(params))
        init(self, params, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(XGBoostTrainer, "__init__", record)
    result = _run("xgboost", "binary", tmp_path)
    assert result.validation is not None and result.validation.method == "kfold"
    first, *folds, refit, refit_all = seen
    assert first["early_stopping_rounds"] == 10  # the train-split fit early-stops
    assert len(folds) == 5 * splits.CV_REPEATS  # a small table: every partition's folds
    rounds = result.best_iteration + 1  # type: ignore[operator]
    for params in (*folds, refit, refit_all):
        assert params["n_estimators"] == rounds and params["early_stopping_rounds"] is None


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_a_refit_evaluates_nothing_and_fits_the_same_trees(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refits keep the first fit's curves, so they skip the per-round evaluation; evaluation never changes
    # what is fitted, so the trees are the ones a recording fit grows.
    frame = mixed_frame("binary")
    X, y, schema = prepare_frame(frame, "label", None, "binary")
    rows = TrainData(X, y, schema)
    params = {**small_params(name, "binary"), "early_stopping_rounds": None, "n_estimators": 20}
    recording = get_trainer(name)(params, seed=0, n_threads=1).fit(rows, rows)
    silent = get_trainer(name)(params, seed=0, n_threads=1)
    silent.record_curves = False
    silent.fit(rows, rows)
    assert recording.curves_.val_loss and not silent.curves_.val_loss
    assert silent.n_rounds_ == recording.n_rounds_ == 20
    features = frame.drop(columns="label")
    assert np.array_equal(silent.predict_output(features), recording.predict_output(features))

    # fit_and_evaluate's refits are such fits, and report the early-stopped fit's curves
    refits: list[object] = []
    original = run_module._refit_on

    def spy(*args: Any, **kwargs: Any) -> object:
        model = original(*args, **kwargs)
        refits.append(model)
        return model

    monkeypatch.setattr(run_module, "_refit_on", spy)
    result = _run(name, "binary", tmp_path)
    models = [m for m in refits if not isinstance(m, str)]
    assert len(models) == 2 and all(not m.record_curves for m in models)  # type: ignore[attr-defined]
    assert result.curves.val_loss


@pytest.mark.parametrize(("objective", "metric"), [("reg:absoluteerror", "mae"), ("reg:pseudohubererror", "mphe")])
def test_an_xgboost_refit_watching_a_second_metric_serves_the_refit(
    objective: str, metric: str, tmp_path: Path
) -> None:
    # The advisor gives an outlier-heavy regression target MAE or pseudo-Huber, watched beside RMSE; a refit records
    # no curves, so it has no history of that second metric either, and must not fail for it.
    frame = mixed_frame("regression")
    spec = TrainSpec(
        trainer="xgboost",
        params={**small_params("xgboost", "regression"), "objective": objective, "eval_metric": metric},
        seed=0,
    )
    result = fit_and_evaluate(spec, frame, "label", "regression", None, None, tmp_path)
    assert result.validation is not None
    assert result.validation.served_model.startswith("refit on all"), result.validation.served_model
    assert result.curves.metric_name == metric and result.curves.val_metric


def test_a_refit_that_fails_is_logged_and_the_earlier_fit_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The fallback is for a library refusing the larger set; a bug behind it (as the KeyError above was) must not
    # stay silent: the job says which fit serves, and the log keeps the traceback.
    from trainers.classical.xgboost_trainer import XGBoostTrainer

    fit = XGBoostTrainer._fit

    def refits_fail(self: XGBoostTrainer, train: Any, valid: Any, callbacks: Any) -> None:
        if not self.record_curves and self.saved:  # the refits (a fold is not saved)
            raise RuntimeError("broken refit")
        fit(self, train, valid, callbacks)

    monkeypatch.setattr(XGBoostTrainer, "_fit", refits_fail)
    with caplog.at_level("WARNING", logger="trainers.run"):
        result = _run("xgboost", "regression", tmp_path)
    assert result.validation is not None
    assert result.validation.served_model.endswith("(the refit on train + validation failed: RuntimeError)")
    assert "broken refit" in caplog.text and "the earlier fit serves" in caplog.text
