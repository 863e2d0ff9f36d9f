"""Explanations of a tabular model: global feature importance on validation, and per-row contributions.

Over 500 lines on purpose: global importance and per-row contributions share one mapping from encoded
features back to original columns and one dispatch over the model kinds; apart, each would import both back.

Everything is reported per ORIGINAL input column (the columns of the model's ``schema.json``): where a
pipeline encodes one column as several features (one-hot levels, a missing-value indicator, TF-IDF terms),
their shares are summed back onto the column they came from (:func:`encoded_sources`).

Global (:func:`feature_importance`, stored as ``importance.json`` beside the model, listed in its manifest):

* **permutation** importance, for every trainer: how much the validation loss (log loss for classifiers,
  RMSE for regressors) grows when one column's values are shuffled among the validation rows, averaged over
  a few seeded shuffles (:data:`PERMUTATION_REPEATS`) of at most :data:`PERMUTATION_MAX_ROWS` rows. It is
  measured on the model fitted on the train split, for which the validation rows are unseen; its cost is
  estimated first and bounded (:func:`permutation_limit`: a share of the run's time and of its budget left);
* **native** importance, where the saved model has one: total split gain for XGBoost and LightGBM
  (``get_score(importance_type="gain")`` / ``feature_importance("gain")``), the sum of absolute coefficients
  (on the pipeline's scaled, encoded inputs) for linear models, mean impurity decrease for forests.

Per row (:func:`contributions`): additive shares of the model's margin that sum, with the bias, to it:

* XGBoost and LightGBM: their native SHAP values (``pred_contribs=True`` / ``pred_contrib=True``, exact
  TreeSHAP), in margin space: the log-odds of the second class (binary), each class's softmax input
  (multiclass), the raw score (regression: the value itself for squared-error objectives);
* linear models: coefficient × encoded value (after imputation, scaling and one-hot), with the intercept as
  the bias; the margin is ``decision_function`` (classifiers) or the prediction (regressors);
* anything else (forests, k-NN, SVMs, networks, ensembles): no contributions, and a sentence saying why.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trainers.errors import TrainerError
from trainers.spec import Label, Task

if TYPE_CHECKING:
    import pandas as pd

    from trainers.base import Trainer
    from trainers.spec import FeatureSchema, TrainResult

IMPORTANCE_FILE = "importance.json"
IMPORTANCE_VERSION = 1
# Permutation importance: at most this many validation rows (a seeded sample), shuffled this many times each.
PERMUTATION_MAX_ROWS = 2_000
PERMUTATION_MIN_ROWS = 200
PERMUTATION_REPEATS = 3
# ... in at most this many seconds: half the time the run took so far (never under the floor), a quarter of the
# budget left, and never more than the cap (a kNN fit of 5 s on 20k rows would otherwise spend 18 s here).
PERMUTATION_MAX_S = 30.0
PERMUTATION_FLOOR_S = 5.0
PERMUTATION_RUN_SHARE = 0.5
PERMUTATION_BUDGET_SHARE = 0.25
# The loss shuffling is scored with, by task (names as trainers.metrics reports them).
PERMUTATION_LOSS: dict[str, str] = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}


# -- types (stored as JSON, read back by the service) ----------------------------------------------------------------
class ColumnScore(BaseModel):
    """One original column's importance (``sd``: over the shuffles, for permutation importance)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    column: str
    value: float
    sd: float | None = None


class PermutationImportance(BaseModel):
    """Validation-loss increase when each column is shuffled, largest first."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metric: str = Field(description="The loss shuffling is scored with: log_loss (classifiers) or rmse.")
    baseline: float = Field(description="That loss on the unshuffled rows.")
    n_rows: int
    n_repeats: int
    seed: int
    model: str = Field(description="Which fit was measured.")
    columns: list[ColumnScore]


class NativeImportance(BaseModel):
    """The model's own importance, summed per original column, largest first."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["gain", "coefficients", "impurity"]
    description: str
    columns: list[ColumnScore]


