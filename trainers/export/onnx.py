"""ONNX export of a fitted trainer: one graph per model family, one input contract, checked before it is handed out.

What an exported tabular model expects (every family alike)
    one input ``X``: float32 ``[N, n_features]``, the feature columns in the order of the stored
    schema (``schema.json`` → ``columns``; also in the model's ``metadata_props``). Numeric columns
    as numbers, boolean columns as 0/1, missing values as NaN; a categorical column as the 0-based
    index of its level in that column's ``categories`` list, with -1 for a missing or unseen level.
    This is the training-time schema applied (:func:`trainers.preprocess.apply_schema`), then
    :func:`feature_matrix`. Imputation, scaling and one-hot encoding live inside the graph.
What an image model expects
    one input ``images``: uint8 ``[N, H, W, C]`` pixels, the training images' size; scaling and
    standardisation live inside the graph.
What a sequence model expects (LSTM/GRU, Transformer on numeric sequences or audio frames)
    one input ``sequences``: float32 ``[N, T, F]``; the last ``max_length`` steps are kept and each
    feature standardised inside the graph. Models on text are refused: their word or subword ids
    come from a vocabulary or tokenizer outside the network.
What every model returns
    classifiers: ``probabilities``, float32 ``[N, k]``, columns in the schema's class order
    (``classes``); regressors: ``values``, float32 ``[N, 1]``.

Converters: XGBoost and LightGBM through onnxmltools (XGBoost with categorical splits, which onnxmltools
lacks, through :mod:`trainers.export.xgboost_trees`), scikit-learn estimators and pipelines through
skl2onnx (any trainer whose ``model_`` is a fitted scikit-learn estimator taking :func:`feature_matrix`),
PyTorch through ``torch.onnx.export`` (:mod:`trainers.torch.onnx_export`). A family supplies the graph
through ``Trainer._onnx_graph``; :func:`export_onnx` names its inputs and outputs, writes the metadata,
and refuses (:class:`NotConvertible`) any graph whose outputs differ from the in-process model's on
generated rows by more than :data:`PROBABILITY_TOLERANCE`. Tree converters compute in float32, as
XGBoost does; LightGBM compares in float64, so a value within float32 rounding of a split threshold
can fall on the other side (see :data:`PROBABILITY_TOLERANCE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trainers.errors import TrainerError
from trainers.export.prior import prior_correct
from trainers.export.xgboost_trees import Unsupported, xgboost_tree_graph
from trainers.spec import FeatureSchema

if TYPE_CHECKING:
    import onnx

    from trainers.base import Trainer

# Bumped whenever the graphs or their contract change, so cached exports are rebuilt.
EXPORT_VERSION = "advisor-onnx/1"
# The largest opset the onnxmltools tree converters emit (and ONNX Runtime ≥ 1.10 runs).
TREE_OPSET = 15
SKLEARN_OPSET = 17
# Largest |ONNX - in-process| allowed on the self-check's rows: probabilities absolutely, values
# relative to their size (float32 sums of many trees).
PROBABILITY_TOLERANCE = 1e-4
VALUE_RTOL = 1e-5
SELF_CHECK_ROWS = 256
INPUT_NAME = "X"
IMAGE_INPUT_NAME = "images"


class NotConvertible(TrainerError):
    """The model cannot be exported to ONNX; ``reason`` says why (trainer, feature, or a failed check)."""

    kind = "unsupported"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class OnnxExport:
    """A serialized ONNX model and what its inputs and outputs are."""

    data: bytes
    trainer: str
    task: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    description: str
    max_abs_difference: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-safe description (everything but the bytes)."""
        return {
            "trainer": self.trainer,
            "task": self.task,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "description": self.description,
            "max_abs_difference": self.max_abs_difference,
            "export_version": EXPORT_VERSION,
        }


