"""What a warm training process keeps between jobs of a dataset: the last small one it parsed (:data:`DATASETS`).

Cheap to import (no ML library at module load): a training process loads it before its preloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class DatasetCache:
    """The last small dataset this process loaded, parsed, so the next job on it (a race's entries, a batch of
    jobs) skips reading and decoding it again.

    Its files are still verified for every job (SHA-256, before anything is used): the same digests mean the same
    bytes, so the parse kept is the parse they would give. Each job gets its own deep copy (a trainer may change
    what it is given); only hashed datasets of at most :attr:`max_bytes` on disk are kept.
    """

    def __init__(self, max_bytes: int = 4 << 20) -> None:
        self.max_bytes = max_bytes
        self._key: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self._data: Any = None
        self.hits = 0

    def load(self, folder: str, expected_sha256: Mapping[str, str] | None) -> Any:
        """The dataset in ``folder`` (a :class:`trainers.datasets.LoadedDataset` this job may change)."""
        from trainers.datasets import load_dataset, verify_files

        if expected_sha256 is None:  # nothing to check the bytes against: read as they are
            return load_dataset(folder)
        key = (folder, tuple(sorted(expected_sha256.items())))
        if key == self._key and self._data is not None:
            verify_files(Path(folder), expected_sha256)
            self.hits += 1
            return _copy_dataset(self._data)
        self._key = self._data = None
        data = load_dataset(folder, expected_sha256=expected_sha256)
        size = sum((Path(folder) / name).stat().st_size for name in expected_sha256)
        if size <= self.max_bytes:
            self._key, self._data = key, _copy_dataset(data)
        return data


def _copy_dataset(data: Any) -> Any:
    """A deep copy of a loaded dataset: frame, arrays, lists and schema."""
    import copy
    import dataclasses

    return dataclasses.replace(
        data,
        schema=copy.deepcopy(data.schema),
        classes=copy.deepcopy(data.classes),
        frame=None if data.frame is None else data.frame.copy(deep=True),
        feature_columns=None if data.feature_columns is None else list(data.feature_columns),
        text_columns=list(data.text_columns),
        x=None if data.x is None else data.x.copy(),
        y=None if data.y is None else data.y.copy(),
        lengths=None if data.lengths is None else data.lengths.copy(),
        notes=list(data.notes),
        datetime_formats=dict(data.datetime_formats),
    )


DATASETS = DatasetCache()
