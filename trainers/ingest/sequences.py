"""Sequences and time series: an ``.npz`` (x: N x T x F, y) or a long-format CSV (id, time, features...).

A long table becomes N x T x F in three vectorised steps: sort by (id, time), find where the id changes,
and scatter every row to (sequence index, position within sequence). Sequences of another length than the
most common one are zero-padded at the end or truncated, with a warning, and their true lengths stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainers.dataset_format import DATA_NPZ, SCHEMA_JSON, SCHEMA_VERSION
from trainers.errors import DataError
from trainers.ingest.columns import is_identifier_name
from trainers.ingest.finish import build_profile, encode_target, write_npz
from trainers.ingest.result import IngestResult, write_json
from trainers.ingest.target import find_column, mode_share, normalize_target, outlier_share

# Auto-detection only fires on these literal names; anything looser needs modality="sequence".
AUTO_ID, AUTO_TIME = "id", "time"
_TIME_HINTS = ("time", "timestamp", "t", "step", "date", "datetime", "ts")
PAD_VALUE = 0.0


def long_format_columns(
    table: pa.Table, modality: str | None, target: str | None = None, warnings: list[str] | None = None
) -> tuple[str, str] | None:
    """The (id, time) columns of a long-format sequence table, or ``None`` when the table is not one.

    Without a requested modality, only columns literally named ``id`` and ``time`` qualify, and only when
    ids repeat: a table with a unique ``id`` per row is an ordinary table that happens to have a time column.
    Nor is it one when the ``target`` is the id or the time column, or changes within an id (repeated
    measures within most ids: one example per row, not one sequence per id); ``warnings`` then says how it
    was read.

    Raises:
        DataError: ``invalid-modality`` when ``modality="sequence"`` was asked but no id/time pair exists.
    """
    names = table.column_names
    lower = {name.strip().lower(): name for name in names}
    if modality is None and AUTO_ID in lower and AUTO_TIME in lower:
        auto_id, auto_time = lower[AUTO_ID], lower[AUTO_TIME]
        if pc.count_distinct(table[auto_id]).as_py() == table.num_rows:
            return None
        why = _not_one_sequence_per_id(table, auto_id, auto_time, target)
        if why is not None:
            if warnings is not None:
                warnings.append(
                    f"Columns {auto_id!r} and {auto_time!r} would make this a long-format sequence table (one "
                    f"sequence per id), but {why}: each row was read as one example of a table. Upload with "
                    "modality='tabular' to say so."
                )
            return None
        return auto_id, auto_time
    if modality != "sequence":
        return None
    id_col = lower.get(AUTO_ID) or next((n for n in names if is_identifier_name(n)), None)
    time_col = next((lower[h] for h in _TIME_HINTS if h in lower), None)
    if id_col is None or time_col is None:
        raise DataError(
            "invalid-modality",
            "Modality 'sequence' needs a long-format table with an id column and a time column "
            "(named e.g. 'id' and 'time'), or an .npz with x of shape N x T x F.",
            extra={"modality": "sequence", "columns": names[:50]},
        )
    return id_col, time_col


def _not_one_sequence_per_id(table: pa.Table, id_col: str, time_col: str, target: str | None) -> str | None:
    """Why a table with repeated ids is still not one sequence per id (for the target asked), or None."""
    if target is None or target not in table.column_names:
        return None  # the sequence reader names the missing target
    if target in (id_col, time_col):
        return f"the target is the {'id' if target == id_col else 'time'} column itself"
    per_id = table.select([id_col, target]).group_by(id_col).aggregate([(target, "count_distinct")])
    changing = int(np.count_nonzero(np.asarray(per_id[f"{target}_count_distinct"]) > 1))
    # Within most ids: measures repeated over time, one example per row. Within a few: sequences with a wrong
    # label somewhere, which the sequence reader names (malformed-sequence).
    if changing > per_id.num_rows / 2:
        return f"the target {target!r} changes within {changing} of the {per_id.num_rows} ids"
    return None


def ingest_long_sequences(
    table: pa.Table,
    *,
    id_col: str,
    time_col: str,
    target: str | None,
    task: str | None,
    work_dir: Path,
    details: dict[str, Any],
    warnings: list[str],
) -> IngestResult:
    """Pivot a long table (one row per sequence and time step) to N x T x F and store it as ``data.npz``.

    The target must be constant within a sequence; features must be numeric or boolean (others are ignored
    with a warning).
    """
    if target is not None and target in (id_col, time_col):
        raise DataError(
            "invalid-modality",
            f"The target {target!r} is the sequences' {'id' if target == id_col else 'time'} column; as "
            "sequences the table has one example per id. To predict that column row by row, upload with "
            "modality='tabular'.",
            extra={"modality": "sequence", "target": target, "id": id_col, "time": time_col},
        )
    names = [n for n in table.column_names if n not in (id_col, time_col)]
    target_name = find_column(names, target)
    no_id = table[id_col].null_count
    if no_id:
        warnings.append(f"Dropped {no_id} row(s) without a sequence id.")
    feature_names, ignored = numeric_columns(table, [n for n in names if n != target_name])
    if ignored:
        warnings.append(
            f"{len(ignored)} non-numeric column(s) were ignored in the sequences: {', '.join(ignored[:10])}."
        )
    if not feature_names:
        raise DataError(
            "no-features",
            f"Apart from {id_col!r}, {time_col!r} and the target there is no numeric column to form sequences.",
            extra={"columns": table.column_names[:50]},
        )
    pivot = pivot_long(table, id_col=id_col, time_col=time_col, feature_names=feature_names)
    table, x, steps, lengths = pivot.table, pivot.x, pivot.steps, pivot.lengths
    starts, group, ids = pivot.starts, pivot.group, table[id_col]
    shorter, longer = int(np.count_nonzero(lengths < steps)), int(np.count_nonzero(lengths > steps))
    if shorter or longer:
        warnings.append(
            f"Sequences have different lengths; all were brought to the most common length {steps}: "
            f"{shorter} zero-padded at the end, {longer} truncated."
        )

    labels = normalize_target(table[target_name], target_name)
    first = labels.take(pa.array(starts))
    expected = first.take(pa.array(group))
    differs = pc.or_(
        # fill_null keeps its input's kind (a boolean array here); the stub widens its result to a union.
        pc.fill_null(pc.not_equal(labels, expected), pa.scalar(False)),  # type: ignore[arg-type]
        pc.xor(pc.is_null(labels), pc.is_null(expected)),
    )
    if pc.any(differs).as_py():
        row = int(np.flatnonzero(np.asarray(differs, dtype=bool))[0])
        bad_id = ids[row].as_py()
        raise DataError(
            "malformed-sequence",
            f"The target {target_name!r} changes within sequence {bad_id!r}; it must be constant per id. To "
            "predict it row by row, upload with modality='tabular'.",
            extra={"id": str(bad_id), "target": target_name},
        )
    details["sequence_columns"] = {"id": id_col, "time": time_col, "features": feature_names, "ignored": ignored}
    details["n_rows_long"] = table.num_rows
    return finish_sequences(
        x,
        first,
        lengths=np.minimum(lengths, steps),
        ids=pivot.ids,
        target=target_name,
        task=task,
        work_dir=work_dir,
        details=details,
        warnings=warnings,
        feature_names=feature_names,
    )


def numeric_columns(table: pa.Table, names: list[str]) -> tuple[list[str], list[str]]:
    """The columns of ``names`` that can be sequence features (numbers, booleans) and the others."""
    features: list[str] = []
    ignored: list[str] = []
    for name in names:
        kind = table[name].type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        (features if numeric else ignored).append(name)
    return features, ignored


@dataclass(frozen=True)
class LongSequences:
    """A long table pivoted to N x T x F: ``x`` and, per sequence, its id, start row and true length."""

    table: pa.Table  # sorted by (id, time), rows without an id dropped
    x: np.ndarray
    steps: int
    starts: np.ndarray
    group: np.ndarray  # sequence index of every row of ``table``
    lengths: np.ndarray  # true number of steps of each sequence (before padding or truncation)
    ids: np.ndarray
    dropped_no_id: int


def pivot_long(
    table: pa.Table, *, id_col: str, time_col: str, feature_names: list[str], steps: int | None = None
) -> LongSequences:
    """Sort by (id, time), find where the id changes and scatter each row to (sequence, position).

    Sequences are brought to ``steps`` (default: the most common length, ties to the longer one) by
    zero-padding at the end or keeping their first ``steps`` rows, as ingestion does.
    """
    no_id = table[id_col].null_count
    if no_id:
        table = table.filter(pc.is_valid(table[id_col]))
    table = table.sort_by([(id_col, "ascending"), (time_col, "ascending")])
    n = table.num_rows
    ids = table[id_col]
    changed = np.asarray(pc.not_equal(ids.slice(1), ids.slice(0, n - 1)), dtype=bool) if n > 1 else np.zeros(0, bool)
    starts = np.concatenate([[0], np.flatnonzero(changed) + 1]) if n else np.zeros(0, np.int64)
    lengths = np.diff(np.append(starts, n))
    if steps is None:
        values, counts = np.unique(lengths, return_counts=True)
        steps = int(values[counts == counts.max()].max()) if len(values) else 0
    group = np.repeat(np.arange(len(starts)), lengths)
    position = np.arange(n) - np.repeat(starts, lengths)
    inside = position < steps
    x = np.full((len(starts), steps, len(feature_names)), PAD_VALUE, dtype=np.float32)
    for f, name in enumerate(feature_names):
        column = np.asarray(table[name].cast(pa.float32()).to_numpy(zero_copy_only=False), dtype=np.float32)
        x[group[inside], position[inside], f] = column[inside]
    id_values = np.asarray(pc.cast(ids.take(pa.array(starts)), pa.string()).to_pylist(), dtype=str)
    return LongSequences(table, x, steps, starts, group, lengths, id_values, int(no_id))


def finish_sequences(
    x: np.ndarray,
    labels: pa.ChunkedArray,
    *,
    lengths: np.ndarray | None,
    ids: np.ndarray | None,
    target: str,
    task: str | None,
    work_dir: Path,
    details: dict[str, Any],
    warnings: list[str],
    feature_names: list[str] | None = None,
) -> IngestResult:
    """Validate sequence labels, mark non-finite values as missing (NaN), write ``data.npz`` + schema."""
    keep, y, analysis, dropped = encode_target(labels, target=target, task=task, warnings=warnings)
    if keep is not None:
        x = x[keep]
        lengths = None if lengths is None else lengths[keep]
        ids = None if ids is None else ids[keep]
    n, steps, n_channels = x.shape
    if lengths is None:
        lengths = np.full(n, steps, dtype=np.int64)
    infinite = np.isinf(x)
    n_inf = int(np.count_nonzero(infinite))
    if n_inf:
        x = np.where(infinite, np.float32(np.nan), x)
    n_nan = int(np.count_nonzero(np.isnan(x)))
    if n_nan:
        warnings.append(f"{n_nan} NaN/infinite value(s) in the sequences are stored as missing (NaN).")
    real_cells = int(lengths.sum()) * n_channels

    arrays: dict[str, np.ndarray] = {"x": x, "y": y, "lengths": lengths.astype(np.int64)}
    if ids is not None:
        arrays["ids"] = ids
    write_npz(work_dir / DATA_NPZ, compress=False, **arrays)
    write_json(
        work_dir / SCHEMA_JSON,
        {
            "schema_version": SCHEMA_VERSION,
            "format": "npz",
            "file": DATA_NPZ,
            "modality": "sequence",
            "task": analysis.task,
            "target": target,
            "classes": analysis.classes,
            "label_encoding": None if analysis.classes is None else "index into classes",
            "features": feature_names,
            "padding": {"value": PAD_VALUE, "where": "end", "lengths_array": "lengths"},
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()},
            "missing": "NaN",
        },
    )
    profile = build_profile(
        modality="sequence",
        task=analysis.task,
        n_rows=n,
        class_counts=analysis.class_counts,
        target_outlier_share=outlier_share(y) if analysis.task == "regression" else None,
        target_mode_share=mode_share(y) if analysis.task == "regression" else None,
        missing_share=n_nan / real_cells if real_cells else 0.0,
        sequence_length=steps,
    )
    details.update(
        {
            "n_rows_original": n + dropped,
            "dropped_nan_target_rows": dropped,
            "nonfinite_feature_cells": n_nan,
            "sequence_length": steps,
            "n_channels": n_channels,
            "class_counts": None
            if analysis.classes is None
            else {str(c): int(k) for c, k in zip(analysis.classes, analysis.class_counts or [], strict=True)},
        }
    )
    return IngestResult(
        modality="sequence",
        task=analysis.task,
        task_reason=analysis.reason,
        target=target,
        profile=profile,
        details=details,
        warnings=warnings,
        files=[DATA_NPZ, SCHEMA_JSON],
    )
