"""The torch trainers' recipe (``Candidate.params()``) as typed models that validate themselves.

Each trainer trains exactly its recipe, so every value must be one it can apply: an unknown architecture
setting would be silently ignored, so it is refused like a wrong type or an impossible value. Each network
has its own architecture model (:class:`MLPArchitecture`, :class:`CNNArchitecture`...; ``extra="forbid"``)
and each trainer its recipe class, which adds what its network cannot take (an LSTM's cells are tanh).
The optimizer, schedule, loss, transfer plan and imputation are checked by the modules that apply them
(:mod:`~trainers.torch.optim`, :mod:`~trainers.torch.losses`, :mod:`~trainers.torch.transfer`,
:mod:`~trainers.torch.encoders`).

:meth:`TorchRecipe.parse` raises :class:`~trainers.base.TrainerParamError` naming the top-level key at
fault, the error every trainer raises for a parameter (the service answers it with a 422 naming the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trainers.base import TrainerParamError
from trainers.spec import Task
from trainers.torch.encoders import check_imputation
from trainers.torch.losses import check_output
from trainers.torch.models import ACTIVATIONS, NORMALIZATIONS, clamp_unit, embedding_dim
from trainers.torch.optim import check_optimizer, check_schedule
from trainers.torch.transfer import check_transfer

PositiveInt = Annotated[StrictInt, Field(ge=1)]
Units = list[PositiveInt]
EMBEDDING_RULE = "min(50, (levels + 1) // 2)"


def _problem(err: ValidationError, trainer: str, kind: str | None = None) -> tuple[str, str]:
    """(top-level key, reason) for the first error pydantic found: the key the service names, the path inside it."""
    e = err.errors(include_url=False)[0]
    loc = [str(p) for p in e["loc"]]
    msg = e["msg"].removeprefix("Value error, ")
    if kind is not None:  # an architecture's own error: the key is "architecture", the path is inside it
        loc = ["architecture", *loc]
    key, inner = loc[0], ".".join(loc[1:])
    if e["type"] == "missing":
        if kind is not None:
            return key, f"{kind} architecture needs {inner!r}"
        if inner:
            return key, f"{key} needs {inner!r}"
        return key, f"{trainer} needs it (the recommendation always carries it)"
    if e["type"] == "extra_forbidden":
        what = f"{kind} setting" if kind is not None else "setting"
        return key, f"unknown {what} {inner!r}"
    where = f"{inner}: " if inner else ""
    if e["type"] == "value_error":
        return key, where + msg
    return key, f"{where}{msg}, got {e['input']!r}"


# -- architectures --------------------------------------------------------------------------------------------
class Architecture(BaseModel):
    """One network's settings (``params["architecture"]``); any key the network does not read is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


class MLPArchitecture(Architecture):
    """Tabular MLP: hidden layer widths and the categorical embedding width (an int or a formula)."""

    type: Literal["mlp"]
    hidden_units: Units
    input_features: PositiveInt | None = None
    categorical_embedding_dim: StrictInt | StrictStr = EMBEDDING_RULE

    @field_validator("categorical_embedding_dim")
    @classmethod
    def _parses(cls, rule: int | str) -> int | str:
        embedding_dim(rule, 2)  # a formula that does not parse is refused before any data work
        return rule


class CNNArchitecture(Architecture):
    """A CNN from scratch: conv blocks (channels, kernel, pooling after each), then dense layers."""

    type: Literal["cnn"]
    conv_channels: Annotated[Units, Field(min_length=1)]
    kernel_size: PositiveInt
    pool_after: list[bool] | None = None
    dense_units: Units = []
    input_size: list[int] | None = None

    @model_validator(mode="after")
    def _one_pool_per_block(self) -> Self:
        if self.pool_after is not None and len(self.pool_after) != len(self.conv_channels):
            raise ValueError("pool_after needs one true/false per conv block")
        return self

    @property
    def pools(self) -> list[bool]:
        """Whether each conv block ends in 2×2 pooling (all of them unless the recipe says otherwise)."""
        return list(self.pool_after) if self.pool_after is not None else [True] * len(self.conv_channels)


class BackboneArchitecture(Architecture):
    """A pretrained backbone with a new head (§8); ``feature_dim``/``backbone_blocks`` are the advisor's."""

    backbone: StrictStr
    feature_dim: int | None = None
    head_units: Units = []
    backbone_blocks: int | None = None


class CNNBackboneArchitecture(BackboneArchitecture):
    """A CNN on a pretrained vision backbone."""

    type: Literal["cnn"]
    input_size: list[int] | None = None


