"""Boosting fits use one thread on small data (trainers.classical.boosting.fit_threads), whatever they were given."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from trainers.base import Trainer
from trainers.callbacks import Callbacks
from trainers.classical.boosting import SERIAL_MAX_CELLS, fit_threads
from trainers.classical.lightgbm_trainer import LightGBMTrainer
from trainers.classical.xgboost_trainer import XGBoostTrainer
from trainers.preprocess import prepare_frame
from trainers.spec import TrainData


@pytest.mark.parametrize("library", sorted(SERIAL_MAX_CELLS))
def test_serial_below_the_cut_off_and_parallel_above(library: str) -> None:
    cut = SERIAL_MAX_CELLS[library]
    assert fit_threads(library, 2, 1_000, 20) == 1
    assert fit_threads(library, 2, cut // 10 - 1, 10) == 1
    assert fit_threads(library, 2, cut // 10, 10) == 2
    assert fit_threads(library, 8, cut, 0) == 8  # no feature columns count as one
    assert fit_threads(library, 0, cut, 1) == 1  # never fewer than one


def _data(n: int = 120) -> tuple[TrainData, TrainData]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["y"] = np.where(frame["a"] + rng.normal(scale=0.3, size=n) > 0, "yes", "no")
    X, y, schema = prepare_frame(frame, "y", None, "binary")
    half = n // 2
    return (
        TrainData(X.iloc[:half].reset_index(drop=True), y[:half], schema),
        TrainData(X.iloc[half:].reset_index(drop=True), y[half:], schema),
    )


@pytest.mark.parametrize(
    ("cls", "library", "params", "seen"),
    [
        (LightGBMTrainer, lgb, {"n_estimators": 3}, "num_threads"),
        (XGBoostTrainer, xgb, {"n_estimators": 3}, "nthread"),
    ],
)
def test_a_small_fit_asks_the_library_for_one_thread(
    monkeypatch: pytest.MonkeyPatch, cls: type[Trainer], library: Any, params: dict[str, Any], seen: str
) -> None:
    asked: list[Any] = []
    real = library.train

    def spy(booster_params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        asked.append(booster_params[seen])
        return real(booster_params, *args, **kwargs)

    monkeypatch.setattr(library, "train", spy)
    train, valid = _data()
    model = cls(params, seed=0, n_threads=2)
    model.fit(train, valid, Callbacks())
    assert asked == [1]
    assert model.n_threads == 2  # predictions and reloads keep the job's threads
