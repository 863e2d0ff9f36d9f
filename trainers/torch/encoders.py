"""Turn prepared rows into tensors, with every statistic learned on the training split and saved as JSON.

* :class:`TabularEncoder`: §10 imputation (median / most frequent, missing indicators) and standard scaling
  of numeric columns; categorical columns become integer codes for embeddings.
* :class:`ImageEncoder`: uint8 N×H×W×C stays uint8 in memory (4× smaller than float); each batch is scaled
  to [0, 1], augmented (§6: flip, crop, rotation) and standardized per channel on the device.
* :class:`SequenceEncoder`: per-feature standard scaling of N×T×F.
* :class:`WordEncoder` / :class:`HFTokenEncoder`: texts to padded ids plus lengths or an attention mask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from trainers.base import TrainerParamError
from trainers.spec import FeatureSchema
from trainers.torch.data import WordVocab

NUMERIC_IMPUTATION = frozenset({"median", "mean", "zero", "constant"})
CATEGORICAL_IMPUTATION = frozenset({"most_frequent", "constant", "missing_category"})
AUGMENTATIONS = frozenset({"horizontal_flip", "vertical_flip", "random_crop", "rotation_degrees"})
_STATS_MAX_IMAGES = 4096  # images used for per-channel statistics (a fixed prefix: deterministic)


def check_imputation(imputation: Any) -> None:
    """Refuse an imputation recipe the tabular encoder cannot apply."""
    if imputation is None:
        return
    if not isinstance(imputation, Mapping):
        raise TrainerParamError("imputation", f"expected a dict, got {imputation!r}")
    if imputation.get("numeric", "median") not in NUMERIC_IMPUTATION:
        raise TrainerParamError(
            "imputation",
            f"numeric imputation {imputation.get('numeric')!r} is not one of {', '.join(sorted(NUMERIC_IMPUTATION))}",
        )
    if imputation.get("categorical", "most_frequent") not in CATEGORICAL_IMPUTATION:
        raise TrainerParamError(
            "imputation",
            f"categorical imputation {imputation.get('categorical')!r} is not one "
            f"of {', '.join(sorted(CATEGORICAL_IMPUTATION))}",
        )


class TabularEncoder:
    """Numeric block (imputed, indicators, scaled) and categorical codes, as the MLP consumes them."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._s = state
        self._has_categorical = bool(state["categorical"])

    @classmethod
    def fit(
        cls, X: pd.DataFrame, schema: FeatureSchema, imputation: Mapping[str, Any] | None, scaling: str | None
    ) -> TabularEncoder:
        """Learn fill values, indicator columns, scaling and category counts from the training rows."""
        imp = dict(imputation or {"numeric": "median", "categorical": "most_frequent", "add_indicator": False})
        if scaling not in (None, "standard", "minmax", "none"):
            raise TrainerParamError(
                "scaling", f"the MLP scales tabular columns 'standard', 'minmax' or 'none', not {scaling!r}"
            )
        numeric = [c.name for c in schema.columns if c.kind != "categorical"]
        categorical = [c for c in schema.columns if c.kind == "categorical"]
        num = X[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(X), 0))
        missing = np.isnan(num)
        any_missing = np.any(missing, axis=0)  # per column (the method form is typed as possibly a scalar)
        how = imp.get("numeric", "median")
        with np.errstate(all="ignore"):
            if how in ("median", "mean") and len(num):
                # nanmedian/nanmean cost several times median/mean: use them only on columns with gaps.
                plain, nan_aware = (np.median, np.nanmedian) if how == "median" else (np.mean, np.nanmean)
                fill = np.zeros(num.shape[1])
                full = ~any_missing
                if full.any():
                    fill[full] = plain(num[:, full], axis=0)
                if any_missing.any():
                    fill[any_missing] = nan_aware(num[:, any_missing], axis=0)
            elif how == "constant":
                fill = np.full(num.shape[1], float(imp.get("fill_value", 0.0)))
            else:
                fill = np.zeros(num.shape[1])
        fill = np.where(np.isfinite(fill), fill, 0.0)  # an all-missing column fills with 0
        indicators = [i for i in range(num.shape[1]) if imp.get("add_indicator") and any_missing[i]]
        filled = np.where(missing, fill, num) if any_missing.any() else num
        scale_how = scaling or "none"
        if scale_how == "standard":
            center, spread = filled.mean(axis=0), filled.std(axis=0)
        elif scale_how == "minmax":
            center, spread = filled.min(axis=0), filled.max(axis=0) - filled.min(axis=0)
        else:
            center, spread = np.zeros(num.shape[1]), np.ones(num.shape[1])
        spread = np.where(spread > 0, spread, 1.0)  # a constant column stays constant (0) instead of NaN
        cats: list[dict[str, Any]] = []
        cat_how = imp.get("categorical", "most_frequent")
        for c in categorical:
            levels = len(c.categories or [])
            codes = X[c.name].cat.codes.to_numpy()
            seen = codes[codes >= 0]
            if cat_how == "most_frequent":
                fill_code = int(np.bincount(seen, minlength=max(levels, 1)).argmax()) if seen.size else 0
                n_embed = max(levels, 1)
            else:  # a reserved "missing" level after the real ones
                fill_code, n_embed = levels, levels + 1
            cats.append({"name": c.name, "levels": levels, "fill": fill_code, "n_embed": n_embed})
        state = {
            "numeric": numeric,
            "fill": fill.tolist(),
            "indicators": indicators,
            "center": center.tolist(),
            "spread": spread.tolist(),
            "scaling": scale_how,
            "imputation": imp,
            "categorical": cats,
        }
        return cls(state)

    @property
    def n_numeric(self) -> int:
        """Width of the numeric block (columns plus missing indicators)."""
        return len(self._s["numeric"]) + len(self._s["indicators"])

    @property
    def cat_levels(self) -> list[int]:
        """Embedding table size per categorical column."""
        return [c["n_embed"] for c in self._s["categorical"]]

    @property
    def cat_levels_raw(self) -> list[int]:
        """Category count per categorical column (the ``levels`` of the embedding-width formula)."""
        return [c["levels"] for c in self._s["categorical"]]

    def transform(self, X: pd.DataFrame) -> list[torch.Tensor]:
        """``[numeric float32 (n, d), categorical codes int64 (n, c)]`` for rows that follow the schema."""
        s = self._s
        n = len(X)
        num = X[s["numeric"]].to_numpy(dtype=np.float64) if s["numeric"] else np.zeros((n, 0))
        missing = np.isnan(num)
        # One float32 copy, then in-place arithmetic: a 1M-row frame is not copied four times over.
        scaled = num.astype(np.float32)
        if missing.any():
            np.copyto(scaled, np.broadcast_to(np.asarray(s["fill"], dtype=np.float32), scaled.shape), where=missing)
        scaled -= np.asarray(s["center"], dtype=np.float32)
        scaled /= np.asarray(s["spread"], dtype=np.float32)
        if s["indicators"]:
            scaled = np.concatenate([scaled, missing[:, s["indicators"]].astype(np.float32)], axis=1)
        cat = np.zeros((n, len(s["categorical"])), dtype=np.int64)
        for j, c in enumerate(s["categorical"]):
            codes = X[c["name"]].cat.codes.to_numpy().astype(np.int64)
            cat[:, j] = np.where(codes >= 0, codes, c["fill"])
        return [torch.from_numpy(np.ascontiguousarray(scaled)), torch.from_numpy(cat)]

    def state(self) -> dict[str, Any]:
        """JSON form (for ``model.json``)."""
        return self._s

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, ...]:
        """The MLP's inputs for one batch: the categorical codes only if it has any categorical column."""
        return (batch[0], batch[1]) if self._has_categorical else (batch[0],)


