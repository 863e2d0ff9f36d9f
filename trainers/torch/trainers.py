"""The four registered PyTorch trainers: ``torch_mlp``, ``torch_cnn``, ``torch_lstm``, ``torch_transformer``.

Each trains exactly the recipe in ``params`` (``Candidate.params()``): a value it cannot apply is refused
with :class:`~trainers.base.TrainerParamError` naming the key, never replaced silently. Where the data
forces a deviation (a backbone absent from this machine, an image channel count, a declared input width)
the run proceeds and ``run_info_["notes"]`` / ``run_info_["backbone"]`` say what was done and why.

``fit(train, valid, callbacks)``: ``torch_mlp`` takes :class:`~trainers.spec.TrainData` (a typed frame, as
the classical trainers); the others take :class:`~trainers.torch.data.ArrayData` (images, sequences,
texts). ``predict_output`` takes the same kind of rows (a frame, or ``ArrayData`` / a bare array).
Artifacts: ``model.safetensors`` (state dict) + ``model.json`` (how to rebuild the network and encode
inputs), plus ``tokenizer*.json`` for a pretrained text encoder.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainers.base import (
    Trainer,
    TrainerCapabilityError,
    TrainerParamError,
    check_int,
)
from trainers.callbacks import Callbacks
from trainers.registry import register_trainer
from trainers.spec import CurveSet, FeatureSchema, Task, TrainData
from trainers.torch.data import ArrayData, check_array
from trainers.torch.encoders import (
    HFTokenEncoder,
    ImageEncoder,
    SequenceEncoder,
    TabularEncoder,
    WordEncoder,
    check_imputation,
)
from trainers.torch.loop import LoopConfig, TensorBatches, metric_name, probe_dead_relus
from trainers.torch.loop import predict as loop_predict
from trainers.torch.loop import train as loop_train
from trainers.torch.losses import build_loss, check_output, output_to_numpy, target_tensor
from trainers.torch.models import (
    ACTIVATIONS,
    NORMALIZATIONS,
    CNNNet,
    MLPNet,
    RNNNet,
    TransformerNet,
    build_network,
    count_parameters,
    embedding_dim,
)
from trainers.torch.optim import ParamGroup, Schedule, build_optimizer, check_optimizer, check_schedule
from trainers.torch.transfer import (
    BackboneChoice,
    BackboneModel,
    HFTextBackbone,
    apply_plan,
    check_transfer,
    dropout_of,
    image_stats,
    load_pretrained,
    minilm_path,
    rebuild_backbone,
    resolve_backbone,
)

MODEL_FILE = "model.safetensors"
SPEC_FILE = "model.json"
ARTIFACT_VERSION = "advisor-torch/1"
DEVICE_ENV = "ADVISOR_TORCH_DEVICE"  # "cpu" or "cuda": overrides the worker's own choice

RECIPE_KEYS = frozenset(
    {
        "transfer",
        "architecture",
        "hidden_activation",
        "output_units",
        "output_activation",
        "loss",
        "optimizer",
        "batch_size",
        "epochs",
        "early_stopping",
        "lr_schedule",
        "dropout",
        "l2",
        "augmentation",
        "normalization",
        "gradient_clipping",
    }
)
REQUIRED_KEYS = ("architecture", "output_units", "output_activation", "loss", "optimizer", "batch_size", "epochs")
# Architecture keys each network reads; any other key would be silently ignored, so it is refused.
ARCH_KEYS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"type", "input_features", "hidden_units", "categorical_embedding_dim"}),
    "cnn": frozenset({"type", "input_size", "conv_channels", "kernel_size", "pool_after", "dense_units"}),
    "cnn_backbone": frozenset({"type", "backbone", "input_size", "feature_dim", "head_units", "backbone_blocks"}),
    "lstm": frozenset(
        {
            "type",
            "cell",
            "hidden_size",
            "num_layers",
            "bidirectional",
            "input_size",
            "max_length",
            "vocab_size",
            "embedding_dim",
        }
    ),
    "transformer": frozenset(
        {"type", "d_model", "n_heads", "n_layers", "ff_dim", "pooling", "vocab_size", "max_length", "input_size"}
    ),
    "transformer_backbone": frozenset(
        {"type", "backbone", "max_length", "feature_dim", "pooling", "head_units", "backbone_blocks"}
    ),
}


# -- device, seeds, reproducibility ---------------------------------------------------------------------------
def resolve_device(requested: Any) -> tuple[torch.device, str | None]:
    """CUDA when this worker has a GPU, else the CPU; ``$ADVISOR_TORCH_DEVICE`` forces one.

    The recipe's ``device`` reflects what the *user* declared; the worker knows what it has. Returns the
    device and a note when it differs from the recipe's.
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


# -- parameter checks -----------------------------------------------------------------------------------------
def _check_units(arch: Mapping[str, Any], key: str, *, allow_empty: bool = True) -> None:
    v = arch.get(key, [])
    if (
        not isinstance(v, list)
        or any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in v)
        or (not allow_empty and not v)
    ):
        raise TrainerParamError("architecture", f"{key} must be a list of positive integers, got {v!r}")