# -- the tabular input ---------------------------------------------------------------------------
def feature_matrix(X: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """Rows that follow ``schema`` as the exported graph's ``X``: float32, categorical levels as codes (-1 missing)."""
    out = np.empty((len(X), len(schema.columns)), dtype=np.float32)
    for j, spec in enumerate(schema.columns):
        s = X[spec.name]
        out[:, j] = s.cat.codes.to_numpy(np.float32) if spec.kind == "categorical" else s.to_numpy(np.float32)
    return out


def frame_from_matrix(m: np.ndarray, schema: FeatureSchema) -> pd.DataFrame:
    """The inverse of :func:`feature_matrix`: a frame as :func:`~trainers.preprocess.apply_schema` returns it."""
    data: dict[str, Any] = {}
    for j, spec in enumerate(schema.columns):
        col = m[:, j]
        if spec.kind == "categorical":
            codes = np.where(np.isnan(col), -1, col).astype(np.int32)
            data[spec.name] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(spec.categories or []))
        else:
            data[spec.name] = col.astype(np.float64)
    return pd.DataFrame(data, index=pd.RangeIndex(len(m)))


def sample_matrix(
    schema: FeatureSchema,
    n: int = SELF_CHECK_ROWS,
    seed: int = 0,
    scale: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """Generated rows for the self-check: spread numbers, 0/1 flags, every level, and missing values in each column.

    ``scale`` maps a numeric column to (centre, spread) where the model knows them (a float32 network
    is only reproducible to float32 rounding of its intermediate values, so far-out rows would measure
    rounding, not the export); other columns draw from several magnitudes around 0.
    """
    rng = np.random.default_rng(seed)
    m = np.empty((n, len(schema.columns)), dtype=np.float32)
    for j, spec in enumerate(schema.columns):
        if spec.kind == "categorical":
            col = rng.integers(-1, max(len(spec.categories or []), 1), size=n).astype(np.float32)
        elif spec.kind == "boolean":
            col = rng.integers(0, 2, size=n).astype(np.float32)
            col[rng.random(n) < 0.1] = np.nan
        elif scale is not None and spec.name in scale:
            centre, spread = scale[spec.name]
            col = (centre + spread * rng.uniform(-3.0, 3.0, size=n)).astype(np.float32)
            col[rng.random(n) < 0.1] = np.nan
        else:
            # Several magnitudes, so some rows land on either side of most split thresholds.
            col = (rng.standard_normal(n) * 10.0 ** rng.integers(-1, 4, size=n)).astype(np.float32)
            col[rng.random(n) < 0.1] = np.nan
        m[:, j] = col
    return m


def describe_tabular_input(schema: FeatureSchema) -> dict[str, Any]:
    """The ``X`` input as documentation: dtype, shape and each column's meaning."""
    columns = []
    for j, c in enumerate(schema.columns):
        entry: dict[str, Any] = {"index": j, "name": c.name, "kind": c.kind}
        if c.kind == "categorical":
            entry["categories"] = list(c.categories or [])
            entry["encoding"] = "index into categories; -1 = missing or unseen"
        elif c.kind == "boolean":
            entry["encoding"] = "0 or 1; NaN = missing"
        else:
            entry["encoding"] = "number; NaN = missing"
        columns.append(entry)
    return {"name": INPUT_NAME, "dtype": "float32", "shape": ["N", len(schema.columns)], "columns": columns}


def describe_output(task: str, classes: list[Any] | None) -> dict[str, Any]:
    """The one output: class probabilities in ``classes`` order, or predicted values."""
    if task == "regression":
        return {"name": "values", "dtype": "float32", "shape": ["N", 1]}
    return {"name": "probabilities", "dtype": "float32", "shape": ["N", len(classes or [])], "classes": classes}


# -- graph surgery -------------------------------------------------------------------------------
def keep_output(model: onnx.ModelProto, source: str, name: str) -> onnx.ModelProto:
    """Make ``source`` (a tensor of the graph) its only output, renamed ``name``; other outputs are dropped."""
    from onnx import helper

    graph = model.graph
    found = [o for o in graph.output if o.name == source]
    if not found:
        raise NotConvertible(f"the converted graph has no output {source!r}")
    elem = found[0].type.tensor_type.elem_type
    del graph.output[:]
    if source == name:
        graph.output.append(found[0])
        return model
    graph.node.append(helper.make_node("Identity", [source], [name], name=f"advisor_{name}"))
    graph.output.append(helper.make_tensor_value_info(name, elem, None))
    return model


def _reshape_values(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """Regression output as ``values`` of shape [N, 1] whatever the converter produced."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    shape = "advisor_values_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), shape))
    del graph.output[:]
    graph.node.append(helper.make_node("Reshape", [source, shape], ["values"], name="advisor_values"))
    graph.output.append(helper.make_tensor_value_info("values", TensorProto.FLOAT, ["N", 1]))
    return model


def finish_outputs(model: onnx.ModelProto, task: str, *, probabilities: str, values: str) -> onnx.ModelProto:
    """Keep the converter's probability (classifier) or value (regressor) output under the documented name."""
    if task == "regression":
        return _reshape_values(model, values)
    return keep_output(model, probabilities, "probabilities")


# -- converters --------------------------------------------------------------------------------
def _imputer_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    op = operator.raw_operator
    width = len(op.statistics_) + (len(op.indicator_.features_) if getattr(op, "indicator_", None) is not None else 0)
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _imputer_with_indicator(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer on float input, with the ``add_indicator`` columns (missing → 1.0) scikit-learn appends.

    skl2onnx's own converter drops the indicator columns; other input types still go to it.
    """
    from onnx import TensorProto
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    op = operator.raw_operator
    if not isinstance(operator.inputs[0].type, FloatTensorType) or isinstance(op.missing_values, str):
        convert_sklearn_imputer(scope, operator, container)
        return
    x = operator.inputs[0].full_name
    out = operator.outputs[0].full_name
    mv = float(op.missing_values)
    indicator = getattr(op, "indicator_", None)
    features = [int(i) for i in indicator.features_] if indicator is not None else []
    imputed = scope.get_unique_variable_name("imputed") if features else out
    container.add_node(
        "Imputer",
        [x],
        [imputed],
        op_domain="ai.onnx.ml",
        name=scope.get_unique_operator_name("Imputer"),
        imputed_value_floats=np.asarray(op.statistics_, dtype=np.float32),
        replaced_value_float=mv,
    )
    if not features:
        return
    idx = scope.get_unique_variable_name("indicator_idx")
    container.add_initializer(idx, TensorProto.INT64, [len(features)], features)
    cols = scope.get_unique_variable_name("indicator_cols")
    container.add_node("Gather", [x, idx], [cols], axis=1, name=scope.get_unique_operator_name("Gather"))
    flags = scope.get_unique_variable_name("indicator_flags")
    if np.isnan(mv):
        container.add_node("IsNaN", [cols], [flags], name=scope.get_unique_operator_name("IsNaN"))
    else:
        value = scope.get_unique_variable_name("missing_value")
        container.add_initializer(value, TensorProto.FLOAT, [], [mv])
        container.add_node("Equal", [cols, value], [flags], name=scope.get_unique_operator_name("Equal"))
    as_float = scope.get_unique_variable_name("indicator_float")
    container.add_node("Cast", [flags], [as_float], to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast"))
    container.add_node("Concat", [imputed, as_float], [out], axis=1, name=scope.get_unique_operator_name("Concat"))


_registered = False


def _register_sklearn_extras() -> None:
    """Teach skl2onnx ``SimpleImputer(add_indicator=True)`` (its own converter drops the indicator columns)."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter
    from sklearn.impute import SimpleImputer

    update_registered_converter(
        SimpleImputer, "SklearnSimpleImputer", _imputer_shape, _imputer_with_indicator, overwrite=True
    )
    _registered = True


def sklearn_graph(estimator: Any, n_features: int, task: str) -> onnx.ModelProto:
    """A fitted scikit-learn estimator or Pipeline taking :func:`feature_matrix` rows, as ONNX (skl2onnx)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _register_sklearn_extras()
    options = None if task == "regression" else {"zipmap": False}
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    try:
        model = convert_sklearn(
            estimator,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={id(final): options} if options else None,
            target_opset={"": SKLEARN_OPSET, "ai.onnx.ml": 3},
        )
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/MissingShapeCalculator...
        raise NotConvertible(f"skl2onnx cannot convert {type(final).__name__}: {_first_line(exc)}") from exc
    names = [o.name for o in model.graph.output]
    return finish_outputs(model, task, probabilities=names[-1], values=names[0])


def xgboost_graph(booster: Any, schema: FeatureSchema, task: str) -> onnx.ModelProto:
    """An XGBoost booster as ONNX: onnxmltools, or (categorical splits) :mod:`trainers.export.xgboost_trees`."""
    n_features = len(schema.columns)
    if any(c.kind == "categorical" for c in schema.columns):
        return _xgboost_categorical(booster, schema, task)
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    b = booster.copy()
    # The converter reads splits by feature index (f0, f1, ...): drop the column names.
    b.feature_names = None
    b.feature_types = None
    objective = json.loads(b.save_config())["learner"]["objective"]["name"]
    if objective == "multi:softmax":
        # Same trees and margins; softprob makes the converter emit the softmax the trainer reports.
        b.set_param({"objective": "multi:softprob"})
    try:
        model = convert_xgboost(
            b, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))], target_opset=TREE_OPSET
        )
    except Exception as exc:  # onnxmltools raises RuntimeError/RuntimeError subclasses/AttributeError
        raise NotConvertible(f"onnxmltools cannot convert this XGBoost model: {_first_line(exc)}") from exc
    names = [o.name for o in model.graph.output]
    return finish_outputs(model, task, probabilities=names[-1], values=names[0])


def _xgboost_categorical(booster: Any, schema: FeatureSchema, task: str) -> onnx.ModelProto:
    probe = sample_matrix(schema, seed=1)
    margin = np.asarray(booster.inplace_predict(frame_from_matrix(probe, schema), predict_type="margin"))
    output = "values" if task == "regression" else "probabilities"
    try:
        model = xgboost_tree_graph(booster, schema, task, probe, margin, INPUT_NAME, output)
    except Unsupported as exc:
        raise NotConvertible(f"this XGBoost model with categorical splits uses {exc}") from exc
    return model


def lightgbm_graph(booster: Any, n_features: int, task: str) -> onnx.ModelProto:
    """A LightGBM booster as ONNX (onnxmltools)."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    try:
        model = convert_lightgbm(
            booster,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            target_opset=TREE_OPSET,
            zipmap=False,
        )
    except Exception as exc:  # onnxmltools raises RuntimeError and friends
        raise NotConvertible(f"onnxmltools cannot convert this LightGBM model: {_first_line(exc)}") from exc
    names = [o.name for o in model.graph.output]
    return finish_outputs(model, task, probabilities=names[-1], values=names[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# -- the export --------------------------------------------------------------------------------
def _run(data: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0], dtype=np.float64)


def _check_parity(trainer: Trainer, data: bytes, feeds: dict[str, np.ndarray], expected: np.ndarray) -> float:
    """Largest difference between the graph and the in-process model; refuses beyond the tolerance."""
    try:
        got = _run(data, feeds)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/RuntimeException types
        raise NotConvertible(
            f"the exported {trainer.NAME} graph does not run in ONNX Runtime: {_first_line(exc)}"
        ) from exc
    if trainer.task_ == "regression":
        expected = expected.reshape(-1, 1)
    if got.shape != expected.shape:
        raise NotConvertible(
            f"the exported {trainer.NAME} graph returns shape {list(got.shape)}, the model {list(expected.shape)}"
            + (" (a class absent from the training rows has no column)" if trainer.task_ != "regression" else "")
        )
    diff = np.abs(got - expected)
    if trainer.task_ == "regression":
        allowed = PROBABILITY_TOLERANCE + VALUE_RTOL * np.abs(expected)
    else:
        allowed = np.full_like(expected, PROBABILITY_TOLERANCE)
    if not (diff <= allowed).all():  # NaN in either also fails here
        worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")
        raise NotConvertible(
            f"the exported {trainer.NAME} graph differs from the model by up to {worst:.3g} on check rows "
            f"(allowed {PROBABILITY_TOLERANCE:g}); the converter does not reproduce this model exactly"
        )
    return float(diff.max()) if diff.size else 0.0


def export_onnx(trainer: Trainer) -> OnnxExport:
    """Export a fitted trainer's model to ONNX, documented and checked against the in-process model.

    Raises :class:`NotConvertible` naming the trainer and the reason when no converter handles the model
    or its graph does not reproduce the model's outputs within :data:`PROBABILITY_TOLERANCE`.
    """
    trainer._check_fitted()
    schema = getattr(trainer, "schema_", None)
    if isinstance(schema, FeatureSchema) and any(c.kind == "text" for c in schema.columns):
        raise NotConvertible(f"{trainer.NAME} reads free text through a TF-IDF vectorizer, which has no ONNX export")
    tabular = isinstance(schema, FeatureSchema) and getattr(trainer, "modality_", "tabular") == "tabular"
    model = trainer._onnx_graph()
    task = trainer.task_
    class_weights = getattr(trainer, "class_weights_", None)
    if class_weights and task != "regression":
        try:
            model = prior_correct(model, class_weights)
        except LookupError as exc:
            raise NotConvertible(str(exc)) from exc
    classes = list(schema.classes) if isinstance(schema, FeatureSchema) and schema.classes else None
    if tabular:
        assert isinstance(schema, FeatureSchema)
        inputs = [describe_tabular_input(schema)]
        m = trainer._onnx_sample_matrix()
        feeds = {INPUT_NAME: m}
        expected = np.asarray(trainer._predict_output(frame_from_matrix(m, schema)), dtype=np.float64)
    else:
        inputs, feeds, expected = trainer._onnx_check_inputs()
        if classes is None and task != "regression":
            classes = list(range(expected.shape[1]))
    outputs = [describe_output(task, classes)]
    description = _description(trainer.NAME, task, inputs, outputs)
    metadata = {
        "advisor.export_version": EXPORT_VERSION,
        "advisor.trainer": trainer.NAME,
        "advisor.task": task,
        "advisor.inputs": json.dumps(inputs, sort_keys=True),
        "advisor.outputs": json.dumps(outputs, sort_keys=True),
    }
    if classes is not None:
        metadata["advisor.classes"] = json.dumps(classes)
    model.doc_string = description
    model.producer_name = "model-advisor"
    model.graph.doc_string = description
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    data = model.SerializeToString()
    worst = _check_parity(trainer, data, feeds, expected)
    return OnnxExport(
        data=data,
        trainer=trainer.NAME,
        task=task,
        inputs=inputs,
        outputs=outputs,
        description=description,
        max_abs_difference=worst,
        metadata=metadata,
    )


def _shape(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _description(trainer: str, task: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> str:
    parts = []
    for i in inputs:
        text = f"input {i['name']}: {i['dtype']} {_shape(i['shape'])}"
        if "columns" in i:
            cols = ", ".join(f"{c['name']} ({c['kind']})" for c in i["columns"])
            text += (
                f", columns in this order: {cols}; numbers and 0/1 flags as values, NaN = missing; categorical "
                "columns as the index of the level in advisor.inputs' categories, -1 = missing or unseen"
            )
        elif "description" in i:
            text += f", {i['description']}"
        parts.append(text)
    for o in outputs:
        text = f"output {o['name']}: {o['dtype']} {_shape(o['shape'])}"
        if o.get("classes") is not None:
            text += f", class probabilities in the order {json.dumps(o['classes'])}"
        parts.append(text)
    return f"{trainer} {task} model exported by model-advisor ({EXPORT_VERSION}). " + "; ".join(parts) + "."
