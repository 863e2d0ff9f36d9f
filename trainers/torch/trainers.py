"""The four registered PyTorch trainers: ``torch_mlp``, ``torch_cnn``, ``torch_lstm``, ``torch_transformer``.

Each builds its encoder and network from its typed recipe (:mod:`trainers.torch.recipe`); fitting,
predicting and saving are shared (:class:`~trainers.torch.base.TorchTrainer`). Artifacts:
``model.safetensors`` (state dict) + ``model.json`` (how to rebuild the network and encode inputs), plus
``tokenizer*.json`` for a pretrained text encoder (:mod:`trainers.torch.artifact`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from trainers.base import TrainerCapabilityError, TrainerParamError
from trainers.registry import register_trainer
from trainers.spec import TrainData
from trainers.torch.backbones import HFTextBackbone, image_stats, minilm_path
from trainers.torch.base import FitParts, TorchTrainer
from trainers.torch.data import ArrayData
from trainers.torch.encoders import HFTokenEncoder, ImageEncoder, TabularEncoder
from trainers.torch.models import CNNNet, MLPNet, RNNNet, TransformerNet, embedding_dim
from trainers.torch.recipe import (
    CNNArchitecture,
    CNNBackboneArchitecture,
    CNNRecipe,
    MLPRecipe,
    RNNRecipe,
    TorchRecipe,
    TransformerBackboneArchitecture,
    TransformerRecipe,
)


@register_trainer("torch_mlp")
class TorchMLPTrainer(TorchTrainer):
    """MLP for tabular data: standardized numeric columns plus embedded categorical columns (§1)."""

    NAME = "torch_mlp"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"tabular"})
    RECIPE: ClassVar[type[TorchRecipe]] = MLPRecipe
    recipe_: MLPRecipe

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size, 8192)

    def _build(self, train: TrainData, valid: TrainData, notes: list[str]) -> FitParts:
        r = self.recipe_
        arch = r.architecture
        enc = TabularEncoder.fit(train.X, train.schema, r.imputation, r.scaling)
        declared, actual = arch.input_features, len(train.schema.columns)
        if declared is not None and declared != actual:
            notes.append(
                f"architecture.input_features is {declared} but the data has {actual} feature columns; "
                "the first layer takes the data's columns"
            )
        kwargs: dict[str, Any] = {
            "n_numeric": enc.n_numeric,
            "cat_levels": enc.cat_levels,
            "emb_dims": [embedding_dim(arch.categorical_embedding_dim, lv) for lv in enc.cat_levels_raw],
            "hidden_units": list(arch.hidden_units),
            "activation_name": r.hidden_activation,
            "normalization": r.normalization,
            "dropout": self._dropout("dense"),
            "out_units": int(r.output_units),
        }
        return FitParts(
            MLPNet(**kwargs),
            enc,
            "tabular",
            {"network": "mlp", "kwargs": kwargs},
            enc.transform(train.X),
            enc.transform(valid.X),
        )


@register_trainer("torch_cnn")
class TorchCNNTrainer(TorchTrainer):
    """CNN for images: conv blocks from scratch, or a pretrained backbone with a new head (§1, §8)."""

    NAME = "torch_cnn"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"image"})
    RECIPE: ClassVar[type[TorchRecipe]] = CNNRecipe
    recipe_: CNNRecipe

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 256)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        r = self.recipe_
        arch = r.architecture
        _, h, w, c = train.x.shape
        if isinstance(arch, CNNBackboneArchitecture):
            choice, backbone, record = self._backbone_parts(arch.backbone, "vision")
            enc = ImageEncoder.fit(train.x, backbone_stats=image_stats(record), augmentation=r.augmentation)
            model, groups, plan, build = self._transfer_model(choice, backbone, record, arch, notes)
            if r.normalization not in (None, "none"):
                notes.append(
                    f"normalization {r.normalization!r} is the backbone's own; the new head is "
                    f"{len(arch.head_units)} hidden layer(s) plus the output layer"
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
        assert isinstance(arch, CNNArchitecture)
        if arch.input_size is not None and arch.input_size != [h, w, c]:
            raise TrainerParamError(
                "architecture",
                f"input_size {arch.input_size} differs from the images ({h}×{w}×{c}); "
                "recommend for this data's profile",
            )
        enc = ImageEncoder.fit(train.x, backbone_stats=None, augmentation=r.augmentation)
        kwargs: dict[str, Any] = {
            "in_channels": c,
            "height": h,
            "width": w,
            "conv_channels": list(arch.conv_channels),
            "kernel_size": arch.kernel_size,
            "pool_after": arch.pools,
            "dense_units": list(arch.dense_units),
            "activation_name": r.hidden_activation,
            "normalization": r.normalization,
            "conv_dropout": self._dropout("conv"),
            "dense_dropout": self._dropout("dense"),
            "out_units": int(r.output_units),
        }
        return self._scratch_parts(CNNNet, "cnn", kwargs, enc, "image", train, valid)


@register_trainer("torch_lstm")
class TorchLSTMTrainer(TorchTrainer):
    """LSTM or GRU for sequences, time series, audio frames and (from scratch) text (§1 RNN/LSTM)."""

    NAME = "torch_lstm"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"sequence", "audio", "text"})
    RECIPE: ClassVar[type[TorchRecipe]] = RNNRecipe
    recipe_: RNNRecipe

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 256)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        r = self.recipe_
        arch = r.architecture
        recurrent_dropout = self._dropout("recurrent")
        common: dict[str, Any] = {
            "cell": arch.cell_type,
            "hidden_size": arch.hidden_size,
            "num_layers": arch.num_layers,
            "bidirectional": arch.bidirectional,
            "recurrent_dropout": recurrent_dropout,
            "normalization": r.normalization,
            "dense_dropout": self._dropout("dense"),
            "out_units": int(r.output_units),
        }
        if arch.num_layers == 1 and recurrent_dropout > 0:
            notes.append("dropout.recurrent applies between stacked recurrent layers; with one layer there is none")
        if train.modality == "text":
            if arch.vocab_size is None or arch.embedding_dim is None:
                raise TrainerParamError("architecture", "text needs vocab_size, embedding_dim and max_length")
            words = self._word_encoder(train, arch.vocab_size, arch.max_length or 128, notes)
            kwargs = {
                **common,
                "input_size": arch.embedding_dim,
                "vocab_size": words.vocab.size,
                "embedding_dim": arch.embedding_dim,
            }
            return self._scratch_parts(RNNNet, "rnn", kwargs, words, "words", train, valid)
        seq, features = self._sequence_encoder(train, arch.input_size, arch.max_length)
        return self._scratch_parts(RNNNet, "rnn", {**common, "input_size": features}, seq, "sequence", train, valid)


@register_trainer("torch_transformer")
class TorchTransformerTrainer(TorchTrainer):
    """Transformer encoder for text (pretrained MiniLM or from scratch) and sequences (from scratch) (§1, §8)."""

    NAME = "torch_transformer"
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"text", "sequence", "audio"})
    RECIPE: ClassVar[type[TorchRecipe]] = TransformerRecipe
    recipe_: TransformerRecipe

    def _eval_batch_size(self, batch_size: int) -> int:
        return max(batch_size * 4, 128)

    def _build(self, train: ArrayData, valid: ArrayData, notes: list[str]) -> FitParts:
        r = self.recipe_
        arch = r.architecture
        pooling = arch.pooling
        if isinstance(arch, TransformerBackboneArchitecture):
            if train.modality != "text":
                raise TrainerCapabilityError(
                    "pretrained Transformer backbones are text encoders; sequences train from scratch"
                )
            choice, backbone, record = self._backbone_parts(arch.backbone, "nlp", pooling)
            if not isinstance(backbone, HFTextBackbone):
                raise TrainerCapabilityError(f"backbone {choice.used} is not a text encoder")
            enc = HFTokenEncoder.from_dir(minilm_path(), arch.max_length or 128)
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
        common: dict[str, Any] = {
            "d_model": arch.d_model,
            "n_heads": arch.n_heads,
            "n_layers": arch.n_layers,
            "ff_dim": arch.ff_dim,
            "max_length": arch.max_length,
            "pooling": pooling,
            "activation_name": r.hidden_activation,
            "attention_dropout": self._dropout("attention"),
            "dense_dropout": self._dropout("dense"),
            "out_units": int(r.output_units),
        }
        if train.modality == "text":
            if arch.vocab_size is None:
                raise TrainerParamError("architecture", "text needs vocab_size and max_length")
            words = self._word_encoder(train, arch.vocab_size, arch.max_length, notes)
            kwargs = {**common, "vocab_size": words.vocab.size}
            return self._scratch_parts(TransformerNet, "transformer", kwargs, words, "words", train, valid)
        seq, features = self._sequence_encoder(train, arch.input_size, arch.max_length)
        return self._scratch_parts(
            TransformerNet, "transformer", {**common, "input_size": features}, seq, "sequence", train, valid
        )
