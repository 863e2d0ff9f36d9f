"""A forest with a deadline is grown to fit the time left (trainers.classical.sklearn_forests._fit_pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import prepared

from trainers.callbacks import Callbacks, TimeBudget
from trainers.registry import get_trainer
from trainers.spec import TrainSpec


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(scale=0.5, size=n) > 0.5).astype(int)
    return pd.DataFrame(X, columns=list("abcde")).assign(y=y)


class _Deadline(Callbacks):
    """A deadline that answers ``first`` (one after the other), then ``then``: no real clock."""

    def __init__(self, then: float, first: tuple[float, ...] = (60.0,)) -> None:
        self.answers = list(first)
        self.then = then

    def time_left(self) -> float | None:
        return self.answers.pop(0) if self.answers else self.then

    def should_stop(self) -> bool:
        return False


@pytest.mark.parametrize("trainer", ["sklearn_random_forest", "sklearn_extra_trees"])
def test_a_deadline_that_holds_every_tree_grows_the_same_forest_as_one_call(trainer: str) -> None:
    train, valid, _ = prepared(_frame(), "y", "binary")
    params = {"n_estimators": 40, "min_samples_leaf": 1}
    one_call = get_trainer(trainer)(params, seed=3, n_threads=2)
    one_call.fit(train, valid, Callbacks())
    in_parts = get_trainer(trainer)(params, seed=3, n_threads=2)
    in_parts.fit(train, valid, TimeBudget(600.0))
    assert not in_parts.partial_ and len(in_parts.model_.named_steps["model"].estimators_) == 40
    np.testing.assert_array_equal(in_parts._predict_output(valid.X), one_call._predict_output(valid.X))


def test_a_forest_out_of_time_keeps_the_trees_grown_so_far_and_says_so() -> None:
    train, valid, _ = prepared(_frame(), "y", "binary")
    forest = get_trainer("sklearn_random_forest")({"n_estimators": 100, "min_samples_leaf": 1}, seed=0, n_threads=2)
    forest.fit(train, valid, _Deadline(then=0.0))
    grown = len(forest.model_.named_steps["model"].estimators_)
    assert grown == 4  # the first two trees per thread, then no time for more
    assert forest.partial_ and forest.partial_reason_ == "time_budget"
    assert forest.derived_params_["n_estimators_grown"] == 4
    assert forest._predict_output(valid.X).shape == (len(valid), 2)  # a usable model


def _regression() -> tuple[object, object]:
    train, valid, _ = prepared(_frame().assign(y=lambda f: f["a"] * 2.0), "y", "regression")
    return train, valid


def test_a_regression_forest_short_of_time_searches_fewer_leaf_sizes() -> None:
    train, valid = _regression()
    forest = get_trainer("sklearn_random_forest")({"n_estimators": 100, "min_samples_leaf": [1, 3, 5, 10]}, seed=0)
    # time for the first size (asked before it and after its first trees), not for a second one
    forest.fit(train, valid, _Deadline(then=1e-6, first=(60.0, 60.0)))
    assert set(forest.derived_params_["min_samples_leaf_oob"]) == {"1"}
    assert "stopped after 1 of 4 sizes" in forest.derived_params_["min_samples_leaf_search"]


def test_a_search_the_time_left_cannot_hold_is_not_run_and_the_middle_size_is_grown() -> None:
    train, valid = _regression()
    forest = get_trainer("sklearn_random_forest")({"n_estimators": 100, "min_samples_leaf": [1, 3, 5, 10]}, seed=0)
    forest.fit(train, valid, _Deadline(then=1e-6))  # time is up once the first size's first trees are timed
    assert forest.derived_params_["min_samples_leaf"] == 5
    assert forest.derived_params_["min_samples_leaf_search"].startswith("not run")
    assert forest.partial_  # and the forest itself is cut short: its first trees only


def test_each_tree_is_charged_what_saving_it_costs(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forest's save, check and zip grow with its trees' bytes: on a large table a 4 s fit left 17 s of saving
    in a 5 s budget. The charge per tree follows the bytes the saved model really holds, and a deadline that
    holds the growing but not the saving grows fewer trees."""
    from pathlib import Path

    from trainers.classical import sklearn_forests

    train, valid = _regression()
    forest = get_trainer("sklearn_extra_trees")({"n_estimators": 30, "min_samples_leaf": 1}, seed=0, n_threads=2)
    forest.fit(train, valid, TimeBudget(600.0))
    fitted = forest.model_.named_steps["model"]
    per_tree_mb = sklearn_forests.after_fit_seconds(fitted) / sklearn_forests.AFTER_FIT_SECONDS_PER_MB
    forest.save(Path(str(tmp_path)) / "m")
    saved_mb = (Path(str(tmp_path)) / "m" / "model.skops").stat().st_size / 1e6
    assert 0.6 * saved_mb <= per_tree_mb * 30 <= 1.1 * saved_mb  # the trees are most of the file

    # 60 s left (growing 30 trees takes well under 1 s), but each tree's saving now charged 2 s: the 0.8 × 60 s
    # the forest may use hold 24 trees (the first 4 grown before the charge is known).
    monkeypatch.setattr(sklearn_forests, "AFTER_FIT_SECONDS_PER_MB", 2.0 / per_tree_mb)
    charged = get_trainer("sklearn_extra_trees")({"n_estimators": 30, "min_samples_leaf": 1}, seed=0, n_threads=2)
    charged.fit(train, valid, _Deadline(then=60.0))
    grown = len(charged.model_.named_steps["model"].estimators_)
    assert 20 <= grown <= 24 and charged.partial_ and charged.partial_reason_ == "time_budget"


