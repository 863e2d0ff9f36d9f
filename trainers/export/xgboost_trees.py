"""XGBoost trees with categorical splits as ONNX, written directly (onnxmltools' converter has no categorical splits).

The trees become one ``ai.onnx.ml`` TreeEnsemble (opset 5): numeric splits as ``x < threshold`` with
XGBoost's default direction for missing values, categorical splits as set membership (``BRANCH_MEMBER``,
the listed categories go right, as XGBoost partitions them). Category codes below 0 (missing or unseen,
the export's input contract) are turned into NaN first, which is how the trainer hands them to XGBoost.
Splits and leaves are float32, as XGBoost computes. The per-class base margin is measured from the
booster itself (its margin minus the trees' sum on probe rows), then the objective's link is applied.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from trainers.errors import TrainerError
from trainers.spec import FeatureSchema

if TYPE_CHECKING:
    import onnx

ML_OPSET = 5
OPSET = 18
BRANCH_LT = 1
BRANCH_MEMBER = 6
# Objectives whose prediction is exp(margin) or sigmoid(margin); the others are the margin itself.
LOG_LINK = frozenset({"count:poisson", "reg:gamma", "reg:tweedie"})
LOGISTIC_LINK = frozenset({"reg:logistic", "binary:logistic"})


class Unsupported(TrainerError):
    """The booster uses something this writer does not express (a non-tree booster, vector leaves)."""

    kind = "unsupported"


def _ensemble(model: dict[str, Any], n_targets: int) -> tuple[dict[str, Any], np.ndarray]:
    """TreeEnsemble attributes for every tree, and the constant of single-leaf trees per target."""
    gb = model["learner"]["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise Unsupported(f"booster {gb.get('name')!r} (only gbtree has trees)")
    trees, info = gb["model"]["trees"], gb["model"]["tree_info"]
    modes: list[int] = []
    splits: list[float] = []
    features: list[int] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    missing_true: list[int] = []
    members: list[float] = []
    leaf_targets: list[int] = []
    leaf_weights: list[float] = []
    roots: list[int] = []
    constant = np.zeros(n_targets, dtype=np.float64)
    for t, tree in enumerate(trees):
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise Unsupported("multi-output trees (vector leaves)")
        target = int(info[t]) if n_targets > 1 else 0
        left, right = tree["left_children"], tree["right_children"]
        values = tree["split_conditions"]
        if left[0] == -1:  # a stump: its leaf is a constant
            constant[target] += float(values[0])
            continue
        cats = {
            int(node): [float(c) for c in tree["categories"][int(seg) : int(seg) + int(size)]]
            for node, seg, size in zip(
                tree["categories_nodes"], tree["categories_segments"], tree["categories_sizes"], strict=True
            )
        }
        node_at: dict[int, int] = {}
        leaf_at: dict[int, int] = {}
        for i in range(len(left)):
            if left[i] == -1:
                leaf_at[i] = len(leaf_weights)
                leaf_targets.append(target)
                leaf_weights.append(float(values[i]))
            else:
                node_at[i] = len(modes) + len(node_at)
        roots.append(node_at[0])
        for i in sorted(node_at, key=node_at.__getitem__):
            categorical = int(tree["split_type"][i]) == 1
            # Numeric: x < split goes left. Categorical: a category in the node's set goes right.
            yes, no = (right[i], left[i]) if categorical else (left[i], right[i])
            default_left = bool(tree["default_left"][i])
            modes.append(BRANCH_MEMBER if categorical else BRANCH_LT)
            splits.append(0.0 if categorical else float(values[i]))
            features.append(int(tree["split_indices"][i]))
            for child, ids, leaf in ((yes, true_ids, true_leaf), (no, false_ids, false_leaf)):
                is_leaf = left[child] == -1
                ids.append(leaf_at[child] if is_leaf else node_at[child])
                leaf.append(1 if is_leaf else 0)
            missing_true.append(int(default_left) if not categorical else int(not default_left))
            if categorical:
                members.extend([*cats.get(i, []), float("nan")])
    attrs = {
        "modes": modes,
        "splits": splits,
        "features": features,
        "true_ids": true_ids,
        "true_leaf": true_leaf,
        "false_ids": false_ids,
        "false_leaf": false_leaf,
        "missing_true": missing_true,
        "members": members,
        "leaf_targets": leaf_targets,
        "leaf_weights": leaf_weights,
        "roots": roots,
    }
    return attrs, constant


def _graph(
    attrs: dict[str, Any], offset: np.ndarray, schema: FeatureSchema, link: str, input_name: str, output_name: str
) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    n_features = len(schema.columns)
    n_targets = len(offset)
    init = [
        numpy_helper.from_array(
            np.array([[c.kind == "categorical" for c in schema.columns]], dtype=bool), "categorical_mask"
        ),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array(np.nan, dtype=np.float32), "nan"),
        numpy_helper.from_array(offset.astype(np.float32).reshape(1, -1), "base_margin"),
    ]
    nodes = [
        helper.make_node("Less", [input_name, "zero"], ["negative"]),
        helper.make_node("And", ["negative", "categorical_mask"], ["missing_code"]),
        helper.make_node("Where", ["missing_code", "nan", input_name], ["x"]),
    ]
    if attrs["roots"]:
        members = attrs["members"] or [float("nan")]
        nodes.append(
            helper.make_node(
                "TreeEnsemble",
                ["x"],
                ["tree_sum"],
                domain="ai.onnx.ml",
                aggregate_function=1,  # SUM
                post_transform=0,  # NONE
                n_targets=n_targets,
                tree_roots=attrs["roots"],
                nodes_modes=numpy_helper.from_array(np.array(attrs["modes"], dtype=np.uint8)),
                nodes_splits=numpy_helper.from_array(np.array(attrs["splits"], dtype=np.float32)),
                nodes_featureids=attrs["features"],
                nodes_truenodeids=attrs["true_ids"],
                nodes_trueleafs=attrs["true_leaf"],
                nodes_falsenodeids=attrs["false_ids"],
                nodes_falseleafs=attrs["false_leaf"],
                nodes_missing_value_tracks_true=attrs["missing_true"],
                membership_values=numpy_helper.from_array(np.array(members, dtype=np.float32)),
                leaf_targetids=attrs["leaf_targets"],
                leaf_weights=numpy_helper.from_array(np.array(attrs["leaf_weights"], dtype=np.float32)),
            )
        )
        nodes.append(helper.make_node("Add", ["tree_sum", "base_margin"], ["margin"]))
    else:
        nodes.append(helper.make_node("Shape", [input_name], ["x_shape"], start=0, end=1))
        init.append(numpy_helper.from_array(np.array([n_targets], dtype=np.int64), "n_targets"))
        nodes.append(helper.make_node("Concat", ["x_shape", "n_targets"], ["margin_shape"], axis=0))
        nodes.append(helper.make_node("Expand", ["base_margin", "margin_shape"], ["margin"]))
    if link == "softmax":
        nodes.append(helper.make_node("Softmax", ["margin"], [output_name], axis=1))
    elif link == "binary":
        init.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"))
        nodes += [
            helper.make_node("Sigmoid", ["margin"], ["p"]),
            helper.make_node("Sub", ["one", "p"], ["q"]),
            helper.make_node("Concat", ["q", "p"], [output_name], axis=1),
        ]
    elif link == "exp":
        nodes.append(helper.make_node("Exp", ["margin"], [output_name]))
    elif link == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["margin"], [output_name]))
    else:
        nodes.append(helper.make_node("Identity", ["margin"], [output_name]))
    graph = helper.make_graph(
        nodes,
        "xgboost",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", None])],
        initializer=init,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    )


def _tree_sums(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort
    from onnx import helper

    probe = type(model)()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.append(helper.make_tensor_value_info("margin", 1, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0], dtype=np.float64)


def xgboost_tree_graph(
    booster: Any,
    schema: FeatureSchema,
    task: str,
    probe: np.ndarray,
    probe_margin: np.ndarray,
    input_name: str,
    output_name: str,
) -> onnx.ModelProto:
    """The booster as a TreeEnsemble graph; ``probe_margin`` is the booster's margin on the ``probe`` rows."""
    model = json.loads(bytes(booster.save_raw("json")))
    objective = model["learner"]["objective"]["name"]
    n_targets = int(schema.n_classes or 2) if task == "multiclass" else 1
    attrs, constant = _ensemble(model, n_targets)
    if task == "multiclass":
        link = "softmax"
    elif task == "binary":
        link = "binary"
    else:
        link = "exp" if objective in LOG_LINK else "sigmoid" if objective in LOGISTIC_LINK else "identity"
    zero = _graph(attrs, constant, schema, link, input_name, output_name)
    sums = _tree_sums(zero, {input_name: probe})
    offset = constant + np.median(probe_margin.reshape(len(probe), n_targets) - sums, axis=0)
    return _graph(attrs, offset, schema, link, input_name, output_name)
