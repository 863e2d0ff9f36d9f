"""Turn an uploaded table into model inputs, and apply exactly the same steps at prediction time.

Training: :func:`prepare_frame` types every feature (numeric → float64, boolean → 0/1 float,
text/categorical → pandas ``category`` with fixed levels), encodes the target and records it all in a
:class:`~trainers.spec.FeatureSchema`. Prediction: :func:`apply_schema` rebuilds the same frame from new
rows and names the first column that is missing or has the wrong type. Every library then handles
missing values and categories natively (XGBoost/LightGBM) or in its own pipeline (scikit-learn).

Category levels are kept as strings: ``1``, ``1.0`` and ``"1"`` denote the same level, so a level
survives the trip through CSV, Parquet or JSON whatever type the reader gave it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainers.spec import ColumnKind, ColumnSpec, FeatureSchema, Label, Task

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


class SchemaMismatch(Exception):
    """A column is missing or cannot be read as the type the model was trained on.

    ``column`` names it and ``reason`` says what is wrong, so an API can answer 422 naming the column.
    """

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"column {column!r}: {reason}")
        self.column = column
        self.reason = reason


def _level(value: Any) -> str:
    """The canonical string of a category level (integral floats print as integers)."""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if math.isfinite(f) and f.is_integer() else repr(f)
    return str(value)


def _factorize(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 = missing) and the canonical level of each code."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        uniques: Sequence[Any] = list(s.cat.categories)
    else:
        codes, uniq = pd.factorize(s, use_na_sentinel=True)
        uniques = list(uniq)
    return codes, [_level(u) for u in uniques]


def _categorical(s: pd.Series, levels: list[str]) -> pd.Categorical:
    """Recode ``s`` onto ``levels``; values outside them become missing."""
    codes, names = _factorize(s)
    pos = {lvl: i for i, lvl in enumerate(levels)}
    # The trailing -1 makes lookup[-1] (pandas' missing code) map to missing again.
    lookup = np.array([pos.get(n, -1) for n in names] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(lookup[codes], dtype=pd.CategoricalDtype(levels))


def _float_column(values: np.ndarray) -> np.ndarray:
    # Infinite values carry no order information the trees can use; treat them as missing.
    out = np.asarray(values, dtype=np.float64)
    if not np.isfinite(out).all():
        out = np.where(np.isinf(out), np.nan, out)
    return out


def _numeric_or_none(s: pd.Series) -> np.ndarray | None:
    """Float values of a numeric-looking column, or None if it holds text."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _float_column(s.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(s, skipna=True) in _NUMERIC_INFERRED | {
        "boolean"
    }:
        return _float_column(pd.to_numeric(s.astype("float64"), errors="raise").to_numpy())
    return None


def _kind_of(s: pd.Series) -> ColumnKind:
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise SchemaMismatch(
            str(s.name), f"{dtype} columns are not supported; derive numeric features (e.g. day of week)"
        )
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            raise SchemaMismatch(str(s.name), "complex numbers are not supported")
        return "numeric"
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred == "boolean":
        return "boolean"
    if inferred in _NUMERIC_INFERRED:
        return "numeric"
    return "categorical"


