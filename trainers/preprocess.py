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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainers.errors import TrainerError
from trainers.spec import ColumnKind, ColumnSpec, FeatureSchema, Label, Task

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


class SchemaMismatch(TrainerError):
    """Columns are missing or a column cannot be read as the type the model was trained on.

    ``column`` names the first column concerned, ``columns`` every one (all missing columns at once), and
    ``reason`` says what is wrong, so an API can answer 422 naming them.
    """

    kind = "data"

    def __init__(self, column: str, reason: str, *, columns: Sequence[str] | None = None) -> None:
        super().__init__(f"column {column!r}: {reason}")
        self.column = column
        self.columns = list(columns) if columns is not None else [column]
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


def _categorical(s: pd.Series, levels: list[str]) -> pd.Categorical[str]:
    """Recode ``s`` onto ``levels``; values outside them become missing."""
    codes, names = _factorize(s)
    pos = {lvl: i for i, lvl in enumerate(levels)}
    # The trailing -1 makes lookup[-1] (pandas' missing code) map to missing again.
    lookup = np.array([pos.get(n, -1) for n in names] + [-1], dtype=np.int32)
    dtype: pd.CategoricalDtype[str] = pd.CategoricalDtype(levels)
    return pd.Categorical.from_codes(lookup[codes], dtype=dtype)


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


_TEMPORAL_INFERRED = frozenset({"datetime64", "datetime", "date", "time", "timedelta64", "timedelta"})


def temporal_seconds(s: pd.Series) -> np.ndarray | None:
    """A date, time or duration column as the number a model takes (floats, NaN = missing), or None when ``s``
    holds no such values: dates and date-times as seconds since 1970-01-01 UTC (time-zone-less values taken as
    UTC), times of day as seconds since midnight, durations as seconds.

    The one reading of temporal values, at training (:func:`trainers.datasets.load_dataset` turns an upload's
    datetime columns into these numbers) and at prediction (:func:`coerce_column`: rows may bring the same column
    as Arrow dates, Python ``date``/``time`` objects or ISO text), so both give a model the same number."""
    import datetime as dt

    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        # In the column's own unit: a datetime64[s] column may hold years that nanoseconds cannot (before 1677).
        stamps = s.to_numpy()
        return _float_column((stamps - np.datetime64(0, "s")) / np.timedelta64(1, "s"))
    if pd.api.types.is_timedelta64_dtype(dtype):
        return _float_column(s.dt.total_seconds().to_numpy(dtype=np.float64))
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return None
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred == "time":
        return np.array(
            [
                v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6 if isinstance(v, dt.time) else np.nan
                for v in s
            ],
            dtype=np.float64,
        )
    if inferred in _TEMPORAL_INFERRED:
        if inferred.startswith("timedelta"):
            return temporal_seconds(pd.to_timedelta(s))
        return temporal_seconds(pd.Series(pd.to_datetime(s, utc=True)))
    return None


