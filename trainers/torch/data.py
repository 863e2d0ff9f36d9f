"""Array datasets for the image, sequence and text trainers, and the word tokenizer; no torch here.

Tabular jobs use :class:`trainers.spec.TrainData` (a typed frame). Images (``x`` uint8 N×H×W×C), sequences
(``x`` float32 N×T×F) and texts (``x`` a 1-D array of strings) travel as :class:`ArrayData` with the same
:class:`~trainers.spec.FeatureSchema` for the target, so metrics, splits and artifacts work unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, get_args

import numpy as np

from trainers.spec import ColumnSpec, FeatureSchema, Label, Task

ArrayModality = Literal["image", "sequence", "audio", "text"]
_ARRAY_MODALITIES: frozenset[str] = frozenset(get_args(ArrayModality))
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class ArrayData:
    """Rows as one array ``x`` (images, sequences or texts) with class codes or float targets ``y``."""

    x: np.ndarray
    y: np.ndarray
    schema: FeatureSchema
    modality: ArrayModality

    @property
    def task(self) -> Task:
        """The learning task, from the schema."""
        return self.schema.task

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray) -> ArrayData:
        """The rows at positions ``idx`` (same schema)."""
        return ArrayData(self.x[idx], self.y[idx], self.schema, self.modality)


def is_array_modality(modality: str) -> TypeGuard[ArrayModality]:
    """Whether ``modality`` is one that travels as :class:`ArrayData` (not ``"tabular"``)."""
    return modality in _ARRAY_MODALITIES


def check_array(x: np.ndarray, modality: ArrayModality) -> np.ndarray:
    """Validate ``x`` for ``modality`` and return it in the dtype the trainers use.

    Images: uint8 N×H×W×C (N×H×W is read as one channel). Sequences/audio: float32 N×T×F (N×T is one
    feature). Texts: a 1-D array of strings. Raises ``ValueError`` naming what is wrong.
    """
    x = np.asarray(x)
    if modality == "image":
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(f"images must be N×H×W×C, got shape {x.shape}")
        if x.dtype != np.uint8:
            raise ValueError(f"images must be uint8 pixels 0-255, got {x.dtype}")
        return x
    if modality in ("sequence", "audio"):
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim != 3:
            raise ValueError(f"sequences must be N×T×F, got shape {x.shape}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ValueError("sequences contain NaN or infinite values")
        return x
    if x.ndim != 1:
        raise ValueError(f"texts must be a 1-D array of strings, got shape {x.shape}")
    return np.asarray(["" if v is None else str(v) for v in x], dtype=object)


def encode_target(y: Sequence[Any] | np.ndarray, task: Task) -> tuple[np.ndarray, list[Label] | None]:
    """Class codes 0..k-1 in sorted label order (and the labels), or float targets for regression."""
    arr = np.asarray(y)
    if task == "regression":
        return arr.astype(np.float64), None
    labels, codes = np.unique(arr, return_inverse=True)
    classes: list[Label] = [v.item() if isinstance(v, np.generic) else v for v in labels]
    return codes.astype(np.int64), classes


def array_schema(
    x: np.ndarray, modality: ArrayModality, task: Task, classes: list[Label] | None, target: str = "y"
) -> FeatureSchema:
    """A :class:`FeatureSchema` recording the array's element type and per-row shape."""
    if modality == "text":
        column = ColumnSpec(name="text", kind="categorical", source_dtype="text")
    else:
        shape = "x".join(str(d) for d in x.shape[1:])
        column = ColumnSpec(name="x", kind="numeric", source_dtype=f"{x.dtype}[{shape}]")
    return FeatureSchema(target=target, task=task, columns=[column], classes=classes)


def make_array_data(
    x: np.ndarray,
    y: Sequence[Any] | np.ndarray,
    task: Task,
    modality: ArrayModality,
    *,
    classes: list[Label] | None = None,
    target: str = "y",
) -> ArrayData:
    """Build :class:`ArrayData` from raw arrays.

    ``y`` holds labels (encoded here, sorted) unless ``classes`` is given, in which case ``y`` must
    already be codes 0..len(classes)-1 (as ``data.npz`` from ingestion stores them).
    """
    x = check_array(x, modality)
    if classes is None:
        codes, classes = encode_target(y, task)
    else:
        codes = np.asarray(y, dtype=np.int64 if task != "regression" else np.float64)
        if task != "regression" and (codes.min() < 0 or codes.max() >= len(classes)):
            raise ValueError("class codes fall outside 0..len(classes)-1")
    if len(codes) != len(x):
        raise ValueError(f"x has {len(x)} rows but y has {len(codes)}")
    return ArrayData(x, codes, array_schema(x, modality, task, classes, target), modality)


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits, with an apostrophe suffix such as ``don't``)."""
    return _TOKEN.findall(text.lower())


class WordVocab:
    """A frequency-ranked word vocabulary: id 0 pads, id 1 stands for any word outside it.

    Used by the Transformer and LSTM trained from scratch on text; it is plain JSON in the artifact.
    """

    PAD = 0
    UNK = 1

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self._index = {w: i + 2 for i, w in enumerate(tokens)}

    @property
    def size(self) -> int:
        """Number of ids, the two reserved ones included."""
        return len(self.tokens) + 2

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int) -> WordVocab:
        """The ``vocab_size - 2`` most frequent words (ties broken alphabetically, so it is deterministic)."""
        counts = Counter(w for t in texts for w in words(t))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([w for w, _ in ranked[: max(0, vocab_size - 2)]])

    def encode(self, texts: Iterable[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids (n × ``max_length``, right-padded with 0, cut after ``max_length`` words) and lengths (≥ 1)."""
        rows = [[self._index.get(w, self.UNK) for w in words(t)][:max_length] for t in texts]
        ids = np.zeros((len(rows), max_length), dtype=np.int64)
        lengths = np.ones(len(rows), dtype=np.int64)
        for i, r in enumerate(rows):
            if r:
                ids[i, : len(r)] = r
                lengths[i] = len(r)
            else:  # an empty text is one unknown token, so every row has something to attend to
                ids[i, 0] = self.UNK
        return ids, lengths

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": "words", "pad": self.PAD, "unk": self.UNK, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordVocab:
        """Inverse of :meth:`to_dict`."""
        if data.get("kind") != "words":
            raise ValueError(f"not a word vocabulary: {data.get('kind')!r}")
        return cls(list(data["tokens"]))