class ImageEncoder:
    """Keeps images as uint8 NHWC; :meth:`prepare` scales, converts channels, resizes, augments, standardizes."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._s = state
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        *,
        backbone_stats: tuple[list[float], list[float], list[int] | None] | None,
        augmentation: Mapping[str, Any] | None,
    ) -> ImageEncoder:
        """Per-channel statistics of the training images, or the backbone's own when one is used."""
        _, h, w, c = x.shape
        if backbone_stats is None:
            sample = x[:_STATS_MAX_IMAGES].reshape(-1, c).astype(np.float64) / 255.0
            mean, std = sample.mean(axis=0).tolist(), sample.std(axis=0).tolist()
            std = [s if s > 1e-6 else 1.0 for s in std]
            model_size = [h, w, c]
        else:
            mean, std, size = backbone_stats
            model_size = list(size) if size is not None else [h, w, len(mean)]
        aug = dict(augmentation or {})
        unknown = sorted(set(aug) - AUGMENTATIONS)
        if unknown:
            raise TrainerParamError(
                "augmentation", f"unknown image augmentation {unknown[0]!r}; known: {', '.join(sorted(AUGMENTATIONS))}"
            )
        return cls({"mean": mean, "std": std, "input_size": [h, w, c], "model_size": model_size, "augmentation": aug})

    def state(self) -> dict[str, Any]:
        """JSON form (for ``model.json``)."""
        return self._s

    def notes(self) -> list[str]:
        """What the encoder changes about the images, for the job record."""
        (h, w, c), (mh, mw, mc) = self._s["input_size"], self._s["model_size"]
        out = []
        if c != mc:
            out.append(f"{c}-channel images converted to the backbone's {mc} channels")
        if (h, w) != (mh, mw):
            out.append(f"{h}×{w} images resized to the backbone's {mh}×{mw}")
        return out

    def check(self, x: np.ndarray) -> None:
        """Refuse images of another size than the model was trained on."""
        if list(x.shape[1:]) != list(self._s["input_size"]):
            raise ValueError(
                f"images must be {'×'.join(map(str, self._s['input_size']))} (H×W×C) like the training "
                f"data, got {'×'.join(map(str, x.shape[1:]))}"
            )

    def transform(self, x: np.ndarray) -> list[torch.Tensor]:
        """The images as one uint8 tensor (no copy)."""
        return [torch.from_numpy(np.ascontiguousarray(x))]

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor]:
        """uint8 NHWC batch → float NCHW the network takes (augmented when ``training``)."""
        x = batch[0].permute(0, 3, 1, 2).float().div_(255.0)
        mh, mw, mc = self._s["model_size"]
        if x.shape[1] != mc:
            x = x.expand(-1, mc, -1, -1) if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)
        if tuple(x.shape[2:]) != (mh, mw):
            x = F.interpolate(x, size=(mh, mw), mode="bilinear", align_corners=False)
        if training and self._s["augmentation"]:
            x = augment(x, self._s["augmentation"])
        if self._mean is None or self._std is None or self._mean.device != x.device:
            self._mean = torch.tensor(self._s["mean"], device=x.device).view(1, -1, 1, 1)
            self._std = torch.tensor(self._s["std"], device=x.device).view(1, -1, 1, 1)
        return ((x - self._mean) / self._std,)


