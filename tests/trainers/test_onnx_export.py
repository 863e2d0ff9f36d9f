"""ONNX export: every convertible trainer's graph reproduces the in-process model on held-out rows (≤ 1e-4),
its input and output are documented in the model, and a model no converter reproduces is refused with a reason.

Real data: scikit-learn's bundled sets (breast_cancer, wine, diabetes, digits) and a generated table with a
categorical text column, a boolean and missing values.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from _fixtures_classical import mixed_frame, prepared, real_frame, small_params, wide_frame

from trainers.base import Trainer
from trainers.callbacks import Callbacks
from trainers.export.onnx import NotConvertible, feature_matrix
from trainers.preprocess import apply_schema
from trainers.registry import get_trainer, register_trainer, unregister_trainer
from trainers.spec import Task, TrainData

TOLERANCE = 1e-4


def _run(data: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(feeds)
    out = session.run(None, feeds)
    assert len(out) == 1, "one output: probabilities or values"
    return np.asarray(out[0], dtype=np.float64)


def _fit(trainer: str, task: Task, frame: pd.DataFrame, target: str, **overrides: Any) -> tuple[Trainer, TrainData]:
    train, valid, test = prepared(frame, target, task)
    model = get_trainer(trainer)(small_params(trainer, task, **overrides)).fit(train, valid)
    return model, test


def _assert_parity(model: Trainer, test: TrainData) -> float:
    exported = model.to_onnx()
    got = _run(exported.data, {"X": feature_matrix(test.X, model.schema_)})
    expected = model.predict_output(test.X)
    if model.task_ == "regression":
        assert got.shape == (len(test), 1)
        expected = expected.reshape(-1, 1)
        # float32 sums of trees / float32 weights: compare relative to the target's size, and tightly.
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(got - expected).max() <= TOLERANCE * scale
    else:
        assert got.shape == expected.shape == (len(test), model.schema_.n_classes)
        assert np.abs(got - expected).max() <= TOLERANCE
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99
    return float(np.abs(got - expected).max())


def _mixed_without_categorical(task: Task) -> pd.DataFrame:
    return mixed_frame(task).drop(columns=["color"])


CLASSICAL_CASES = [
    ("xgboost", "binary", "real"),
    ("xgboost", "regression", "real"),
    ("xgboost", "multiclass", "mixed-numeric"),
    ("lightgbm", "binary", "real"),
    ("lightgbm", "multiclass", "mixed"),
    ("lightgbm", "regression", "mixed"),
    ("sklearn_logistic", "binary", "real"),
    ("sklearn_logistic", "multiclass", "mixed"),
    ("sklearn_ridge", "regression", "mixed"),
    ("sklearn_linear", "regression", "real"),
]


def _frame(kind: str, task: Task) -> tuple[pd.DataFrame, str]:
    if kind == "real":
        return real_frame(task), "target"
    if kind == "mixed":
        return mixed_frame(task), "label"
    return _mixed_without_categorical(task), "label"


@pytest.mark.parametrize(("trainer", "task", "kind"), CLASSICAL_CASES, ids=["-".join(c) for c in CLASSICAL_CASES])
def test_classical_export_matches_the_model_on_held_out_rows(trainer: str, task: Task, kind: str) -> None:
    frame, target = _frame(kind, task)
    model, test = _fit(trainer, task, frame, target)
    if kind != "real":
        assert np.isnan(feature_matrix(test.X, model.schema_)).any(), "held-out rows with missing values"
    _assert_parity(model, test)


@pytest.mark.parametrize(
    ("trainer", "task", "objective"),
    [
        ("xgboost", "multiclass", "multi:softmax"),
        ("xgboost", "regression", "count:poisson"),
        ("lightgbm", "regression", "poisson"),
    ],
)
def test_objectives_with_their_own_link_export_too(trainer: str, task: Task, objective: str) -> None:
    """multi:softmax (the converter alone would emit margins) and log-link regressions."""
    model, test = _fit(trainer, task, real_frame(task), "target", objective=objective)
    _assert_parity(model, test)


def test_linear_pipeline_keeps_missing_indicators_and_one_hot_in_the_graph() -> None:
    """The imputer's indicator columns and the one-hot of a categorical column with missing levels are in the
    graph: rows that differ only in missingness or level get the model's (different) probabilities."""
    model, _ = _fit("sklearn_logistic", "binary", mixed_frame("binary"), "label")
    pre = model.model_.named_steps["preprocess"]
    imputer = pre.named_transformers_["numeric"].named_steps["impute"]
    assert len(imputer.indicator_.features_) == 2  # x1 and x3 have gaps
    rows = pd.DataFrame(
        {
            "x1": [0.5, np.nan, 0.5, 0.5],
            "x2": [0.1] * 4,
            "x3": [np.nan, 0.2, 0.2, 0.2],
            "color": ["red", "red", None, "purple"],
            "flag": [True, False, True, True],
        }
    )
    exported = model.to_onnx()
    got = _run(exported.data, {"X": feature_matrix(apply_schema(rows, model.schema_), model.schema_)})
    expected = model.predict_output(rows)
    assert np.abs(got - expected).max() <= TOLERANCE
    # Rows 0-2 differ in missingness or level; a missing and an unseen level both fill with the most frequent.
    assert len({round(float(p), 4) for p in expected[:3, 1]}) == 3
    assert expected[2, 1] == pytest.approx(expected[3, 1])


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_xgboost_categorical_splits_export_as_set_membership(task: Task) -> None:
    """onnxmltools has no categorical splits: these graphs are written directly, and reproduce the booster on
    held-out rows with missing and unseen levels."""
    model, test = _fit("xgboost", task, mixed_frame(task), "label")
    graph = onnx.load_from_string(model.to_onnx().data)
    (ensemble,) = [n for n in graph.graph.node if n.op_type == "TreeEnsemble"]
    modes = onnx.numpy_helper.to_array(next(a.t for a in ensemble.attribute if a.name == "nodes_modes"))
    assert (modes == 6).any(), "some splits are on the categorical column (BRANCH_MEMBER)"
    assert (feature_matrix(test.X, model.schema_)[:, 3] == -1).any(), "held-out rows with a missing level"
    _assert_parity(model, test)


