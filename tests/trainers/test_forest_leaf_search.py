"""A forest given a list of leaf sizes chooses one by out-of-bag error, once per run; folds and refit reuse it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import prepared

from trainers.registry import get_trainer
from trainers.run import fit_and_evaluate
from trainers.spec import TrainSpec

LEAVES = [1, 3, 5, 10]


def _frame(noise: float, n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 2 * X[:, 0] + np.sin(2 * X[:, 1]) + noise * rng.normal(size=n)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)


@pytest.mark.parametrize("trainer", ["sklearn_random_forest", "sklearn_extra_trees"])
@pytest.mark.parametrize(("noise", "expect"), [(0.05, "small"), (4.0, "large")])
def test_the_leaf_size_follows_the_noise(tmp_path: Path, trainer: str, noise: float, expect: str) -> None:
    spec = TrainSpec(trainer=trainer, params={"n_estimators": 60, "min_samples_leaf": LEAVES}, seed=0)
    result = fit_and_evaluate(spec, _frame(noise), "y", "regression", None, None, tmp_path)
    chosen = result.derived_params["min_samples_leaf"]
    scores = result.derived_params["min_samples_leaf_oob"]
    assert set(scores) == {str(v) for v in LEAVES}
    assert chosen == int(max(scores, key=lambda k: scores[k]))
    assert (chosen == 1) if expect == "small" else (chosen >= 5)
    assert result.validation is not None and result.validation.method == "kfold"


def test_the_search_runs_once_and_the_folds_and_refit_reuse_its_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainers.classical import sklearn_forests

    searches: list[list[int]] = []
    original = sklearn_forests._Forest._leaf_by_oob

    def spy(
        self: sklearn_forests._Forest, train: object, leaves: list[int], callbacks: object = None
    ) -> tuple[int, dict[str, float]]:
        searches.append(leaves)
        return original(self, train, leaves, callbacks)  # type: ignore[arg-type]

    monkeypatch.setattr(sklearn_forests._Forest, "_leaf_by_oob", spy)
    spec = TrainSpec(trainer="sklearn_random_forest", params={"n_estimators": 30, "min_samples_leaf": [10, 1]}, seed=0)
    result = fit_and_evaluate(spec, _frame(0.05), "y", "regression", None, None, tmp_path)
    assert searches == [[1, 10]]  # the first fit only, candidates in order
    assert result.derived_params["min_samples_leaf"] == 1  # kept on record through the refit
    assert result.validation is not None and result.validation.k == 5


def test_a_fixed_leaf_size_is_not_searched_and_the_saved_model_uses_the_choice(tmp_path: Path) -> None:
    train, valid, _ = prepared(_frame(4.0), "y", "regression")
    fixed = get_trainer("sklearn_random_forest")({"n_estimators": 20, "min_samples_leaf": 3}).fit(train, valid)
    assert "min_samples_leaf" not in fixed.derived_params_
    searched = get_trainer("sklearn_random_forest")({"n_estimators": 20, "min_samples_leaf": LEAVES}).fit(train, valid)
    chosen = searched.derived_params_["min_samples_leaf"]
    assert searched.model_.named_steps["model"].min_samples_leaf == chosen
    searched.save(tmp_path / "m")
    loaded = get_trainer("sklearn_random_forest").load(tmp_path / "m")
    assert loaded.derived_params_["min_samples_leaf"] == chosen
    np.testing.assert_array_equal(loaded.predict(valid.X), searched.predict(valid.X))


def test_classification_scores_the_search_by_out_of_bag_log_loss() -> None:
    frame = _frame(0.5).assign(y=lambda f: np.where(f["y"] > 0, "yes", "no"))
    train, valid, _ = prepared(frame, "y", "binary")
    rf = get_trainer("sklearn_random_forest")({"n_estimators": 30, "min_samples_leaf": [1, 20]}, seed=1)
    rf.fit(train, valid)
    scores = rf.derived_params_["min_samples_leaf_oob"]
    assert all(v < 0 for v in scores.values())  # mean log-probability of the true class
    assert rf.derived_params_["min_samples_leaf"] in (1, 20)