def augment(x: torch.Tensor, aug: Mapping[str, Any]) -> torch.Tensor:
    """§6 image augmentation on a float NCHW batch in [0, 1], on its device, one random draw per image.

    ``horizontal_flip`` / ``vertical_flip``: mirror half the images. ``random_crop`` with
    ``padding_fraction`` p: pad by round(p·side) black pixels and crop back at a random offset (a shift of
    up to that many pixels). ``rotation_degrees`` r: rotate by a uniform angle in [-r, r]. Shift and
    rotation are one affine resampling.
    """
    n, _, h, w = x.shape
    dev = x.device
    if aug.get("horizontal_flip"):
        flip = torch.rand(n, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if aug.get("vertical_flip"):
        flip = torch.rand(n, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(2), x)
    crop = aug.get("random_crop")
    degrees = float(aug.get("rotation_degrees") or 0.0)
    pad_h = pad_w = 0
    if crop:
        frac = float(crop.get("padding_fraction", 0.125)) if isinstance(crop, Mapping) else 0.125
        pad_h, pad_w = round(frac * h), round(frac * w)
    if not (pad_h or pad_w or degrees):
        return x
    angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(degrees)
    # Whole-pixel shifts, expressed in the [-1, 1] grid coordinates affine_grid uses.
    dx = torch.randint(-pad_w, pad_w + 1, (n,), device=dev).float() * (2.0 / w)
    dy = torch.randint(-pad_h, pad_h + 1, (n,), device=dev).float() * (2.0 / h)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, dx], 1), torch.stack([sin, cos, dy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class SequenceEncoder:
    """Standard scaling per feature of N×T×F sequences; longer sequences keep their last ``max_length`` steps."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._s = state

    @classmethod
    def fit(cls, x: np.ndarray, scaling: str | None, max_length: int | None) -> SequenceEncoder:
        """Learn per-feature mean and spread from the training sequences."""
        f = x.shape[2]
        if scaling == "standard":
            flat = x.reshape(-1, f).astype(np.float64)
            mean, std = flat.mean(axis=0), flat.std(axis=0)
            std = np.where(std > 0, std, 1.0)
        elif scaling in (None, "none"):
            mean, std = np.zeros(f), np.ones(f)
        else:
            raise TrainerParamError("scaling", f"sequences are scaled 'standard' or 'none', not {scaling!r}")
        return cls(
            {
                "mean": mean.tolist(),
                "std": std.tolist(),
                "features": f,
                "steps": int(x.shape[1]),
                "max_length": int(max_length) if max_length else None,
            }
        )

    def state(self) -> dict[str, Any]:
        """JSON form (for ``model.json``)."""
        return self._s

    def notes(self) -> list[str]:
        """What the encoder changes, for the job record."""
        m = self._s["max_length"]
        if m and self._s["steps"] > m:
            return [f"sequences of {self._s['steps']} steps cut to their last {m} (architecture max_length)"]
        return []

    def check(self, x: np.ndarray) -> None:
        """Refuse sequences with another feature count than in training."""
        if x.shape[2] != self._s["features"]:
            raise ValueError(f"sequences must have {self._s['features']} features per step, got {x.shape[2]}")

    def transform(self, x: np.ndarray) -> list[torch.Tensor]:
        """Scaled float32 tensor (n, T', F)."""
        m = self._s["max_length"]
        if m and x.shape[1] > m:
            x = x[:, -m:]
        scaled = (x - np.asarray(self._s["mean"], dtype=np.float32)) / np.asarray(self._s["std"], dtype=np.float32)
        return [torch.from_numpy(np.ascontiguousarray(scaled, dtype=np.float32))]

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, ...]:
        """The network input (no per-batch work)."""
        return (batch[0],)


class WordEncoder:
    """Word ids from a vocabulary learned on the training texts (the from-scratch Transformer and LSTM)."""

    def __init__(self, vocab: WordVocab, max_length: int) -> None:
        self.vocab = vocab
        self.max_length = max_length

    @classmethod
    def fit(cls, texts: np.ndarray, vocab_size: int, max_length: int) -> WordEncoder:
        """Keep the ``vocab_size - 2`` most frequent training words."""
        return cls(WordVocab.fit(texts, vocab_size), max_length)

    def state(self) -> dict[str, Any]:
        """JSON form (for ``model.json``)."""
        return {"vocab": self.vocab.to_dict(), "max_length": self.max_length}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WordEncoder:
        """Inverse of :meth:`state`."""
        return cls(WordVocab.from_dict(state["vocab"]), int(state["max_length"]))

    def transform(self, texts: np.ndarray) -> list[torch.Tensor]:
        """``[ids int64 (n, max_length), lengths int64 (n,)]``."""
        ids, lengths = self.vocab.encode(texts, self.max_length)
        return [torch.from_numpy(ids), torch.from_numpy(lengths)]

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, ...]:
        """Cut the padding beyond the batch's longest text (attention and recurrence cost follow length)."""
        ids, lengths = batch
        longest = int(lengths.max())
        return ids[:, :longest], lengths


class HFTokenEncoder:
    """A pretrained encoder's own tokenizer (kept in the artifact as ``tokenizer.json``)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_dir(cls, directory: str | Path, max_length: int) -> HFTokenEncoder:
        """Load the tokenizer files from a local folder (never from a hub)."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(directory), local_files_only=True), max_length)

    def save(self, directory: Path) -> list[str]:
        """Write the tokenizer files; returns their names."""
        written = self.tokenizer.save_pretrained(str(directory))
        return sorted({Path(p).name for p in written if Path(p).is_file()})

    def state(self) -> dict[str, Any]:
        """JSON form (for ``model.json``; the vocabulary itself is in the tokenizer files)."""
        return {"max_length": self.max_length, "tokenizer": type(self.tokenizer).__name__}

    def transform(self, texts: np.ndarray) -> list[torch.Tensor]:
        """``[ids (n, max_length), attention mask (n, max_length)]``."""
        enc = self.tokenizer(
            [str(t) for t in texts],
            truncation=True,
            max_length=self.max_length,
            padding="max_length",
            return_tensors="pt",
        )
        return [enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)]

    def prepare(self, batch: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, ...]:
        """Cut the padding beyond the batch's longest text."""
        ids, mask = batch
        longest = int(mask.sum(dim=1).max())
        return ids[:, :longest], mask[:, :longest]