def _iso_seconds(text: pd.Series, datetime_format: str | None = None) -> np.ndarray | None:
    """Seconds (as :func:`temporal_seconds`) of ISO dates, date-times or ``hh:mm[:ss]`` times written as text,
    or of dates in ``datetime_format`` (the upload's, read by the same parser as the upload), or None unless
    every present value reads as one of them."""
    present = text.dropna().astype(str)
    if present.empty:
        return None
    parsed: pd.Series = pd.to_datetime(present, utc=True, errors="coerce", format="ISO8601")
    seconds: np.ndarray | None
    if parsed.notna().all():
        seconds = temporal_seconds(parsed)
    elif datetime_format is not None:
        import pyarrow as pa

        from trainers.coercion import parse_datetimes

        stamps = parse_datetimes(pa.array(present.to_numpy(dtype=object), type=pa.string()), datetime_format)
        seconds = temporal_seconds(pd.Series(stamps.to_pandas()))
        assert seconds is not None  # a datetime64 series
        iso = parsed.notna().to_numpy()
        if iso.any():  # ISO values among them: each read as ISO
            seconds[iso] = temporal_seconds(parsed[iso])
        if np.isnan(seconds).any():
            return None
    elif present.str.fullmatch(r"\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*").all():
        seconds = temporal_seconds(pd.to_timedelta(present.str.strip()))
    else:
        return None
    assert seconds is not None  # a datetime64 or timedelta64 series
    out = np.full(len(text), np.nan)
    out[text.notna().to_numpy()] = seconds
    return out


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
    df: pd.DataFrame,
    target: str,
    feature_columns: Sequence[str] | None,
    task: Task,
    *,
    text_columns: Sequence[str] = (),
    datetime_formats: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    """Type the features, encode the target and record both in a :class:`FeatureSchema`.

    Rows whose target is missing are dropped (the caller can count them: ``len(df) - len(X)``).
    ``feature_columns=None`` takes every column except the target. Features named in ``text_columns``
    are kept as free text (kind ``text``: strings, missing as ``""``) for a model that vectorizes them
    itself, instead of becoming categories. ``datetime_formats`` (column → strptime format) records how the
    upload read a date column written as text, so prediction rows in that form read the same. Raises
    :class:`SchemaMismatch` naming the column for a missing column, an unsupported type or an unusable target.
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
    unknown_text = [c for c in text_columns if c not in features]
    if unknown_text:
        raise SchemaMismatch(str(unknown_text[0]), "a text column must be one of the feature columns")
    texts = set(text_columns)
    for col in features:
        s = df[col]
        kind: ColumnKind = "text" if col in texts else _kind_of(s)
        categories: list[str] | None = None
        if kind == "categorical":
            if isinstance(s.dtype, pd.CategoricalDtype):
                categories = list(dict.fromkeys(_level(c) for c in s.cat.categories))
            else:
                categories = sorted(set(_factorize(s)[1]))
        spec = ColumnSpec(
            name=str(col),
            kind=kind,
            source_dtype=str(s.dtype),
            categories=categories,
            datetime_format=(datetime_formats or {}).get(str(col)) if kind == "numeric" else None,
        )
        data[col] = coerce_column(s, spec)
        specs.append(spec)

    X = pd.DataFrame(data, index=pd.RangeIndex(len(df)))
    schema = FeatureSchema(target=target, task=task, columns=specs, classes=classes)
    return X, y, schema


def coerce_column(
    s: pd.Series, spec: ColumnSpec, warnings: list[str] | None = None, *, unreadable_as_missing: bool = False
) -> np.ndarray | pd.Categorical[str]:
    """The model's values for one column: floats (numeric; boolean as 0/1) or categories on the training levels.

    The one place that reads a column as its training-time type, for the training frame and for every
    prediction input alike (CSV, Parquet, JSON rows):

    * boolean: real booleans, 0/1 numbers, and the words of :mod:`trainers.coercion` (``yes``/``no``,
      ``y``/``n``, ``true``/``false``, ``t``/``f``, ``1``/``0``, any case, mixed within a column);
    * numeric: numbers, or text that reads as numbers (``"3.5"`` in a JSON row); infinities become missing;
    * categorical: levels compared as canonical strings; levels not seen in training become missing,
      which every trainer treats as unknown (and ``warnings`` says how many rows had one);
    * text: every value as a string (an object array), missing values as ``""``.

    Raises :class:`SchemaMismatch` naming the column when a value cannot be read as its type; with
    ``unreadable_as_missing`` (new rows to predict on, see :func:`apply_schema`) such a value becomes missing
    instead, as an unseen category does, and ``warnings`` says how many rows had one.
    """
    if spec.kind == "text":
        return text_values(s)
    if spec.kind == "categorical":
        values = _categorical(s, spec.categories or [])
        unseen = s.notna().to_numpy() & (values.codes == -1)
        if warnings is not None and unseen.any():
            examples = ", ".join(repr(_level(v)) for v in pd.unique(s[unseen])[:3])
            warnings.append(
                f"Column {spec.name!r}: {int(unseen.sum())} row(s) hold categories not seen in training "
                f"({examples}); they are encoded as unknown."
            )
        return values
    numbers = _numeric_or_none(s)
    if spec.kind == "boolean":
        if numbers is None:
            return _boolean_words(s, spec.name, warnings, unreadable_as_missing)
        wrong = ~np.isnan(numbers) & ~np.isin(numbers, (0.0, 1.0))
        if wrong.any():
            if not unreadable_as_missing:
                raise SchemaMismatch(
                    spec.name, f"expected true/false (yes/no, y/n, t/f or 1/0), got {numbers[wrong][0]!r}"
                )
            _warn_unreadable(warnings, spec.name, "true/false", int(wrong.sum()), list(numbers[wrong]))
            numbers = np.where(wrong, np.nan, numbers)
        return numbers
    if numbers is None:
        numbers = _numbers_from_text(s, spec.name, warnings, unreadable_as_missing, spec.datetime_format)
    return numbers


def _warn_unreadable(warnings: list[str] | None, name: str, kind: str, count: int, examples: list[Any]) -> None:
    if warnings is not None:
        shown = ", ".join(repr(v) for v in list(dict.fromkeys(examples))[:3])
        warnings.append(
            f"Column {name!r}: {count} row(s) hold values that do not read as {kind} ({shown}); they are treated "
            "as missing."
        )


def text_values(s: pd.Series) -> np.ndarray:
    """A column's values as an object array of strings, missing values as ``""`` (a text column's input)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    return s.astype("string").fillna("").to_numpy(dtype=object)


