"""Class weights in boosting: LightGBM's ``is_unbalance`` early-stops on the loss it minimises."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import prepared
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss, roc_auc_score

from trainers.classical.lightgbm_trainer import unbalance_weights
from trainers.registry import get_trainer


def test_unbalance_weights_are_lightgbms() -> None:
    y_train = np.array([0] * 90 + [1] * 10)
    assert unbalance_weights(y_train, np.array([0, 1, 1])).tolist() == [1.0, 9.0, 9.0]
    # positives the majority: LightGBM weights the negatives instead
    assert unbalance_weights(1 - y_train, np.array([0, 1])).tolist() == [9.0, 1.0]
    assert unbalance_weights(np.ones(5), np.array([0, 1])).tolist() == [1.0, 1.0]


def _imbalanced_frame() -> pd.DataFrame:
    # a weak signal, 5% positives: where the unweighted loss reads every step towards the weighted optimum as worse
    X, y = make_classification(
        3000, 8, n_informative=3, n_redundant=0, weights=[0.95], flip_y=0.01, class_sep=0.5, random_state=0
    )
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df["label"] = np.where(y == 1, "yes", "no")
    return df


PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "n_estimators": 400,
    "early_stopping_rounds": 30,
    "num_leaves": 31,
    "min_child_samples": 20,
    "is_unbalance": True,
}


def test_is_unbalance_early_stops_on_the_weighted_validation_loss() -> None:
    train, valid, test = prepared(_imbalanced_frame(), "label", "binary")
    # What the trainer did before: the same weighted fit, early-stopped on the unweighted validation loss, which
    # grows from the first round on; the fit ends with a handful of trees.
    lib = {k: v for k, v in PARAMS.items() if k not in ("n_estimators", "early_stopping_rounds")}
    dtrain = lgb.Dataset(train.X, train.y)
    booster = lgb.train(
        {**lib, "verbose": -1, "seed": 0, "num_threads": 1},
        dtrain,
        400,
        valid_sets=[lgb.Dataset(valid.X, valid.y, reference=dtrain)],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    assert booster.best_iteration <= 5

    trainer = get_trainer("lightgbm")(PARAMS, seed=0, n_threads=1).fit(train, valid)
    assert trainer.best_iteration_ is not None and trainer.best_iteration_ >= 15
    # the weighted curve is what early stopping watched: its best round is the one kept
    curve = trainer.curves_.val_loss
    assert curve is not None and int(np.argmin(curve)) == trainer.best_iteration_
    # and the training curve is the same weighted loss, on the training rows
    best = trainer.best_iteration_
    weighted = log_loss(train.y, trainer.predict_proba(train.X), sample_weight=unbalance_weights(train.y, train.y))
    assert trainer.curves_.train_loss is not None
    assert trainer.curves_.train_loss[best] == pytest.approx(weighted, rel=1e-4)
    auc = roc_auc_score(test.y, trainer.predict_proba(test.X)[:, 1])
    before = roc_auc_score(test.y, booster.predict(test.X, num_iteration=booster.best_iteration))
    assert auc > before + 0.01