def _check_pos_int(arch: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    if key not in arch:
        if required:
            raise TrainerParamError("architecture", f"{arch.get('type')} architecture needs {key!r}")
        return
    v = arch[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise TrainerParamError("architecture", f"{key} must be a positive integer, got {v!r}")


@dataclass
class FitParts:
    """What a subclass builds for one fit: the network, the encoder and their records."""

    model: nn.Module
    encoder: Any
    encoder_kind: str
    build: dict[str, Any]
    train_inputs: list[torch.Tensor]
    valid_inputs: list[torch.Tensor]
    backbone: BackboneChoice | None = None
    groups: list[ParamGroup] | None = None
    transfer_plan: dict[str, Any] | None = None


class TorchTrainer(Trainer):
    """Shared fit / predict / save / load for the PyTorch trainers; subclasses build network and encoder."""

    TASKS: ClassVar[frozenset[Task]] = frozenset({"binary", "multiclass", "regression"})
    SUPPORTS_GPU: ClassVar[bool] = True
    # Deep-learning jobs go to GPU workers first when the service scales out (see trainers.torch.preferred_queue).
    PREFERS_GPU: ClassVar[bool] = True
    ARTIFACT_FORMAT: ClassVar[str] = "safetensors"
    PARAMS: ClassVar[frozenset[str]] = RECIPE_KEYS
    LIBRARIES: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "torch", "safetensors")
    ARCH_TYPES: ClassVar[frozenset[str]] = frozenset()
    DEFAULT_ACTIVATION: ClassVar[str] = "relu"

    # -- checks ----------------------------------------------------------------------------------------------
    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        missing = [k for k in REQUIRED_KEYS if k not in params]
        if missing:
            raise TrainerParamError(missing[0], f"{cls.NAME} needs it (the recommendation always carries it)")
        arch = params["architecture"]
        if not isinstance(arch, Mapping) or arch.get("type") not in cls.ARCH_TYPES:
            got = arch.get("type") if isinstance(arch, Mapping) else arch
            raise TrainerParamError(
                "architecture", f"{cls.NAME} builds {', '.join(sorted(cls.ARCH_TYPES))} networks, not {got!r}"
            )
        check_output(task, None, params["output_units"], params["output_activation"], params["loss"])
        check_optimizer(params["optimizer"], params.get("l2"))
        if params["optimizer"]["name"] == "adamw" and float(params.get("l2") or 0) > 0:
            raise TrainerParamError(
                "l2",
                "AdamW regularizes with its decoupled weight_decay; an L2 term on top "
                "would be a second, different penalty: set l2 to 0",
            )
        check_schedule(params.get("lr_schedule"))
        check_transfer(params.get("transfer"))
        check_imputation(params.get("imputation"))
        check_int(params, "batch_size", minimum=1)
        check_int(params, "epochs", minimum=1)
        act = params.get("hidden_activation", cls.DEFAULT_ACTIVATION)
        if act not in ACTIVATIONS:
            raise TrainerParamError("hidden_activation", f"unknown activation {act!r}")
        norm = params.get("normalization")
        if norm is not None and norm not in NORMALIZATIONS:
            raise TrainerParamError(
                "normalization", f"unknown normalization {norm!r}; known: {', '.join(sorted(NORMALIZATIONS))}"
            )
        es = params.get("early_stopping")
        if es is not None:
            if not isinstance(es, Mapping) or es.get("monitor", "val_loss") != "val_loss":
                raise TrainerParamError("early_stopping", f"only val_loss can be monitored, got {es!r}")
            check_int(es, "patience", minimum=0)
        clip = params.get("gradient_clipping")
        if clip is not None and (
            not isinstance(clip, Mapping)
            or set(clip) != {"max_norm"}
            or not isinstance(clip["max_norm"], int | float)
            or clip["max_norm"] <= 0
        ):
            raise TrainerParamError("gradient_clipping", f"expected null or {{'max_norm': > 0}}, got {clip!r}")
        dropout = params.get("dropout")
        if dropout is not None:
            if not isinstance(dropout, Mapping):
                raise TrainerParamError("dropout", f"expected a dict of rates, got {dropout!r}")
            for k in dropout:
                dropout_of(dropout, k)
        transfer = params.get("transfer") or {}
        uses_backbone = transfer.get("strategy", "none") != "none"
        if uses_backbone != ("backbone" in arch):
            raise TrainerParamError(
                "architecture",
                "a backbone architecture goes with a transfer strategy, and "
                "a transfer strategy with a backbone architecture",
            )
        kind = f"{arch['type']}_backbone" if "backbone" in arch else str(arch["type"])
        allowed = ARCH_KEYS.get(kind)
        if allowed is None:
            raise TrainerParamError("architecture", f"{cls.NAME} has no pretrained {arch['type']} backbones")
        unknown = sorted(set(arch) - allowed)
        if unknown:
            raise TrainerParamError("architecture", f"unknown {arch['type']} setting {unknown[0]!r}")
        cls._check_arch(arch, params)

    @classmethod
    def _check_arch(cls, arch: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        """Subclass hook: the architecture's own values."""

    def _total_rounds(self) -> int:
        return int(self.params.get("epochs", 1))

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(
        self,
        train: TrainData | ArrayData,
        valid: TrainData | ArrayData,  # type: ignore[override]
        callbacks: Callbacks | None = None,
    ) -> Self:
        """Learn from ``train``, early-stop and report curves on ``valid``; returns ``self``.

        The same contract as :meth:`Trainer.fit` (a stop request keeps the best epoch so far and marks the
        result partial), extended to :class:`ArrayData` whose modality is checked instead of "tabular".
        """
        modality = train.modality if isinstance(train, ArrayData) else "tabular"
        if isinstance(valid, ArrayData) != isinstance(train, ArrayData) or (
            isinstance(valid, ArrayData) and valid.modality != modality
        ):
            raise ValueError("train and validation data are of different kinds")
        task = train.task
        self.check(task, modality, device=self.params.get("device"))
        self.check_params(self.params, task)
        if valid.schema != train.schema:
            raise ValueError("train and validation data were prepared with different schemas")
        callbacks = callbacks if callbacks is not None else Callbacks()
        self.schema_: FeatureSchema = train.schema
        self.task_: Task = task
        self.modality_ = modality
        self.partial_ = False
        self.partial_reason_ = None
        start = time.perf_counter()
        callbacks.on_start(self._total_rounds())
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            self._fit(train, valid, callbacks)
        finally:
            torch.set_num_threads(previous_threads)
            callbacks.on_end()
        self.fit_time_s_ = time.perf_counter() - start
        return self

    def _build(self, train: Any, valid: Any, notes: list[str]) -> FitParts:
        """Subclass hook: encoder fitted on ``train``, network, inputs of both splits."""
        raise NotImplementedError

    def _fit(self, train: Any, valid: Any, callbacks: Callbacks) -> None:
        p = self.params
        task = self.task_
        notes: list[str] = []
        device, device_note = resolve_device(p.get("device"))
        if device_note:
            notes.append(device_note)
        seed_everything(self.seed)
        n_classes = self.schema_.n_classes
        activation = p["output_activation"]
        check_output(task, n_classes, p["output_units"], activation, p["loss"])
        if len(train) == 0 or len(valid) == 0:
            raise ValueError("training and validation data must both have rows")

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)  # the job's own peak, not an earlier job's in this process
        parts = self._build(train, valid, notes)
        model = parts.model.to(device)

        y_train = np.asarray(train.y)
        self.target_: dict[str, float] | None = None
        if task == "regression":
            # Standardized targets: the loss scale (and Huber's delta = one s.d.) does not depend on units.
            mean, std = float(np.mean(y_train)), float(np.std(y_train))
            self.target_ = {"mean": mean, "std": std if std > 0 else 1.0}
        yt = target_tensor(self._scale_y(y_train), activation, task)
        yv = target_tensor(self._scale_y(np.asarray(valid.y)), activation, task)

        optimizer_spec = p["optimizer"]
        groups = parts.groups or [ParamGroup("all", list(model.parameters()), float(optimizer_spec["learning_rate"]))]
        optimizer = build_optimizer(groups, optimizer_spec, float(p.get("l2") or 0.0))
        loss_fn = build_loss(p["loss"], activation, task, y_train, n_classes, device)
        batch_size = int(p["batch_size"])
        steps_per_epoch = max(1, math.ceil(len(train) / batch_size))
        schedule = Schedule(optimizer, p.get("lr_schedule"), steps_per_epoch)
        es = p.get("early_stopping")
        clip = p.get("gradient_clipping")
        amp = amp_dtype_for(device)
        cfg = LoopConfig(
            task=task,
            activation=activation,
            epochs=int(p["epochs"]),
            batch_size=batch_size,
            eval_batch_size=self._eval_batch_size(batch_size),
            device=device,
            patience=int(es.get("patience", 10)) if es else None,
            restore_best=bool(es.get("restore_best", True)) if es else False,
            clip_norm=float(clip["max_norm"]) if clip else None,
            amp_dtype=amp,
            y_scale=self.target_["std"] if self.target_ else 1.0,
        )
        train_b = TensorBatches(parts.train_inputs, yt, device)
        valid_b = TensorBatches(parts.valid_inputs, yv, device)
        baseline = self._baseline_loss(loss_fn, y_train, yv, activation, n_classes, device)
        generator = torch.Generator().manual_seed(self.seed)
        started = time.perf_counter()
        result = loop_train(
            model,
            train_b,
            valid_b,
            parts.encoder.prepare,
            loss_fn,
            optimizer,
            schedule,
            cfg,
            should_stop=lambda: self._stop(callbacks),
            stop_reason=callbacks.stop_reason,
            on_epoch=callbacks.on_round,
            generator=generator,
        )
        train_s = time.perf_counter() - started
        # §10 "dead ReLUs": measured on the kept weights, one validation batch, so advisor.diagnose can see it.
        relu = probe_dead_relus(model, valid_b, parts.encoder.prepare, cfg)

        self.model_ = model
        self.encoder_ = parts.encoder
        self.encoder_kind_ = parts.encoder_kind
        self.build_ = parts.build
        self.best_iteration_ = result.best_epoch
        self.n_rounds_ = result.n_epochs
        self.amp_dtype_ = amp
        name = metric_name(task)
        self.curves_ = CurveSet(
            loss_name=str(p["loss"]["name"]),
            train_loss=result.train_loss,
            val_loss=result.val_loss,
            metric_name=name,
            train_metric=result.train_metric,
            val_metric=result.val_metric,
            metric_higher_is_better=task != "regression",
            baseline_loss=baseline,
            dead_relu_fraction=relu.fraction,
            history={
                "train": {"loss": result.train_loss, name: result.train_metric},
                "valid": {"loss": result.val_loss, name: result.val_metric},
                "learning_rate": result.lr,
            },
        )
        bit_repro, repro_why = reproducibility(device, self.n_threads)
        peak_cuda = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
        total, trainable = count_parameters(model)
        notes.extend(getattr(parts.encoder, "notes", lambda: [])())
        if result.partial_epoch:
            notes.append("time ran out inside the first epoch: the model is the weights reached so far")
        self.run_info_: dict[str, Any] = {
            "device": device.type,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "gpu": device.type == "cuda",
            "requested_device": p.get("device"),
            "mixed_precision": str(amp).replace("torch.", "") if amp else None,
            "bit_reproducible": bit_repro,
            "reproducibility": repro_why,
            "threads": self.n_threads,
            "data_on_device": train_b.resident,
            "parameters": total,
            "trainable_parameters": trainable,
            "epochs_run": result.n_epochs,
            "best_epoch": result.best_epoch,
            "early_stopped": result.early_stopped,
            "train_seconds": round(train_s, 3),
            "samples_per_second": round(len(train) * max(result.n_epochs, 1) / train_s, 1) if train_s > 0 else None,
            "backbone": parts.backbone.record() if parts.backbone else None,
            "transfer": parts.transfer_plan,
            "relu_units": relu.units,
            "dead_relu_units": relu.dead,
            "dead_relu_fraction": relu.fraction,
            "peak_memory_bytes": peak_cuda,
            "peak_memory_measure": "cuda max_memory_allocated" if peak_cuda is not None else None,
            "notes": notes,
        }

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size, 1024)

    def _scale_y(self, y: np.ndarray) -> np.ndarray:
        if self.target_ is None:
            return y
        return (np.asarray(y, dtype=np.float64) - self.target_["mean"]) / self.target_["std"]

    def _baseline_loss(
        self,
        loss_fn: Any,
        y_train: np.ndarray,
        yv: torch.Tensor,
        activation: str,
        n_classes: int | None,
        device: torch.device,
    ) -> float | None:
        """The recipe's loss for a constant predictor (train priors / train mean) on validation.

        In the same units as the curves (focal, standardized MSE...), so ``diagnose``'s underfitting test
        compares like with like.
        """
        n = len(yv)
        if n == 0:
            return None
        if self.task_ == "regression":
            out = torch.zeros(n, 1)
        else:
            k = int(n_classes or 2)
            priors = np.clip(np.bincount(y_train.astype(np.int64), minlength=k) / len(y_train), 1e-15, 1.0)
            if activation == "sigmoid":
                logit = float(np.log(priors[1] / priors[0]))
                out = torch.full((n, 1), logit)
            else:
                out = torch.from_numpy(np.log(priors)).float().expand(n, k).clone()
        with torch.no_grad():
            value = float(loss_fn(out.to(device), yv.to(device)))
        return value if math.isfinite(value) else None

    # -- predict ---------------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.model_.parameters()).device

    def _predict_inputs(self, inputs: list[torch.Tensor]) -> np.ndarray:
        device = self._device()
        # float32 even after a mixed-precision fit: the job's scores then equal a reloaded model's.
        out = loop_predict(
            self.model_,
            inputs,
            self.encoder_.prepare,
            self._eval_batch_size(int(self.params.get("batch_size", 32))),
            device,
            None,
        )
        arr = output_to_numpy(out, self.params["output_activation"])
        if self.target_ is not None:
            arr = arr * self.target_["std"] + self.target_["mean"]
        return arr

    def predict_output(self, X: Any, *, warnings: list[str] | None = None) -> np.ndarray:
        """Class probabilities ``(n, k)`` or values ``(n,)``; ``X`` as in ``fit`` (frame, ``ArrayData`` or array).

        ``warnings`` collects what applying the schema to a frame ignored or encoded as unknown."""
        self._check_fitted()
        if self.modality_ == "tabular":
            return super().predict_output(X, warnings=warnings)
        x = X.x if isinstance(X, ArrayData) else X
        x = check_array(x, self.modality_)
        if hasattr(self.encoder_, "check"):
            self.encoder_.check(x)
        return self._predict_inputs(self.encoder_.transform(x))

    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_inputs(self.encoder_.transform(X))

    def input_spec(self) -> dict[str, Any]:
        """What :meth:`predict_output` takes, for readers of prediction inputs.

        ``{"modality": ...}`` plus, for images, ``image_size`` ``[H, W, C]`` (the training images' size) and,
        for sequences, ``steps`` (the training length) and ``features`` (values per step).
        """
        self._check_fitted()
        spec: dict[str, Any] = {"modality": self.modality_}
        if isinstance(self.encoder_, ImageEncoder):
            spec["image_size"] = [int(v) for v in self.encoder_.state()["input_size"]]
        elif isinstance(self.encoder_, SequenceEncoder):
            state = self.encoder_.state()
            spec["steps"], spec["features"] = int(state["steps"]), int(state["features"])
        return spec

    def to(self, device: str | torch.device) -> Self:
        """Move the fitted network to ``device`` (a loaded model starts on the CPU)."""
        self._check_fitted()
        self.model_.to(torch.device(device))
        return self

    # -- export --------------------------------------------------------------------------------------------
    def _onnx_graph(self) -> Any:
        """Network, input encoding and output activation as one ONNX graph (see :mod:`trainers.torch.onnx_export`)."""
        from trainers.torch.onnx_export import torch_graph

        return torch_graph(self)

    def _onnx_sample_matrix(self) -> np.ndarray:
        """Check rows within ±3 spreads of each numeric column's training centre (the encoder's own)."""
        from trainers.export.onnx import sample_matrix

        state = getattr(self.encoder_, "encoder", self.encoder_).state()
        scale = {n: (c, s) for n, c, s in zip(state["numeric"], state["center"], state["spread"], strict=True)}
        return sample_matrix(self.schema_, scale=scale)

    def _onnx_check_inputs(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], np.ndarray]:
        from trainers.torch.onnx_export import image_check_inputs, sequence_check_inputs

        if self.modality_ == "image":
            return image_check_inputs(self)
        if getattr(self, "encoder_kind_", None) == "sequence":
            return sequence_check_inputs(self)
        return super()._onnx_check_inputs()

    # -- artifacts -------------------------------------------------------------------------------------------
    def _save_model(self, directory: Path) -> list[str]:
        from safetensors.torch import save_file

        # clone(): safetensors refuses tensors that share storage (tied weights); copies never do.
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.model_.state_dict().items()}
        save_file(state, str(directory / MODEL_FILE), metadata={"format": ARTIFACT_VERSION})
        files = [MODEL_FILE, SPEC_FILE]
        encoder_state = self.encoder_.state()
        if self.encoder_kind_ == "hf-tokens":
            files += self.encoder_.save(directory)
        spec = {
            "format": ARTIFACT_VERSION,
            "trainer": self.NAME,
            "modality": self.modality_,
            "build": self.build_,
            "encoder": {"kind": self.encoder_kind_, "state": encoder_state},
            "output": {"activation": self.params["output_activation"], "units": self.params["output_units"]},
            "target": self.target_,
            "amp": str(self.amp_dtype_).replace("torch.", "") if getattr(self, "amp_dtype_", None) else None,
            "run": getattr(self, "run_info_", None),
        }
        (directory / SPEC_FILE).write_text(
            json.dumps(spec, sort_keys=True, indent=1, allow_nan=False), encoding="utf-8"
        )
        return files

    def _load_model(self, directory: Path) -> None:
        from safetensors.torch import load_file

        spec = json.loads((directory / SPEC_FILE).read_text(encoding="utf-8"))
        if spec.get("format") != ARTIFACT_VERSION:
            raise ValueError(f"unknown torch artifact format {spec.get('format')!r}")
        self.modality_ = spec["modality"]
        self.build_ = spec["build"]
        self.target_ = spec["target"]
        self.run_info_ = spec.get("run")
        self.amp_dtype_ = None  # a loaded model predicts in float32 on the CPU until moved with to()
        kind, state = spec["encoder"]["kind"], spec["encoder"]["state"]
        self.encoder_kind_ = kind
        if kind == "tabular":
            self.encoder_ = TabularEncoder(state)
        elif kind == "image":
            self.encoder_ = ImageEncoder(state)
        elif kind == "sequence":
            self.encoder_ = SequenceEncoder(state)
        elif kind == "words":
            self.encoder_ = WordEncoder.from_state(state)
        elif kind == "hf-tokens":
            self.encoder_ = HFTokenEncoder.from_dir(directory, int(state["max_length"]))
        else:
            raise ValueError(f"unknown encoder kind {kind!r}")
        if self.build_["network"] == "backbone":
            model: nn.Module = BackboneModel(rebuild_backbone(self.build_["backbone"]), **self.build_["head"])
        else:
            model = build_network(self.build_)
        model.load_state_dict(load_file(str(directory / MODEL_FILE)), strict=True)
        model.eval()
        self.model_ = model

    @classmethod
    def load(cls, directory: str | Path, *, n_threads: int = 1, expected_sha256: str | None = None) -> Self:
        """Load an artifact written by :meth:`save` (hashes verified first; weights via safetensors only)."""
        return super().load(directory, n_threads=n_threads, expected_sha256=expected_sha256)

    # -- helpers for subclasses ------------------------------------------------------------------------------
    def _dropout(self, key: str) -> float:
        return dropout_of(self.params.get("dropout"), key)

    @staticmethod
    def _scratch_parts(
        net: type[nn.Module],
        network: str,
        kwargs: dict[str, Any],
        enc: Any,
        kind: str,
        train: ArrayData,
        valid: ArrayData,
    ) -> FitParts:
        """A network trained from scratch, its encoder and both splits encoded."""
        return FitParts(
            net(**kwargs),
            enc,
            kind,
            {"network": network, "kwargs": kwargs},
            enc.transform(train.x),
            enc.transform(valid.x),
        )

    @staticmethod
    def _word_encoder(train: ArrayData, arch: Mapping[str, Any], max_length: int, notes: list[str]) -> WordEncoder:
        """Whole-word ids for a from-scratch text model; a note when the texts hold fewer words than the cap."""
        enc = WordEncoder.fit(train.x, int(arch["vocab_size"]), max_length)
        if enc.vocab.size < int(arch["vocab_size"]):
            notes.append(
                f"the training texts have {enc.vocab.size - 2} distinct words: vocabulary of "
                f"{enc.vocab.size} ids (vocab_size {arch['vocab_size']} is the cap)"
            )
        return enc

    def _sequence_encoder(
        self, train: ArrayData, arch: Mapping[str, Any], max_length: int | None
    ) -> tuple[SequenceEncoder, int]:
        """The scaled, padded sequence encoder and the features per step (checked against ``input_size``)."""
        features = int(train.x.shape[2])
        if "input_size" in arch and int(arch["input_size"]) != features:
            raise TrainerParamError(
                "architecture", f"input_size {arch['input_size']} differs from the data's {features} features per step"
            )
        return SequenceEncoder.fit(train.x, self.params.get("scaling"), max_length), features

    def _backbone_parts(
        self, name: str, domain: str, pooling: str = "cls"
    ) -> tuple[BackboneChoice, Any, dict[str, Any]]:
        choice = resolve_backbone(name, domain)  # type: ignore[arg-type]
        backbone, record = load_pretrained(choice, pooling=pooling)
        return choice, backbone, record

    def _head(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "head_units": list(arch.get("head_units") or []),
            "activation_name": self.params.get("hidden_activation", self.DEFAULT_ACTIVATION),
            "dropout": self._dropout("dense"),
            "out_units": int(self.params["output_units"]),
        }

    def _transfer_model(
        self, choice: BackboneChoice, backbone: Any, record: dict[str, Any], arch: Mapping[str, Any], notes: list[str]
    ) -> tuple[BackboneModel, list[ParamGroup], dict[str, Any], dict[str, Any]]:
        head = self._head(arch)
        model = BackboneModel(backbone, **head)
        groups, plan = apply_plan(model, self.params["transfer"], float(self.params["optimizer"]["learning_rate"]))
        for key, actual in (("feature_dim", backbone.feature_dim), ("backbone_blocks", plan["backbone_blocks"])):
            if key in arch and arch[key] != actual:
                notes.append(f"architecture.{key} {arch[key]} is {choice.requested}'s; {choice.used} has {actual}")
        build = {"network": "backbone", "backbone": record, "head": head}
        return model, groups, plan, build


