"""PyTorch trainers: MLP (tabular), CNN (images), LSTM/GRU (sequences, text) and Transformer (text, sequences).

This package is the only place in ``trainers`` that imports torch, and only inside its submodules:
importing ``trainers.torch`` (or :mod:`trainers.torch.data`) loads no torch, so the job engine can build
array datasets and route jobs without the library.

Registered names: ``torch_mlp``, ``torch_cnn``, ``torch_lstm``, ``torch_transformer`` (listed in
:mod:`trainers.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from trainers.registry import builtin_trainers

# name → "module:Class", as listed in the registry (the one list of trainers).
TORCH_TRAINERS: dict[str, str] = builtin_trainers("trainers.torch")


def preferred_queue(trainer: str, params: Mapping[str, Any] | None = None) -> Literal["gpu", "cpu"]:
    """Which worker queue a job should go to: ``"gpu"`` for every torch trainer, else ``"cpu"``.

    Deep-learning jobs run on the GPU whenever the worker has one (and on the CPU otherwise), so the
    scale-out router sends them to GPU workers first. ``params["device"] == "cpu"`` (the advisor's
    value when no GPU was declared) does not pin a job to the CPU: the worker decides at run time.
    """
    return "gpu" if trainer in TORCH_TRAINERS else "cpu"


__all__ = ["TORCH_TRAINERS", "preferred_queue"]
