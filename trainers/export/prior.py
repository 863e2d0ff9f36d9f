"""Prior correction appended to an exported classifier's graph (see :meth:`trainers.base.Trainer._prior_corrected`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx


def prior_correct(model: onnx.ModelProto, class_weights: list[float]) -> onnx.ModelProto:
    """Divide the ``probabilities`` output by the class weights the model was fit with and renormalise each row:
    the prior correction that :meth:`trainers.base.Trainer._prior_corrected` applies in process. Raises
    ``LookupError`` when the graph has no ``probabilities`` output."""
    from onnx import helper, numpy_helper

    graph = model.graph
    found = [o for o in graph.output if o.name == "probabilities"]
    if not found:
        raise LookupError("the converted graph has no probabilities output to correct for its class weights")
    raw, scaled, total = "advisor_weighted_probabilities", "advisor_prior_scaled", "advisor_prior_total"
    for node in graph.node:  # the producer of "probabilities" now produces the weighted ones
        node.output[:] = [raw if name == "probabilities" else name for name in node.output]
    dtype = helper.tensor_dtype_to_np_dtype(found[0].type.tensor_type.elem_type)
    inverse = "advisor_inverse_class_weights"
    graph.initializer.append(numpy_helper.from_array((1.0 / np.asarray(class_weights)).astype(dtype), inverse))
    graph.node.append(helper.make_node("Mul", [raw, inverse], [scaled], name="advisor_prior_scale"))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
    if opset >= 13:  # ReduceSum takes its axes as an input from opset 13
        axis = "advisor_class_axis"
        graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), axis))
        graph.node.append(helper.make_node("ReduceSum", [scaled, axis], [total], keepdims=1, name="advisor_prior_sum"))
    else:
        graph.node.append(
            helper.make_node("ReduceSum", [scaled], [total], axes=[1], keepdims=1, name="advisor_prior_sum")
        )
    graph.node.append(helper.make_node("Div", [scaled, total], ["probabilities"], name="advisor_prior_normalise"))
    return model
