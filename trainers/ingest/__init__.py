"""Ingest an uploaded dataset: recognise, validate, normalise, profile and store it in a work folder.

One entry point, :func:`ingest`, for every format::

    result = ingest(upload_path, filename="churn.csv", target="churn", task=None, modality=None,
                    work_dir=fresh_empty_dir)

It writes only inside ``work_dir`` (``data.parquet`` or ``data.npz``, plus ``schema.json``) and only after
every check passed, so a :class:`~trainers.errors.DataError` leaves nothing behind except the folder the
caller created. Format-specific modules (``csv_tabular``, ``images``, ``npz``, ``sequences``) are imported
on use, so importing this package does not load pyarrow or Pillow.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from trainers.artifacts import sha256_file
from trainers.dataset_format import DATA_NPZ, DATA_PARQUET, SCHEMA_JSON
from trainers.errors import DataError
from trainers.ingest.limits import DEFAULT_LIMITS, MIN_ROWS, MIN_ROWS_PER_CLASS, IngestLimits
from trainers.ingest.result import IngestResult
from trainers.ingest.sniff import detect_format

__all__ = [
    "DATA_NPZ",
    "DATA_PARQUET",
    "DEFAULT_LIMITS",
    "MIN_ROWS",
    "MIN_ROWS_PER_CLASS",
    "MODALITIES",
    "SCHEMA_JSON",
    "TASKS",
    "DataError",
    "IngestLimits",
    "IngestResult",
    "ingest",
    "sha256_file",
]

MODALITIES = ("tabular", "image", "text", "sequence")
TASKS = ("binary", "multiclass", "regression")


def ingest(
    src_path: Path,
    *,
    filename: str | None,
    target: str | None,
    task: str | None,
    modality: str | None,
    work_dir: Path,
    limits: IngestLimits = DEFAULT_LIMITS,
    sha256: str | None = None,
) -> IngestResult:
    """Read an upload, check it can be trained on, and store a normalised copy in ``work_dir``.

    Args:
        src_path: the uploaded bytes, already on disk.
        filename: the client's file name; only a hint for the type (magic bytes decide), never a path.
        target: column to predict (tables); ignored for image folders (the folder is the label) and for
            ``.npz`` (always ``y``).
        task: ``binary``/``multiclass``/``regression`` to override the inferred task (checked against the
            target).
        modality: ``tabular``/``image``/``text``/``sequence`` to override the inferred modality.
        work_dir: an empty folder owned by the caller; created if missing. The caller moves it into place on
            success and deletes it on error.
        limits: bounds on what archives may expand to.
        sha256: the upload's hex SHA-256 when the caller already computed it (e.g. to look for a duplicate
            before ingesting); otherwise it is computed here, overlapped with parsing.

    Returns:
        The :class:`IngestResult` with the profile, details, warnings and the files written.

    Raises:
        DataError: for every problem with the data itself (see :data:`trainers.errors.PROBLEM_TYPES`).
    """
    if modality is not None and modality not in MODALITIES:
        raise DataError(
            "invalid-modality",
            f"Modality {modality!r} is not supported for uploads; use one of {', '.join(MODALITIES)}.",
            extra={"modality": modality, "allowed": list(MODALITIES)},
        )
    if task is not None and task not in TASKS:
        raise DataError(
            "invalid-task",
            f"Unknown task {task!r}; use one of {', '.join(TASKS)}.",
            extra={"task": task, "allowed": list(TASKS)},
        )
    src_path = Path(src_path)
    fmt = detect_format(src_path, filename)
    # Hashing reads the whole file once more; doing it on a thread (hashlib releases the GIL) overlaps it
    # with parsing instead of adding to it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sha256") as pool:
        digest = pool.submit(sha256_file, src_path) if sha256 is None else None
        result = _ingest(
            src_path, fmt, target=target, task=task, modality=modality, work_dir=Path(work_dir), limits=limits
        )
        result.details["sha256"] = digest.result() if digest is not None else sha256
    return result


def _ingest(
    src_path: Path,
    fmt: str,
    *,
    target: str | None,
    task: str | None,
    modality: str | None,
    work_dir: Path,
    limits: IngestLimits,
) -> IngestResult:
    details: dict[str, Any] = {"format": fmt, "size_bytes": src_path.stat().st_size}
    warnings: list[str] = []
    work_dir.mkdir(parents=True, exist_ok=True)

    if fmt == "image-zip":
        if modality not in (None, "image"):
            raise DataError(
                "invalid-modality",
                f"A zip of images cannot be read as modality {modality!r}.",
                extra={"modality": modality},
            )
        from trainers.ingest.images import ingest_image_zip

        return ingest_image_zip(
            src_path, task=task, work_dir=work_dir, limits=limits, details=details, warnings=warnings
        )
    if fmt == "npz":
        from trainers.ingest.npz import ingest_npz

        return ingest_npz(
            src_path,
            target=target,
            task=task,
            modality=modality,
            work_dir=work_dir,
            limits=limits,
            details=details,
            warnings=warnings,
        )

    from trainers.ingest import csv_tabular
    from trainers.ingest.sequences import ingest_long_sequences, long_format_columns

    if fmt == "csv":
        table, dialect = csv_tabular.read_csv(src_path, target=target)
        details["csv"] = {
            "delimiter": dialect.delimiter,
            "has_header": dialect.has_header,
            "header_reason": dialect.header_reason,
            "bom": dialect.has_bom,
            "decimal_comma": dialect.decimal_comma,
        }
        if not dialect.has_header:
            warnings.append(
                f"No header row was found ({dialect.header_reason}); columns are named column_1 ... "
                f"column_{len(dialect.column_names)}."
            )
        if dialect.renamed:
            pairs = ", ".join(f"{old} -> {new}" for old, new in list(dialect.renamed.items())[:5])
            warnings.append(f"Duplicate or empty column names were renamed: {pairs}.")
    else:
        table = csv_tabular.read_parquet(src_path)

    if modality == "image":
        raise DataError(
            "invalid-modality",
            "Images must be uploaded as a zip with one folder per class or as an .npz with x and y.",
            extra={"modality": modality},
        )
    long_format = long_format_columns(table, modality, target, warnings)
    if long_format is not None:
        return ingest_long_sequences(
            table,
            id_col=long_format[0],
            time_col=long_format[1],
            target=target,
            task=task,
            work_dir=work_dir,
            details=details,
            warnings=warnings,
        )
    return csv_tabular.ingest_table(
        table, target=target, task=task, modality=modality, work_dir=work_dir, details=details, warnings=warnings
    )
