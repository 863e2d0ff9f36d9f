"""A logistic regression fit with balanced class weights serves probabilities brought back to the data's own class
balance (prior correction): calibrated, their arg-max the likely class, the ranking unchanged; saved with the
artifact and in its ONNX graph. Models whose probabilities do not shift that way are left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import prepared

from trainers.artifacts import write_manifest
from trainers.classical.sklearn_common import balanced_class_weights
from trainers.export.onnx import INPUT_NAME, _run, export_onnx, feature_matrix
from trainers.metrics import evaluate
from trainers.registry import get_trainer
from trainers.spec import Task, TrainData


def _imbalanced(task: Task, n: int = 3000, seed: int = 0) -> tuple[TrainData, TrainData, TrainData]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    signal = X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n)
    if task == "binary":
        y = np.where(signal > 2.0, "yes", "no")  # about 9% "yes"
    else:
        y = np.select([signal > 2.2, signal > 1.6], ["rare", "mid"], "common")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=y)
    return prepared(frame, "y", task)


def _uncorrected(trainer: object, X: pd.DataFrame) -> np.ndarray:
    weights = trainer.class_weights_  # type: ignore[attr-defined]
    trainer.class_weights_ = None  # type: ignore[attr-defined]
    try:
        return np.asarray(trainer.predict_output(X))  # type: ignore[attr-defined]
    finally:
        trainer.class_weights_ = weights  # type: ignore[attr-defined]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_balanced_logistic_serves_calibrated_probabilities_and_likely_labels(task: Task) -> None:
    train, valid, test = _imbalanced(task)
    k = train.schema.n_classes
    assert k is not None
    model = get_trainer("sklearn_logistic")({"class_weight": "balanced"}, seed=0).fit(train, valid)
    assert model.class_weights_ == pytest.approx(balanced_class_weights(train.y, k))
    served, weighted = np.asarray(model.predict_output(test.X)), _uncorrected(model, test.X)
    prior = np.bincount(train.y, minlength=k) / len(train.y)
    # Calibrated in the large: the mean served probability of each class is its share of the rows.
    assert np.abs(served.mean(axis=0) - prior).max() < 0.02
    assert np.abs(weighted.mean(axis=0) - prior).max() > 0.1  # what the weights alone had served
    served_m, weighted_m = evaluate(task, test.y, served)[0], evaluate(task, test.y, weighted)[0]
    assert served_m["accuracy"] > weighted_m["accuracy"] + 0.05 and served_m["accuracy"] >= prior.max() - 0.01
    assert served_m["log_loss"] < weighted_m["log_loss"]
    if task == "binary":  # one monotone map of one score: the ranking, and so the ROC AUC, is the same
        assert served_m["roc_auc"] == pytest.approx(weighted_m["roc_auc"], abs=1e-12)


def test_the_correction_is_saved_with_the_artifact_and_in_the_onnx_graph(tmp_path: Path) -> None:
    train, valid, test = _imbalanced("binary")
    model = get_trainer("sklearn_logistic")({"class_weight": {"yes": 4.0, "no": 1.0}}, seed=0).fit(train, valid)
    yes = list(train.schema.classes or []).index("yes")
    assert model.class_weights_ == [4.0 if c == yes else 1.0 for c in range(2)]
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "meta.json").read_text())["class_weights"] == model.class_weights_
    loaded = type(model).load(tmp_path / "m")
    assert loaded.class_weights_ == model.class_weights_
    np.testing.assert_allclose(loaded.predict_output(test.X), model.predict_output(test.X))
    exported = export_onnx(model)  # refused if the graph did not reproduce the corrected probabilities
    assert exported.max_abs_difference < 1e-4
    graph_out = _run(exported.data, {INPUT_NAME: feature_matrix(test.X, model.schema_)})
    np.testing.assert_allclose(graph_out, model.predict_output(test.X), atol=1e-4)


def test_an_artifact_written_before_the_correction_loads_uncorrected(tmp_path: Path) -> None:
    train, valid, test = _imbalanced("binary")
    model = get_trainer("sklearn_logistic")({"class_weight": "balanced"}, seed=0).fit(train, valid)
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["class_weights"]
    meta_path.write_text(json.dumps(meta))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    write_manifest(  # the digest check would refuse the edited file: as the artifact was written then
        tmp_path / "m",
        trainer=manifest["trainer"],
        fmt=manifest["format"],
        files=list(manifest["files"]),
        versions=manifest["library_versions"],
    )
    loaded = type(model).load(tmp_path / "m")
    assert loaded.class_weights_ is None
    np.testing.assert_allclose(loaded.predict_output(test.X), _uncorrected(model, test.X))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sklearn_logistic", {"class_weight": None}),
        ("sklearn_random_forest", {"class_weight": "balanced", "n_estimators": 30}),
        ("sklearn_extra_trees", {"class_weight": "balanced", "n_estimators": 30}),
        ("sklearn_svm", {"class_weight": "balanced"}),
    ],
)
def test_models_whose_probabilities_do_not_shift_that_way_are_left_alone(name: str, params: dict[str, object]) -> None:
    # Unpruned leaves stay 0/1 whatever the weights (dividing them over-corrects); the SVM's sigmoid is fit on
    # unweighted labels already; without weights there is nothing to correct.
    train, valid, _ = _imbalanced("multiclass", n=1200)
    assert get_trainer(name)(params, seed=0).fit(train, valid).class_weights_ is None


def test_balanced_class_weights_match_scikit_learn() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 1, 2, 2, 0, 0, 1])
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y)
    assert balanced_class_weights(y, 3) == pytest.approx(list(expected))
    assert balanced_class_weights(np.array([0, 0, 2]), 3)[1] == 1.0  # a class absent from y
