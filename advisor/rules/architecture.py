"""§1 Architecture: the network type per data type and the layer sizes, kept simple (Pro tip 1)."""

from __future__ import annotations

import math
from typing import Any

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.text import thousands

TEXT_VOCAB_SIZE = 30_000  # heuristic: a word-piece vocabulary of typical size
CNN_CHANNELS = (32, 64, 128, 256, 256)  # heuristic: double per block, capped


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def mlp_hidden_units(n_rows: int, n_features: int) -> list[int]:
    """Two hidden layers; wider with more rows, never narrower than the input (heuristic)."""
    width = 256 if n_rows >= 100_000 else 128 if n_rows >= 10_000 else 64
    width = min(512, max(width, _pow2_at_least(n_features)))
    return [width, width]


def cnn_blocks(image_size: tuple[int, int, int] | list[int]) -> tuple[list[int], list[bool]]:
    """Conv channels per block and whether each block pools (2×2) — pooling stops at 2 px."""
    side = min(image_size[0], image_size[1])
    n_blocks = max(2, min(5, int(math.log2(max(side, 1))) - 1))
    channels = list(CNN_CHANNELS[:n_blocks])
    pools: list[bool] = []
    for _ in channels:
        if side >= 4:
            pools.append(True)
            side //= 2
        else:
            pools.append(False)
    return channels, pools


