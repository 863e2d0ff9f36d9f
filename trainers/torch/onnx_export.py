"""ONNX export of the PyTorch trainers: the network plus its input encoding and output activation in one graph.

* ``torch_mlp``: input ``X`` float32 ``[N, n_features]`` as for every tabular export
  (:func:`trainers.export.onnx.feature_matrix`); the graph imputes, adds the missing-value indicators,
  scales the numeric columns, fills missing or unseen category codes, and embeds them, exactly as
  :class:`~trainers.torch.encoders.TabularEncoder` does.
* ``torch_cnn`` (from scratch or on a backbone): input ``images`` uint8 ``[N, H, W, C]``; the graph scales
  to [0, 1], converts channels, resizes and standardises as :class:`~trainers.torch.encoders.ImageEncoder`.
* ``torch_lstm`` and ``torch_transformer`` on numeric sequences (or audio frames): input ``sequences`` float32
  ``[N, T, F]``; the graph keeps the last ``max_length`` steps and standardises each feature as
  :class:`~trainers.torch.encoders.SequenceEncoder` does.
* The same trainers on text are refused: words or subword tokens become ids outside the network (a
  vocabulary or a tokenizer), which an ONNX graph does not carry.

The output is the trainer's own: softmax probabilities, ``[1 - p, p]`` for a sigmoid output, or the
de-standardised regression value.
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from trainers.export.onnx import IMAGE_INPUT_NAME, INPUT_NAME, NotConvertible, finish_outputs

if TYPE_CHECKING:
    import onnx

    from trainers.torch.base import TorchTrainer

OPSET = 17
SEQUENCE_INPUT_NAME = "sequences"
TEXT_ENCODERS = {"words": "a vocabulary of whole words", "hf-tokens": "a subword tokenizer"}


class _Head(nn.Module):
    """The trainer's output activation (and de-standardisation of a regression target)."""

    def __init__(self, activation: str, target: dict[str, float] | None) -> None:
        super().__init__()
        self.activation = activation
        self.mean = float(target["mean"]) if target else 0.0
        self.std = float(target["std"]) if target else 1.0

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        out = out.float()
        if self.activation == "sigmoid":
            p = torch.sigmoid(out[:, :1])
            return torch.cat([1 - p, p], dim=1)
        if self.activation == "softmax":
            return torch.softmax(out, dim=1)
        return out[:, :1] * self.std + self.mean