class RNNArchitecture(Architecture):
    """LSTM or GRU layers over sequences, or over word embeddings for text (``vocab_size``)."""

    type: Literal["lstm", "gru"]
    hidden_size: PositiveInt
    num_layers: PositiveInt
    cell: Literal["lstm", "gru"] | None = None
    bidirectional: bool = False
    input_size: PositiveInt | None = None
    max_length: PositiveInt | None = None
    vocab_size: PositiveInt | None = None
    embedding_dim: PositiveInt | None = None

    @model_validator(mode="after")
    def _text_needs_embeddings(self) -> Self:
        if self.vocab_size is not None and self.embedding_dim is None:
            raise ValueError("a text LSTM needs embedding_dim with vocab_size")
        return self

    @property
    def cell_type(self) -> Literal["lstm", "gru"]:
        """The recurrent cell (``cell``, else the architecture's type)."""
        return self.cell if self.cell is not None else self.type


class TransformerArchitecture(Architecture):
    """A Transformer encoder from scratch, over token ids (``vocab_size``) or sequence steps."""

    type: Literal["transformer"]
    d_model: PositiveInt
    n_heads: PositiveInt
    n_layers: PositiveInt
    ff_dim: PositiveInt
    max_length: PositiveInt
    pooling: Literal["mean", "cls"] = "mean"
    vocab_size: PositiveInt | None = None
    input_size: PositiveInt | None = None

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Self:
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be a multiple of n_heads")
        return self


class TransformerBackboneArchitecture(BackboneArchitecture):
    """A pretrained text encoder (MiniLM) with a new head."""

    type: Literal["transformer"]
    max_length: PositiveInt | None = None
    pooling: Literal["mean", "cls"] = "mean"


# -- the recipe -----------------------------------------------------------------------------------------------
class EarlyStopping(BaseModel):
    """Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    monitor: Literal["val_loss"] = "val_loss"
    patience: Annotated[StrictInt, Field(ge=0)] = 10
    restore_best: bool = True


class GradientClipping(BaseModel):
    """Clip the gradients' global norm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_norm: Annotated[float, Field(strict=True, gt=0)]


