"""Explanations (trainers.explain): per-row contributions sum to the model's own margin on real data, encoded
features are summed back onto their original column, and every run stores a hashed importance.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import mixed_frame, prepared, real_frame, small_params

from trainers.artifacts import load_artifact, read_manifest, sha256_file
from trainers.explain import (
    IMPORTANCE_FILE,
    FeatureImportance,
    combine_importances,
    contributions,
    encoded_sources,
    feature_importance,
    permutation_importance,
    read_importance,
)
from trainers.preprocess import apply_schema
from trainers.registry import get_trainer
from trainers.run import fit_and_evaluate
from trainers.spec import Task, TrainSpec

TARGET = {"binary": "target", "multiclass": "target", "regression": "target"}


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def _frame(task: Task) -> pd.DataFrame:
    # breast_cancer (binary), iris (multiclass), diabetes (regression): real, bundled with scikit-learn.
    return _iris() if task == "multiclass" else real_frame(task)


def _fit(trainer: str, frame: pd.DataFrame, target: str, task: Task) -> object:
    train, valid, _ = prepared(frame, target, task)
    params = {k: v for k, v in small_params(trainer, task).items() if k != "split"}
    return get_trainer(trainer)(params, seed=0, n_threads=1).fit(train, valid)


def _margin(model: object, rows: pd.DataFrame) -> np.ndarray:
    """The model's own raw score, from the library itself (not from the contributions)."""
    import xgboost as xgb

    from trainers.classical.sklearn_common import model_input

    X = apply_schema(rows, model.schema_)  # type: ignore[attr-defined]
    booster = model.model_  # type: ignore[attr-defined]
    if isinstance(booster, xgb.Booster):
        return np.asarray(booster.inplace_predict(X, predict_type="margin"), dtype=np.float64)
    if type(booster).__module__.startswith("lightgbm"):
        return np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)
    m = model_input(X, model.schema_)  # type: ignore[attr-defined]
    if model.task_ == "regression":  # type: ignore[attr-defined]
        return np.asarray(booster.predict(m), dtype=np.float64)
    return np.asarray(booster.decision_function(m), dtype=np.float64)