# -- the four trainers ------------------------------------------------------------------------------------------
@register_trainer("torch_mlp")
class TorchMLPTrainer(TorchTrainer):
    """MLP for tabular data: standardized numeric columns plus embedded categorical columns (§1)."""

    NAME = "torch_mlp"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"tabular"})
    ARCH_TYPES: ClassVar[frozenset[str]] = frozenset({"mlp"})

    @classmethod
    def _check_arch(cls, arch: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        _check_units(arch, "hidden_units")
        _check_pos_int(arch, "input_features", required=False)
        embedding_dim(arch.get("categorical_embedding_dim", 1), 2)  # parse errors surface before any data work

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size, 8192)

    def _build(self, train: TrainData, valid: TrainData, notes: list[str]) -> FitParts:
        p = self.params
        arch = p["architecture"]
        enc = TabularEncoder.fit(train.X, train.schema, p.get("imputation"), p.get("scaling"))
        declared, actual = arch.get("input_features"), len(train.schema.columns)
        if declared is not None and declared != actual:
            notes.append(
                f"architecture.input_features is {declared} but the data has {actual} feature columns; "
                "the first layer takes the data's columns"
            )
        rule = arch.get("categorical_embedding_dim", "min(50, (levels + 1) // 2)")
        kwargs = {
            "n_numeric": enc.n_numeric,
            "cat_levels": enc.cat_levels,
            "emb_dims": [embedding_dim(rule, lv) for lv in enc.cat_levels_raw],
            "hidden_units": list(arch["hidden_units"]),
            "activation_name": p.get("hidden_activation", "relu"),
            "normalization": p.get("normalization"),
            "dropout": self._dropout("dense"),
            "out_units": int(p["output_units"]),
        }
        return FitParts(
            MLPNet(**kwargs),
            _TabularPrepare(enc),
            "tabular",
            {"network": "mlp", "kwargs": kwargs},
            enc.transform(train.X),
            enc.transform(valid.X),
        )

    def _load_model(self, directory: Path) -> None:
        super()._load_model(directory)
        self.encoder_ = _TabularPrepare(self.encoder_)


