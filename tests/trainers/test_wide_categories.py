"""Categorical columns with more levels than a dense one-hot takes (``MAX_DENSE_ONEHOT_LEVELS``).

A 30,000-row table with a name column of thousands of levels made every scikit-learn pipeline build a dense
rows × levels matrix: forests ran past their budget and were cut short to a near-constant model. Trees now take
such a column as its level codes; the other models keep its one-hot, stored sparse. Narrow columns are encoded
as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp  # type: ignore[import-untyped]
from _fixtures_classical import assert_learned, prepared, small_params, wide_frame

from trainers.artifacts import load_artifact
from trainers.classical.sklearn_common import MAX_DENSE_ONEHOT_LEVELS
from trainers.explain import encoded_sources
from trainers.registry import get_trainer
from trainers.spec import Task, TrainData

FORESTS = ("sklearn_random_forest", "sklearn_extra_trees")
ONE_HOT = ("sklearn_ridge", "sklearn_logistic", "sklearn_knn", "sklearn_svm")
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


def _fit(name: str, task: Task, **overrides: object) -> tuple[Any, TrainData, TrainData]:
    train, valid, test = prepared(wide_frame(task), "label", task)
    assert len(train.schema.columns[4].categories or []) > MAX_DENSE_ONEHOT_LEVELS
    trainer = get_trainer(name)(small_params(name, task, **overrides), seed=0).fit(train, valid)
    return trainer, train, test


def _matrix(trainer: Any, data: TrainData) -> Any:
    from trainers.classical.sklearn_common import model_input

    return trainer.model_.named_steps["preprocess"].transform(model_input(data.X, data.schema))


def _learned(task: Task, out: np.ndarray, test: TrainData) -> None:
    assert_learned(task, out, test.y, correlation=0.6, over_majority=0.05)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", FORESTS)
def test_forests_take_a_wide_column_as_its_level_codes(name: str, task: Task) -> None:
    trainer, train, test = _fit(name, task)
    A = _matrix(trainer, train)
    # x1..x3 (+ indicators of the two with NaN), flag, 3 colours one-hot, and shop as one column of codes.
    assert not sp.issparse(A) and A.shape[1] == 4 + 2 + 3 + 1
    codes = A[:, -1]
    expected = train.X["shop"].cat.codes.to_numpy(np.float64)
    np.testing.assert_array_equal(codes, expected)
    _learned(task, trainer.predict_output(test.X), test)
    sources = encoded_sources(trainer.model_, trainer.schema_)
    assert int(sources[-1]) == 4 and int((sources == 4).sum()) == 1  # shop: one feature


@pytest.mark.parametrize("name", FORESTS)
def test_most_frequent_fill_applies_to_the_codes_too(name: str) -> None:
    trainer, train, _ = _fit(name, "regression", imputation={"numeric": "median", "categorical": "most_frequent"})
    X = train.X.copy()
    X.loc[X.index[:5], "shop"] = None  # missing levels → the commonest training level's code, not -1
    from trainers.classical.sklearn_common import model_input

    A = trainer.model_.named_steps["preprocess"].transform(model_input(X, train.schema))
    commonest = float(np.bincount(train.X["shop"].cat.codes.to_numpy()).argmax())
    assert (A[:5, -1] == commonest).all() and (A[:, -1] >= 0).all()


@pytest.mark.parametrize("name", ONE_HOT)
def test_other_models_keep_the_wide_one_hot_sparse(name: str) -> None:
    task: Task = "regression" if name == "sklearn_ridge" else "binary"
    overrides = {"n_neighbors": 7} if name == "sklearn_knn" else {}
    trainer, train, test = _fit(name, task, **overrides)
    A = _matrix(trainer, train)
    assert sp.issparse(A)
    levels = len(train.schema.columns[4].categories or [])
    assert A.shape[1] == 4 + 2 + 3 + levels
    _learned(task, trainer.predict_output(test.X), test)
    sources = encoded_sources(trainer.model_, trainer.schema_)
    assert int((sources == 4).sum()) == levels


def test_the_sparse_one_hot_fits_the_same_ridge_as_the_dense_one() -> None:
    trainer, train, test = _fit("sklearn_ridge", "regression")
    from trainers.classical.sklearn_common import model_input

    dense = trainer.model_.named_steps["preprocess"]
    pipe = trainer._pipeline(train.schema, len(train))
    pipe.named_steps["preprocess"].set_params(sparse_threshold=0.0)
    pipe.fit(model_input(train.X, train.schema), train.y)
    assert not sp.issparse(pipe.named_steps["preprocess"].transform(model_input(train.X, train.schema)))
    assert sp.issparse(dense.transform(model_input(train.X, train.schema)))
    got = trainer.predict_output(test.X)
    want = pipe.predict(model_input(test.X, test.schema))
    # Dense: the exact solve; sparse: conjugate gradients to scikit-learn's default tolerance.
    assert np.abs(got - want).max() <= 2e-3 * float(np.ptp(want))


@pytest.mark.parametrize("name", FORESTS + ONE_HOT)
def test_wide_columns_round_trip_through_the_artifact(name: str, tmp_path: Path) -> None:
    # k-NN keeps its sparse training rows and the SVM its sparse support vectors: both are trusted to load.
    task: Task = "regression"
    trainer, _, test = _fit(name, "binary" if name == "sklearn_logistic" else task)
    info = trainer.save(tmp_path / "m")
    loaded = load_artifact(tmp_path / "m", n_threads=2, expected_sha256=info.sha256)
    np.testing.assert_array_equal(loaded.predict_output(test.X), trainer.predict_output(test.X))