class ArchitectureMLP(Rule):
    """MLP/FNN for tabular data (§1 table)."""

    ID = "architecture.mlp"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {
        "arch": "mlp",
        "hidden_width": "64 (<10K rows), 128 (<100K), 256 (≥100K), ≥ input width, ≤ 512",
        "hidden_layers": 2,
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "mlp"

    def decide(self, ctx: Context) -> Decision:
        n_feat = ctx.profile.n_features or 20
        units = mlp_hidden_units(ctx.profile.n_rows, n_feat)
        value = {
            "type": "mlp",
            "input_features": n_feat,
            "hidden_units": units,
            "categorical_embedding_dim": "min(50, (levels + 1) // 2)",
        }
        return self.make(
            value,
            f"Tabular data → MLP (§1); two hidden layers of {units[0]} units: start simple "
            "(Pro tip 1), wider for more rows.",
        )


class ArchitectureCNNTransfer(Rule):
    """CNN on a pretrained backbone for images when transfer learning is planned (§1, §8)."""

    ID = "architecture.cnn_pretrained"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {"arch": "cnn", "transfer": True, "head": "global pooling → dropout → linear"}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "cnn" and ctx.use_transfer

    def decide(self, ctx: Context) -> Decision:
        backbone = ctx.value("transfer")["pretrained_model"]
        m = t.PRETRAINED_MODELS[backbone]
        value = {
            "type": "cnn",
            "backbone": backbone,
            "input_size": list(ctx.profile.image_size or []),
            "feature_dim": m.feature_dim,
            "head_units": [],
            "backbone_blocks": m.layers,
        }
        return self.make(
            value,
            f"Images → CNN (§1) on a pretrained {backbone} backbone with a new linear head "
            "(§8 'don't train from scratch if pre-trained available', Pro tip 3).",
        )


class ArchitectureCNN(Rule):
    """A small CNN from scratch: conv blocks doubling channels, then one dense layer (§1)."""

    ID = "architecture.cnn"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {
        "arch": "cnn",
        "blocks": "clamp(log2(min side) - 1, 2, 5)",
        "channels": list(CNN_CHANNELS),
        "kernel_size": 3,
        "dense_units": [128],
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "cnn"

    def decide(self, ctx: Context) -> Decision:
        size = ctx.profile.image_size or (224, 224, 3)
        channels, pools = cnn_blocks(size)
        value = {
            "type": "cnn",
            "input_size": list(size),
            "conv_channels": channels,
            "kernel_size": 3,
            "pool_after": pools,
            "dense_units": [128],
        }
        return self.make(
            value,
            f"Images → CNN (§1): {len(channels)} conv blocks ({', '.join(map(str, channels))} "
            "channels, 3×3, 2×2 pooling) and one dense layer, sized to the image.",
        )


class ArchitectureTransformerPretrained(Rule):
    """A pretrained Transformer encoder for text, with a classification/regression head (§1, §8)."""

    ID = "architecture.transformer_pretrained"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {"arch": "transformer", "transfer": True, "max_length": "min(512, 2 × mean tokens)"}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer" and ctx.use_transfer

    def decide(self, ctx: Context) -> Decision:
        backbone = ctx.value("transfer")["pretrained_model"]
        m = t.PRETRAINED_MODELS[backbone]
        max_len = min(512, 2 * (ctx.profile.text_length or 128))
        value = {
            "type": "transformer",
            "backbone": backbone,
            "max_length": max_len,
            "feature_dim": m.feature_dim,
            "pooling": "cls",
            "head_units": [],
            "backbone_blocks": m.layers,
        }
        return self.make(
            value,
            f"Text → Transformer (§1, attention and parallel processing) starting from "
            f"pretrained {backbone}; sequences cut at {max_len} tokens (twice the mean length).",
        )


class ArchitectureTransformer(Rule):
    """A small Transformer encoder trained from scratch for sequences (§1)."""

    ID = "architecture.transformer"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {"arch": "transformer", "d_model": 128, "n_heads": 4, "n_layers": 2, "ff_dim": 512}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer"

    def decide(self, ctx: Context) -> Decision:
        p = ctx.profile
        value: dict[str, Any] = {
            "type": "transformer",
            "d_model": 128,
            "n_heads": 4,
            "n_layers": 2,
            "ff_dim": 512,
            "pooling": "mean",
        }
        if p.modality == "text":
            value |= {"vocab_size": TEXT_VOCAB_SIZE, "max_length": min(512, 2 * (p.text_length or 128))}
        else:
            length = p.sequence_length or 100
            value |= {"input_size": p.n_features or 1, "max_length": min(length, t.TRANSFORMER_MAX_LENGTH)}
        why = (
            "Sequential data → Transformer encoder (§1: attention, parallel processing); 2 layers of width 128 "
            "to start simple (Pro tip 1)"
        )
        if p.modality != "text" and (p.sequence_length or 0) > t.TRANSFORMER_MAX_LENGTH:
            why += (
                f"; attention memory grows with the square of the length, so only the last "
                f"{t.TRANSFORMER_MAX_LENGTH} of {thousands(p.sequence_length)} steps are kept"
            )
        return self.make(value, why + ".")


class ArchitectureRNN(Rule):
    """LSTM for sequences, time series, audio and (as an alternative) text (§1 "RNN/LSTM")."""

    ID = "architecture.lstm"
    SECTION = "§1"
    DECIDES = "architecture"
    CONDITIONS = {"arch": "lstm", "hidden_size": "64 (<10K rows) else 128", "num_layers": "1 (<10K rows) else 2"}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "lstm"

    def decide(self, ctx: Context) -> Decision:
        p = ctx.profile
        small = p.n_rows < 10_000
        value: dict[str, Any] = {
            "type": "lstm",
            "cell": "lstm",
            "hidden_size": 64 if small else 128,
            "num_layers": 1 if small else 2,
            "bidirectional": False,
        }
        if p.modality == "text":
            value |= {
                "vocab_size": TEXT_VOCAB_SIZE,
                "embedding_dim": 128,
                "max_length": min(512, 2 * (p.text_length or 128)),
            }
        else:
            value |= {"input_size": p.n_features or 1, "max_length": p.sequence_length or 100}
        return self.make(
            value,
            f"Sequential data → LSTM (§1: memory, temporal dependencies); "
            f"{value['num_layers']} layer(s) of {value['hidden_size']} units"
            f"{' for under 10K samples' if small else ''}.",
        )
