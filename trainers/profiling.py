"""Turn measurements of a dataset into the :class:`~advisor.profile.DatasetProfile` the advisor reads.

The measuring itself happens column by column (or array by array) during ingestion
(:mod:`trainers.ingest`), with vectorised kernels; this module only assembles the numbers, so every
modality produces its profile the same way. :func:`measure` is the one-call convenience for scripts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from advisor.profile import DatasetProfile, Modality, Task


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
    missing_share: float | None = None,
    n_categorical_features: int | None = None,
    image_size: tuple[int, int, int] | None = None,
    sequence_length: int | None = None,
    text_length: float | None = None,
) -> DatasetProfile:
    """Assemble a profile; classification fields come from ``class_counts``, regression from the outliers.

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
        missing_share=None if missing_share is None else round(missing_share, 6),
        n_categorical_features=n_categorical_features,
        image_size=image_size,
        sequence_length=sequence_length,
        text_length=None if text_length is None else max(1, round(text_length)),
    )


def measure(
    src_path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    filename: str | None = None,
) -> DatasetProfile:
    """Profile a data file in one call (for scripts and notebooks; the service calls ``ingest`` itself).

    The normalised copy that ingestion writes goes to a private temporary folder that is removed on return.

    Raises:
        trainers.errors.DataError: when the file cannot be used (see :mod:`trainers.errors`).
    """
    from trainers.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="advisor-measure-") as tmp:
        result = ingest(
            Path(src_path),
            filename=filename if filename is not None else Path(src_path).name,
            target=target,
            task=task,
            modality=modality,
            work_dir=Path(tmp),
        )
    return result.profile
