"""Data and recipes for the torch trainer tests: small real sets (scikit-learn's bundled ones) or generated.

Every recipe comes from ``advisor.recommend`` for a profile of the same modality and task, so the tests
feed the trainers exactly the keys and values the advisor emits; only ``epochs`` (and where said,
``batch_size``) are cut to keep the suite fast on two cores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from advisor import Constraints, DatasetProfile, recommend
from trainers.callbacks import Callbacks
from trainers.torch.data import ArrayData, make_array_data

AMPLE = Constraints(compute="ample", performance="state_of_the_art")


def dl_params(
    profile: DatasetProfile, constraints: Constraints | None = None, *, trainer: str, **overrides: Any
) -> dict[str, Any]:
    """The advisor's deep-learning candidate for ``trainer`` (exact params), with ``overrides`` applied."""
    rec = recommend(profile, constraints)
    for cand in rec.candidates:
        if cand.trainer == trainer:
            params = cand.params()
            params.update(overrides)
            return params
    raise LookupError(f"the advisor proposed no {trainer} for {profile}")


def tabular_frame(task: str) -> pd.DataFrame:
    """breast_cancer (binary), wine (multiclass) or diabetes (regression) as a frame with column ``target``."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    loader = {"binary": load_breast_cancer, "multiclass": load_wine, "regression": load_diabetes}[task]
    frame = loader(as_frame=True).frame
    return frame.rename(columns={c: str(c) for c in frame.columns})


def mixed_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Numeric, boolean and categorical columns with missing values; the label depends on all three kinds."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=n)
    flag = rng.random(n) < 0.5
    cat = rng.choice(["red", "green", "blue", "grey"], size=n)
    score = num + 1.5 * flag - 2.0 * (cat == "red") + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame({"num": num, "flag": flag, "colour": cat, "noise": rng.normal(size=n)})
    frame.loc[::11, "num"] = np.nan
    frame.loc[::13, "colour"] = None
    frame["target"] = np.where(score > 0, "yes", "no")
    return frame


def tabular_params(task: str, n_features: int, **overrides: Any) -> dict[str, Any]:
    """The MLP recipe for a large table of this task (small tables get classical candidates only)."""
    n_classes = {"binary": 2, "multiclass": 3, "regression": None}[task]
    profile = DatasetProfile(
        modality="tabular", task=task, n_rows=200_000, n_features=n_features, n_classes=n_classes, missing_share=0.01
    )
    return dl_params(profile, AMPLE, trainer="torch_mlp", **overrides)


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as uint8 N×8×8×1 (0-16 scaled to 0-255) and their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * 16.0, 0, 255).astype(np.uint8)[..., None]
    return x, d.target


def digits_params(**overrides: Any) -> dict[str, Any]:
    """The advisor's CNN recipe for the digits (1797 × 8×8×1, 10 classes)."""
    profile = DatasetProfile(modality="image", task="multiclass", n_rows=1797, n_classes=10, image_size=(8, 8, 1))
    return dl_params(profile, trainer="torch_cnn", **overrides)


def sequences(task: str, n: int = 360, steps: int = 24, features: int = 2, seed: int = 0) -> ArrayData:
    """Generated N×T×F sequences whose label lives in the last steps (a job for memory, not a mean)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype(np.float32)
    signal = x[:, -4:, 0].mean(axis=1) - x[:, :4, 1].mean(axis=1)
    if task == "regression":
        y: np.ndarray = 2.0 * signal + 0.1 * rng.normal(size=n) + 5.0
    elif task == "binary":
        y = np.where(signal > 0, "up", "down")
    else:
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    return make_array_data(x, y, task, "sequence")  # type: ignore[arg-type]


def sequence_params(trainer: str, task: str, data: ArrayData, **overrides: Any) -> dict[str, Any]:
    """The advisor's recipe for ``trainer`` on a sequence profile matching ``data``."""
    n, steps, features = data.x.shape
    profile = DatasetProfile(
        modality="sequence",
        task=task,
        n_rows=n,
        sequence_length=steps,
        n_features=features,
        n_classes=data.schema.n_classes if task == "multiclass" else None,
    )
    return dl_params(profile, trainer=trainer, **overrides)


POSITIVE = ["good", "great", "excellent", "love", "tasty", "fresh", "perfect", "delicious"]
NEGATIVE = ["bad", "awful", "terrible", "hate", "stale", "bland", "broken", "disgusting"]
FILLER = [
    "the",
    "food",
    "was",
    "and",
    "i",
    "it",
    "really",
    "this",
    "product",
    "box",
    "arrived",
    "taste",
    "my",
    "kids",
    "coffee",
    "price",
    "would",
    "again",
    "order",
    "a",
]


def texts(n: int = 300, seed: int = 0) -> ArrayData:
    """Generated reviews: filler words plus two sentiment words; label ``pos`` / ``neg``."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        words = list(rng.choice(FILLER, size=int(rng.integers(5, 12)))) + list(
            rng.choice(POSITIVE if positive else NEGATIVE, size=2)
        )
        rng.shuffle(words)
        rows.append(" ".join(words).capitalize() + ".")
        labels.append("pos" if positive else "neg")
    return make_array_data(np.array(rows, dtype=object), labels, "binary", "text")


def text_params(trainer: str, n_rows: int = 300, *, pretrained: bool = False, **overrides: Any) -> dict[str, Any]:
    """The advisor's text recipe: the pretrained Transformer (rank 1) or a from-scratch network."""
    profile = DatasetProfile(modality="text", task="binary", n_rows=n_rows, text_length=10)
    rec = recommend(profile)
    for cand in rec.candidates:
        p = cand.params()
        uses_backbone = "backbone" in (p.get("architecture") or {})
        if cand.trainer == trainer and uses_backbone == pretrained:
            p.update(overrides)
            return p
    if trainer == "torch_transformer" and not pretrained:
        # The advisor proposes a pretrained Transformer for text; its from-scratch Transformer recipe is the
        # sequence one with a vocabulary, exactly as architecture.transformer builds it for text.
        p = text_params("torch_transformer", n_rows, pretrained=True)
        p["transfer"] = {"strategy": "none", "unfreeze_fraction": 1.0}
        p["architecture"] = {
            "type": "transformer",
            "d_model": 128,
            "n_heads": 4,
            "n_layers": 2,
            "ff_dim": 512,
            "pooling": "mean",
            "vocab_size": 30_000,
            "max_length": 20,
        }
        p.update(overrides)
        return p
    raise LookupError(f"no {trainer} recipe for text")


class StopAfterCalls(Callbacks):
    """Says stop on the ``n``-th ``should_stop`` call (calls come once per batch): a cancel mid-epoch."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def should_stop(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


class CancelAfterEpochs(Callbacks):
    """Cancels once ``epochs`` epochs have reported (``on_round``)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.rounds: list[Mapping[str, float]] = []

    def on_round(self, round: int, metrics: Mapping[str, float]) -> None:
        self.rounds.append(dict(metrics))

    def should_stop(self) -> bool:
        return len(self.rounds) >= self.epochs
