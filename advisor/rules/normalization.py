"""§7 Normalization: BatchNorm for CNN/MLP with batches ≥16, LayerNorm for transformers/RNNs, GroupNorm else."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule


class NormLayer(Rule):
    """§7 "Layer Norm — Transformers, RNNs; any batch size"."""

    ID = "normalization.layer_norm"
    SECTION = "§7"
    DECIDES = "normalization"
    CONDITIONS = {"arch": ["transformer", "lstm"]}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch in ("transformer", "lstm")

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "layer_norm", "Transformers and RNNs → LayerNorm across features (§7), independent of batch size."
        )


class NormBatch(Rule):
    """§7 "Batch Norm — CNNs, large batches; ≥16 required", after the linear/conv and before the activation."""

    ID = "normalization.batch_norm"
    SECTION = "§7"
    DECIDES = "normalization"
    CONDITIONS = {"arch": ["cnn", "mlp"], "batch_size_gte": t.BATCHNORM_MIN_BATCH}

    def applies(self, ctx: Context) -> bool:
        batch_size: int = ctx.value("batch_size")
        return batch_size >= t.BATCHNORM_MIN_BATCH

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "batch_norm",
            f"Batch size {ctx.value('batch_size')} ≥ {t.BATCHNORM_MIN_BATCH}: "
            "BatchNorm after each dense/conv layer, before the activation (§7).",
        )


class NormGroup(Rule):
    """§7 "Group Norm — small batches, CV"."""

    ID = "normalization.group_norm"
    SECTION = "§7"
    DECIDES = "normalization"
    CONDITIONS = {"arch": "cnn", "batch_size_lt": t.BATCHNORM_MIN_BATCH}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "cnn"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "group_norm",
            f"Batch size {ctx.value('batch_size')} is under {t.BATCHNORM_MIN_BATCH}, "
            "too small for BatchNorm: GroupNorm for vision (§7).",
        )


class NormLayerSmallBatch(Rule):
    """An MLP with batches under 16 uses LayerNorm (any batch size, §7)."""

    ID = "normalization.layer_norm_small_batch"
    SECTION = "§7"
    DECIDES = "normalization"
    CONDITIONS = {"arch": "mlp", "batch_size_lt": t.BATCHNORM_MIN_BATCH}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "layer_norm",
            f"Batch size {ctx.value('batch_size')} is under {t.BATCHNORM_MIN_BATCH}: "
            "LayerNorm, which works at any batch size (§7).",
        )
