"""What ingestion hands back to the service, and the ``schema.json`` it leaves beside the data."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.profile import DatasetProfile, Modality, Task


@dataclass(frozen=True)
class IngestResult:
    """A validated, normalised dataset and what was measured about it.

    Attributes:
        modality: ``tabular``, ``image``, ``text`` or ``sequence`` (given or inferred).
        task: ``binary``, ``multiclass`` or ``regression`` (given or inferred).
        task_reason: one sentence explaining the task (shown to the user).
        target: name of the target column (``"label"`` for image folders and ``"y"`` for arrays).
        profile: the measured :class:`~advisor.profile.DatasetProfile` the advisor reads.
        details: JSON-ready measurements for the API response (feature type counts, per-column types,
            class counts, dropped rows, non-finite cells, original row count, SHA-256, format ...).
        warnings: sentences about what was changed or ignored.
        files: names of the files written into ``work_dir`` (relative to it).
        file_sha256: hex SHA-256 of those of ``files`` that were hashed as they were written (the caller hashes
            the others).
    """

    modality: Modality
    task: Task
    task_reason: str
    target: str
    profile: DatasetProfile
    details: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    file_sha256: dict[str, str] = field(default_factory=dict)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write strict JSON (no NaN/Infinity: PostgreSQL and browsers reject them)."""
    path.write_text(json.dumps(clean_json(payload), indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def clean_json(value: Any) -> Any:
    """Turn numpy scalars and non-finite floats into plain JSON values (non-finite become ``None``)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
