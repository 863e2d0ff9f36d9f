"""Tabular and text datasets: read CSV/Parquet into Arrow, type the columns, store as Parquet.

Everything here is columnar: Arrow's CSV reader, compute kernels per column, and a Parquet
writer — never a Python loop over rows — because the ingest benchmark holds us to 2.5x a bare
``pyarrow.csv.read_csv`` and a peak memory of 3x the file size (``bench/ingest.py``).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from advisor.profile import Modality
from trainers.dataset_format import DATA_PARQUET, SCHEMA_JSON, SCHEMA_VERSION
from trainers.errors import DataError
from trainers.ingest.columns import FEATURE_KINDS, ColumnInfo, ColumnKind, infer_column
from trainers.ingest.finish import build_profile
from trainers.ingest.result import IngestResult, write_json
from trainers.ingest.sniff import CsvDialect, find_invalid_utf8, not_utf8_error, sniff_csv
from trainers.ingest.target import (
    analyse_target,
    find_column,
    mode_share,
    normalize_target,
    outlier_share,
    require_rows,
)

_ROW_IN_ERROR = re.compile(r"Row #(\d+)")
# With types fixed up front, 1 MiB blocks (the resulting chunks stay cache-sized) parsed the bench file with
# ~35% less CPU than 4 or 16 MiB blocks.
_BLOCK_SIZE = 1 << 20
_TYPE_SAMPLE_BYTES = 1 << 20
_MAX_BLOCK_SIZE = 256 << 20


def read_csv(path: Path, *, target: str | None, known_columns: Collection[str] = ()) -> tuple[pa.Table, CsvDialect]:
    """Read a CSV file with a sniffed dialect into an Arrow table (uploads, and rows to predict: a first row
    naming any of ``known_columns`` is a header).

    The reader is tried first with the column types taken from the first MiB: its peak is then about 1.5 copies of
    the data over the process's own memory, where inferring types from every row reaches about 3 and takes longer
    (the ingest bench's file, 118 MB: 180 MB against 365 MB over an 87 MB process). A column that changes type
    after the sample (integers, then a decimal) makes it fail; the reader that infers from every row is then the
    fallback.

    Raises:
        DataError: ``malformed-csv`` with the line of the first ragged row, ``not-utf8`` with the byte
            offset of the first invalid byte, ``empty-file`` when there are no data rows.
    """
    dialect = sniff_csv(path, target=target, known_columns=known_columns)
    table = _read_with_retries(path, dialect)
    if any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
        # Arrow reads undecodable bytes as a binary column instead of failing; locate the culprit.
        offset = find_invalid_utf8(path)
        if offset is not None:
            raise not_utf8_error(offset)
    if table.num_rows == 0:
        raise DataError(
            "empty-file",
            "The CSV file has a header but no data rows." if dialect.has_header else "The CSV file has no rows.",
            extra={"columns": dialect.column_names[:50]},
        )
    return table, dialect


def _read_with_retries(path: Path, dialect: CsvDialect) -> pa.Table:
    # A block must hold several whole rows; very wide files get bigger blocks from the start.
    block = max(_BLOCK_SIZE, 1 << (4 * dialect.longest_line).bit_length())
    newlines, typed = dialect.quotes_in_data, True
    while True:  # every retry changes one setting for good, so this ends after a few attempts
        try:
            return _read_csv(path, dialect, newlines_in_values=newlines, typed=typed, block_size=block)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if typed and "conversion error" in message:
                typed = False  # a type change after the typed sample: infer from every row instead
            elif ("straddl" in message or "block size" in message) and block < _MAX_BLOCK_SIZE:
                block *= 16  # one row (or quoted field) is longer than a block
            elif not newlines and "parse error" in message:
                newlines = True  # perhaps a quoted line break beyond the sniffed sample
            else:
                raise _malformed(path, dialect, exc) from exc


def _read_csv(
    path: Path,
    dialect: CsvDialect,
    *,
    newlines_in_values: bool,
    typed: bool,
    use_threads: bool = True,
    block_size: int = _BLOCK_SIZE,
) -> pa.Table:
    read_options = pa_csv.ReadOptions(
        use_threads=use_threads,
        block_size=block_size,
        column_names=dialect.column_names,
        skip_rows=1 if dialect.has_header else 0,
    )
    parse_options = pa_csv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=newlines_in_values)
    convert_options = pa_csv.ConvertOptions(
        strings_can_be_null=True, decimal_point="," if dialect.decimal_comma else "."
    )
    if typed:
        # Types inferred from every row cost time and memory (on the ingest bench's 1,000,000-row file: 0.76 s and
        # 812 MB peak, against 0.71 s and about 400 MB with the types fixed from a sample; Arrow's streaming reader
        # held as little but, parsing one block at a time, took 1.3-1.4 s). Columns that are all-missing in the
        # sample are left to inference so a later value is not forced into a wrong type.
        sample_types = _sample_types(path, read_options, parse_options, convert_options)
        convert_options.column_types = {name: kind for name, kind in sample_types.items() if not pa.types.is_null(kind)}
    return pa_csv.read_csv(
        path, read_options=read_options, parse_options=parse_options, convert_options=convert_options
    )


def _sample_types(
    path: Path,
    read_options: pa_csv.ReadOptions,
    parse_options: pa_csv.ParseOptions,
    convert_options: pa_csv.ConvertOptions,
) -> dict[str, pa.DataType]:
    with open(path, "rb") as fh:
        # ReadOptions.block_size reads back as an int; the stub says int | None.
        sample = fh.read(max(_TYPE_SAMPLE_BYTES, read_options.block_size))  # type: ignore[type-var]
        complete = not fh.read(1)
    if not complete:
        sample = sample[: sample.rfind(b"\n") + 1]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(sample),  # type: ignore[arg-type]  # a NativeFile is read; the stub names paths and IO
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except pa.ArrowInvalid:
        return {}  # e.g. the cut fell inside a quoted field: let the reader infer on its own
    return {field.name: field.type for field in table.schema}


def _malformed(path: Path, dialect: CsvDialect, exc: pa.ArrowInvalid) -> DataError:
    message = str(exc)
    match = _ROW_IN_ERROR.search(message)
    if match is None and "parse error" in message:
        # The multithreaded reader does not know row numbers; one single-threaded pass (error path only) does.
        try:
            _read_csv(path, dialect, newlines_in_values=True, typed=False, use_threads=False, block_size=64 << 20)
        except pa.ArrowInvalid as exc2:
            message = str(exc2)
            match = _ROW_IN_ERROR.search(message)
    line = int(match.group(1)) if match else None
    # Arrow's message ends with the offending row; keep the sentence short and the row out of the detail.
    reason = message.split(": ", 1)[-1] if "parse error" in message else message
    reason = re.sub(r"^Row #\d+: ", "", reason)
    expected = re.search(r"Expected (\d+) columns, got (\d+)", reason)
    if expected:
        reason = f"expected {expected.group(1)} fields (as in the header), found {expected.group(2)}"
    where = f"line {line}" if line is not None else "a row"
    hint = _bare_carriage_returns(path)
    return DataError(
        "malformed-csv",
        f"The CSV file is malformed at {where}: {reason[:200]}.{hint}",
        extra={"line": line, "delimiter": dialect.delimiter, "has_header": dialect.has_header},
    )


def _bare_carriage_returns(path: Path) -> str:
    r"""A hint when lines end with ``\n`` but some hold a bare ``\r`` (pandas' ``to_csv`` writes a text value's
    carriage return unquoted, and every CSV reader ends the row there); "" otherwise."""
    import mmap

    if path.stat().st_size == 0:
        return ""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm.find(b"\n") < 0:
            return ""  # lines end with \r alone: old Mac line endings, which readers take as they are
        count = sum(1 for _ in re.finditer(rb"\r(?!\n)", mm))
    if not count:
        return ""
    return (
        f" The file's lines end with \\n, but {count} carriage return(s) (\\r) stand alone inside them: outside "
        "quotes, a CSV reader ends the row at each. Quote the fields that hold one, or replace it, and upload again."
    )


def read_parquet(path: Path) -> pa.Table:
    """Read a Parquet file; a damaged one is a ``malformed-file`` problem, a row-less one ``empty-file``."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError("malformed-file", f"The Parquet file cannot be read: {exc}.") from exc
    if table.num_rows == 0:
        raise DataError("empty-file", "The Parquet file has no rows.", extra={"columns": table.column_names[:50]})
    if len(set(table.column_names)) != len(table.column_names):
        raise DataError("malformed-file", "The Parquet file has duplicate column names.")
    return table


def ingest_table(
    table: pa.Table,
    *,
    target: str | None,
    task: str | None,
    modality: str | None,
    work_dir: Path,
    details: dict[str, Any],
    warnings: list[str],
) -> IngestResult:
    """Validate a table against the requested target, type its columns and store it as Parquet + schema.

    The modality is ``text`` when free-text columns are at least half of the used features (or when asked),
    ``tabular`` otherwise.
    """
    if modality not in (None, "tabular", "text"):
        raise DataError(
            "invalid-modality",
            f"A table cannot be read as modality {modality!r}; use tabular, text, or sequence (long format: "
            "id, time, features...).",
            extra={"modality": modality},
        )
    target_name = find_column(table.column_names, target)
    n_original = table.num_rows
    table, dropped = drop_missing_target(table, target_name, warnings)
    require_rows(table.num_rows, dropped=dropped)
    analysis = analyse_target(table[target_name], target_name, task)

    infos: list[ColumnInfo] = []
    columns: list[pa.ChunkedArray] = []
    for name in table.column_names:
        if name == target_name:
            kind: ColumnKind = "categorical" if analysis.task != "regression" else "numeric"
            infos.append(ColumnInfo(name, kind, "target", str(table[name].type), n_distinct=analysis.n_distinct))
            columns.append(table[name])
            continue
        info, column = infer_column(name, table[name])
        infos.append(info)
        columns.append(column)
    table = pa.table(columns, names=table.column_names)
    del columns

    features = [i for i in infos if i.role == "feature"]
    if not features:
        raise DataError(
            "no-features",
            f"Apart from the target {target_name!r} there is no usable column"
            + (f" ({_ignored_summary(infos)})." if len(infos) > 1 else "."),
            extra={"columns": [i.to_dict() for i in infos][:50]},
        )
    text_columns = [i for i in features if i.kind == "text"]
    chosen, modality_reason = _modality(modality, features, text_columns, warnings)
    _warn_ignored(infos, warnings)
    n_nonfinite = sum(i.n_nonfinite for i in infos)
    if n_nonfinite:
        worst = sorted((i for i in infos if i.n_nonfinite), key=lambda i: -i.n_nonfinite)[:5]
        listing = ", ".join(f"{i.name} ({i.n_nonfinite})" for i in worst)
        warnings.append(f"{n_nonfinite} NaN/infinite value(s) in feature columns were stored as missing: {listing}.")
    for info in infos:
        if info.extra.get("unparsed_datetimes"):
            warnings.append(
                f"{info.extra['unparsed_datetimes']} value(s) of datetime column {info.name!r} did not match "
                f"{info.datetime_format!r} and were stored as missing."
            )

    missing_cells = sum(i.n_missing for i in features)
    missing_share = missing_cells / (table.num_rows * len(features))
    text_length = None
    if chosen == "text":
        main = max(text_columns, key=lambda i: i.mean_chars or 0.0)
        text_length = float(pc.mean(pc.count_substring_regex(table[main.name], r"\S+")).as_py() or 1.0)
        details["text_column"] = main.name
    profile = build_profile(
        modality=chosen,
        task=analysis.task,
        n_rows=table.num_rows,
        n_features=len(features) if chosen == "tabular" else None,
        class_counts=analysis.class_counts,
        target_outlier_share=outlier_share(table[target_name]) if analysis.task == "regression" else None,
        target_mode_share=mode_share(table[target_name]) if analysis.task == "regression" else None,
        missing_share=missing_share,
        n_categorical_features=sum(1 for i in features if i.kind == "categorical"),
        text_length=text_length,
    )

    data_sha256 = write_parquet(table, work_dir / DATA_PARQUET)
    schema = {
        "schema_version": SCHEMA_VERSION,
        "format": "parquet",
        "file": DATA_PARQUET,
        "modality": chosen,
        "task": analysis.task,
        "target": target_name,
        "classes": analysis.classes,
        "label_encoding": None if analysis.classes is None else "index into classes",
        "columns": [i.to_dict() | {"dtype": str(table[i.name].type)} for i in infos],
        "text_column": details.get("text_column"),
    }
    write_json(work_dir / SCHEMA_JSON, schema)

    details.update(
        {
            "n_rows_original": n_original,
            "dropped_nan_target_rows": dropped,
            "nonfinite_feature_cells": n_nonfinite,
            "missing_feature_cells": missing_cells,
            "feature_types": feature_type_counts(infos),
            "columns": [i.to_dict() for i in infos],
            "class_counts": _class_counts(analysis.classes, analysis.class_counts),
            "modality_reason": modality_reason,
        }
    )
    return IngestResult(
        modality=chosen,
        task=analysis.task,
        task_reason=analysis.reason,
        target=target_name,
        profile=profile,
        details=details,
        warnings=warnings,
        files=[DATA_PARQUET, SCHEMA_JSON],
        file_sha256={DATA_PARQUET: data_sha256},
    )


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes what goes through it (SHA-256), for a writer that only appends."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self.fh = fh
        self.digest = hashlib.sha256()
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.position += len(data)
        return self.fh.write(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        self.fh.flush()


def write_parquet(table: pa.Table, path: Path) -> str:
    """Store a normalised table: dictionary + Snappy for labels and integers, plain for floats. Returns the
    file's hex SHA-256, hashed as it is written rather than read back afterwards (write + hash of a 500,000 x 30
    table: median 0.240 s -> 0.215 s).

    Continuous floats barely compress (Snappy keeps ~65% of the bytes) and dictionary pages only cost time
    before falling back to plain, while encoding them dominates the write: measured on the 1M x 30 bench,
    plain uncompressed floats write 2-3x faster, which is what keeps ingest within 2.5x of a bare CSV read.
    """
    floats = {f.name for f in table.schema if pa.types.is_floating(f.type)}
    with path.open("wb") as fh:
        sink = _HashingSink(fh)
        pq.write_table(
            table,
            pa.PythonFile(sink, mode="w"),
            compression={name: "none" if name in floats else "snappy" for name in table.column_names},
            # pyarrow takes the column names to dictionary-encode; the stub says bool only.
            use_dictionary=[name for name in table.column_names if name not in floats],  # type: ignore[arg-type]
        )
    return sink.digest.hexdigest()


def drop_missing_target(table: pa.Table, target_name: str, warnings: list[str]) -> tuple[pa.Table, int]:
    """Normalise the target column and drop the rows where it is missing (NaN, inf, empty or null)."""
    target_col = normalize_target(table[target_name], target_name)
    table = table.set_column(table.column_names.index(target_name), target_name, target_col)
    dropped = target_col.null_count
    if dropped:
        # Only now pay for a filtered copy of the table; the common case has no missing targets.
        table = table.filter(pc.is_valid(target_col))
        warnings.append(f"Dropped {dropped} row(s) with no value for the target {target_name!r}.")
    return table, dropped


def feature_type_counts(infos: list[ColumnInfo]) -> dict[str, int]:
    """Counts per inferred type over the non-target columns (ignored ones included, by their type)."""
    counts: dict[str, int] = dict.fromkeys(FEATURE_KINDS, 0)
    for info in infos:
        if info.role != "target":
            counts[info.kind] = counts.get(info.kind, 0) + 1
    return counts


def _modality(
    requested: str | None, features: list[ColumnInfo], text_columns: list[ColumnInfo], warnings: list[str]
) -> tuple[Modality, str]:
    if requested == "tabular":
        return "tabular", "requested"
    if requested == "text":
        if not text_columns:
            candidates = [i for i in features if i.kind == "categorical"]
            if not candidates:
                raise DataError(
                    "invalid-modality",
                    "Modality 'text' was requested but no column holds text.",
                    extra={"modality": "text"},
                )
            longest = max(candidates, key=lambda i: i.mean_chars or 0.0)
            longest.kind = "text"
            text_columns.append(longest)
            warnings.append(f"Column {longest.name!r} is treated as the text column (modality 'text' was requested).")
        return "text", "requested"
    if text_columns and 2 * len(text_columns) >= len(features):
        names = ", ".join(i.name for i in text_columns)
        return "text", f"free-text column(s) {names} make up at least half of the features"
    return "tabular", "no free-text column dominates the features"


def _warn_ignored(infos: list[ColumnInfo], warnings: list[str]) -> None:
    groups: dict[str, list[str]] = {}
    for info in infos:
        if info.role == "ignored":
            label = {
                "identifier": "look like identifiers",
                "empty": "are empty",
                "unsupported": "have an unsupported type",
            }.get(info.kind, "are constant")
            groups.setdefault(label, []).append(info.name)
    for label, names in groups.items():
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        warnings.append(f"{len(names)} column(s) {label} and will be ignored: {shown}.")


def _ignored_summary(infos: list[ColumnInfo]) -> str:
    return "; ".join(f"{i.name}: {i.reason}" for i in infos if i.role == "ignored")[:300]


def _class_counts(classes: list[Any] | None, counts: list[int] | None) -> dict[str, int] | None:
    if classes is None or counts is None:
        return None
    return {str(c).lower() if isinstance(c, bool) else str(c): n for c, n in zip(classes, counts, strict=True)}