def test_model_documents_its_input_columns_categories_and_class_order() -> None:
    model, _ = _fit("lightgbm", "multiclass", mixed_frame("multiclass"), "label")
    exported = model.to_onnx()
    proto = onnx.load_from_string(exported.data)
    meta = {p.key: p.value for p in proto.metadata_props}
    inputs = json.loads(meta["advisor.inputs"])
    assert [c["name"] for c in inputs[0]["columns"]] == model.schema_.feature_names
    color = next(c for c in inputs[0]["columns"] if c["name"] == "color")
    assert color["kind"] == "categorical" and color["categories"] == ["blue", "green", "red"]
    assert json.loads(meta["advisor.classes"]) == model.schema_.classes == ["high", "low", "mid"]
    assert meta["advisor.trainer"] == "lightgbm" and meta["advisor.task"] == "multiclass"
    assert "color (categorical)" in proto.doc_string and '"high", "low", "mid"' in proto.doc_string
    assert [i.name for i in proto.graph.input] == ["X"] and [o.name for o in proto.graph.output] == ["probabilities"]
    assert exported.outputs[0]["shape"] == ["N", 3]


# -- the generic scikit-learn path -----------------------------------------------------------------
def _forest_trainer() -> type[Trainer]:
    from sklearn.ensemble import RandomForestClassifier

    from trainers.classical.sklearn_baselines import LogisticRegressionTrainer

    class ForestProbe(LogisticRegressionTrainer):
        """A trainer built like the baselines around another estimator: exports with no code of its own."""

        NAME = "onnx_probe_forest"
        PARAMS: ClassVar[frozenset[str]] = LogisticRegressionTrainer.PARAMS

        def _estimator(self, schema: Any) -> Any:
            return RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)

    return ForestProbe


def test_any_sklearn_pipeline_trainer_exports_without_its_own_converter() -> None:
    cls = register_trainer("onnx_probe_forest")(_forest_trainer())
    try:
        train, valid, test = prepared(mixed_frame("multiclass"), "label", "multiclass")
        model = cls(small_params("sklearn_logistic", "multiclass")).fit(train, valid)
        _assert_parity(model, test)
    finally:
        unregister_trainer("onnx_probe_forest")


class _Opaque(Trainer):
    """A trainer whose model no converter knows."""

    NAME = "onnx_probe_opaque"
    TASKS = frozenset({"binary", "multiclass", "regression"})
    ARTIFACT_FORMAT = "none"
    ITERATIVE = False
    PARAMS: ClassVar[frozenset[str]] = frozenset()

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        self.model_ = {"prior": np.bincount(train.y, minlength=train.schema.n_classes) / len(train)}
        self.n_rounds_, self.best_iteration_ = 1, 0

    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile(self.model_["prior"], (len(X), 1))

    def _save_model(self, directory: Any) -> list[str]:
        raise NotImplementedError

    def _load_model(self, directory: Any) -> None:
        raise NotImplementedError