def test_a_fold_s_forest_is_charged_no_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cross-validation fold's model only scores its fold and is never saved: charging it the saving cost cut
    the first fold of a small table's extra trees short (0.75 s charged against its 1 s share, 0.2 s of growing),
    and the entry fell back to a holdout score that the race then ranked against the others' fold means."""
    from trainers.classical import sklearn_forests

    train, valid = _regression()
    params = {"n_estimators": 30, "min_samples_leaf": 1}
    monkeypatch.setattr(sklearn_forests, "AFTER_FIT_SECONDS_PER_MB", 1e6)  # saving any tree would take minutes
    fold = get_trainer("sklearn_extra_trees")(params, seed=0, n_threads=2)
    fold.saved = False
    fold.fit(train, valid, _Deadline(then=60.0))
    assert not fold.partial_ and len(fold.model_.named_steps["model"].estimators_) == 30
    kept = get_trainer("sklearn_extra_trees")(params, seed=0, n_threads=2)
    kept.fit(train, valid, _Deadline(then=60.0))
    assert kept.partial_ and len(kept.model_.named_steps["model"].estimators_) == 4


def test_the_folds_models_are_not_saved_and_keep_no_curves_with_fixed_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainers import run as run_module
    from trainers.base import Trainer

    seen: list[Trainer] = []
    fit = Trainer.fit

    def spy(self: Trainer, *args: object, **kwargs: object) -> Trainer:
        seen.append(self)
        return fit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Trainer, "fit", spy)
    frame = _frame()
    for name, params in (
        ("sklearn_extra_trees", {"n_estimators": 10}),
        ("xgboost", {"n_estimators": 30, "early_stopping_rounds": 5, "max_depth": 2}),
    ):
        seen.clear()
        spec = TrainSpec(trainer=name, params=params, seed=0, time_budget_s=600.0)
        result = run_module.fit_and_evaluate(spec, frame, "y", "binary", None, None, tmp_path / name)
        assert result.validation is not None and result.validation.method == "kfold", result.validation
        first, *folds, refit, refit_all = seen
        assert first.saved and first.record_curves and refit.saved and refit_all.saved
        assert folds and all(not m.saved and not m.record_curves for m in folds)


def test_a_refit_cut_short_serves_when_it_holds_half_its_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forest refit on more rows that the time left cuts short keeps whole trees: with half of them or more it
    serves (more rows help a forest more than its last trees); with fewer the earlier fit does, as for boosting."""
    from trainers import run as run_module
    from trainers.classical import sklearn_forests
    from trainers.spec import TrainSpec

    train, valid = _regression()
    params = {"n_estimators": 30, "min_samples_leaf": 1}
    cls = get_trainer("sklearn_random_forest")
    first = cls(params, seed=0, n_threads=2).fit(train, valid, TimeBudget(600.0))
    spec = TrainSpec(trainer="sklearn_random_forest", params=params, seed=0, n_threads=2)
    per_tree_mb = sklearn_forests.after_fit_seconds(first.model_.named_steps["model"]) / (
        sklearn_forests.AFTER_FIT_SECONDS_PER_MB
    )
    monkeypatch.setattr(sklearn_forests, "AFTER_FIT_SECONDS_PER_MB", 2.0 / per_tree_mb)  # 2 s per tree

    # "More rows" are the same rows here, so that the refit's trees are the first fit's size.
    served, how = run_module._refit(cls, spec, first, train, _Deadline(then=60.0), None, 0.0)
    grown = len(served.model_.named_steps["model"].estimators_)  # type: ignore[attr-defined]
    assert served is not first and served.partial_ and 15 <= grown < 30
    assert how.startswith(f"refit on the train and validation splits ({len(train)} rows), cut short by the time ")
    assert f": {grown} of 30 trees," in how

    served, how = run_module._refit(cls, spec, first, train, _Deadline(then=10.0), None, 0.0)
    assert served is first and how.endswith("(the refit on train + validation was stopped)")  # 4 trees of 30


def test_the_leaf_search_time_is_not_counted_as_the_forest_s() -> None:
    # Folds and refits reuse the chosen size and grow one forest: run.py times them by the fit less the search.
    train, valid = _regression()
    searched = get_trainer("sklearn_random_forest")({"n_estimators": 60, "min_samples_leaf": [1, 3, 5, 10]}, seed=0)
    searched.fit(train, valid)
    assert 0.0 < searched.tuning_s_ < searched.fit_time_s_
    fixed = get_trainer("sklearn_random_forest")({"n_estimators": 60, "min_samples_leaf": 3}, seed=0).fit(train, valid)
    assert fixed.tuning_s_ == 0.0
