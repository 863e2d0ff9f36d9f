"""A torch model on disk: ``model.safetensors`` (the state dict) and ``model.json`` (how to rebuild it).

``model.json`` records the network's build (its class and arguments, or the backbone record plus the new
head), the input encoder's kind and state, the output activation, the target scaling and the run's facts.
Each encoder kind has one entry in :data:`ENCODERS` saying how it is read back and which files of its
own it writes (a pretrained tokenizer's ``tokenizer*.json``). Nothing is unpickled: weights load through
safetensors, everything else is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainers.torch.backbones import BackboneModel, rebuild_backbone
from trainers.torch.encoders import HFTokenEncoder, ImageEncoder, SequenceEncoder, TabularEncoder, WordEncoder
from trainers.torch.models import build_network

MODEL_FILE = "model.safetensors"
SPEC_FILE = "model.json"
ARTIFACT_VERSION = "advisor-torch/1"


def _no_files(encoder: Any, directory: Path) -> list[str]:
    return []


@dataclass(frozen=True)
class EncoderFormat:
    """How one encoder kind is read back from ``model.json`` (and the artifact folder) and what it writes."""

    load: Callable[[Mapping[str, Any], Path], Any]
    save_files: Callable[[Any, Path], list[str]] = _no_files


ENCODERS: dict[str, EncoderFormat] = {
    "tabular": EncoderFormat(lambda state, _: TabularEncoder(dict(state))),
    "image": EncoderFormat(lambda state, _: ImageEncoder(dict(state))),
    "sequence": EncoderFormat(lambda state, _: SequenceEncoder(dict(state))),
    "words": EncoderFormat(lambda state, _: WordEncoder.from_state(state)),
    # The tokenizer's vocabulary lives in its own files beside model.json; the state holds its length cap.
    "hf-tokens": EncoderFormat(
        lambda state, directory: HFTokenEncoder.from_dir(directory, int(state["max_length"])),
        lambda encoder, directory: encoder.save(directory),
    ),
}


@dataclass
class TorchArtifact:
    """Everything ``model.json`` and ``model.safetensors`` hold, as the trainer keeps it."""

    model: nn.Module
    encoder: Any
    encoder_kind: str
    modality: str
    build: dict[str, Any]
    output: dict[str, Any]
    target: dict[str, float] | None
    amp: str | None
    run: dict[str, Any] | None


def rebuild_network(build: Mapping[str, Any]) -> nn.Module:
    """The network (without weights) from its build record: a backbone plus head, or a scratch network."""
    if build["network"] == "backbone":
        return BackboneModel(rebuild_backbone(build["backbone"]), **build["head"])
    return build_network(build)


def save_artifact(directory: Path, trainer_name: str, artifact: TorchArtifact) -> list[str]:
    """Write the weights, the encoder's own files and ``model.json``; returns the file names written."""
    from safetensors.torch import save_file

    # clone(): safetensors refuses tensors that share storage (tied weights); copies never do.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in artifact.model.state_dict().items()}
    save_file(state, str(directory / MODEL_FILE), metadata={"format": ARTIFACT_VERSION})
    files = [MODEL_FILE, SPEC_FILE]
    encoder_state = artifact.encoder.state()
    files += ENCODERS[artifact.encoder_kind].save_files(artifact.encoder, directory)
    spec = {
        "format": ARTIFACT_VERSION,
        "trainer": trainer_name,
        "modality": artifact.modality,
        "build": artifact.build,
        "encoder": {"kind": artifact.encoder_kind, "state": encoder_state},
        "output": artifact.output,
        "target": artifact.target,
        "amp": artifact.amp,
        "run": artifact.run,
    }
    (directory / SPEC_FILE).write_text(json.dumps(spec, sort_keys=True, indent=1, allow_nan=False), encoding="utf-8")
    return files


def load_artifact(directory: Path) -> TorchArtifact:
    """Read what :func:`save_artifact` wrote; the network comes back on the CPU, in eval mode."""
    from safetensors.torch import load_file

    spec = json.loads((directory / SPEC_FILE).read_text(encoding="utf-8"))
    if spec.get("format") != ARTIFACT_VERSION:
        raise ValueError(f"unknown torch artifact format {spec.get('format')!r}")
    kind, state = spec["encoder"]["kind"], spec["encoder"]["state"]
    fmt = ENCODERS.get(kind)
    if fmt is None:
        raise ValueError(f"unknown encoder kind {kind!r}")
    encoder = fmt.load(state, directory)
    model = rebuild_network(spec["build"])
    model.load_state_dict(load_file(str(directory / MODEL_FILE)), strict=True)
    model.eval()
    return TorchArtifact(
        model=model,
        encoder=encoder,
        encoder_kind=kind,
        modality=spec["modality"],
        build=spec["build"],
        output=spec.get("output") or {},
        target=spec["target"],
        amp=spec.get("amp"),
        run=spec.get("run"),
    )


def amp_name(dtype: torch.dtype | None) -> str | None:
    """``"bfloat16"`` / ``"float16"`` for ``model.json`` and the run record (None without mixed precision)."""
    return str(dtype).replace("torch.", "") if dtype else None
