"""Torch tests run on the CPU with one thread: these 2-core machines are shared, and two OpenMP threads
fighting another process were measured 10-30× slower than one on the small networks used here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest.importorskip("torch", reason="the torch extra is not installed")

import torch

import trainers.torch.trainers  # noqa: F401  (registers torch_mlp, torch_cnn, torch_lstm, torch_transformer)


@pytest.fixture(autouse=True, scope="session")
def _one_thread_cpu() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    saved = {k: os.environ.pop(k, None) for k in ("ADVISOR_TORCH_DEVICE", "ADVISOR_PRETRAINED_DIR")}
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: nothing may be downloaded
    yield
    torch.set_num_threads(previous)
    for k, v in saved.items():
        if v is not None:
            os.environ[k] = v
