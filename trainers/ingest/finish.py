"""What every reader does last, whatever the format: encode the target, write the arrays, assemble the profile.

A leaf of the ingest package: it imports no reader, so each reader (``csv_tabular``, ``images``, ``npz``,
``sequences``) imports it at module level. The profile is only assembled here; the measuring happens column
by column (or array by array) in the readers, with vectorised kernels, so every modality produces its
:class:`~advisor.profile.DatasetProfile` the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from advisor.profile import DatasetProfile, Modality, Task
from trainers.ingest.target import TargetAnalysis, analyse_target, normalize_target, require_rows


def encode_target(
    labels: pa.ChunkedArray, *, target: str, task: str | None, warnings: list[str]
) -> tuple[np.ndarray | None, np.ndarray, TargetAnalysis, int]:
    """Check the labels of an array dataset and encode them for storage.

    Returns the mask of kept rows (``None`` when all are kept), ``y`` (class indices into
    ``analysis.classes`` as int64, or float64 for regression), the analysis and the number of dropped rows.
    """
    values = normalize_target(labels, target)
    dropped = values.null_count
    keep = None
    if dropped:
        valid = pc.is_valid(values)
        keep = np.asarray(valid, dtype=bool)
        values = values.filter(valid)
        warnings.append(f"Dropped {dropped} sample(s) with no value for the target.")
    require_rows(len(values), dropped=dropped)
    analysis = analyse_target(values, target, task)
    if analysis.classes is None:
        y = np.asarray(values, dtype=np.float64)
    else:
        value_set = pa.array(analysis.classes).cast(values.type)
        y = np.asarray(pc.index_in(values, value_set=value_set), dtype=np.int64)
    return keep, y, analysis, dropped


def write_npz(path: Path, *, compress: bool, **arrays: np.ndarray) -> None:
    """Write arrays to ``path`` without pickle; compressed for images (uint8 compresses well)."""
    save = np.savez_compressed if compress else np.savez
    save(path, allow_pickle=False, **arrays)


def class_balance(counts: Sequence[int]) -> tuple[int, float]:
    """Number of classes and the share of rows in the rarest one."""
    total = sum(counts)
    return len(counts), min(counts) / total


def build_profile(
    *,
    modality: Modality,
    task: Task,
    n_rows: int,
    n_features: int | None = None,
    class_counts: Sequence[int] | None = None,
    target_outlier_share: float | None = None,
    target_mode_share: float | None = None,
    missing_share: float | None = None,
    n_categorical_features: int | None = None,
    image_size: tuple[int, int, int] | None = None,
    sequence_length: int | None = None,
    text_length: float | None = None,
) -> DatasetProfile:
    """Assemble a profile; classification fields come from ``class_counts``, regression from the outliers and the
    share of the most common target value.

    Labels are always stored as integer class indices (see ``schema.json``), hence ``label_format``.
    """
    n_classes = minority_share = None
    if task != "regression":
        if not class_counts:
            raise ValueError("class_counts are required for a classification profile")
        n_classes, minority_share = class_balance(class_counts)
    return DatasetProfile(
        modality=modality,
        task=task,
        n_rows=n_rows,
        n_features=n_features,
        n_classes=n_classes,
        label_format="integer" if task != "regression" else None,
        minority_share=None if minority_share is None else round(minority_share, 6),
        target_outlier_share=(
            None if task != "regression" or target_outlier_share is None else round(target_outlier_share, 6)
        ),
        target_mode_share=(
            None if task != "regression" or not target_mode_share else max(round(target_mode_share, 6), 1e-6)
        ),
        missing_share=None if missing_share is None else round(missing_share, 6),
        n_categorical_features=n_categorical_features,
        image_size=image_size,
        sequence_length=sequence_length,
        text_length=None if text_length is None else max(1, round(text_length)),
    )
