"""Networks built from the advisor's ``architecture`` dict: MLP, CNN, LSTM/GRU and Transformer encoder.

Each network takes JSON-able constructor arguments only (:func:`build_network` rebuilds one from the
``build`` record saved in ``model.json``), exposes ``body`` (everything but the output layer, i.e. what a
later job can reuse as a pretrained backbone) and ``out`` (the output layer, returning logits).

Layer order follows §7: linear/conv → normalization → activation → dropout.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from trainers.base import TrainerParamError

ACTIVATIONS = frozenset({"relu", "leaky_relu", "gelu", "tanh", "sigmoid", "elu", "selu", "silu", "swish", "linear"})
NORMALIZATIONS = frozenset({"batch_norm", "layer_norm", "group_norm", "none"})


def activation(name: str) -> nn.Module:
    """The §2 hidden activation as a module (``linear`` is the identity)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)  # the cheatsheet's max(0.01x, x)
    if name == "gelu":
        return nn.GELU()
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "elu":
        return nn.ELU()
    if name == "selu":
        return nn.SELU()
    if name in ("silu", "swish"):
        return nn.SiLU()
    if name == "linear":
        return nn.Identity()
    raise TrainerParamError(
        "hidden_activation", f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}"
    )


def group_count(channels: int, preferred: int = 32) -> int:
    """Largest divisor of ``channels`` not above ``preferred`` (GroupNorm needs an exact split)."""
    for g in range(min(preferred, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


def norm_dense(name: str | None, units: int) -> nn.Module:
    """§7 normalization after a dense layer."""
    if name == "batch_norm":
        return nn.BatchNorm1d(units)
    if name == "layer_norm":
        return nn.LayerNorm(units)
    if name == "group_norm":
        return nn.GroupNorm(group_count(units), units)
    return nn.Identity()


def norm_conv(name: str | None, channels: int) -> nn.Module:
    """§7 normalization after a conv layer; LayerNorm over (C, H, W) is GroupNorm with one group."""
    if name == "batch_norm":
        return nn.BatchNorm2d(channels)
    if name == "layer_norm":
        return nn.GroupNorm(1, channels)
    if name == "group_norm":
        return nn.GroupNorm(group_count(channels), channels)
    return nn.Identity()


# -- the categorical embedding width: an int or the advisor's formula in `levels` --------------------------
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}
_FUNCS = {"min": min, "max": max}


def _eval_formula(node: ast.AST, levels: int) -> int:
    if isinstance(node, ast.Expression):
        return _eval_formula(node.body, levels)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id == "levels":
        return levels
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return int(_BINOPS[type(node.op)](_eval_formula(node.left, levels), _eval_formula(node.right, levels)))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCS
        and node.args
        and not node.keywords
    ):
        return int(_FUNCS[node.func.id](*(_eval_formula(a, levels) for a in node.args)))
    raise ValueError(f"unsupported expression element {ast.dump(node)[:60]}")


def embedding_dim(rule: Any, levels: int) -> int:
    """Embedding width for a categorical column with ``levels`` levels.

    ``rule`` is an int or an arithmetic formula in ``levels`` using ``+ - * //``, ``min`` and ``max`` —
    the advisor sends ``"min(50, (levels + 1) // 2)"``. The formula is parsed, never ``eval``-ed.
    """
    if isinstance(rule, int) and not isinstance(rule, bool):
        dim = rule
    elif isinstance(rule, str):
        try:
            dim = _eval_formula(ast.parse(rule, mode="eval"), levels)
        except (SyntaxError, ValueError, ZeroDivisionError) as exc:
            raise TrainerParamError("architecture", f"cannot read categorical_embedding_dim {rule!r}: {exc}") from exc
    else:
        raise TrainerParamError("architecture", f"categorical_embedding_dim must be an int or a formula, got {rule!r}")
    return max(1, int(dim))


# -- networks ------------------------------------------------------------------------------------------------
class MLPNet(nn.Module):
    """Dense layers over standardized numeric columns and embedded categorical columns (§1 MLP)."""

    def __init__(
        self,
        n_numeric: int,
        cat_levels: list[int],
        emb_dims: list[int],
        hidden_units: list[int],
        activation_name: str,
        normalization: str | None,
        dropout: float,
        out_units: int,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(n, d) for n, d in zip(cat_levels, emb_dims, strict=True))
        width = n_numeric + sum(emb_dims)
        layers: list[nn.Module] = []
        for units in hidden_units:
            layers += [nn.Linear(width, units), norm_dense(normalization, units), activation(activation_name)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.out = nn.Linear(width, out_units)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor | None = None) -> torch.Tensor:
        if len(self.embeddings):
            if x_cat is None:
                raise ValueError("this network embeds categorical columns: it needs their codes (x_cat)")
            parts = [x_num, *(emb(x_cat[:, i]) for i, emb in enumerate(self.embeddings))]
            x_num = torch.cat(parts, dim=1)
        return self.out(self.body(x_num))