def _check_sums(model: object, rows: pd.DataFrame, task: Task) -> dict[str, object]:
    c = contributions(model, rows)  # type: ignore[arg-type]
    assert c.available, c.reason
    values, bias, margin = np.asarray(c.values), np.asarray(c.bias), np.asarray(c.margin)
    n_cols = len(model.schema_.columns)  # type: ignore[attr-defined]
    assert c.columns == model.schema_.feature_names  # type: ignore[attr-defined]
    if task == "multiclass":
        k = len(c.classes or [])
        assert values.shape == (len(rows), k, n_cols) and bias.shape == (len(rows), k)
    else:
        assert c.classes is None
        assert values.shape == (len(rows), n_cols) and bias.shape == (len(rows),)
    own = _margin(model, rows).reshape(margin.shape)
    # Contributions plus bias are the model's margin, row by row (and class by class).
    np.testing.assert_allclose(values.sum(axis=-1) + bias, own, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(margin, own, rtol=1e-4, atol=1e-4)
    assert np.abs(values).sum() > 0
    return {"values": values, "bias": bias, "output": c.output}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("trainer", ["xgboost", "lightgbm"])
def test_booster_shap_values_sum_to_the_margin(trainer: str, task: Task) -> None:
    frame = _frame(task)
    model = _fit(trainer, frame, TARGET[task], task)
    rows = frame.drop(columns=TARGET[task]).sample(40, random_state=1)
    out = _check_sums(model, rows, task)
    assert "log-odds" in str(out["output"]) if task == "binary" else True


@pytest.mark.parametrize(
    ("trainer", "task"),
    [("sklearn_logistic", "binary"), ("sklearn_logistic", "multiclass"), ("sklearn_ridge", "regression")],
)
def test_linear_contributions_sum_to_the_decision_function(trainer: str, task: Task) -> None:
    frame = _frame(task)
    model = _fit(trainer, frame, TARGET[task], task)
    rows = frame.drop(columns=TARGET[task]).sample(40, random_state=2)
    out = _check_sums(model, rows, task)
    bias = np.asarray(out["bias"])
    # The bias of a linear model is its intercept, the same for every row.
    assert np.allclose(bias, bias[0])


@pytest.mark.parametrize("trainer", ["xgboost", "lightgbm", "sklearn_logistic"])
def test_encoded_columns_are_summed_back_onto_their_column(trainer: str) -> None:
    """One-hot levels (with a missing level) and missing-value indicators become one entry per original column."""
    task: Task = "multiclass"
    frame = mixed_frame(task)
    model = _fit(trainer, frame, "label", task)
    rows = frame.drop(columns="label").head(30)
    out = _check_sums(model, rows, task)
    values = np.asarray(out["values"])
    assert values.shape[-1] == 5  # x1, x2, x3, color, flag: never one per level or indicator
    names = model.schema_.feature_names  # type: ignore[attr-defined]
    # The label is driven by x1, x2, color and flag; x3 is noise.
    strength = np.abs(values).mean(axis=(0, 1))
    assert strength[names.index("x3")] < strength[names.index("x1")]
    assert strength[names.index("x3")] < strength[names.index("color")]


def test_encoded_sources_of_a_linear_pipeline() -> None:
    task: Task = "binary"
    frame = mixed_frame(task)
    model = _fit("sklearn_logistic", frame, "label", task)
    pipe = model.model_  # type: ignore[attr-defined]
    names = model.schema_.feature_names  # type: ignore[attr-defined]
    sources = encoded_sources(pipe, model.schema_)  # type: ignore[attr-defined]
    assert len(sources) == pipe.named_steps["model"].coef_.shape[1]
    counts = {names[i]: int((sources == i).sum()) for i in range(len(names))}
    # x1 and x3 have gaps (value + missing indicator); color has 3 levels; x2 and flag are one feature each.
    assert counts == {"x1": 2, "x2": 1, "x3": 2, "color": 3, "flag": 1}
    # Native importance = sum of |coef| over the column's encoded features.
    imp = feature_importance(model, model, pd.DataFrame(), np.array([]), seed=0)  # type: ignore[arg-type]
    assert imp.native is not None and imp.native.kind == "coefficients"
    coef = np.abs(pipe.named_steps["model"].coef_[0])
    by_col = {c.column: c.value for c in imp.native.columns}
    for i, name in enumerate(names):
        assert by_col[name] == pytest.approx(coef[sources == i].sum())
    assert [c.value for c in imp.native.columns] == sorted(by_col.values(), reverse=True)
    assert imp.permutation is None and "no validation rows" in str(imp.permutation_note)


def test_text_column_contributions_are_one_entry() -> None:
    """A TF-IDF baseline's thousands of terms add up to its text column."""
    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "fine"], ["awful", "poor", "bad"]
    labels = rng.integers(0, 2, 300)
    texts = [" ".join(rng.choice(good if y else bad, 3)) + " the film" for y in labels]
    frame = pd.DataFrame({"review": texts, "length": rng.normal(size=300), "label": labels})
    from trainers.preprocess import prepare_frame
    from trainers.spec import SplitSpec, TrainData
    from trainers.splits import split_rows

    X, y, schema = prepare_frame(frame, "label", None, "binary", text_columns=["review"])
    parts = split_rows(y, "binary", SplitSpec(), 0)
    train = TrainData(X.iloc[parts.train].reset_index(drop=True), y[parts.train], schema)
    valid = TrainData(X.iloc[parts.validation].reset_index(drop=True), y[parts.validation], schema)
    model = get_trainer("sklearn_logistic")({"C": 1.0}, seed=0).fit(train, valid)
    out = _check_sums(model, frame.drop(columns="label").head(20), "binary")
    values = np.asarray(out["values"])
    assert values.shape == (20, 2)
    assert np.abs(values[:, 0]).mean() > np.abs(values[:, 1]).mean()  # the words decide, not the noise


@pytest.mark.parametrize("trainer", ["sklearn_random_forest", "sklearn_knn"])
def test_models_without_contributions_say_so(trainer: str) -> None:
    frame = real_frame("binary")
    model = _fit(trainer, frame, "target", "binary")
    c = contributions(model, frame.drop(columns="target").head(3))  # type: ignore[arg-type]
    assert not c.available and c.values == [] and c.method is None
    assert trainer in str(c.reason) and "no per-row contributions" in str(c.reason)


