"""What the target column asks for: binary, multiclass or regression — and why.

Works on one Arrow column with vectorised kernels, so it costs the same for 100 rows and 10 million.
Every decision comes with a sentence the user sees next to the recommendation.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainers.errors import DataError
from trainers.ingest.limits import (
    CLASSIFICATION_MAX_DISTINCT,
    CLASSIFICATION_MAX_DISTINCT_RATIO,
    MAX_CLASSES,
    MIN_ROWS,
    MIN_ROWS_PER_CLASS,
)

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
ValueKind = Literal["boolean", "text", "integer", "float"]


@dataclass(frozen=True)
class TargetAnalysis:
    """The task a target implies, with the evidence.

    ``classes`` are the distinct labels in sorted order (the integer a trainer uses for a label is its index
    here); ``class_counts`` is aligned with it. Both are ``None`` for regression.
    """

    task: Task
    reason: str
    value_kind: ValueKind
    n_distinct: int
    classes: list[Any] | None
    class_counts: list[int] | None


def find_column(names: list[str], target: str | None) -> str:
    """The column called ``target``, or a ``missing-target`` problem that names the closest columns."""
    if target is not None and target in names:
        return target
    if target is None:
        raise DataError(
            "missing-target",
            "No target column was given; say which column to predict with the 'target' field.",
            extra={"closest": [], "columns": names[:50]},
        )
    # Case/whitespace slips are the usual cause: rank those first, then by edit similarity.
    folded = {name.strip().lower(): name for name in names}
    exact_fold = [folded[target.strip().lower()]] if target.strip().lower() in folded else []
    fuzzy = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
    closest = list(dict.fromkeys(exact_fold + fuzzy))[:3]
    hint = f" Closest: {', '.join(repr(c) for c in closest)}." if closest else ""
    raise DataError(
        "missing-target",
        f"There is no column named {target!r}.{hint}",
        extra={"target": target, "closest": closest, "columns": names[:50]},
    )


def normalize_target(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """Map the target to a label-friendly type: NaN/inf become missing, categories become strings.

    Raises:
        DataError: ``invalid-task`` for types no task can predict (dates, binary blobs, nested values).
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_large_string(kind):
        column = column.cast(pa.string())
        kind = column.type
    if pa.types.is_string(kind):
        trimmed = pc.utf8_trim_whitespace(column)
        # An empty label after trimming is as good as none.
        return pc.if_else(pc.equal(trimmed, pa.scalar("", pa.string())), pa.scalar(None, pa.string()), trimmed)
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    if pa.types.is_decimal(kind):
        return column.cast(pa.float64())
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return column
    raise DataError(
        "invalid-task",
        f"The target column {name!r} holds values of type {kind}, which is neither a label nor a number.",
        extra={"target": name, "type": str(kind)},
    )


def require_rows(n_rows: int, *, dropped: int = 0) -> None:
    """Raise ``too-few-rows`` when fewer than :data:`MIN_ROWS` labelled rows remain."""
    if n_rows < MIN_ROWS:
        after = f" after dropping {dropped} without a target value" if dropped else ""
        raise DataError(
            "too-few-rows",
            f"The dataset has {n_rows} labelled rows{after}; at least {MIN_ROWS} are needed.",
            extra={"rows": n_rows, "minimum": MIN_ROWS, "dropped_nan_target_rows": dropped},
        )


def analyse_target(values: pa.ChunkedArray, name: str, requested: str | None = None) -> TargetAnalysis:
    """Infer (or check the requested) task of a target with no missing values.

    Rules, in order: booleans and text labels are classification (binary when 2 distinct values);
    any target with exactly 2 distinct values is binary; integers with at most
    :data:`CLASSIFICATION_MAX_DISTINCT` distinct values that are at most
    :data:`CLASSIFICATION_MAX_DISTINCT_RATIO` of the rows are multiclass; every other number is regression.
    """
    if requested is not None and requested not in TASKS:
        raise DataError(
            "invalid-task",
            f"Unknown task {requested!r}; use one of {', '.join(TASKS)}.",
            extra={"task": requested, "allowed": list(TASKS)},
        )
    n = len(values)
    kind = _value_kind(values)
    n_distinct = int(pc.count_distinct(values).as_py())
    if n_distinct == 1:
        only = values[0].as_py()
        raise DataError(
            "single-class-target",
            f"Every row has the same target value ({only!r}) in column {name!r}; nothing to learn.",
            extra={"target": name, "value": _jsonable(only)},
        )

    inferred, why = _infer(kind, n_distinct, n, name)
    if requested is None:
        task: Task = inferred
        reason = why
    else:
        task = _check_requested(requested, kind, n_distinct, name)
        reason = f"Task {requested!r} was requested." + ("" if requested == inferred else f" Without it: {why}")

    if task == "regression":
        return TargetAnalysis(task, reason, kind, n_distinct, None, None)
    if n_distinct > MAX_CLASSES:
        raise DataError(
            "too-many-classes",
            f"The target {name!r} has {n_distinct} distinct values; at most {MAX_CLASSES} classes are "
            "supported (is it an identifier, or a number to treat as regression?).",
            extra={"target": name, "n_classes": n_distinct, "maximum": MAX_CLASSES},
        )
    classes, counts = _class_counts(values)
    smallest = int(np.argmin(counts))
    if counts[smallest] < MIN_ROWS_PER_CLASS:
        rare = [c for c, k in zip(classes, counts, strict=True) if k < MIN_ROWS_PER_CLASS]
        raise DataError(
            "too-few-rows",
            f"Class {classes[smallest]!r} of {name!r} has {counts[smallest]} row(s); every class needs at "
            f"least {MIN_ROWS_PER_CLASS} ({len(rare)} class(es) fall short).",
            extra={"minimum_per_class": MIN_ROWS_PER_CLASS, "rare_classes": rare[:20], "target": name},
        )
    return TargetAnalysis(task, reason, kind, n_distinct, classes, counts)