class _TabularPrepare:
    """The tabular encoder plus the per-batch step (the MLP takes the categorical codes only if it has any)."""

    def __init__(self, encoder: TabularEncoder) -> None:
        self.encoder = encoder
        self.has_categorical = bool(encoder.cat_levels)

    def transform(self, X: pd.DataFrame) -> list[torch.Tensor]:
        return self.encoder.transform(X)

    def state(self) -> dict[str, Any]:
        return self.encoder.state()

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, ...]:
        return (batch[0], batch[1]) if self.has_categorical else (batch[0],)


@register_trainer("torch_cnn")
class TorchCNNTrainer(TorchTrainer):
    """CNN for images: conv blocks from scratch, or a pretrained backbone with a new head (§1, §8)."""

    NAME = "torch_cnn"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"image"})
    ARCH_TYPES: ClassVar[frozenset[str]] = frozenset({"cnn"})

    @classmethod
    def _check_arch(cls, arch: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if "backbone" in arch:
            _check_units(arch, "head_units")
            return
        _check_units(arch, "conv_channels", allow_empty=False)
        _check_units(arch, "dense_units")
        _check_pos_int(arch, "kernel_size")
        pools = arch.get("pool_after", [True] * len(arch["conv_channels"]))
        if not isinstance(pools, list) or len(pools) != len(arch["conv_channels"]):
            raise TrainerParamError("architecture", "pool_after needs one true/false per conv block")

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 256)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        p = self.params
        arch = p["architecture"]
        _, h, w, c = train.x.shape
        declared = arch.get("input_size")
        if "backbone" in arch:
            choice, backbone, record = self._backbone_parts(str(arch["backbone"]), "vision")
            enc = ImageEncoder.fit(train.x, backbone_stats=image_stats(record), augmentation=p.get("augmentation"))
            model, groups, plan, build = self._transfer_model(choice, backbone, record, arch, notes)
            if p.get("normalization") not in (None, "none"):
                notes.append(
                    f"normalization {p['normalization']!r} is the backbone's own; the new head is "
                    f"{len(arch.get('head_units') or [])} hidden layer(s) plus the output layer"
                )
            return FitParts(
                model,
                enc,
                "image",
                build,
                enc.transform(train.x),
                enc.transform(valid.x),
                backbone=choice,
                groups=groups,
                transfer_plan=plan,
            )
        if declared is not None and list(declared) != [h, w, c]:
            raise TrainerParamError(
                "architecture",
                f"input_size {list(declared)} differs from the images ({h}×{w}×{c}); recommend for this data's profile",
            )
        enc = ImageEncoder.fit(train.x, backbone_stats=None, augmentation=p.get("augmentation"))
        kwargs = {
            "in_channels": c,
            "height": h,
            "width": w,
            "conv_channels": list(arch["conv_channels"]),
            "kernel_size": int(arch["kernel_size"]),
            "pool_after": [bool(v) for v in arch.get("pool_after", [True] * len(arch["conv_channels"]))],
            "dense_units": list(arch.get("dense_units", [])),
            "activation_name": p.get("hidden_activation", "relu"),
            "normalization": p.get("normalization"),
            "conv_dropout": self._dropout("conv"),
            "dense_dropout": self._dropout("dense"),
            "out_units": int(p["output_units"]),
        }
        return self._scratch_parts(CNNNet, "cnn", kwargs, enc, "image", train, valid)