def test_permutation_importance_ranks_signal_over_noise_and_is_seeded() -> None:
    task: Task = "regression"
    frame = mixed_frame(task, n=600)
    train, valid, _ = prepared(frame, "label", task)
    params = {k: v for k, v in small_params("lightgbm", task).items() if k != "split"}
    model = get_trainer("lightgbm")(params, seed=0).fit(train, valid)
    first = permutation_importance(model, valid.X, valid.y, seed=3)
    again = permutation_importance(model, valid.X, valid.y, seed=3)
    assert first == again
    order = [c.column for c in first.columns]
    assert order.index("x1") < order.index("x3") and order.index("color") < order.index("x3")
    assert first.metric == "rmse" and first.n_repeats == 3 and first.n_rows == len(valid)
    by = {c.column: c for c in first.columns}
    assert by["x1"].value > 0 and by["x1"].sd is not None
    assert [c.value for c in first.columns] == sorted((c.value for c in first.columns), reverse=True)
    # A tiny time limit shrinks the work (rows, then repeats) or refuses, never overruns silently.
    with pytest.raises(TimeoutError):
        permutation_importance(model, valid.X, valid.y, seed=3, max_seconds=0.0)


def test_every_run_stores_a_hashed_importance_file(tmp_path: Path) -> None:
    frame = _iris()
    spec = TrainSpec(trainer="xgboost", params=small_params("xgboost", "multiclass"), seed=0)
    result = fit_and_evaluate(spec, frame, "target", "multiclass", None, None, tmp_path)
    assert IMPORTANCE_FILE in result.artifact.files
    assert result.artifact.files[IMPORTANCE_FILE] == sha256_file(tmp_path / IMPORTANCE_FILE)
    assert read_manifest(tmp_path, expected_sha256=result.artifact.sha256).files == result.artifact.files
    load_artifact(tmp_path, expected_sha256=result.artifact.sha256)  # the model still loads, verified
    imp = read_importance((tmp_path / IMPORTANCE_FILE).read_text())
    assert imp.trainer == "xgboost" and imp.task == "multiclass"
    assert imp.permutation is not None and imp.native is not None and imp.native.kind == "gain"
    assert {c.column for c in imp.permutation.columns} == set(frame.columns) - {"target"}
    assert imp.permutation.columns[0].column.startswith("petal")
    assert "train split" in imp.permutation.model
    assert result.timings["importance_s"] >= 0
    json.loads((tmp_path / IMPORTANCE_FILE).read_text())  # plain JSON, no NaN


def test_a_stopped_run_says_why_it_has_no_permutation_importance() -> None:
    frame = real_frame("binary")
    train, valid, _ = prepared(frame, "target", "binary")
    model = get_trainer("sklearn_logistic")({"C": 1.0}, seed=0).fit(train, valid)
    imp = feature_importance(model, model, valid.X, valid.y, seed=0, stopped="the run was stopped")
    assert imp.permutation is None and imp.permutation_note == "not measured: the run was stopped"
    assert imp.native is not None
    out = feature_importance(model, model, valid.X, valid.y, seed=0, max_seconds=0.0)
    assert out.permutation is None and "no time left" in str(out.permutation_note)


def test_ensemble_importance_is_the_weighted_members_average() -> None:
    def member(values: dict[str, float]) -> FeatureImportance:
        from trainers.explain import ColumnScore, PermutationImportance

        cols = [ColumnScore(column=k, value=v) for k, v in values.items()]
        perm = PermutationImportance(
            metric="rmse", baseline=1.0, n_rows=10, n_repeats=3, seed=0, model="m", columns=cols
        )
        return FeatureImportance(trainer="x", task="regression", columns=list(values), permutation=perm)

    out = combine_importances(
        [(0.75, member({"a": 1.0, "b": 0.0})), (0.25, member({"a": 0.0, "b": 2.0}))],
        ["a", "b"],
        "ensemble",
        "regression",
    )
    assert out.permutation is not None
    assert [(c.column, c.value) for c in out.permutation.columns] == [("a", 0.75), ("b", 0.5)]
    assert out.native is None and out.native_note


def test_permutation_time_follows_the_run_and_its_budget() -> None:
    from trainers.explain import PERMUTATION_FLOOR_S, PERMUTATION_MAX_S, permutation_limit

    assert permutation_limit(1.0, None) == PERMUTATION_FLOOR_S  # a quick run still gets the floor
    assert permutation_limit(20.0, None) == 10.0  # half the run
    assert permutation_limit(600.0, None) == PERMUTATION_MAX_S  # never above the cap
    assert permutation_limit(20.0, 8.0) == 2.0  # a quarter of the budget left
    assert permutation_limit(20.0, -1.0) < 0  # none left: not measured (see feature_importance)
