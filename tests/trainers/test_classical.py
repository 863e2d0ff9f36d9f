"""Classical trainers in detail: early stopping, parameters applied exactly, schema errors, splits,
metrics without NaN, safe artifacts, the registry and the run helper."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import StopAfter, mixed_frame, prepared, real_frame, small_params

from trainers.artifacts import SKOPS_TRUSTED_TYPES, ArtifactError, load_artifact, skops_dump, skops_load
from trainers.base import Trainer, TrainerCapabilityError, TrainerParamError
from trainers.callbacks import CallbackList, CancelToken, TimeBudget
from trainers.metrics import best_round, classification_metrics, regression_metrics
from trainers.preprocess import SchemaMismatch, apply_schema, prepare_frame
from trainers.registry import (
    TrainerRegistryError,
    available_trainers,
    get_trainer,
    register_trainer,
    unregister_trainer,
)
from trainers.run import fit_and_evaluate, predict_frame
from trainers.spec import SplitSpec, TrainSpec
from trainers.splits import split_rows

# -- early stopping keeps the best iteration ------------------------------------------------------


def _noisy_binary(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Weak signal, many noise columns: a fast learner overfits after a few rounds."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12))
    y = (X[:, 0] + 2.0 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(12)]).assign(label=y)


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_early_stopping_keeps_the_best_iteration(name: str, tmp_path: Path) -> None:
    train, valid, _ = prepared(_noisy_binary(), "label", "binary")
    overrides = {"n_estimators": 300, "learning_rate": 0.5, "early_stopping_rounds": 8}
    overrides |= {"max_depth": 6} if name == "xgboost" else {"num_leaves": 31}
    trainer = get_trainer(name)(small_params(name, "binary", **overrides)).fit(train, valid)

    assert trainer.n_rounds_ < 300, "early stopping should have ended training"
    val_loss = trainer.curves_.val_loss
    assert trainer.best_iteration_ == int(np.argmin(val_loss))
    assert trainer.n_rounds_ == trainer.best_iteration_ + 1 + 8
    assert not trainer.partial_
    # The kept model has exactly best + 1 rounds, saved and loaded alike.
    rounds = trainer.model_.num_boosted_rounds() if name == "xgboost" else trainer.model_.current_iteration()
    assert rounds == trainer.best_iteration_ + 1
    trainer.save(tmp_path)
    loaded = get_trainer(name).load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(valid.X), trainer.predict_proba(valid.X))
    # Its validation log loss is the best point of the curve.
    from sklearn.metrics import log_loss

    assert log_loss(valid.y, trainer.predict_proba(valid.X)) == pytest.approx(
        val_loss[trainer.best_iteration_], rel=1e-4
    )


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_cancel_mid_run_keeps_the_best_round_not_the_last(name: str) -> None:
    train, valid, _ = prepared(_noisy_binary(), "label", "binary")
    overrides = {"n_estimators": 300, "learning_rate": 0.8, "early_stopping_rounds": 100}
    trainer = get_trainer(name)(small_params(name, "binary", **overrides)).fit(train, valid, StopAfter(rounds=30))
    assert trainer.partial_ and trainer.n_rounds_ == 30
    assert trainer.best_iteration_ == int(np.argmin(trainer.curves_.val_loss))
    assert trainer.best_iteration_ < 29


def test_xgboost_training_curve_uses_a_sample_of_large_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    import trainers.classical.xgboost_trainer as xgb_module

    train, valid, _ = prepared(mixed_frame("binary"), "label", "binary")
    full = get_trainer("xgboost")(small_params("xgboost", "binary")).fit(train, valid)
    monkeypatch.setattr(xgb_module, "TRAIN_CURVE_MAX_ROWS", 100)
    sampled = get_trainer("xgboost")(small_params("xgboost", "binary")).fit(train, valid)
    assert full.curves_.train_rows == len(train) and sampled.curves_.train_rows == 100
    # Same model (the sample only feeds the curve), a different but close training curve.
    np.testing.assert_array_equal(sampled.predict_output(valid.X), full.predict_output(valid.X))
    assert sampled.curves_.val_loss == full.curves_.val_loss
    assert sampled.curves_.train_loss != full.curves_.train_loss
    assert abs(sampled.curves_.train_loss[-1] - full.curves_.train_loss[-1]) < 0.1


def test_xgboost_applies_the_parameters_exactly() -> None:
    train, valid, _ = prepared(mixed_frame("multiclass"), "label", "multiclass")
    params = small_params(
        "xgboost",
        "multiclass",
        max_depth=4,
        learning_rate=0.15,
        subsample=0.7,
        colsample_bytree=0.6,
        min_child_weight=2.0,
        reg_lambda=3.0,
        num_class=3,
    )
    trainer = get_trainer("xgboost")(params, seed=7, n_threads=1).fit(train, valid)
    config = json.loads(trainer.model_.save_config())["learner"]
    tree = config["gradient_booster"]["tree_train_param"]
    assert float(tree["max_depth"]) == 4 and float(tree["eta"]) == pytest.approx(0.15)
    assert float(tree["subsample"]) == pytest.approx(0.7) and float(tree["colsample_bytree"]) == pytest.approx(0.6)
    assert float(tree["min_child_weight"]) == 2 and float(tree["lambda"]) == 3
    assert config["objective"]["name"] == "multi:softprob"
    assert config["learner_model_param"]["num_class"] == "3"
    assert config["generic_param"]["seed"] == "7" and config["generic_param"]["nthread"] == "1"
    assert [m["name"] for m in config["metrics"]] == ["mlogloss"]


def test_lightgbm_applies_the_parameters_exactly() -> None:
    train, valid, _ = prepared(mixed_frame("binary"), "label", "binary")
    params = small_params("lightgbm", "binary", num_leaves=9, min_child_samples=7, lambda_l2=2.5, is_unbalance=True)
    trainer = get_trainer("lightgbm")(params, seed=5, n_threads=1).fit(train, valid)
    text = trainer.model_.model_to_string()
    for expected in (
        "[num_leaves: 9]",
        "[min_data_in_leaf: 7]",
        "[lambda_l2: 2.5]",
        "[is_unbalance: 1]",
        "[feature_fraction: 0.9]",
        "[bagging_fraction: 0.9]",
        "[bagging_freq: 1]",
        "[seed: 5]",
        "[learning_rate: 0.2]",
        "[num_threads: 1]",
    ):
        assert expected in text, expected
    # Categorical columns use LightGBM's native categorical splits.
    assert "pandas_categorical" in text and '"red"' in text


@pytest.mark.parametrize(
    ("name", "task", "params", "key"),
    [
        ("xgboost", "binary", {"objective": "reg:squarederror"}, "objective"),
        ("xgboost", "regression", {"num_class": 3}, "num_class"),
        ("xgboost", "binary", {"n_estimators": 0}, "n_estimators"),
        ("xgboost", "binary", {"eval_metric": 3}, "eval_metric"),
        ("lightgbm", "multiclass", {"objective": "binary"}, "objective"),
        ("lightgbm", "binary", {"feature_fraction": 1.5}, "feature_fraction"),
        ("lightgbm", "binary", {"n_estimators": 10, "max_depth": 4}, "max_depth"),
        ("sklearn_logistic", "binary", {"penalty": "l3"}, "penalty"),
        ("sklearn_logistic", "binary", {"solver": "saga"}, "solver"),
        ("sklearn_ridge", "regression", {"alpha": -1.0}, "alpha"),
        ("sklearn_linear", "regression", {"input_features": "tfidf"}, "input_features"),
    ],
)
def test_bad_parameters_are_refused_naming_the_key(name: str, task: str, params: dict, key: str) -> None:
    with pytest.raises(TrainerParamError) as exc:
        get_trainer(name).check_params(params, task)
    assert exc.value.key == key


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_num_class_must_match_the_target(name: str) -> None:
    train, valid, _ = prepared(mixed_frame("multiclass"), "label", "multiclass")
    with pytest.raises(TrainerParamError, match="3 classes"):
        get_trainer(name)(small_params(name, "multiclass", num_class=4)).fit(train, valid)


def test_scaling_and_imputation_choices_are_applied() -> None:
    train, valid, _ = prepared(mixed_frame("regression"), "label", "regression")
    cls = get_trainer("sklearn_ridge")
    robust = cls({"alpha": 1.0, "scaling": "robust", "imputation": "mean"}).fit(train, valid)
    numeric = robust.model_.named_steps["preprocess"].named_transformers_["numeric"]
    assert type(numeric.named_steps["scale"]).__name__ == "RobustScaler"
    assert numeric.named_steps["impute"].strategy == "mean" and numeric.named_steps["impute"].add_indicator
    with pytest.raises(TrainerParamError, match="natively"):
        cls({"imputation": "native"}).fit(train, valid)
    with pytest.raises(TrainerParamError):
        cls({"scaling": "log"}).fit(train, valid)


def test_logistic_class_weight_by_original_label() -> None:
    train, valid, _ = prepared(mixed_frame("binary"), "label", "binary")
    trainer = get_trainer("sklearn_logistic")({"class_weight": {"yes": 3.0, "no": 1.0}}).fit(train, valid)
    yes = train.schema.classes.index("yes")
    assert trainer.model_.named_steps["model"].class_weight == {yes: 3.0, 1 - yes: 1.0}


def test_advisor_recommendation_params_train_as_given(tmp_path: Path) -> None:
    from advisor import Constraints, DatasetProfile, recommend

    frame = real_frame("binary")
    profile = DatasetProfile(modality="tabular", task="binary", n_rows=len(frame), n_features=30, n_classes=2)
    rec = recommend(profile, Constraints())
    for candidate in [*rec.candidates, rec.baseline]:
        params = candidate.params()
        if "n_estimators" in params:
            params["n_estimators"] = 60  # keep the test fast; every other value is the advisor's
        spec = TrainSpec(trainer=candidate.trainer, params=params)
        result = fit_and_evaluate(spec, frame, "target", "binary", None, None, tmp_path / candidate.trainer)
        assert result.metrics["test"]["roc_auc"] > 0.9, candidate.trainer
        assert result.split.stratified


# -- preprocessing and schema --------------------------------------------------------------------


def test_prepare_frame_records_the_schema() -> None:
    frame = mixed_frame("multiclass")
    X, y, schema = prepare_frame(frame, "label", ["x1", "color", "flag"], "multiclass")
    assert list(X.columns) == ["x1", "color", "flag"]
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"x1": "numeric", "color": "categorical", "flag": "boolean"}
    assert schema.columns[1].categories == ["blue", "green", "red"]
    assert isinstance(X["color"].dtype, pd.CategoricalDtype) and X["color"].isna().any()
    assert X["flag"].dtype == np.float64 and set(X["flag"].unique()) <= {0.0, 1.0}
    assert schema.classes == ["high", "low", "mid"] and set(np.unique(y)) == {0, 1, 2}
    assert schema == type(schema).from_json(schema.to_json())


def test_prepare_frame_drops_missing_targets_and_refuses_bad_targets() -> None:
    frame = mixed_frame("binary")
    frame.loc[:9, "label"] = None
    X, y, _ = prepare_frame(frame, "label", None, "binary")
    assert len(X) == len(frame) - 10 == len(y)
    with pytest.raises(SchemaMismatch) as exc:
        prepare_frame(mixed_frame("multiclass"), "label", None, "binary")
    assert exc.value.column == "label" and "exactly 2" in exc.value.reason
    with pytest.raises(SchemaMismatch, match="numeric"):
        prepare_frame(mixed_frame("binary"), "label", None, "regression")
    with pytest.raises(SchemaMismatch) as exc:
        prepare_frame(mixed_frame("binary"), "label", ["x1", "nope"], "binary")
    assert exc.value.column == "nope"
    dated = mixed_frame("binary").assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(SchemaMismatch) as exc:
        prepare_frame(dated, "label", None, "binary")
    assert exc.value.column == "when"


def test_apply_schema_names_the_missing_or_mistyped_column() -> None:
    frame = mixed_frame("binary")
    _, _, schema = prepare_frame(frame, "label", None, "binary")
    rows = frame.drop(columns="label")
    with pytest.raises(SchemaMismatch) as exc:
        apply_schema(rows.drop(columns="x2"), schema)
    assert exc.value.column == "x2" and "missing" in exc.value.reason
    twice = pd.concat([rows, rows[["x3"]]], axis=1)
    with pytest.raises(SchemaMismatch) as exc:
        apply_schema(twice, schema)
    assert exc.value.column == "x3" and "several columns" in exc.value.reason


def test_apply_schema_reads_unreadable_values_as_missing_and_says_so() -> None:
    """A value a numeric or true/false column cannot read is missing, as an unseen category is, instead of
    refusing every row; the warning names the column, the count and the values."""
    frame = mixed_frame("binary")
    _, _, schema = prepare_frame(frame, "label", None, "binary")
    rows = frame.drop(columns="label").head(4).reset_index(drop=True)
    rows["x3"] = rows["x3"].astype(object)
    rows.loc[1, "x3"] = "rotary"
    rows["flag"] = ["yes", "maybe", 2, None]
    warnings: list[str] = []
    out = apply_schema(rows, schema, warnings)
    assert np.isnan(out["x3"][1]) and not np.isnan(out["x3"][[0, 2, 3]]).any()
    assert out["flag"][0] == 1.0 and np.isnan(out["flag"][1:]).all()
    assert len(warnings) == 2, warnings
    assert "'x3'" in warnings[0] and "1 row(s)" in warnings[0] and "'rotary'" in warnings[0]
    assert "'flag'" in warnings[1] and "'maybe'" in warnings[1] and "missing" in warnings[1]
    # training reads a column by its own values and stays strict: a type it cannot read is an error there
    with pytest.raises(SchemaMismatch, match="numeric"):
        prepare_frame(mixed_frame("binary"), "label", None, "regression")


def test_apply_schema_accepts_json_rows_and_unseen_levels() -> None:
    frame = mixed_frame("binary")
    X, _, schema = prepare_frame(frame, "label", None, "binary")
    json_rows = pd.DataFrame(
        [
            {"x1": 1, "x2": 0.5, "x3": None, "color": "red", "flag": True, "extra": "ignored"},
            {"x1": None, "x2": -1.0, "x3": 2.0, "color": "purple", "flag": False},
        ]
    )
    out = apply_schema(json_rows, schema)
    assert list(out.columns) == schema.feature_names
    assert out["x1"].tolist()[0] == 1.0 and math.isnan(out["x1"].tolist()[1])
    assert out["color"].tolist()[0] == "red" and pd.isna(out["color"].tolist()[1])  # unseen → missing
    assert out["color"].dtype == X["color"].dtype and out["flag"].tolist() == [1.0, 0.0]


def test_temporal_values_read_as_the_seconds_training_gave_the_model() -> None:
    import datetime as dt

    from trainers.preprocess import temporal_seconds

    day = 86_400.0
    assert temporal_seconds(pd.Series(pd.to_datetime(["1970-01-02", None]))).tolist()[0] == day
    aware = pd.Series(pd.to_datetime(["1970-01-02T01:00:00+01:00"]))
    assert temporal_seconds(aware).tolist() == [day]  # time zones are converted, naive values taken as UTC
    assert temporal_seconds(pd.Series([dt.date(1970, 1, 2), None], dtype=object)).tolist()[0] == day
    assert temporal_seconds(pd.Series([dt.time(2, 8, 37), None], dtype=object)).tolist()[0] == 7717.0
    assert temporal_seconds(pd.Series(pd.to_timedelta(["00:01:30"]))).tolist() == [90.0]
    assert temporal_seconds(pd.Series([1.0, 2.0])) is None and temporal_seconds(pd.Series(["a", "b"])) is None


def test_category_levels_survive_type_changes() -> None:
    frame = pd.DataFrame({"code": pd.Categorical([1, 2, 3, 1, 2, 3] * 10), "y": [0, 1, 0, 1, 1, 0] * 10})
    _, _, schema = prepare_frame(frame, "y", None, "binary")
    assert schema.columns[0].categories == ["1", "2", "3"]
    as_float = apply_schema(pd.DataFrame({"code": [1.0, 3.0, np.nan]}), schema)
    as_text = apply_schema(pd.DataFrame({"code": ["1", "3", None]}), schema)
    assert as_float["code"].cat.codes.tolist() == as_text["code"].cat.codes.tolist() == [0, 2, -1]


def test_predict_frame_returns_original_labels(tmp_path: Path) -> None:
    frame = mixed_frame("binary")
    spec = TrainSpec(trainer="xgboost", params=small_params("xgboost", "binary"))
    result = fit_and_evaluate(spec, frame, "label", "binary", None, None, tmp_path)
    model = load_artifact(tmp_path, expected_sha256=result.artifact.sha256)
    out = predict_frame(model, frame.drop(columns="label").head(5))
    assert out.classes == ["no", "yes"] and set(out.predictions) <= {"no", "yes"}
    record = out.records()[0]
    assert set(record["probabilities"]) == {"no", "yes"}
    with pytest.raises(SchemaMismatch) as exc:
        predict_frame(model, frame.drop(columns=["label", "color"]))
    assert exc.value.column == "color"


# -- splits --------------------------------------------------------------------------------------


def test_splits_are_reproducible_and_stratified() -> None:
    y = np.array([0] * 800 + [1] * 200)
    a = split_rows(y, "binary", SplitSpec(), seed=3)
    b = split_rows(y, "binary", SplitSpec(), seed=3)
    c = split_rows(y, "binary", SplitSpec(), seed=4)
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "validation", "test"))
    assert not np.array_equal(a.test, c.test)
    assert (a.info.train_size, a.info.validation_size, a.info.test_size) == (700, 150, 150)
    for part in (a.train, a.validation, a.test):
        assert y[part].mean() == pytest.approx(0.2, abs=0.01)
    assert len(np.intersect1d(a.train, a.test)) == 0 and a.info.stratified and a.info.seed == 3


def test_large_splits_are_reproducible_and_stratified_too() -> None:
    from trainers.splits import SKLEARN_SPLIT_MAX_ROWS

    n = SKLEARN_SPLIT_MAX_ROWS + 1000
    y = (np.random.default_rng(0).random(n) < 0.3).astype(np.int32)
    a, b = split_rows(y, "binary", SplitSpec(), 1), split_rows(y, "binary", SplitSpec(), 1)
    assert np.array_equal(a.test, b.test) and a.info.stratified
    parts = np.concatenate([a.train, a.validation, a.test])
    assert len(np.unique(parts)) == n == len(parts)
    assert abs(a.info.test_size - 0.15 * n) <= 2 and abs(a.info.validation_size - 0.15 * n) <= 2
    for part in (a.train, a.validation, a.test):
        assert y[part].mean() == pytest.approx(y.mean(), abs=0.001)
    plain = split_rows(y.astype(float), "regression", SplitSpec(stratify=False), 1)
    assert not plain.info.stratified and plain.info.train_size + plain.info.validation_size + plain.info.test_size == n


def test_split_falls_back_when_a_class_is_too_small() -> None:
    y = np.array([0] * 60 + [1] * 2)
    s = split_rows(y, "binary", SplitSpec(), seed=0)
    assert not s.info.stratified and "rarest class" in (s.info.note or "")


def test_split_fractions_are_validated() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SplitSpec(train=0.8, validation=0.15, test=0.15)
    assert (
        TrainSpec(trainer="xgboost", params={"split": {"train": 0.6, "validation": 0.2, "test": 0.2}})
        .resolved_split()
        .train
        == 0.6
    )


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_are_finite_or_none_with_a_reason() -> None:
    y = np.zeros(10, dtype=int)
    proba = np.column_stack([np.full(10, 0.7), np.full(10, 0.3)])
    values, notes = classification_metrics(y, proba)
    assert values["roc_auc"] is None and "one class" in notes["roc_auc"]
    assert all(v is None or math.isfinite(v) for v in values.values())
    # A multiclass split lacking a class: one-vs-rest over the classes present.
    y3 = np.array([0, 0, 1, 1, 0, 1])
    p3 = np.array(
        [[0.8, 0.1, 0.1], [0.6, 0.2, 0.2], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.3, 0.6, 0.1]]
    )
    values, notes = classification_metrics(y3, p3)
    assert values["roc_auc"] == 1.0 and "2 of 3" in notes["roc_auc"]
    assert math.isfinite(values["log_loss"])
    # Overconfident wrong predictions stay finite (probabilities are clipped).
    values, _ = classification_metrics(np.array([0, 1]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert math.isfinite(values["log_loss"])
    values, notes = regression_metrics(np.array([1.0]), np.array([2.0]))
    assert values["r2"] is None and notes["r2"] and values["rmse"] == 1.0


@pytest.mark.parametrize("k", [2, 4])
def test_metrics_match_scikit_learn(k: int) -> None:
    from sklearn import metrics as skm

    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 500)
    y[y == k - 1] = 0  # the last class never occurs in y but may be predicted
    proba = rng.dirichlet(np.ones(k), 500)
    pred = proba.argmax(axis=1)
    values, _ = classification_metrics(y, proba)
    assert values["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert values["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert values["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=np.arange(k)))


def test_best_round_ignores_nan_and_respects_direction() -> None:
    assert best_round([0.5, 0.3, float("nan"), 0.3, 0.4], False, True, 5) == 1
    assert best_round([0.5, 0.9, 0.7], True, True, 3) == 1
    assert best_round([0.5, 0.3, 0.4], False, False, 3) == 2
    assert best_round([float("nan")] * 3, False, True, 3) == 2


# -- callbacks -----------------------------------------------------------------------------------


def test_time_budget_and_cancel_token() -> None:
    now = [100.0]
    budget = TimeBudget(5.0, clock=lambda: now[0])
    token = CancelToken()
    both = CallbackList(token, budget)
    assert not both.should_stop()
    now[0] = 105.0
    assert both.should_stop() and both.stop_reason() == "time_budget"
    now[0] = 0.0
    token.cancel()
    assert both.should_stop() and both.stop_reason() == "cancelled"


# -- artifacts -----------------------------------------------------------------------------------


def test_tampered_artifacts_are_refused(tmp_path: Path) -> None:
    train, valid, _ = prepared(mixed_frame("binary"), "label", "binary")
    trainer = get_trainer("lightgbm")(small_params("lightgbm", "binary")).fit(train, valid)
    info = trainer.save(tmp_path)
    with pytest.raises(ArtifactError, match="expected"):
        load_artifact(tmp_path, expected_sha256="0" * 64)
    with pytest.raises(ArtifactError, match="written by"):
        get_trainer("xgboost").load(tmp_path, expected_sha256=info.sha256)
    model = tmp_path / "model.txt"
    model.write_text(model.read_text().replace("[num_leaves: 7]", "[num_leaves: 8]"))
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_artifact(tmp_path)


class _Evil:
    def __init__(self) -> None:
        self.payload = "anything"


def test_skops_refuses_untrusted_types(tmp_path: Path) -> None:
    from trainers.artifacts import _skops_io

    sio = _skops_io()  # skops.io without its torch-importing estimator scan
    with pytest.raises(ArtifactError, match="trusted"):
        skops_dump(_Evil(), tmp_path / "evil.skops")
    sio.dump(_Evil(), tmp_path / "evil.skops")  # written behind our back
    with pytest.raises(ArtifactError, match="untrusted"):
        skops_load(tmp_path / "evil.skops")
    assert {"numpy.dtype"} == set(SKOPS_TRUSTED_TYPES)


def test_artifact_files_and_versions(tmp_path: Path) -> None:
    spec = TrainSpec(trainer="sklearn_logistic", params=small_params("sklearn_logistic", "multiclass"))
    result = fit_and_evaluate(spec, mixed_frame("multiclass"), "label", "multiclass", None, None, tmp_path)
    art = result.artifact
    predictions = {
        "valid_pred.npy",
        "valid_index.npy",
        "valid_target.npy",
        "test_pred.npy",
        "test_index.npy",
        "test_target.npy",
    }
    files = {"model.skops", "schema.json", "meta.json", "importance.json", *predictions}
    assert art.format == "skops" and set(art.files) == files
    assert {"sklearn", "skops", "numpy", "pandas", "python"} <= set(art.library_versions)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["sha256"] == art.sha256
    schema = json.loads((tmp_path / "schema.json").read_text())
    assert schema["classes"] == ["high", "low", "mid"] and schema["target"] == "label"


def test_run_helper_and_sklearn_artifacts_never_load_torch(tmp_path: Path) -> None:
    code = f"""