@register_trainer("torch_lstm")
class TorchLSTMTrainer(TorchTrainer):
    """LSTM or GRU for sequences, time series, audio frames and (from scratch) text (§1 RNN/LSTM)."""

    NAME = "torch_lstm"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"sequence", "audio", "text"})
    ARCH_TYPES: ClassVar[frozenset[str]] = frozenset({"lstm", "gru"})
    DEFAULT_ACTIVATION: ClassVar[str] = "tanh"

    @classmethod
    def _check_arch(cls, arch: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        cell = arch.get("cell", arch["type"])
        if cell not in ("lstm", "gru"):
            raise TrainerParamError("architecture", f"cell must be 'lstm' or 'gru', got {cell!r}")
        for key in ("hidden_size", "num_layers"):
            _check_pos_int(arch, key)
        for key in ("input_size", "max_length", "vocab_size", "embedding_dim"):
            _check_pos_int(arch, key, required=False)
        if "vocab_size" in arch and "embedding_dim" not in arch:
            raise TrainerParamError("architecture", "a text LSTM needs embedding_dim with vocab_size")
        act = params.get("hidden_activation", "tanh")
        if act != "tanh":
            raise TrainerParamError(
                "hidden_activation", f"LSTM and GRU cells use tanh internally; {act!r} cannot be applied to them"
            )
        if params.get("normalization") == "group_norm":
            raise TrainerParamError("normalization", "group_norm does not apply to recurrent features")

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 256)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        p = self.params
        arch = p["architecture"]
        common = {
            "cell": arch.get("cell", arch["type"]),
            "hidden_size": int(arch["hidden_size"]),
            "num_layers": int(arch["num_layers"]),
            "bidirectional": bool(arch.get("bidirectional", False)),
            "recurrent_dropout": self._dropout("recurrent"),
            "normalization": p.get("normalization"),
            "dense_dropout": self._dropout("dense"),
            "out_units": int(p["output_units"]),
        }
        if common["num_layers"] == 1 and common["recurrent_dropout"] > 0:
            notes.append("dropout.recurrent applies between stacked recurrent layers; with one layer there is none")
        if train.modality == "text":
            if "vocab_size" not in arch:
                raise TrainerParamError("architecture", "text needs vocab_size, embedding_dim and max_length")
            enc = self._word_encoder(train, arch, int(arch.get("max_length", 128)), notes)
            kwargs = {
                **common,
                "input_size": int(arch["embedding_dim"]),
                "vocab_size": enc.vocab.size,
                "embedding_dim": int(arch["embedding_dim"]),
            }
            return self._scratch_parts(RNNNet, "rnn", kwargs, enc, "words", train, valid)
        seq, features = self._sequence_encoder(train, arch, arch.get("max_length"))
        return self._scratch_parts(RNNNet, "rnn", {**common, "input_size": features}, seq, "sequence", train, valid)