class _TabularGraph(nn.Module):
    """feature_matrix rows → TabularEncoder's numeric block and codes → MLP → head."""

    # The encoder's state, as buffers (registered in __init__).
    num_idx: torch.Tensor
    fill: torch.Tensor
    center: torch.Tensor
    spread: torch.Tensor
    indicators: torch.Tensor
    cat_idx: torch.Tensor
    cat_fill: torch.Tensor
    cat_levels: torch.Tensor

    def __init__(self, net: nn.Module, state: dict[str, Any], columns: list[str], head: _Head) -> None:
        super().__init__()
        self.net = net
        self.head = head
        index = {name: j for j, name in enumerate(columns)}
        num_idx = [index[n] for n in state["numeric"]]
        cats = state["categorical"]
        self.register_buffer("num_idx", torch.tensor(num_idx, dtype=torch.long))
        self.register_buffer("fill", torch.tensor(state["fill"], dtype=torch.float32))
        self.register_buffer("center", torch.tensor(state["center"], dtype=torch.float32))
        self.register_buffer("spread", torch.tensor(state["spread"], dtype=torch.float32))
        self.register_buffer("indicators", torch.tensor(state["indicators"], dtype=torch.long))
        self.register_buffer("cat_idx", torch.tensor([index[c["name"]] for c in cats], dtype=torch.long))
        self.register_buffer("cat_fill", torch.tensor([float(c["fill"]) for c in cats], dtype=torch.float32))
        self.register_buffer("cat_levels", torch.tensor([float(c["levels"]) for c in cats], dtype=torch.float32))
        self.has_indicators = bool(state["indicators"])
        self.has_numeric = bool(num_idx)
        self.has_categorical = bool(cats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.has_numeric:
            num = torch.index_select(x, 1, self.num_idx)
            missing = torch.isnan(num)
            scaled = (torch.where(missing, self.fill, num) - self.center) / self.spread
            if self.has_indicators:
                scaled = torch.cat([scaled, torch.index_select(missing, 1, self.indicators).float()], dim=1)
        else:
            scaled = x.new_zeros((n, 0))
        if not self.has_categorical:
            return self.head(self.net(scaled))
        codes = torch.index_select(x, 1, self.cat_idx)
        known = (codes >= 0) & (codes < self.cat_levels)  # NaN compares false: missing
        codes = torch.where(known, codes, self.cat_fill).long()
        return self.head(self.net(scaled, codes))


class _ImageGraph(nn.Module):
    """uint8 NHWC images → ImageEncoder.prepare (inference) → CNN → head."""

    def __init__(self, net: nn.Module, encoder: Any, head: _Head) -> None:
        super().__init__()
        self.net = net
        self.encoder = encoder
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        (x,) = self.encoder.prepare((images,), False)
        return self.head(self.net(x))


class _SequenceGraph(nn.Module):
    """float32 N×T×F sequences → SequenceEncoder.transform (last max_length steps, standardised) → network → head."""

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, net: nn.Module, state: dict[str, Any], head: _Head) -> None:
        super().__init__()
        self.net = net
        self.head = head
        self.max_length = state.get("max_length")
        self.register_buffer("mean", torch.tensor(state["mean"], dtype=torch.float32))
        self.register_buffer("std", torch.tensor(state["std"], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.max_length:
            x = x[:, -int(self.max_length) :]
        return self.head(self.net((x - self.mean) / self.std))


def _export(module: nn.Module, example: torch.Tensor, input_name: str, dynamic_steps: bool = False) -> onnx.ModelProto:
    import onnx

    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The tracer warns about Python-level shape checks in the encoders; shapes are fixed per model.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. "exporting an RNN with a batch size other than 1"
            torch.onnx.export(
                module,
                (example,),
                # The TorchScript exporter (dynamo=False) writes to a file-like object; the stub says paths only.
                buffer,  # type: ignore[arg-type]
                input_names=[input_name],
                output_names=["out"],
                dynamic_axes={input_name: {0: "N", 1: "T"} if dynamic_steps else {0: "N"}, "out": {0: "N"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many error types (UnsupportedOperatorError, RuntimeError...)
        raise NotConvertible(f"torch.onnx.export cannot export this network: {str(exc).splitlines()[0][:300]}") from exc
    return onnx.load_from_string(buffer.getvalue())


def torch_graph(trainer: TorchTrainer) -> onnx.ModelProto:
    """The fitted torch trainer's network with its encoding and output activation, as ONNX."""
    kind = getattr(trainer, "encoder_kind_", None)
    if kind in TEXT_ENCODERS:
        raise NotConvertible(
            f"{trainer.NAME} models on text are not exported to ONNX: the text becomes ids through "
            f"{TEXT_ENCODERS[kind]} outside the network, which the graph would not carry"
        )
    net = copy.deepcopy(trainer.model_).cpu().eval()
    head = _Head(trainer.params["output_activation"], trainer.target_)
    if trainer.modality_ == "tabular":
        columns = trainer.schema_.feature_names
        module: nn.Module = _TabularGraph(net, trainer.encoder_.state(), columns, head).eval()
        example = torch.zeros((2, len(columns)), dtype=torch.float32)
        name = INPUT_NAME
    elif kind == "sequence":
        state = trainer.encoder_.state()
        module = _SequenceGraph(net, state, head).eval()
        example = torch.zeros((2, int(state["steps"]), int(state["features"])), dtype=torch.float32)
        name = SEQUENCE_INPUT_NAME
    elif trainer.modality_ == "image":
        h, w, c = trainer.encoder_.state()["input_size"]
        module = _ImageGraph(net, copy.copy(trainer.encoder_), head).eval()
        example = torch.zeros((2, h, w, c), dtype=torch.uint8)
        name = IMAGE_INPUT_NAME
    else:
        raise NotConvertible(f"{trainer.NAME} has no ONNX export for {trainer.modality_} data")
    model = _export(module, example, name, dynamic_steps=kind == "sequence")
    return finish_outputs(model, trainer.task_, probabilities="out", values="out")


def image_check_inputs(
    trainer: TorchTrainer, n: int = 32, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], np.ndarray]:
    """The ``images`` input's documentation, random check images, and the model's outputs on them."""
    h, w, c = trainer.encoder_.state()["input_size"]
    images = np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)
    expected = np.asarray(trainer.predict_output(images), dtype=np.float64)
    doc = {
        "name": IMAGE_INPUT_NAME,
        "dtype": "uint8",
        "shape": ["N", h, w, c],
        "description": "pixels 0-255, height × width × channels as the training images; scaling, channel "
        "conversion, resizing and standardisation are inside the graph",
    }
    return [doc], {IMAGE_INPUT_NAME: images}, expected


def sequence_check_inputs(
    trainer: TorchTrainer, n: int = 32, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], np.ndarray]:
    """The ``sequences`` input's documentation, check sequences around the training scale, the model's outputs."""
    state = trainer.encoder_.state()
    steps, features = int(state["steps"]), int(state["features"])
    rng = np.random.default_rng(seed)
    mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
    x = (mean + std * rng.standard_normal((n, steps, features))).astype(np.float32)
    expected = np.asarray(trainer.predict_output(x), dtype=np.float64)
    doc = {
        "name": SEQUENCE_INPUT_NAME,
        "dtype": "float32",
        "shape": ["N", "T", features],
        "description": f"numeric sequences, {features} feature(s) per step (trained on {steps} steps"
        + (f"; the last {state['max_length']} are used" if state.get("max_length") else "")
        + "); standardisation is inside the graph",
    }
    return [doc], {SEQUENCE_INPUT_NAME: x}, expected