def _sorted_labels(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types: any fixed order will do, it is recorded in the schema
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _plain(value: Any) -> Label:
    """A JSON-native label (numpy scalars unwrapped, integral floats as int)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _encode_target(y: pd.Series, target: str, task: Task) -> tuple[np.ndarray, list[Label] | None]:
    if task == "regression":
        values = _numeric_or_none(y)
        if values is None or pd.api.types.is_bool_dtype(y.dtype):
            raise SchemaMismatch(target, f"a regression target must be numeric, got {y.dtype}")
        return values, None
    codes, uniques = pd.factorize(y, use_na_sentinel=True)
    labels = [_plain(u) for u in uniques]
    if len(set(labels)) != len(labels):  # 1 and 1.0 both present: canonical forms collide
        raise SchemaMismatch(target, "class labels collide after normalisation (e.g. 1 and 1.0)")
    order = _sorted_labels(labels)
    if task == "binary" and len(order) != 2:
        raise SchemaMismatch(target, f"a binary task needs exactly 2 classes, found {len(order)}")
    if task == "multiclass" and len(order) < 2:
        raise SchemaMismatch(target, f"a multiclass task needs at least 2 classes, found {len(order)}")
    rank = {lbl: i for i, lbl in enumerate(order)}
    lookup = np.array([rank[lbl] for lbl in labels], dtype=np.int32)
    return lookup[codes], order


def prepare_frame(
    df: pd.DataFrame, target: str, feature_columns: Sequence[str] | None, task: Task
) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    """Type the features, encode the target and record both in a :class:`FeatureSchema`.

    Rows whose target is missing are dropped (the caller can count them: ``len(df) - len(X)``).
    ``feature_columns=None`` takes every column except the target. Raises :class:`SchemaMismatch`
    naming the column for a missing column, an unsupported type or an unusable target.
    """
    if target not in df.columns:
        raise SchemaMismatch(target, "target column not found")
    features = [c for c in df.columns if c != target] if feature_columns is None else list(feature_columns)
    if not features:
        raise SchemaMismatch(target, "no feature columns besides the target")
    if target in features:
        raise SchemaMismatch(target, "the target cannot also be a feature")
    if len(set(features)) != len(features):
        dup = next(c for c in features if features.count(c) > 1)
        raise SchemaMismatch(str(dup), "listed twice among the feature columns")
    for col in [*features, target]:
        if col not in df.columns:
            raise SchemaMismatch(str(col), "column not found")
        if isinstance(df[col], pd.DataFrame):
            raise SchemaMismatch(str(col), "the table has several columns with this name")

    keep = df[target].notna().to_numpy()
    if not keep.all():
        df = df.loc[keep]
    if len(df) == 0:
        raise SchemaMismatch(target, "no rows with a target value")
    y, classes = _encode_target(df[target], target, task)

    data: dict[str, Any] = {}
    specs: list[ColumnSpec] = []
    for col in features:
        s = df[col]
        kind = _kind_of(s)
        categories: list[str] | None = None
        if kind == "categorical":
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = list(dict.fromkeys(_level(c) for c in s.cat.categories))
            else:
                levels = sorted(set(_factorize(s)[1]))
            categories = levels
            data[col] = _categorical(s, levels)
        else:
            values = _numeric_or_none(s)
            if values is None:  # pragma: no cover - _kind_of said numeric
                raise SchemaMismatch(str(col), f"cannot read {s.dtype} as numbers")
            data[col] = values
        specs.append(ColumnSpec(name=str(col), kind=kind, source_dtype=str(s.dtype), categories=categories))

    X = pd.DataFrame(data, index=pd.RangeIndex(len(df)))
    schema = FeatureSchema(target=target, task=task, columns=specs, classes=classes)
    return X, y, schema


def apply_schema(df: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Rebuild the training-time feature frame from new rows (columns in model order, same types).

    Extra columns (the target included) are ignored; unseen category levels become missing, which
    every trainer handles. Raises :class:`SchemaMismatch` naming the first missing or mistyped column.
    """
    data: dict[str, Any] = {}
    for spec in schema.columns:
        if spec.name not in df.columns:
            raise SchemaMismatch(spec.name, "column is missing")
        s = df[spec.name]
        if isinstance(s, pd.DataFrame):
            raise SchemaMismatch(spec.name, "the table has several columns with this name")
        if spec.kind == "categorical":
            data[spec.name] = _categorical(s, spec.categories or [])
            continue
        values = _numeric_or_none(s)
        if values is None:
            example = s.dropna().iloc[0] if s.notna().any() else None
            raise SchemaMismatch(spec.name, f"expected {spec.kind} values, got {s.dtype} (e.g. {example!r})")
        if spec.kind == "boolean":
            seen = values[~np.isnan(values)]
            if seen.size and not np.isin(seen, (0.0, 1.0)).all():
                bad = seen[~np.isin(seen, (0.0, 1.0))][0]
                raise SchemaMismatch(spec.name, f"expected true/false (or 0/1), got {bad!r}")
        data[spec.name] = values
    return pd.DataFrame(data, index=pd.RangeIndex(len(df)))


def decode_labels(codes: np.ndarray, schema: FeatureSchema) -> list[Label]:
    """Map predicted class indices back to the original labels."""
    if schema.classes is None:
        raise ValueError("a regression schema has no class labels")
    classes = schema.classes
    return [classes[int(i)] for i in codes]