class CNNNet(nn.Module):
    """Conv blocks (conv → norm → activation → 2×2 max-pool → dropout), flatten, dense layers (§1 CNN)."""

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        conv_channels: list[int],
        kernel_size: int,
        pool_after: list[bool],
        dense_units: list[int],
        activation_name: str,
        normalization: str | None,
        conv_dropout: float,
        dense_dropout: float,
        out_units: int,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, h, w = in_channels, height, width
        for channels, pool in zip(conv_channels, pool_after, strict=True):
            layers += [
                nn.Conv2d(c, channels, kernel_size, padding=kernel_size // 2),
                norm_conv(normalization, channels),
                activation(activation_name),
            ]
            if pool and min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            if conv_dropout > 0:
                layers.append(nn.Dropout(conv_dropout))
            c = channels
        layers.append(nn.Flatten())
        size = c * h * w
        for units in dense_units:
            layers += [nn.Linear(size, units), norm_dense(normalization, units), activation(activation_name)]
            if dense_dropout > 0:
                layers.append(nn.Dropout(dense_dropout))
            size = units
        self.body = nn.Sequential(*layers)
        self.feature_dim = size
        self.out = nn.Linear(size, out_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class RNNNet(nn.Module):
    """LSTM or GRU over a sequence (or embedded word ids); the last hidden state feeds the head (§1 RNN/LSTM)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        recurrent_dropout: float,
        normalization: str | None,
        dense_dropout: float,
        out_units: int,
        vocab_size: int | None = None,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        embedding = None
        if vocab_size:  # word ids: the recurrent layers read their embeddings
            if embedding_dim is None:
                raise ValueError("word ids (vocab_size) need an embedding_dim")
            embedding, input_size = nn.Embedding(vocab_size, embedding_dim, padding_idx=0), embedding_dim
        self.embedding = embedding
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        # torch applies inter-layer dropout only between stacked layers; with one layer there is none.
        self.rnn = rnn_cls(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=recurrent_dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (2 if bidirectional else 1)
        self.norm = norm_dense(normalization, width)
        self.dropout = nn.Dropout(dense_dropout) if dense_dropout > 0 else nn.Identity()
        self.feature_dim = width
        self.out = nn.Linear(width, out_units)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The final hidden state (both directions concatenated when bidirectional)."""
        if self.embedding is not None:
            x = self.embedding(x)
        steps: torch.Tensor | PackedSequence = x
        if lengths is not None:
            steps = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(steps)
        h = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
        if self.rnn.bidirectional:
            return torch.cat([h[-2], h[-1]], dim=1)
        return h[-1]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.dropout(self.norm(self.features(x, lengths))))


class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block: attention and feed-forward, each with a residual connection."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        ff_dim: int,
        activation_name: str,
        attention_dropout: float,
        dense_dropout: float,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=attention_dropout, batch_first=True)
        self.drop1 = nn.Dropout(attention_dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_dim),
            activation(activation_name),
            nn.Dropout(dense_dropout),
            nn.Linear(ff_dim, d_model),
        )
        self.drop2 = nn.Dropout(dense_dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=pad_mask, need_weights=False)
        x = x + self.drop1(a)
        return x + self.drop2(self.ff(self.norm2(x)))


class TransformerNet(nn.Module):
    """Transformer encoder over word ids or sequence steps, with learned positions and mean/CLS pooling."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_layers: int,
        ff_dim: int,
        max_length: int,
        pooling: str,
        activation_name: str,
        attention_dropout: float,
        dense_dropout: float,
        out_units: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        if vocab_size:
            self.embed: nn.Module = nn.Embedding(vocab_size, d_model, padding_idx=0)
        else:
            self.embed = nn.Linear(int(input_size or 1), d_model)
        self.tokens = bool(vocab_size)
        self.pooling = pooling
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" else None
        self.position = nn.Embedding(max_length + (1 if pooling == "cls" else 0), d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, ff_dim, activation_name, attention_dropout, dense_dropout)
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dense_dropout) if dense_dropout > 0 else nn.Identity()
        self.feature_dim = d_model
        self.out = nn.Linear(d_model, out_units)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled encoder output, one ``d_model`` vector per row."""
        h = self.embed(x)
        n, t = h.shape[0], h.shape[1]
        pad = None
        if lengths is not None:
            pad = torch.arange(t, device=h.device)[None, :] >= lengths[:, None]
        if self.cls is not None:
            h = torch.cat([self.cls.expand(n, -1, -1), h], dim=1)
            if pad is not None:
                pad = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=h.device), pad], dim=1)
        h = h + self.position(torch.arange(h.shape[1], device=h.device))[None]
        for block in self.blocks:
            h = block(h, pad)
        h = self.norm(h)
        if self.cls is not None:
            return h[:, 0]
        if pad is None:
            return h.mean(dim=1)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.dropout(self.features(x, lengths)))


NETWORKS: dict[str, type[nn.Module]] = {"mlp": MLPNet, "cnn": CNNNet, "rnn": RNNNet, "transformer": TransformerNet}


def build_network(build: Mapping[str, Any]) -> nn.Module:
    """Rebuild a network from its ``{"network": name, "kwargs": {...}}`` record."""
    cls = NETWORKS.get(str(build.get("network")))
    if cls is None:
        raise ValueError(f"unknown network {build.get('network')!r}")
    return cls(**build["kwargs"])


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def clamp_unit(x: Any) -> float:
    """A dropout rate from the recipe (absent → 0)."""
    v = float(x or 0.0)
    if not 0.0 <= v < 1.0 or math.isnan(v):
        raise TrainerParamError("dropout", f"dropout rates must be in [0, 1), got {x!r}")
    return v
