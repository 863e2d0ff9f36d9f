"""What the four PyTorch trainers share: fit on a device, predict, export and save (see :mod:`trainers.torch.trainers`).

Each trains exactly its typed recipe (:mod:`trainers.torch.recipe`): a value it cannot apply is refused
with :class:`~trainers.base.TrainerParamError` naming the key, never replaced silently. Where the data
forces a deviation (a backbone absent from this machine, an image channel count, a declared input width)
the run proceeds and ``run_info_["notes"]`` / ``run_info_["backbone"]`` say what was done and why.

``fit`` is :meth:`Trainer.fit`; the modality hook reads the data's kind: ``torch_mlp`` takes
:class:`~trainers.spec.TrainData` (a typed frame, as the classical trainers); the others take
:class:`~trainers.torch.data.ArrayData` (images, sequences, texts). ``predict_output`` takes the same kind
of rows (a frame, or ``ArrayData`` / a bare array). Where it runs: :mod:`trainers.torch.runtime`; what
it writes: :mod:`trainers.torch.artifact`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainers.base import ADVISORY_PARAMS, Trainer, TrainerParamError, curve_values
from trainers.callbacks import Callbacks
from trainers.spec import CurveSet, Task, TrainData
from trainers.torch.artifact import TorchArtifact, amp_name, load_artifact, save_artifact
from trainers.torch.backbones import BackboneModel
from trainers.torch.data import ArrayData, check_array, is_array_modality
from trainers.torch.encoders import ImageEncoder, SequenceEncoder, WordEncoder
from trainers.torch.loop import LoopConfig, TensorBatches, metric_name, probe_dead_relus
from trainers.torch.loop import predict as loop_predict
from trainers.torch.loop import train as loop_train
from trainers.torch.losses import build_loss, check_output, output_to_numpy, target_tensor
from trainers.torch.models import count_parameters
from trainers.torch.optim import ParamGroup, Schedule, build_optimizer
from trainers.torch.recipe import BackboneArchitecture, TorchRecipe
from trainers.torch.runtime import amp_dtype_for, reproducibility, resolve_device, seed_everything, torch_threads
from trainers.torch.transfer import BackboneChoice, Domain, apply_plan, load_pretrained, resolve_backbone

# The library settings a torch recipe holds (the advisory keys, e.g. ``device``, are the base class's).
RECIPE_KEYS = frozenset(TorchRecipe.model_fields) - ADVISORY_PARAMS


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
    # The typed recipe this trainer trains (its architecture model says which networks it builds).
    RECIPE: ClassVar[type[TorchRecipe]] = TorchRecipe

    # Set by a fit: the recipe parsed by ``RECIPE`` (each subclass narrows it to its own recipe class), and
    # what the run did (device, reproducibility, notes); a loaded artifact may have no run record.
    recipe_: TorchRecipe
    run_info_: dict[str, Any] | None

    # -- checks ----------------------------------------------------------------------------------------------
    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        cls.RECIPE.parse(params, task, cls.NAME)

    def _total_rounds(self) -> int:
        return int(self.params.get("epochs", 1))

    # -- fit -------------------------------------------------------------------------------------------------
    if TYPE_CHECKING:

        def fit(
            self,
            train: TrainData | ArrayData,
            valid: TrainData | ArrayData,
            callbacks: Callbacks | None = None,
        ) -> Self:
            """:meth:`Trainer.fit` (the same code), typed for the arrays these trainers also take."""
            ...

    def _modality(self, train: TrainData | ArrayData, valid: TrainData | ArrayData) -> str:
        """``"tabular"`` for frames, else the arrays' own modality; both splits must be of one kind."""
        modality = train.modality if isinstance(train, ArrayData) else "tabular"
        if isinstance(valid, ArrayData) != isinstance(train, ArrayData) or (
            isinstance(valid, ArrayData) and valid.modality != modality
        ):
            raise ValueError("train and validation data are of different kinds")
        return modality

    def _complete_curves(self, train: Any, valid: Any) -> None:
        """Nothing to fill: the curves are in the recipe's own loss units (standardized targets for
        regression), which a constant predictor's log-loss/MSE on raw targets would not match."""

    def _build(self, train: Any, valid: Any, notes: list[str]) -> FitParts:
        """Subclass hook: encoder fitted on ``train``, network, inputs of both splits."""
        raise NotImplementedError

    def _fit(self, train: Any, valid: Any, callbacks: Callbacks) -> None:
        with torch_threads(self.n_threads):
            self._fit_on_device(train, valid, callbacks)

    def _fit_on_device(self, train: Any, valid: Any, callbacks: Callbacks) -> None:
        task = self.task_
        r = self.recipe_ = self.RECIPE.parse(self.params, task, self.NAME)
        notes: list[str] = []
        device, device_note = resolve_device(r.device)
        if device_note:
            notes.append(device_note)
        seed_everything(self.seed)
        n_classes = self.schema_.n_classes
        activation = r.output_activation
        check_output(task, n_classes, r.output_units, activation, r.loss)
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

        groups = parts.groups or [ParamGroup("all", list(model.parameters()), float(r.optimizer["learning_rate"]))]
        optimizer = build_optimizer(groups, r.optimizer, float(r.l2 or 0.0))
        loss_fn = build_loss(r.loss, activation, task, y_train, n_classes, device)
        batch_size = r.batch_size
        steps_per_epoch = max(1, math.ceil(len(train) / batch_size))
        schedule = Schedule(optimizer, r.lr_schedule, steps_per_epoch)
        es, clip = r.early_stopping, r.gradient_clipping
        amp = amp_dtype_for(device)
        cfg = LoopConfig(
            task=task,
            activation=activation,
            epochs=r.epochs,
            batch_size=batch_size,
            eval_batch_size=self._eval_batch_size(batch_size),
            device=device,
            patience=es.patience if es else None,
            restore_best=es.restore_best if es else False,
            clip_norm=float(clip.max_norm) if clip else None,
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
            loss_name=str(r.loss["name"]),
            train_loss=curve_values(result.train_loss),
            val_loss=curve_values(result.val_loss),
            metric_name=name,
            train_metric=curve_values(result.train_metric),
            val_metric=curve_values(result.val_metric),
            metric_higher_is_better=task != "regression",
            baseline_loss=baseline,
            dead_relu_fraction=relu.fraction,
            history={
                "train": {"loss": curve_values(result.train_loss), name: curve_values(result.train_metric)},
                "valid": {"loss": curve_values(result.val_loss), name: curve_values(result.val_metric)},
                "learning_rate": {group: curve_values(rates) for group, rates in result.lr.items()},
            },
        )
        bit_repro, repro_why = reproducibility(device, self.n_threads)
        peak_cuda = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
        total, trainable = count_parameters(model)
        notes.extend(getattr(parts.encoder, "notes", lambda: [])())
        if result.partial_epoch:
            notes.append("time ran out inside the first epoch: the model is the weights reached so far")
        self.run_info_ = {
            "device": device.type,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "gpu": device.type == "cuda",
            "requested_device": r.device,
            "mixed_precision": amp_name(amp),
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
        modality = self.modality_
        if not is_array_modality(modality):  # tabular
            return super().predict_output(X, warnings=warnings)
        x = X.x if isinstance(X, ArrayData) else X
        x = check_array(x, modality)
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

        state = self.encoder_.state()
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
        artifact = TorchArtifact(
            model=self.model_,
            encoder=self.encoder_,
            encoder_kind=self.encoder_kind_,
            modality=self.modality_,
            build=self.build_,
            output={"activation": self.params["output_activation"], "units": self.params["output_units"]},
            target=self.target_,
            amp=amp_name(getattr(self, "amp_dtype_", None)),
            run=getattr(self, "run_info_", None),
        )
        return save_artifact(directory, self.NAME, artifact)

    def _load_model(self, directory: Path) -> None:
        artifact = load_artifact(directory)
        self.modality_ = artifact.modality
        self.build_ = artifact.build
        self.target_ = artifact.target
        self.run_info_ = artifact.run
        self.amp_dtype_ = None  # a loaded model predicts in float32 on the CPU until moved with to()
        self.encoder_kind_ = artifact.encoder_kind
        self.encoder_ = artifact.encoder
        self.model_ = artifact.model

    @classmethod
    def load(cls, directory: str | Path, *, n_threads: int = 1, expected_sha256: str | None = None) -> Self:
        """Load an artifact written by :meth:`save` (hashes verified first; weights via safetensors only)."""
        return super().load(directory, n_threads=n_threads, expected_sha256=expected_sha256)

    # -- helpers for subclasses ------------------------------------------------------------------------------
    def _dropout(self, key: str) -> float:
        return self.recipe_.rate(key)

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
    def _word_encoder(train: ArrayData, vocab_size: int, max_length: int, notes: list[str]) -> WordEncoder:
        """Whole-word ids for a from-scratch text model; a note when the texts hold fewer words than the cap."""
        enc = WordEncoder.fit(train.x, vocab_size, max_length)
        if enc.vocab.size < vocab_size:
            notes.append(
                f"the training texts have {enc.vocab.size - 2} distinct words: vocabulary of "
                f"{enc.vocab.size} ids (vocab_size {vocab_size} is the cap)"
            )
        return enc

    def _sequence_encoder(
        self, train: ArrayData, input_size: int | None, max_length: int | None
    ) -> tuple[SequenceEncoder, int]:
        """The scaled, padded sequence encoder and the features per step (checked against ``input_size``)."""
        features = int(train.x.shape[2])
        if input_size is not None and input_size != features:
            raise TrainerParamError(
                "architecture", f"input_size {input_size} differs from the data's {features} features per step"
            )
        return SequenceEncoder.fit(train.x, self.recipe_.scaling, max_length), features

    def _backbone_parts(
        self, name: str, domain: Domain, pooling: str = "cls"
    ) -> tuple[BackboneChoice, Any, dict[str, Any]]:
        choice = resolve_backbone(name, domain)
        backbone, record = load_pretrained(choice, pooling=pooling)
        return choice, backbone, record

    def _head(self, arch: BackboneArchitecture) -> dict[str, Any]:
        return {
            "head_units": list(arch.head_units),
            "activation_name": self.recipe_.hidden_activation,
            "dropout": self._dropout("dense"),
            "out_units": int(self.recipe_.output_units),
        }

    def _transfer_model(
        self,
        choice: BackboneChoice,
        backbone: Any,
        record: dict[str, Any],
        arch: BackboneArchitecture,
        notes: list[str],
    ) -> tuple[BackboneModel, list[ParamGroup], dict[str, Any], dict[str, Any]]:
        head = self._head(arch)
        model = BackboneModel(backbone, **head)
        groups, plan = apply_plan(model, self.recipe_.transfer, float(self.recipe_.optimizer["learning_rate"]))
        for key, actual in (("feature_dim", backbone.feature_dim), ("backbone_blocks", plan["backbone_blocks"])):
            declared = getattr(arch, key)
            if declared is not None and declared != actual:
                notes.append(f"architecture.{key} {declared} is {choice.requested}'s; {choice.used} has {actual}")
        build = {"network": "backbone", "backbone": record, "head": head}
        return model, groups, plan, build