class TorchRecipe(BaseModel):
    """What every torch trainer reads from ``params``; subclasses narrow ``architecture``.

    Keys that are not library settings (``device``, ``scaling``, estimates...) pass through: the base
    class's :meth:`~trainers.base.Trainer.check_params` has already refused any key nobody reads.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    # Architecture model per kind ("<type>" or "<type>_backbone") that this trainer builds.
    ARCHITECTURES: ClassVar[dict[str, type[Architecture]]] = {}
    DEFAULT_ACTIVATION: ClassVar[str] = "relu"

    architecture: Architecture
    output_units: Any
    output_activation: Any
    loss: Any
    optimizer: Any
    batch_size: PositiveInt
    epochs: PositiveInt
    hidden_activation: StrictStr = ""  # the subclass's DEFAULT_ACTIVATION when absent
    normalization: StrictStr | None = None
    transfer: Any = None
    lr_schedule: Any = None
    imputation: Any = None
    l2: Any = None
    early_stopping: EarlyStopping | None = None
    gradient_clipping: GradientClipping | None = None
    dropout: dict[str, float] | None = None
    augmentation: Any = None
    scaling: Any = None
    device: Any = None

    @classmethod
    def parse(cls, params: Mapping[str, Any], task: Task, trainer: str) -> Self:
        """The typed recipe, or :class:`TrainerParamError` naming the key at fault."""
        try:
            return cls.model_validate(dict(params), context={"task": task, "trainer": trainer})
        except ValidationError as err:
            raise TrainerParamError(*_problem(err, trainer)) from None

    @model_validator(mode="before")
    @classmethod
    def _default_activation(cls, data: Any) -> Any:
        if isinstance(data, dict) and "hidden_activation" not in data:
            data = {**data, "hidden_activation": cls.DEFAULT_ACTIVATION}
        return data

    @field_validator("architecture", mode="before")
    @classmethod
    def _architecture(cls, arch: Any, info: ValidationInfo) -> Architecture:
        trainer = (info.context or {}).get("trainer", cls.__name__)
        types = sorted(k for k in cls.ARCHITECTURES if not k.endswith("_backbone"))
        if not isinstance(arch, Mapping) or arch.get("type") not in types:
            got = arch.get("type") if isinstance(arch, Mapping) else arch
            raise TrainerParamError("architecture", f"{trainer} builds {', '.join(types)} networks, not {got!r}")
        kind = f"{arch['type']}_backbone" if "backbone" in arch else str(arch["type"])
        model = cls.ARCHITECTURES.get(kind)
        if model is None:
            raise TrainerParamError("architecture", f"{trainer} has no pretrained {arch['type']} backbones")
        try:
            return model.model_validate(dict(arch))
        except ValidationError as err:
            raise TrainerParamError(*_problem(err, trainer, str(arch["type"]))) from None

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _empty_is_off(cls, es: Any) -> Any:
        # An empty dict has always meant no early stopping (the loop tested the dict's truth).
        return None if isinstance(es, Mapping) and not es else es

    @field_validator("hidden_activation")
    @classmethod
    def _known_activation(cls, act: str) -> str:
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}")
        return act

    @field_validator("normalization")
    @classmethod
    def _known_normalization(cls, norm: str | None) -> str | None:
        if norm is not None and norm not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {norm!r}; known: {', '.join(sorted(NORMALIZATIONS))}")
        return norm

    @field_validator("dropout", mode="before")
    @classmethod
    def _rates(cls, dropout: Any) -> Any:
        if dropout is None:
            return None
        if not isinstance(dropout, Mapping):
            raise TrainerParamError("dropout", f"expected a dict of rates, got {dropout!r}")
        return {str(k): clamp_unit(v) for k, v in dropout.items()}

    @model_validator(mode="after")
    def _parts_agree(self, info: ValidationInfo) -> Self:
        task: Task = (info.context or {})["task"]
        check_output(task, None, self.output_units, self.output_activation, self.loss)
        check_optimizer(self.optimizer, self.l2)
        if self.optimizer["name"] == "adamw" and float(self.l2 or 0) > 0:
            raise TrainerParamError(
                "l2",
                "AdamW regularizes with its decoupled weight_decay; an L2 term on top "
                "would be a second, different penalty: set l2 to 0",
            )
        check_schedule(self.lr_schedule)
        check_transfer(self.transfer)
        check_imputation(self.imputation)
        uses_backbone = (self.transfer or {}).get("strategy", "none") != "none"
        if uses_backbone != isinstance(self.architecture, BackboneArchitecture):
            raise TrainerParamError(
                "architecture",
                "a backbone architecture goes with a transfer strategy, and "
                "a transfer strategy with a backbone architecture",
            )
        return self

    def rate(self, key: str) -> float:
        """One dropout rate (``dense``, ``conv``, ``recurrent``, ``attention``; absent → 0)."""
        return (self.dropout or {}).get(key, 0.0)


class MLPRecipe(TorchRecipe):
    """``torch_mlp``."""

    ARCHITECTURES: ClassVar[dict[str, type[Architecture]]] = {"mlp": MLPArchitecture}
    architecture: MLPArchitecture


class CNNRecipe(TorchRecipe):
    """``torch_cnn``: from scratch or on a pretrained backbone."""

    ARCHITECTURES: ClassVar[dict[str, type[Architecture]]] = {
        "cnn": CNNArchitecture,
        "cnn_backbone": CNNBackboneArchitecture,
    }
    architecture: CNNArchitecture | CNNBackboneArchitecture


class RNNRecipe(TorchRecipe):
    """``torch_lstm``: LSTM and GRU cells compute with tanh, and group norm has no channels to group here."""

    ARCHITECTURES: ClassVar[dict[str, type[Architecture]]] = {"lstm": RNNArchitecture, "gru": RNNArchitecture}
    DEFAULT_ACTIVATION: ClassVar[str] = "tanh"
    architecture: RNNArchitecture

    @field_validator("hidden_activation")
    @classmethod
    def _tanh(cls, act: str) -> str:
        if act != "tanh":
            raise ValueError(f"LSTM and GRU cells use tanh internally; {act!r} cannot be applied to them")
        return act

    @field_validator("normalization")
    @classmethod
    def _no_group_norm(cls, norm: str | None) -> str | None:
        if norm == "group_norm":
            raise ValueError("group_norm does not apply to recurrent features")
        return norm


class TransformerRecipe(TorchRecipe):
    """``torch_transformer``: from scratch, or a pretrained text encoder; LayerNorm only."""

    ARCHITECTURES: ClassVar[dict[str, type[Architecture]]] = {
        "transformer": TransformerArchitecture,
        "transformer_backbone": TransformerBackboneArchitecture,
    }
    DEFAULT_ACTIVATION: ClassVar[str] = "gelu"
    architecture: TransformerArchitecture | TransformerBackboneArchitecture

    @field_validator("normalization")
    @classmethod
    def _layer_norm(cls, norm: str | None) -> str | None:
        if norm not in (None, "layer_norm"):
            raise ValueError("a Transformer encoder normalizes with LayerNorm only")
        return norm