def outlier_share(values: pa.ChunkedArray | np.ndarray) -> float:
    """Share of values outside 1.5 IQR of the quartiles (Tukey's fences)."""
    y = np.asarray(values, dtype=np.float64)
    q1, q3 = np.quantile(y, [0.25, 0.75])
    spread = 1.5 * (q3 - q1)
    return float(np.count_nonzero((y < q1 - spread) | (y > q3 + spread)) / len(y))


def mode_share(values: pa.ChunkedArray | np.ndarray) -> float:
    """Share of the values equal to the most common one (a count's zeros, a capped target's cap): the advisor's
    ``loss.point_mass`` reads it, since Tukey's fences count the values off such a point as outliers."""
    array = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([np.asarray(values, dtype=np.float64)])
    if len(array) == 0:
        return 0.0
    top = pc.mode(array, n=1)  # hashed counts: no sort of the whole column
    return float(top[0]["count"].as_py() / len(array)) if len(top) else 0.0


def _value_kind(values: pa.ChunkedArray) -> ValueKind:
    kind = values.type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_string(kind):
        return "text"
    if pa.types.is_integer(kind):
        return "integer"
    integral = pc.all(pc.equal(pc.floor(values), values)).as_py()
    return "integer" if integral else "float"


def _infer(kind: ValueKind, k: int, n: int, name: str) -> tuple[Task, str]:
    if kind == "boolean":
        return "binary", f"{name!r} holds true/false values, so the task is binary classification."
    if kind == "text":
        task: Task = "binary" if k == 2 else "multiclass"
        return task, f"{name!r} holds text labels with {k} distinct values, so the task is {task} classification."
    if k == 2:
        return "binary", f"{name!r} has exactly 2 distinct values, so the task is binary classification."
    if kind == "integer":
        ratio = k / n
        if k <= CLASSIFICATION_MAX_DISTINCT and ratio <= CLASSIFICATION_MAX_DISTINCT_RATIO:
            return "multiclass", (
                f"{name!r} holds integers with {k} distinct values over {n} rows (at most "
                f"{CLASSIFICATION_MAX_DISTINCT} values, {ratio:.1%} of rows <= "
                f"{CLASSIFICATION_MAX_DISTINCT_RATIO:.0%}), so they are read as class labels: multiclass "
                "classification. Pass task='regression' if they are amounts."
            )
        limit = (
            f"more than {CLASSIFICATION_MAX_DISTINCT}"
            if k > CLASSIFICATION_MAX_DISTINCT
            else f"{ratio:.1%} of rows, above {CLASSIFICATION_MAX_DISTINCT_RATIO:.0%}"
        )
        return "regression", (f"{name!r} holds integers with {k} distinct values ({limit}), so the task is regression.")
    return "regression", f"{name!r} holds non-integer numbers ({k} distinct), so the task is regression."


def _check_requested(requested: Task, kind: ValueKind, k: int, name: str) -> Task:
    problem: str | None = None
    if requested == "regression" and kind in ("text", "boolean"):
        problem = f"{name!r} holds {'text labels' if kind == 'text' else 'true/false values'}, not numbers"
    elif requested == "binary" and k != 2:
        problem = f"{name!r} has {k} distinct values; binary classification needs exactly 2"
    elif requested == "multiclass" and k < 3:
        problem = f"{name!r} has {k} distinct values; use task 'binary'"
    if problem:
        raise DataError(
            "invalid-task",
            f"Task {requested!r} does not fit the target: {problem}.",
            extra={"task": requested, "target": name, "n_distinct": k, "value_kind": kind},
        )
    return requested


def _class_counts(values: pa.ChunkedArray) -> tuple[list[Any], list[int]]:
    counted = pc.value_counts(values)
    labels = counted.field("values")
    order = pc.array_sort_indices(labels)
    classes = [_jsonable(v) for v in labels.take(order).to_pylist()]
    counts = [int(c) for c in counted.field("counts").take(order).to_numpy()]
    return classes, counts


def _jsonable(value: Any) -> Any:
    """Labels end up in schema.json and the API: integral floats become ints, the rest stays as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