def test_a_model_without_converter_is_refused_with_the_trainer_named() -> None:
    train, valid, _ = prepared(real_frame("binary"), "target", "binary")
    model = _Opaque().fit(train, valid)
    with pytest.raises(NotConvertible) as info:
        model.to_onnx()
    assert "onnx_probe_opaque" in info.value.reason and "no ONNX converter" in info.value.reason


def test_a_graph_that_does_not_reproduce_the_model_is_refused() -> None:
    """The export checks itself: a model whose outputs the converted estimator does not give is refused."""
    from trainers.classical.sklearn_baselines import LogisticRegressionTrainer

    class Tempered(LogisticRegressionTrainer):
        NAME = "onnx_probe_tempered"

        def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
            return super()._predict_output(X)[:, ::-1].copy()  # not what the Pipeline alone computes

    train, valid, _ = prepared(real_frame("binary"), "target", "binary")
    model = Tempered(small_params("sklearn_logistic", "binary")).fit(train, valid)
    with pytest.raises(NotConvertible) as info:
        model.to_onnx()
    assert "differs from the model" in info.value.reason


# -- torch ---------------------------------------------------------------------------------------
def _torch_params(task: Task, n_features: int) -> dict[str, Any]:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "torch"))
    from _torch_fixtures import tabular_params

    return tabular_params(task, n_features, batch_size=64, epochs=3)


TORCH_CASES = [("binary", "mixed"), ("multiclass", "real"), ("regression", "real")]


@pytest.mark.parametrize(("task", "kind"), TORCH_CASES, ids=["-".join(c) for c in TORCH_CASES])
def test_torch_mlp_export_matches_the_model_on_held_out_rows(task: Task, kind: str) -> None:
    frame, target = _frame(kind, task)
    train, valid, test = prepared(frame, target, task)
    model = get_trainer("torch_mlp")(_torch_params(task, frame.shape[1] - 1)).fit(train, valid)
    _assert_parity(model, test)


def test_torch_cnn_export_matches_the_model_on_held_out_images() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "torch"))
    from _torch_fixtures import digits_images, digits_params

    from trainers.torch.data import make_array_data

    x, y = digits_images()
    train = make_array_data(x[:600], y[:600], "multiclass", "image")
    valid = make_array_data(x[600:800], y[600:800], "multiclass", "image")
    model = get_trainer("torch_cnn")(digits_params(epochs=2, augmentation={})).fit(train, valid)
    exported = model.to_onnx()
    assert exported.inputs[0]["name"] == "images" and exported.inputs[0]["shape"] == ["N", 8, 8, 1]
    got = _run(exported.data, {"images": x[800:1000]})
    expected = model.predict_output(x[800:1000])
    assert got.shape == expected.shape == (200, 10)
    assert np.abs(got - expected).max() <= TOLERANCE


SEQUENCE_CASES = [("torch_lstm", "binary"), ("torch_lstm", "regression"), ("torch_transformer", "multiclass")]


@pytest.mark.parametrize(("trainer", "task"), SEQUENCE_CASES, ids=["-".join(c) for c in SEQUENCE_CASES])
def test_sequence_models_export_matches_the_model_on_held_out_sequences(trainer: str, task: Task) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "torch"))
    from _torch_fixtures import sequence_params, sequences

    train, valid, test = sequences(task, n=240), sequences(task, n=80, seed=1), sequences(task, n=80, seed=2)
    model = get_trainer(trainer)(sequence_params(trainer, task, train, epochs=2)).fit(train, valid)
    exported = model.to_onnx()
    assert exported.inputs[0]["name"] == "sequences" and exported.inputs[0]["shape"] == ["N", "T", 2]
    got = _run(exported.data, {"sequences": test.x})
    expected = model.predict_output(test.x)
    expected = expected.reshape(-1, 1) if task == "regression" else expected
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, float(np.abs(expected).max()))


@pytest.mark.parametrize(
    ("trainer", "task"),
    [("sklearn_random_forest", "multiclass"), ("sklearn_extra_trees", "regression"), ("sklearn_ridge", "regression")],
)
def test_wide_categorical_columns_export_as_codes_or_one_hot(trainer: str, task: Task) -> None:
    # Forests take a column of 150 levels as its codes, ridge as a sparse one-hot: both reproduce in the graph.
    model, test = _fit(trainer, task, wide_frame(task), "label")
    _assert_parity(model, test)
