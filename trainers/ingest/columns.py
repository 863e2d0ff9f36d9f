"""Infer what each column is (numeric, categorical, boolean, datetime, text, identifier) and normalise it.

Each column is examined with Arrow compute kernels — a loop over *columns*, never over rows — so a
million-row table costs a few milliseconds per numeric column. Expensive checks (distinct counts, datetime
parsing) only run on the column types that need them.

The normalised column is what gets stored: NaN/inf become missing, ``yes``/``no`` become booleans, parsed
date strings become timestamps (booleans are read by :mod:`trainers.coercion`, which prediction rows go
through too). How each was parsed is recorded in :class:`ColumnInfo` (and so in
``schema.json``) so that prediction-time data can be normalised exactly the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from trainers.coercion import boolean_pair, parse_booleans, parse_datetimes
from trainers.ingest.limits import (
    DATETIME_MIN_PARSE_SHARE,
    DATETIME_SAMPLE,
    IDENTIFIER_MIN_UNIQUE_RATIO,
    TEXT_MIN_DISTINCT_RATIO,
    TEXT_MIN_MEAN_CHARS,
    TEXT_MIN_MEAN_TOKENS,
)

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier", "empty", "unsupported"]
Role = Literal["feature", "target", "ignored"]
FEATURE_KINDS: tuple[ColumnKind, ...] = ("numeric", "categorical", "boolean", "datetime", "text", "identifier")

# Identifier names: a whole word id/uuid/key/index, a snake/kebab suffix (customer_id), camelCase (customerID),
# or the "Unnamed: 0" column pandas writes for its index.
_ID_WORDS = r"(?:id|uuid|guid|key|idx|index|identifier|rowid)"
_ID_NAME = re.compile(rf"(?i:(?:.*[_\-\s.])?{_ID_WORDS})|.*[a-z0-9](?:ID|Id|UUID|Uuid|Key)|(?i:unnamed: ?\d+)")

_DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d-%b-%Y",
    "%b %d %Y",
)


@dataclass
class ColumnInfo:
    """What one column turned out to be, and how it was normalised."""

    name: str
    kind: ColumnKind
    role: Role
    dtype: str
    n_missing: int = 0
    n_nonfinite: int = 0
    n_distinct: int | None = None
    reason: str | None = None
    datetime_format: str | None = None
    true_values: list[str] | None = None
    mean_chars: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``schema.json`` and ``details``; empty fields are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def is_identifier_name(name: str) -> bool:
    """Whether a column name suggests a key rather than a measurement (``id``, ``customerID``, ``uuid`` ...)."""
    return bool(_ID_NAME.fullmatch(name.strip()))


def infer_column(name: str, column: pa.ChunkedArray) -> tuple[ColumnInfo, pa.ChunkedArray]:
    """Classify one feature column and return it normalised for storage.

    Ignored columns (identifiers, empty, constant, unsupported types) get ``role="ignored"`` and a reason.
    """
    n_rows = len(column)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_large_string(kind):
        column = column.cast(pa.string())
        kind = column.type

    if pa.types.is_null(kind) or column.null_count == n_rows:
        info = ColumnInfo(name, "empty", "ignored", str(kind), n_missing=n_rows, reason="every value is missing")
        return info, column
    if pa.types.is_boolean(kind):
        return _finish(ColumnInfo(name, "boolean", "feature", "bool"), column)
    if pa.types.is_decimal(kind):
        column = column.cast(pa.float64())
        kind = column.type
    if pa.types.is_integer(kind):
        return _integer(name, column)
    if pa.types.is_floating(kind):
        return _floating(name, column)
    if pa.types.is_temporal(kind):
        return _finish(ColumnInfo(name, "datetime", "feature", str(kind)), column)
    if pa.types.is_string(kind):
        return _string(name, column)
    reason = f"values of type {kind} are not supported as features"
    return ColumnInfo(name, "unsupported", "ignored", str(kind), n_missing=column.null_count, reason=reason), column


def _finish(info: ColumnInfo, column: pa.ChunkedArray) -> tuple[ColumnInfo, pa.ChunkedArray]:
    info.n_missing = column.null_count
    info.dtype = str(column.type)
    if info.role != "feature" or info.kind in ("identifier", "text"):
        return info, column
    if info.n_distinct is not None:
        constant = info.n_distinct == 1
    else:
        lo_hi = pc.min_max(column)
        constant = lo_hi["min"].is_valid and lo_hi["min"] == lo_hi["max"]
    if constant:
        value = column.drop_null()[0].as_py()
        info.role, info.reason = "ignored", f"constant: every non-missing value is {value!r}"
    return info, column


def _integer(name: str, column: pa.ChunkedArray) -> tuple[ColumnInfo, pa.ChunkedArray]:
    lo_hi = pc.min_max(column)
    lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
    n_valid = len(column) - column.null_count
    if lo in (0, 1) and hi in (0, 1) and lo != hi:
        return _finish(ColumnInfo(name, "boolean", "feature", str(column.type), n_distinct=2), column)
    reason = None
    # A saved row number (0..n-1 or 1..n, e.g. a pandas index written without a name) or a unique
    # integer key; the distinct count is only paid for when the range or the name makes it plausible.
    if lo in (0, 1) and hi - lo + 1 == n_valid == len(column):
        reason = "its values are the row numbers"
    elif is_identifier_name(name):
        reason = "its name says identifier and nearly every value is unique"
    if reason is not None:
        n_distinct = int(pc.count_distinct(column).as_py())
        if n_distinct >= IDENTIFIER_MIN_UNIQUE_RATIO * n_valid:
            info = ColumnInfo(name, "identifier", "ignored", str(column.type), n_distinct=n_distinct, reason=reason)
            return _finish(info, column)
    return _finish(ColumnInfo(name, "numeric", "feature", str(column.type)), column)


def _floating(name: str, column: pa.ChunkedArray) -> tuple[ColumnInfo, pa.ChunkedArray]:
    # One SIMD sum answers "any NaN/inf?" for the common clean column; only a non-finite sum (or an overflow
    # of huge finite values) pays for the per-value check.
    total = pc.sum(column).as_py()
    n_nonfinite = 0
    if total is not None and not math.isfinite(total):
        finite = pc.is_finite(column)
        # pyarrow sums booleans (as counts); its stub accepts numeric values only.
        n_nonfinite = len(column) - column.null_count - int(pc.sum(finite).as_py() or 0)  # type: ignore[type-var]
        if n_nonfinite:
            # Left as missing for the trainer's imputer: a NaN or inf inside a model's input poisons every
            # gradient or split statistic it touches.
            column = pc.if_else(finite, column, pa.scalar(None, column.type))
    info = ColumnInfo(name, "numeric", "feature", str(column.type), n_nonfinite=n_nonfinite)
    if column.null_count == len(column):
        info.kind, info.role, info.reason = "empty", "ignored", "every value is missing or not finite"
        info.n_missing = len(column)
        return info, column
    return _finish(info, column)


def _string(name: str, column: pa.ChunkedArray) -> tuple[ColumnInfo, pa.ChunkedArray]:
    n_rows = len(column)
    n_valid = n_rows - column.null_count
    n_distinct = int(pc.count_distinct(column).as_py())
    mean_chars = float(pc.mean(pc.utf8_length(column)).as_py() or 0.0)
    info = ColumnInfo(name, "categorical", "feature", "string", n_distinct=n_distinct, mean_chars=round(mean_chars, 1))

    if n_distinct <= 2:
        as_bool = _boolean_strings(column)
        if as_bool is not None:
            converted, true_values = as_bool
            info.kind, info.true_values = "boolean", true_values
            return _finish(info, converted)
    if n_distinct == 1:
        return _finish(info, column)

    parsed = _datetime_strings(column)
    if parsed is not None:
        converted, fmt = parsed
        info.kind, info.datetime_format = "datetime", fmt
        unparsed = converted.null_count - column.null_count
        if unparsed:
            info.extra["unparsed_datetimes"] = unparsed
        return _finish(info, converted)

    unique_ratio = n_distinct / n_valid
    if mean_chars >= TEXT_MIN_MEAN_CHARS and unique_ratio >= TEXT_MIN_DISTINCT_RATIO:
        tokens = float(pc.mean(pc.count_substring_regex(column, r"\S+")).as_py() or 0.0)
        info.extra["mean_tokens"] = round(tokens, 1)
        if tokens >= TEXT_MIN_MEAN_TOKENS:
            info.kind = "text"
            return _finish(info, column)
    if unique_ratio >= IDENTIFIER_MIN_UNIQUE_RATIO or (is_identifier_name(name) and unique_ratio >= 0.9):
        info.kind, info.role = "identifier", "ignored"
        info.reason = "nearly every value is unique" + (
            ", and its name says identifier" if is_identifier_name(name) else ""
        )
        return _finish(info, column)
    return _finish(info, column)


def _boolean_strings(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[str]] | None:
    distinct = {v.strip().lower() for v in pc.unique(column.drop_null()).to_pylist() if v is not None}
    true_set = boolean_pair(distinct)
    if true_set is None:
        return None
    # The same reader prediction rows go through (trainers.coercion), so both sides agree on every word.
    converted, _ = parse_booleans(column)
    return converted, sorted(true_set)


def _datetime_strings(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, str] | None:
    sample = column.drop_null().slice(0, DATETIME_SAMPLE)
    if len(sample) == 0:
        return None
    sample = pc.utf8_trim_whitespace(sample)
    # Cheap gate: every date format we know has digits; most categorical columns fail here.
    # pyarrow sums booleans (as counts); its stub accepts numeric values only.
    with_digit = pc.sum(pc.match_substring_regex(sample, r"[0-9]")).as_py() or 0  # type: ignore[type-var]
    if with_digit < DATETIME_MIN_PARSE_SHARE * len(sample):
        return None
    # The format that reads the most of the sample (the first of equals): "13/6/2020" rules out month-first.
    best: tuple[int, str, Any] | None = None
    for fmt in _DATETIME_FORMATS:
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        n_parsed = len(sample) - parsed.null_count
        if n_parsed and (best is None or n_parsed > best[0]):
            best = (n_parsed, fmt, parsed)
    if best is not None and best[0] >= DATETIME_MIN_PARSE_SHARE * len(sample):
        _, fmt, parsed = best
        if "%Y" in fmt and (pc.min(pc.year(parsed)).as_py() or 1000) < 100:
            # "8/6/20 18:57": strptime's %Y takes two digits as the year 20; read them as %y does (2020).
            fmt = fmt.replace("%Y", "%y")
        full = parse_datetimes(column, fmt)
        # A chunked input gives a chunked result; the stub types the result as one array.
        return full, fmt  # type: ignore[return-value]
    return None