@register_trainer("torch_transformer")
class TorchTransformerTrainer(TorchTrainer):
    """Transformer encoder for text (pretrained MiniLM or from scratch) and sequences (from scratch) (§1, §8)."""

    NAME = "torch_transformer"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"text", "sequence", "audio"})
    ARCH_TYPES: ClassVar[frozenset[str]] = frozenset({"transformer"})
    DEFAULT_ACTIVATION: ClassVar[str] = "gelu"

    @classmethod
    def _check_arch(cls, arch: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if arch.get("pooling", "mean") not in ("mean", "cls"):
            raise TrainerParamError("architecture", f"pooling must be 'mean' or 'cls', got {arch.get('pooling')!r}")
        if params.get("normalization") not in (None, "layer_norm"):
            raise TrainerParamError("normalization", "a Transformer encoder normalizes with LayerNorm only")
        if "backbone" in arch:
            _check_units(arch, "head_units")
            _check_pos_int(arch, "max_length", required=False)
            return
        for key in ("d_model", "n_heads", "n_layers", "ff_dim", "max_length"):
            _check_pos_int(arch, key)
        if arch["d_model"] % arch["n_heads"]:
            raise TrainerParamError("architecture", "d_model must be a multiple of n_heads")

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 128)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        p = self.params
        arch = p["architecture"]
        pooling = str(arch.get("pooling", "mean"))
        if "backbone" in arch:
            if train.modality != "text":
                raise TrainerCapabilityError(
                    "pretrained Transformer backbones are text encoders; sequences train from scratch"
                )
            choice, backbone, record = self._backbone_parts(str(arch["backbone"]), "nlp", pooling)
            if not isinstance(backbone, HFTextBackbone):
                raise TrainerCapabilityError(f"backbone {choice.used} is not a text encoder")
            enc = HFTokenEncoder.from_dir(minilm_path(), int(arch.get("max_length", 128)))
            model, groups, plan, build = self._transfer_model(choice, backbone, record, arch, notes)
            return FitParts(
                model,
                enc,
                "hf-tokens",
                build,
                enc.transform(train.x),
                enc.transform(valid.x),
                backbone=choice,
                groups=groups,
                transfer_plan=plan,
            )
        common = {
            "d_model": int(arch["d_model"]),
            "n_heads": int(arch["n_heads"]),
            "n_layers": int(arch["n_layers"]),
            "ff_dim": int(arch["ff_dim"]),
            "max_length": int(arch["max_length"]),
            "pooling": pooling,
            "activation_name": p.get("hidden_activation", "gelu"),
            "attention_dropout": self._dropout("attention"),
            "dense_dropout": self._dropout("dense"),
            "out_units": int(p["output_units"]),
        }
        if train.modality == "text":
            if "vocab_size" not in arch:
                raise TrainerParamError("architecture", "text needs vocab_size and max_length")
            enc = self._word_encoder(train, arch, int(arch["max_length"]), notes)
            kwargs = {**common, "vocab_size": enc.vocab.size}
            return self._scratch_parts(TransformerNet, "transformer", kwargs, enc, "words", train, valid)
        seq, features = self._sequence_encoder(train, arch, int(arch["max_length"]))
        return self._scratch_parts(
            TransformerNet, "transformer", {**common, "input_size": features}, seq, "sequence", train, valid
        )