class FeatureImportance(BaseModel):
    """What ``importance.json`` holds: permutation and native importance per original column, or why not."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    version: int = IMPORTANCE_VERSION
    trainer: str
    task: Task
    columns: list[str] = Field(description="The model's input columns, in schema order.")
    permutation: PermutationImportance | None = None
    permutation_note: str | None = Field(default=None, description="Why there is no permutation importance.")
    native: NativeImportance | None = None
    native_note: str | None = Field(default=None, description="Why there is no native importance.")
    seconds: float = 0.0


class Contributions(BaseModel):
    """Per-row additive contributions of each original column to the model's margin, or why there are none.

    Shapes: ``values`` is ``[row][column]`` (binary, regression) or ``[row][class][column]`` (multiclass);
    ``bias`` and ``margin`` are ``[row]`` or ``[row][class]``; ``bias + sum(values) == margin``.
    """

    model_config = ConfigDict(extra="forbid")

    available: bool
    reason: str | None = Field(default=None, description="Why no contributions are available.")
    method: Literal["xgboost_tree_shap", "lightgbm_tree_shap", "linear"] | None = None
    output: str | None = Field(default=None, description="What the contributions add up to.")
    columns: list[str] = Field(default_factory=list, description="Column order of the contributions.")
    classes: list[Label] | None = Field(default=None, description="Class order of multiclass contributions.")
    values: list[Any] = Field(default_factory=list)
    bias: list[Any] = Field(default_factory=list)
    margin: list[Any] = Field(default_factory=list)


class NoContributions(TrainerError):
    """The model has no per-row contributions; the message says why."""

    kind = "unsupported"


# -- encoded features → original columns -----------------------------------------------------------------------------
def encoded_sources(pipeline: Any, schema: FeatureSchema) -> np.ndarray:
    """For each feature the estimator of a ``SklearnPipelineTrainer`` pipeline sees, the index (in
    ``schema.columns``) of the column it was encoded from: numeric columns and their missing-value indicators,
    one-hot levels, TF-IDF terms. Raises ``ValueError`` when the pipeline's width does not add up."""
    from sklearn.pipeline import Pipeline

    pre = pipeline.named_steps["preprocess"]
    width = int(pipeline.named_steps["model"].n_features_in_)
    sources = np.full(width, -1, dtype=np.int64)
    for name, trans, cols in pre.transformers_:
        if name == "remainder" or (isinstance(trans, str) and trans == "drop"):
            continue
        out = pre.output_indices_[name]
        n = out.stop - out.start
        if n == 0:
            continue
        if name == "numeric":
            src = list(cols)
            impute = trans.named_steps.get("impute") if isinstance(trans, Pipeline) else None
            indicator = getattr(impute, "indicator_", None)
            if indicator is not None:
                src += [cols[int(f)] for f in indicator.features_]
        elif name == "categorical":
            onehot = trans.named_steps["onehot"] if isinstance(trans, Pipeline) else trans
            src = [c for c, levels in zip(cols, onehot.categories_, strict=True) for _ in levels]
        elif name == "codes":
            src = list(cols)
        elif name.startswith("text_"):
            src = [int(cols)] * n
        else:
            raise ValueError(f"unknown pipeline part {name!r}")
        if len(src) != n:
            raise ValueError(f"pipeline part {name!r} has {n} outputs, expected {len(src)}")
        sources[out] = src
    if (sources < 0).any() or (sources >= len(schema.columns)).any():
        raise ValueError("some encoded features have no source column")
    return sources


def _per_column(values: np.ndarray, sources: np.ndarray, n_columns: int) -> np.ndarray:
    """Sum ``values`` (one per encoded feature) per source column."""
    return np.bincount(sources, weights=np.asarray(values, dtype=np.float64), minlength=n_columns)


def _scores(names: list[str], values: np.ndarray, sd: np.ndarray | None = None) -> list[ColumnScore]:
    """Columns with their values, largest first (ties in schema order)."""
    order = sorted(range(len(names)), key=lambda i: (-float(values[i]), i))
    return [
        ColumnScore(
            column=names[i],
            value=_finite(values[i]),
            sd=None if sd is None else _finite(sd[i]),
        )
        for i in order
    ]


def _finite(x: Any) -> float:
    f = float(x)
    return f if math.isfinite(f) else 0.0


