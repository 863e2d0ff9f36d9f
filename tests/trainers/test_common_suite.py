"""The common suite: every registered classical trainer × every task it declares, same checks for all.

Like scikit-learn's ``parametrize_with_checks``: a new trainer joins by registering, and must fit real
data better than a constant, round-trip its artifact exactly, honour a stop request, and refuse what
it cannot do with a reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _fixtures_classical import StopAfter, mixed_frame, prepared, real_frame, small_params

from trainers.artifacts import load_artifact
from trainers.base import TrainerCapabilityError, TrainerParamError
from trainers.callbacks import TrainingStopped
from trainers.classical import CLASSICAL_TRAINERS
from trainers.metrics import constant_loss
from trainers.registry import get_trainer
from trainers.run import fit_and_evaluate
from trainers.spec import TrainSpec

ALL_TASKS = ("binary", "multiclass", "regression")
CASES = [(name, task) for name in CLASSICAL_TRAINERS for task in ALL_TASKS if task in get_trainer(name).TASKS]
UNSUPPORTED = [(name, task) for name in CLASSICAL_TRAINERS for task in ALL_TASKS if task not in get_trainer(name).TASKS]
IDS = [f"{n}-{t}" for n, t in CASES]
# Probabilities that are shares of votes (trees, neighbours), not a fitted likelihood.
VOTING = frozenset({"sklearn_random_forest", "sklearn_extra_trees", "sklearn_knn"})


def _all_finite_or_none(values: dict[str, float | None]) -> bool:
    return all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values.values())


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_fits_real_data_and_beats_a_constant(name: str, task: str, tmp_path: Path) -> None:
    frame = real_frame(task)
    spec = TrainSpec(trainer=name, params=small_params(name, task), seed=0, n_threads=1)
    result = fit_and_evaluate(spec, frame, "target", task, None, None, tmp_path)

    assert not result.partial
    assert result.split.seed == 0 and result.split.stratified == (task != "regression")
    assert result.split.train_size + result.split.validation_size + result.split.test_size == len(frame)
    test = result.metrics["test"]
    y = frame["target"].to_numpy()
    if task == "regression":
        # R² > 0: better than predicting the test split's own mean, a stronger constant than the train mean.
        assert test["r2"] > 0.0
        assert result.metrics["validation"]["rmse"] < result.curves.baseline_loss
    else:
        codes = np.unique(y, return_inverse=True)[1]
        if name in VOTING:
            # A vote share can be exactly 0 for a row's class (log loss then spikes on one row): the Brier score
            # of the saved test predictions against the class shares' own Brier score instead.
            proba = np.load(tmp_path / "test_pred.npy", allow_pickle=False)
            target = np.load(tmp_path / "test_target.npy", allow_pickle=False)
            onehot = np.eye(proba.shape[1])[target]
            shares = np.bincount(codes, minlength=proba.shape[1]) / len(codes)
            assert ((proba - onehot) ** 2).sum(1).mean() < 0.7 * ((shares - onehot) ** 2).sum(1).mean()
        else:
            assert test["log_loss"] < 0.7 * constant_loss(task, codes, codes, int(codes.max()) + 1)
        assert test["accuracy"] > np.bincount(codes).max() / len(codes) + 0.1
        assert test["roc_auc"] > 0.9
    # Curves, metrics and the whole result are JSON without NaN (PostgreSQL rejects NaN).
    for part in result.metrics.values():
        assert _all_finite_or_none(part)
    assert len(result.curves.train_loss) == result.n_rounds
    assert result.best_iteration is not None and 0 <= result.best_iteration < result.n_rounds
    json.dumps(result.model_dump(mode="json"), allow_nan=False)
    assert isinstance(result.diagnosis, list)
    assert result.artifact.library_versions["numpy"] == np.__version__


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_artifact_round_trip_gives_identical_predictions(name: str, task: str, tmp_path: Path) -> None:
    frame = mixed_frame(task)
    train, valid, _ = prepared(frame, "label", task)
    trainer = get_trainer(name)(small_params(name, task), seed=1, n_threads=1).fit(train, valid)
    info = trainer.save(tmp_path / "model")

    assert not [p for p in (tmp_path / "model").iterdir() if p.suffix in (".pkl", ".pickle", ".joblib")]
    assert set(info.files) >= {"schema.json", "meta.json"} and len(info.sha256) == 64

    # Raw rows (original dtypes, an unseen level, shuffled columns) go through the saved schema.
    rows = frame.drop(columns="label").iloc[:50].copy()
    rows.loc[rows.index[:3], "color"] = "purple"
    rows = rows[list(reversed(rows.columns))]
    loaded = load_artifact(tmp_path / "model", expected_sha256=info.sha256)
    assert type(loaded) is type(trainer)
    np.testing.assert_array_equal(loaded.predict_output(rows), trainer.predict_output(rows))
    np.testing.assert_array_equal(loaded.predict(rows), trainer.predict(rows))
    assert loaded.schema_ == trainer.schema_
    assert loaded.best_iteration_ == trainer.best_iteration_
    if task != "regression":
        proba = loaded.predict_proba(rows)
        assert proba.shape == (50, len(trainer.schema_.classes))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    else:
        with pytest.raises(TrainerCapabilityError):
            loaded.predict_proba(rows)


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_stop_request_keeps_the_best_model_so_far(name: str, task: str, tmp_path: Path) -> None:
    train, valid, _ = prepared(mixed_frame(task), "label", task)
    cls = get_trainer(name)
    params = small_params(name, task)
    if not cls.ITERATIVE:
        # One-shot fits can only be stopped before they start; nothing is kept then.
        with pytest.raises(TrainingStopped) as stopped:
            cls(params).fit(train, valid, StopAfter(rounds=0))
        assert stopped.value.reason == "cancelled"
        return
    callbacks = StopAfter(rounds=3)
    trainer = cls(params).fit(train, valid, callbacks)
    assert trainer.partial_ and trainer.partial_reason_ == "cancelled"
    assert trainer.n_rounds_ == 3 and [r for r, _ in callbacks.seen] == [0, 1, 2]
    assert callbacks.ended == 1
    assert trainer.best_iteration_ <= 2
    info = trainer.save(tmp_path)
    loaded = load_artifact(tmp_path, expected_sha256=info.sha256)
    assert loaded.partial_ and loaded.partial_reason_ == "cancelled"
    np.testing.assert_array_equal(loaded.predict_output(valid.X), trainer.predict_output(valid.X))


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_time_budget_ends_the_run_as_partial(name: str, task: str, tmp_path: Path) -> None:
    frame = mixed_frame(task)
    spec = TrainSpec(trainer=name, params=small_params(name, task), time_budget_s=1e-9)
    if not get_trainer(name).ITERATIVE:
        with pytest.raises(TrainingStopped) as stopped:
            fit_and_evaluate(spec, frame, "label", task, None, None, tmp_path)
        assert stopped.value.reason == "time_budget"
        return
    result = fit_and_evaluate(spec, frame, "label", task, None, None, tmp_path)
    assert result.partial and result.partial_reason == "time_budget"
    assert result.n_rounds == 1 and result.best_iteration == 0
    assert _all_finite_or_none(result.metrics["test"])


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_every_round_is_reported(name: str, task: str) -> None:
    train, valid, _ = prepared(mixed_frame(task), "label", task)
    callbacks = StopAfter()
    cls = get_trainer(name)
    trainer = cls(small_params(name, task)).fit(train, valid, callbacks)
    # Boosting announces its round budget; a one-shot fit (a forest's trees included) is one round.
    assert callbacks.started == [small_params(name, task).get("n_estimators", 1) if cls.ITERATIVE else 1]
    assert [r for r, _ in callbacks.seen] == list(range(trainer.n_rounds_))
    assert callbacks.ended == 1
    last = callbacks.seen[-1][1]
    assert any(k.startswith("valid-") for k in last) and any(k.startswith("train-") for k in last)
    assert len(trainer.curves_.val_loss) == trainer.n_rounds_


@pytest.mark.parametrize(("name", "task"), UNSUPPORTED, ids=[f"{n}-{t}" for n, t in UNSUPPORTED])
def test_unsupported_task_is_refused_with_a_reason(name: str, task: str, tmp_path: Path) -> None:
    cls = get_trainer(name)
    with pytest.raises(TrainerCapabilityError, match=task) as exc:
        cls.check(task)
    assert name in exc.value.reason
    spec = TrainSpec(trainer=name, params={})
    with pytest.raises(TrainerCapabilityError):
        fit_and_evaluate(spec, mixed_frame(task), "label", task, None, None, tmp_path)


@pytest.mark.parametrize("name", CLASSICAL_TRAINERS)
def test_other_modalities_and_unknown_params_are_refused(name: str) -> None:
    cls = get_trainer(name)
    with pytest.raises(TrainerCapabilityError, match="image"):
        cls.check(sorted(cls.TASKS)[0], "image")
    with pytest.raises(TrainerParamError) as exc:
        cls.check_params({"definitely_not_a_param": 1}, sorted(cls.TASKS)[0])
    assert exc.value.key == "definitely_not_a_param"


@pytest.mark.parametrize(("name", "task"), CASES, ids=IDS)
def test_fit_follows_the_sklearn_contract(name: str, task: str) -> None:
    train, valid, _ = prepared(mixed_frame(task), "label", task)
    params = small_params(name, task)
    snapshot = json.dumps(params, sort_keys=True)
    trainer = get_trainer(name)(params, seed=3, n_threads=1)
    assert trainer.params is params and not hasattr(trainer, "model_")
    assert trainer.fit(train, valid) is trainer
    assert json.dumps(params, sort_keys=True) == snapshot  # params are never modified
    for attr in ("model_", "schema_", "best_iteration_", "n_rounds_", "curves_", "partial_"):
        assert hasattr(trainer, attr)
