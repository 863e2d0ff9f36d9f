"""Where and how a torch job runs: the device, the seeds, mixed precision, threads and reproducibility.

The recipe's ``device`` says what the *user* declared; the worker knows what it has. These helpers pick
the device, seed every generator, choose the mixed-precision type and say whether a rerun gives the
same bits, so the trainers only record what was decided.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from trainers.base import TrainerCapabilityError

DEVICE_ENV = "ADVISOR_TORCH_DEVICE"  # "cpu" or "cuda": overrides the worker's own choice


def resolve_device(requested: Any) -> tuple[torch.device, str | None]:
    """CUDA when this worker has a GPU, else the CPU; ``$ADVISOR_TORCH_DEVICE`` forces one.

    Returns the device and a note when it differs from the recipe's.
    """
    forced = os.environ.get(DEVICE_ENV, "").strip().lower()
    if forced:
        if forced.startswith("cuda") and not torch.cuda.is_available():
            raise TrainerCapabilityError(f"{DEVICE_ENV}={forced} but this worker has no CUDA device")
        device = torch.device(forced)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    note = None
    if requested not in (None, "auto") and str(requested) != device.type:
        why = (
            f"{DEVICE_ENV}={forced}"
            if forced
            else ("this worker has a GPU" if device.type == "cuda" else "this worker has no GPU")
        )
        note = f"the recipe said device {requested!r}; trained on {device.type} because {why}"
    return device, note


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at ``n_threads``, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def reproducibility(device: torch.device, n_threads: int) -> tuple[bool, str]:
    """Whether a rerun with the same seed gives the same bits on this device, and why."""
    if device.type == "cpu":
        return True, (
            f"CPU kernels are deterministic for a fixed seed, torch build and thread count "
            f"({n_threads}); a rerun on this worker gives identical weights"
        )
    if torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark:
        return True, "deterministic algorithms are enabled for CUDA"
    return False, (
        "CUDA kernels (cuDNN convolutions, atomic adds in backward, mixed precision) are not "
        "bit-deterministic; a rerun gives close but not identical weights"
    )


def amp_dtype_for(device: torch.device) -> torch.dtype | None:
    """Mixed precision on CUDA: bfloat16 where supported (no loss scaling needed), else float16."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