import sys, numpy as np, pandas as pd
import trainers, trainers.run, trainers.classical, trainers.registry
assert not {{"xgboost", "lightgbm", "sklearn", "torch"}} & set(sys.modules), sorted(sys.modules)
from trainers.run import fit_and_evaluate
from trainers.spec import TrainSpec
from trainers.artifacts import load_artifact
rng = np.random.default_rng(0)
df = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc")).assign(y=lambda d: d.a * 2 + rng.normal(size=200))
fit_and_evaluate(TrainSpec(trainer="sklearn_ridge"), df, "y", "regression", None, None, {str(tmp_path)!r})
load_artifact({str(tmp_path)!r})
assert "torch" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- registry ------------------------------------------------------------------------------------


def test_registry_is_typed_and_loud() -> None:
    assert available_trainers()[:5] == ["xgboost", "lightgbm", "sklearn_logistic", "sklearn_ridge", "sklearn_linear"]
    with pytest.raises(TrainerRegistryError, match="registered: "):
        get_trainer("nope")
    with pytest.raises(TrainerRegistryError, match="already registered"):

        @register_trainer("xgboost")
        class Imposter(Trainer):
            NAME = "xgboost"

    @register_trainer("dummy_for_test")
    class Dummy(get_trainer("sklearn_linear")):  # type: ignore[misc]
        NAME = "dummy_for_test"

    try:
        assert get_trainer("dummy_for_test") is Dummy
        with pytest.raises(TrainerRegistryError):

            @register_trainer("dummy_for_test")
            class Other(Dummy):
                NAME = "dummy_for_test"

    finally:
        unregister_trainer("dummy_for_test")
    with pytest.raises(TrainerRegistryError):
        unregister_trainer("dummy_for_test")


def test_the_registry_is_the_one_list_of_trainers() -> None:
    from trainers.classical import CLASSICAL_TRAINERS, XGBoostTrainer
    from trainers.torch import TORCH_TRAINERS

    # The package lists are read from the registry: together (and the ensemble) they are every trainer.
    assert {*CLASSICAL_TRAINERS, "ensemble", *TORCH_TRAINERS} == set(available_trainers())
    assert set(TORCH_TRAINERS) == {"torch_mlp", "torch_cnn", "torch_lstm", "torch_transformer"}
    assert all(path.startswith("trainers.torch.") for path in TORCH_TRAINERS.values())
    assert XGBoostTrainer is get_trainer("xgboost")  # class-name access in trainers.classical, from the same list


def test_capability_error_mentions_gpu_build() -> None:
    import xgboost as xgb

    if xgb.build_info().get("USE_CUDA"):
        pytest.skip("this xgboost build has CUDA")
    with pytest.raises(TrainerCapabilityError, match="CUDA"):
        get_trainer("xgboost").check("binary", device="cuda")
    with pytest.raises(TrainerCapabilityError, match="CPU only"):
        get_trainer("lightgbm").check("binary", device="cuda")