def _boolean_words(
    s: pd.Series, name: str, warnings: list[str] | None = None, unreadable_as_missing: bool = False
) -> np.ndarray:
    """0/1 floats (NaN = missing) from text or mixed values, read by :func:`trainers.coercion.parse_booleans`;
    an unknown word raises, or is missing (and warned about) with ``unreadable_as_missing``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from trainers.coercion import parse_booleans

    # pandas takes None as the missing value; its stub leaves None out of na_value.
    text = s.astype("string").to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    values, unreadable = parse_booleans(pa.array(text, type=pa.string()))
    if len(unreadable):
        if not unreadable_as_missing:
            raise SchemaMismatch(name, f"expected true/false (yes/no, y/n, t/f or 1/0), got {unreadable[0].as_py()!r}")
        _warn_unreadable(warnings, name, "true/false", len(unreadable), unreadable[:3].to_pylist())
    return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _numbers_from_text(
    s: pd.Series,
    name: str,
    warnings: list[str] | None = None,
    unreadable_as_missing: bool = False,
    datetime_format: str | None = None,
) -> np.ndarray:
    """Floats from a text (or mixed) column whose every present value reads as a number, or as a date in the
    upload's ``datetime_format`` or ISO 8601; one that does not raises, or is missing (and warned about) with
    ``unreadable_as_missing``."""
    seconds = temporal_seconds(s)
    if seconds is not None:  # dates, times or durations: the numbers training gave the model for them
        return seconds
    plain = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
    numbers = pd.to_numeric(plain, errors="coerce")
    bad = plain.notna() & numbers.isna()
    if bad.any() and not numbers.notna().any():  # no value is a number: dates or times written as text?
        seconds = _iso_seconds(plain, datetime_format)
        if seconds is not None:
            return _float_column(seconds)
    if bad.any():
        if not unreadable_as_missing:
            raise SchemaMismatch(name, f"expected numeric values, got {s.dtype} (e.g. {plain[bad].iloc[0]!r})")
        _warn_unreadable(warnings, name, "numbers", int(bad.sum()), plain[bad].iloc[:3].tolist())
    return _float_column(numbers.to_numpy(dtype=np.float64, na_value=np.nan))


def _listing(names: list[str], limit: int) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more


def apply_schema(df: pd.DataFrame, schema: FeatureSchema, warnings: list[str] | None = None) -> pd.DataFrame:
    """Rebuild the training-time feature frame from new rows (columns in model order, same types).

    Every column goes through :func:`coerce_column`, as at training. Extra columns (the target included)
    are ignored, unseen category levels are encoded as unknown, and values a numeric or true/false column
    cannot read (``"rotary"`` among cylinder counts, ``"maybe"`` among yes/no) are missing, as an unseen level
    is: one odd value does not refuse the other rows. Each is reported in ``warnings`` when a list is given.
    Dates, times of day and durations in a numeric column are read as the seconds training gave the model for
    an uploaded datetime column (:func:`temporal_seconds`). Raises :class:`SchemaMismatch` naming every missing
    column at once, or a column named twice.
    """
    names = schema.feature_names
    missing = [name for name in names if name not in df.columns]
    if missing:
        shown = _listing(missing, 20)
        raise SchemaMismatch(
            missing[0], f"{len(missing)} column(s) the model was trained on are missing: {shown}", columns=missing
        )
    if warnings is not None:
        known = set(names)
        extra = [str(c) for c in df.columns if c not in known]
        if extra:
            warnings.append(f"{len(extra)} column(s) the model does not use were ignored: {_listing(extra, 10)}.")
    data: dict[str, Any] = {}
    for spec in schema.columns:
        s = df[spec.name]
        if isinstance(s, pd.DataFrame):
            raise SchemaMismatch(spec.name, "the table has several columns with this name")
        data[spec.name] = coerce_column(s, spec, warnings, unreadable_as_missing=True)
    return pd.DataFrame(data, index=pd.RangeIndex(len(df)))


def decode_labels(codes: np.ndarray, schema: FeatureSchema) -> list[Label]:
    """Map predicted class indices back to the original labels."""
    if schema.classes is None:
        raise ValueError("a regression schema has no class labels")
    classes = schema.classes
    return [classes[int(i)] for i in codes]