def _sklearn_parts(model: Trainer) -> tuple[Any, Any] | None:
    """(pipeline, estimator) of a scikit-learn pipeline trainer, or None."""
    from sklearn.pipeline import Pipeline

    pipe = getattr(model, "model_", None)
    if isinstance(pipe, Pipeline) and "preprocess" in pipe.named_steps and "model" in pipe.named_steps:
        return pipe, pipe.named_steps["model"]
    return None


def _is_linear(estimator: Any) -> bool:
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    return isinstance(estimator, LinearRegression | LogisticRegression | Ridge)


def permutation_limit(elapsed_s: float, budget_left_s: float | None) -> float:
    """Seconds permutation importance may take after a run that took ``elapsed_s`` and has ``budget_left_s`` left
    (``None``: no budget): half the run (at least :data:`PERMUTATION_FLOOR_S`), a quarter of the budget left, at
    most :data:`PERMUTATION_MAX_S`."""
    limit = min(PERMUTATION_MAX_S, max(PERMUTATION_FLOOR_S, PERMUTATION_RUN_SHARE * elapsed_s))
    if budget_left_s is not None:
        limit = min(limit, budget_left_s * PERMUTATION_BUDGET_SHARE)
    return limit


# -- global importance -----------------------------------------------------------------------------------------------
def _loss(task: str, y: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Per-block loss of stacked outputs: ``output`` is ``(r * n, ...)`` for ``r`` blocks of the ``n`` rows ``y``."""
    n = len(y)
    r = len(output) // n
    if task == "regression":
        err = output.reshape(r, n) - y[None, :]
        return np.sqrt(np.mean(err**2, axis=1))
    p = np.clip(output.reshape(r, n, -1), 1e-15, 1.0)
    p = p / p.sum(axis=2, keepdims=True)
    picked = p[:, np.arange(n), y.astype(np.int64)]
    return -np.mean(np.log(picked), axis=1)


def permutation_importance(
    model: Trainer,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    seed: int = 0,
    n_repeats: int = PERMUTATION_REPEATS,
    max_rows: int = PERMUTATION_MAX_ROWS,
    max_seconds: float = PERMUTATION_MAX_S,
    model_note: str = "the fitted model",
) -> PermutationImportance:
    """Permutation importance of ``model`` on prepared rows ``X`` (they follow its schema) with targets ``y``.

    Each column is shuffled ``n_repeats`` times (seeded) over at most ``max_rows`` rows; a column's score is the
    mean (and sd) increase of the task's loss. The cost is estimated from one prediction first: rows, then
    repeats, are cut to fit ``max_seconds``; raises :class:`TimeoutError` if even the smallest sample would not.
    """
    import pandas as pd

    task = model.task_
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = np.sort(rng.choice(len(X), max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    names = [c.name for c in model.schema_.columns]
    started = time.perf_counter()
    base_out = np.asarray(model._predict_output(X), dtype=np.float64)
    per_predict = time.perf_counter() - started
    if per_predict > 0.05:  # the first call pays for warm-up (XGBoost's took 5x its steady cost): time another
        started = time.perf_counter()
        model._predict_output(X)
        per_predict = min(per_predict, time.perf_counter() - started)
    if not np.isfinite(base_out).all():
        raise ValueError("the model outputs non-finite values on the validation rows")
    # Each column costs one prediction over n_repeats × rows; shrink the sample (then the repeats) to fit.
    expected = per_predict * n_repeats * len(names)
    if expected > max_seconds and len(X) > PERMUTATION_MIN_ROWS:
        n = max(PERMUTATION_MIN_ROWS, int(len(X) * max_seconds / expected))
        keep = np.sort(rng.choice(len(X), n, replace=False))
        per_predict *= n / len(X)
        X, y, base_out = X.iloc[keep].reset_index(drop=True), y[keep], base_out[keep]
        expected = per_predict * n_repeats * len(names)
    if expected > max_seconds and n_repeats > 1:
        n_repeats = 1
        expected = per_predict * len(names)
    if expected > max_seconds:
        raise TimeoutError(
            f"shuffling {len(names)} columns over {len(X)} rows would take about {expected:.0f} s "
            f"(limit {max_seconds:.0f} s)"
        )
    baseline = float(_loss(task, y, base_out)[0])
    n = len(X)
    stacked = pd.concat([X] * n_repeats, ignore_index=True)
    means = np.zeros(len(names))
    sds = np.zeros(len(names))
    deadline = time.perf_counter() + 2 * max_seconds + 1.0
    for j, name in enumerate(names):
        original = stacked[name]
        column = X[name]
        shuffled = pd.concat(
            [column.iloc[rng.permutation(n)] for _ in range(n_repeats)], ignore_index=True
        )  # categories and dtype kept
        stacked[name] = shuffled
        out = np.asarray(model._predict_output(stacked), dtype=np.float64)
        stacked[name] = original
        deltas = _loss(task, y, out) - baseline
        means[j] = float(np.mean(deltas))
        sds[j] = float(np.std(deltas, ddof=1)) if n_repeats > 1 else 0.0
        if time.perf_counter() > deadline:
            raise TimeoutError(f"stopped after {j + 1} of {len(names)} columns: past the time limit")
    return PermutationImportance(
        metric=PERMUTATION_LOSS[task],
        baseline=_finite(baseline),
        n_rows=n,
        n_repeats=n_repeats,
        seed=seed,
        model=model_note,
        columns=_scores(names, means, sds if n_repeats > 1 else None),
    )


def native_importance(model: Trainer) -> NativeImportance:
    """The model's own importance per original column; raises :class:`NoContributions`-like ``LookupError``
    saying why when it has none."""
    names = [c.name for c in model.schema_.columns]
    booster: Any = getattr(model, "model_", None)
    kind = type(booster).__module__.split(".")[0]
    if kind == "xgboost":
        # Total gain: the loss reduction of all of a column's splits (average gain favours rarely used columns).
        score = booster.get_score(importance_type="total_gain")
        values = np.array([float(score.get(name, 0.0)) for name in names])
        return NativeImportance(
            kind="gain",
            description="XGBoost total gain: the training-loss reduction summed over every split on the column",
            columns=_scores(names, values),
        )
    if kind == "lightgbm":
        values = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
        if len(values) != len(names):
            raise LookupError(f"LightGBM reports {len(values)} features for {len(names)} columns")
        return NativeImportance(
            kind="gain",
            description="LightGBM gain: the training-loss reduction summed over every split on the column",
            columns=_scores(names, values),
        )
    parts = _sklearn_parts(model)
    if parts is not None:
        pipe, est = parts
        sources = encoded_sources(pipe, model.schema_)
        if _is_linear(est):
            coef = np.abs(np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))).sum(axis=0)
            return NativeImportance(
                kind="coefficients",
                description="sum of the absolute coefficients of the column's encoded features (after the "
                "pipeline's imputation, scaling and one-hot encoding; summed over classes)",
                columns=_scores(names, _per_column(coef, sources, len(names))),
            )
        if hasattr(est, "feature_importances_"):
            values = np.asarray(est.feature_importances_, dtype=np.float64)
            return NativeImportance(
                kind="impurity",
                description="mean decrease in impurity over the trees, summed over the column's encoded features",
                columns=_scores(names, _per_column(values, sources, len(names))),
            )
        raise LookupError(f"{model.NAME} models ({type(est).__name__}) have no native importance")
    raise LookupError(f"{model.NAME} models have no native importance")


def feature_importance(
    fitted: Trainer,
    served: Trainer,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    seed: int,
    max_seconds: float = PERMUTATION_MAX_S,
    stopped: str | None = None,
    fitted_note: str = "the fit on the train split (the validation rows are unseen by it)",
) -> FeatureImportance:
    """Permutation importance of ``fitted`` on the validation rows, and the native importance of ``served``
    (the saved model). Never raises for a model or data it cannot explain: the notes say why instead.
    ``stopped`` (a reason) skips the permutation, e.g. when the run was cancelled."""
    started = time.perf_counter()
    names = [c.name for c in served.schema_.columns]
    result = FeatureImportance(trainer=served.NAME, task=served.task_, columns=names)
    if stopped is not None:
        result.permutation_note = f"not measured: {stopped}"
    elif len(X_valid) == 0:
        result.permutation_note = "not measured: there are no validation rows"
    elif max_seconds <= 0:
        result.permutation_note = "not measured: no time left in the run's budget"
    else:
        try:
            result.permutation = permutation_importance(
                fitted, X_valid, y_valid, seed=seed, max_seconds=max_seconds, model_note=fitted_note
            )
        except (TimeoutError, ValueError, MemoryError) as exc:
            result.permutation_note = f"not measured: {exc}"
    try:
        result.native = native_importance(served)
    except (LookupError, ValueError, AttributeError) as exc:
        result.native_note = str(exc)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def save_importance(result: TrainResult, importance: FeatureImportance) -> TrainResult:
    """Write ``importance.json`` into the run's artifact folder, list it (hashed) in the manifest, and return
    the result with that artifact and the time it took (``timings["importance_s"]``)."""
    from trainers.artifacts import extend_manifest

    directory = Path(result.artifact.directory)
    text = json.dumps(importance.model_dump(mode="json"), sort_keys=True, indent=1, allow_nan=False)
    (directory / IMPORTANCE_FILE).write_text(text, encoding="utf-8")
    artifact = extend_manifest(directory, result.artifact, [IMPORTANCE_FILE])
    timings = {**result.timings, "importance_s": importance.seconds}
    return result.model_copy(update={"artifact": artifact, "timings": timings})


def read_importance(text: str | bytes) -> FeatureImportance:
    """Parse an ``importance.json``."""
    return FeatureImportance.model_validate_json(text)


def member_importance(directory: str | Path) -> FeatureImportance | None:
    """The ``importance.json`` of a (verified) artifact folder, or None where it has none or it is unreadable."""
    path = Path(directory) / IMPORTANCE_FILE
    try:
        return read_importance(path.read_bytes()) if path.is_file() else None
    except ValueError:
        return None


def combine_importances(
    parts: list[tuple[float, FeatureImportance]], names: list[str], trainer: str, task: Task
) -> FeatureImportance:
    """The weighted average of members' permutation importances (an ensemble's): each member measured its own
    on its validation rows; columns a member lacks count as 0."""
    usable = [(w, imp.permutation) for w, imp in parts if imp.permutation is not None and w > 0]
    result = FeatureImportance(trainer=trainer, task=task, columns=list(names))
    result.native_note = f"{trainer} models have no native importance"
    total = sum(w for w, _ in usable)
    if not usable or total <= 0:
        result.permutation_note = "not measured: no member has a permutation importance"
        return result
    values = np.zeros(len(names))
    index = {n: i for i, n in enumerate(names)}
    for w, perm in usable:
        for c in perm.columns:
            if c.column in index:
                values[index[c.column]] += w / total * c.value
    first = usable[0][1]
    result.permutation = PermutationImportance(
        metric=first.metric,
        baseline=_finite(sum(w / total * p.baseline for w, p in usable)),
        n_rows=max(p.n_rows for _, p in usable),
        n_repeats=first.n_repeats,
        seed=first.seed,
        model=f"the weighted average of {len(usable)} members' own permutation importances (ensemble weights)",
        columns=_scores(list(names), values),
    )
    return result


# -- per-row contributions -------------------------------------------------------------------------------------------
def _margin_output(task: str, classes: list[Label] | None, what: str) -> str:
    if task == "binary" and classes:
        return f"the log-odds of class {classes[1]!r} ({what})"
    if task == "multiclass":
        return f"each class's margin, the input of the softmax ({what})"
    return f"the raw score ({what})"


def _xgboost_contributions(model: Trainer, X: pd.DataFrame) -> Contributions:
    import xgboost as xgb

    names = [c.name for c in model.schema_.columns]
    booster = model.model_
    dm = xgb.DMatrix(X, enable_categorical=True, nthread=model.n_threads)
    raw = np.asarray(booster.predict(dm, pred_contribs=True), dtype=np.float64)
    what = "the value itself for squared-error objectives" if model.task_ == "regression" else "before the link"
    return _packed(model, "xgboost_tree_shap", raw, names, _margin_output(model.task_, model.schema_.classes, what))


def _lightgbm_contributions(model: Trainer, X: pd.DataFrame) -> Contributions:
    names = [c.name for c in model.schema_.columns]
    raw = np.asarray(model.model_.predict(X, pred_contrib=True, num_threads=model.n_threads), dtype=np.float64)
    if model.task_ == "multiclass":
        raw = raw.reshape(len(X), -1, len(names) + 1)
    what = "the value itself for l2 objectives" if model.task_ == "regression" else "before the link"
    return _packed(model, "lightgbm_tree_shap", raw, names, _margin_output(model.task_, model.schema_.classes, what))


def _packed(model: Trainer, method: Any, raw: np.ndarray, names: list[str], output: str) -> Contributions:
    """Contributions from a ``(..., columns + 1)`` array whose last entry is the bias."""
    values, bias = raw[..., :-1], raw[..., -1]
    classes = list(model.schema_.classes or []) if model.task_ == "multiclass" else None
    return Contributions(
        available=True,
        method=method,
        output=output,
        columns=names,
        classes=classes,
        values=values.tolist(),
        bias=bias.tolist(),
        margin=(values.sum(axis=-1) + bias).tolist(),
    )


def _linear_contributions(model: Trainer, X: pd.DataFrame, pipe: Any, est: Any) -> Contributions:
    from threadpoolctl import threadpool_limits

    from trainers.classical.sklearn_common import model_input

    schema = model.schema_
    names = [c.name for c in schema.columns]
    sources = encoded_sources(pipe, schema)
    # encoded features x columns: 1 where the feature came from the column (dense: a column count wide).
    agg = np.zeros((len(sources), len(names)))
    agg[np.arange(len(sources)), sources] = 1.0
    with threadpool_limits(limits=model.n_threads):
        encoded = pipe[:-1].transform(model_input(X, schema))
    if not hasattr(encoded, "tocsr"):  # TF-IDF stays sparse; sparse @ dense is a dense array
        encoded = np.asarray(encoded, dtype=np.float64)
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))  # (outputs, encoded features)
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    per_output = [np.asarray(encoded @ (agg * coef[k][:, None]), dtype=np.float64) for k in range(coef.shape[0])]
    values = np.stack(per_output, axis=1)  # (rows, outputs, columns)
    bias = np.broadcast_to(intercept, (len(X), len(intercept))).copy()
    classes: list[Label] | None = None
    if model.task_ == "multiclass":
        # Classes absent from the training split have no coefficients: the model's own classes, in its order.
        classes = [schema.classes[int(c)] for c in est.classes_] if schema.classes else None
        what = "decision_function"
    else:
        values, bias = values[:, 0, :], bias[:, 0]
        what = "decision_function" if model.task_ == "binary" else "the predicted value"
    output = _margin_output(model.task_, schema.classes, what)
    if model.task_ == "regression":
        output = "the predicted value"
    return Contributions(
        available=True,
        method="linear",
        output=output,
        columns=names,
        classes=classes,
        values=values.tolist(),
        bias=bias.tolist(),
        margin=(values.sum(axis=-1) + bias).tolist(),
    )


def contributions(model: Trainer, X: pd.DataFrame) -> Contributions:
    """Per-row contributions of ``model`` on raw rows ``X`` (the training schema is applied first), or a
    :class:`Contributions` with ``available=False`` and the reason where the model has none."""
    try:
        return _contributions(model, X)
    except NoContributions as exc:
        return Contributions(available=False, reason=str(exc))


def _contributions(model: Trainer, X: pd.DataFrame) -> Contributions:
    import pandas as pd

    from trainers.preprocess import apply_schema

    if getattr(model, "modality_", "tabular") != "tabular" or not isinstance(X, pd.DataFrame):
        raise NoContributions(
            f"{model.NAME} models take {getattr(model, 'modality_', 'array')} inputs: "
            "contributions are computed for table columns only"
        )
    kind = type(getattr(model, "model_", None)).__module__.split(".")[0]
    if kind in ("xgboost", "lightgbm"):
        rows = apply_schema(X, model.schema_)
        return _xgboost_contributions(model, rows) if kind == "xgboost" else _lightgbm_contributions(model, rows)
    parts = _sklearn_parts(model)
    if parts is not None and _is_linear(parts[1]):
        return _linear_contributions(model, apply_schema(X, model.schema_), *parts)
    raise NoContributions(
        f"no per-row contributions are available for {model.NAME} models: they come from XGBoost's and LightGBM's "
        "own SHAP values and from linear models' coefficients only"
    )
