"""One training run from a table to a saved, scored, diagnosed model: :func:`fit_and_evaluate`.

Runner-independent: the job engine calls it in a child process with its own callbacks (progress,
cancel, heartbeat) and stores the returned :class:`~trainers.spec.TrainResult`. The prediction side is
:func:`predict_frame` on a model from :func:`trainers.artifacts.load_artifact`. Over 500 lines on purpose: the
run's fits (train split, folds, the two refits) share one budget and one order, which a reader checks in one place.

Validation (what a race selects on; the test split is scored once, for the report):

* up to :data:`trainers.splits.CV_MAX_ROWS` non-test rows, seeded :data:`~trainers.splits.CV_FOLDS`-fold
  cross-validation over the train + validation rows (stratified for classification): the validation score is
  the mean ± sd over folds, and every non-test row gets one out-of-fold prediction. Up to
  :data:`~trainers.splits.CV_REPEAT_MAX_ROWS` rows the folds are drawn :data:`~trainers.splits.CV_REPEATS` times
  with different seeds, as the budget allows: the score is the mean over every fold, each row's output the mean
  over its repeats. Each fold model of a boosting recipe fits the rounds early stopping chose for the
  train-split fit (on the validation split), not rounds chosen on its own validation fold, which would flatter
  its score on small folds;
* above it, or when the budget left after the saved model's fit cannot hold k more fits of the same length,
  or on a stop request during the folds, the holdout validation split as before (``validation.note`` says
  which).

The folds only score. The test split is scored once, by the train-split fit's recipe refit on train +
validation (boosting for the rounds early stopping chose); the saved model that serves predictions is then,
where ``TrainSpec.refit_all`` (the default) and the budget allow, that recipe refit on every row, test rows
included (``validation.served_model`` says which): the reported test score is the recipe's without the test
rows, and what serves has learnt from all of them. Folds depend on ``(target, seed)`` alone, so every entry of
a race sees the same folds and the same test rows.

Prediction files written into the artifact directory and listed (with SHA-256) in its manifest, written
and read with ``allow_pickle=False``; ``n_out`` is the number of classes (probabilities, columns in
``schema.json`` class order) and the arrays are 1-D for regression. Row positions index the prepared table
(the uploaded rows that have a target, in upload order), the same for every entry of a race:

=====================  ================  =========  ===============================================
file                   shape             dtype      what
=====================  ================  =========  ===============================================
``valid_pred.npy``     (n_valid, n_out)  float32    out-of-fold (kfold; mean over repeats) or holdout-validation output
``valid_index.npy``    (n_valid,)        int64      their row positions, ascending
``valid_target.npy``   (n_valid,)        int64/f64  their targets (class codes 0..k-1, or values)
``test_pred.npy``      (n_test, n_out)   float32    the output on the test split that scored it
``test_index.npy``     (n_test,)         int64      their row positions, ascending
``test_target.npy``    (n_test,)         int64/f64  their targets
=====================  ================  =========  ===============================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advisor import Curves, diagnose
from trainers.artifacts import extend_manifest
from trainers.base import Trainer, TrainerCapabilityError
from trainers.callbacks import CallbackList, Callbacks, TimeBudget, TrainingStopped
from trainers.metrics import evaluate
from trainers.preprocess import decode_labels, prepare_frame
from trainers.registry import get_trainer
from trainers.spec import (
    Label,
    MetricValues,
    SplitInfo,
    Task,
    TrainData,
    TrainResult,
    TrainSpec,
    ValidationSummary,
)
from trainers.splits import CV_FOLDS, cv_repeats, fold_count, kfold_rows, split_rows, use_kfold

SERVED_MODEL = "the fit on the train split, early-stopped on the validation split"
# Names of the prediction files (see the module docstring), by role.
PREDICTION_FILES: dict[str, str] = {
    "valid_pred": "valid_pred.npy",
    "valid_index": "valid_index.npy",
    "valid_target": "valid_target.npy",
    "test_pred": "test_pred.npy",
    "test_index": "test_index.npy",
    "test_target": "test_target.npy",
}
logger = logging.getLogger(__name__)
# The folds run only if the budget left holds k fits this much longer than the saved model's own fit.
FOLD_TIME_MARGIN = 1.2


def _diagnose(curves: dict[str, Any]) -> list[dict[str, Any]]:
    """``advisor.diagnose`` on the curves, as plain dicts for the job record."""
    return [d.model_dump(mode="json") for d in diagnose(Curves(**curves))]


def finish_run(
    trainer: Trainer,
    spec: TrainSpec,
    task: Task,
    *,
    split: SplitInfo,
    metrics: dict[str, dict[str, float | None]],
    notes: dict[str, dict[str, str]],
    out_dir: str | Path,
    marks: tuple[float, float, float, float],
    n_rows_dropped: int = 0,
    validation: ValidationSummary | None = None,
    predictions: dict[str, np.ndarray] | None = None,
) -> TrainResult:
    """Save a fitted, scored trainer and assemble its result (curves, diagnosis, timings): the common end of
    :func:`fit_and_evaluate` and the array jobs (``trainers.torch.jobs``). ``marks`` are the
    ``time.perf_counter()`` readings at start, prepared, fitted and predicted. ``predictions`` (role →
    array, roles of :data:`PREDICTION_FILES`) are saved as ``.npy`` beside the model and listed in its manifest."""
    started, prepared, fitted, predicted = marks
    artifact = trainer.save(Path(out_dir))
    if predictions:
        names = []
        for role, array in predictions.items():
            name = PREDICTION_FILES[role]
            np.save(Path(out_dir) / name, np.ascontiguousarray(array), allow_pickle=False)
            names.append(name)
        artifact = extend_manifest(Path(out_dir), artifact, names)
    saved = time.perf_counter()
    curves = trainer.curves_
    assert curves is not None, f"{spec.trainer} recorded no learning curves"
    return TrainResult(
        trainer=spec.trainer,
        task=task,
        params=dict(spec.params),
        derived_params=dict(getattr(trainer, "derived_params_", {})),
        seed=spec.seed,
        n_threads=spec.n_threads,
        metrics=metrics,
        metric_notes=notes,
        curves=curves,
        diagnosis=_diagnose(curves.for_diagnosis()),
        best_iteration=trainer.best_iteration_,
        n_rounds=trainer.n_rounds_,
        partial=trainer.partial_,
        partial_reason=trainer.partial_reason_,
        artifact=artifact,
        split=split,
        n_rows_dropped=n_rows_dropped,
        timings={
            "prepare_s": prepared - started,
            "fit_s": fitted - prepared,
            "predict_s": predicted - fitted,
            "save_s": saved - predicted,
            "total_s": time.perf_counter() - started,
        },
        library_versions=artifact.library_versions,
        validation=validation,
    )


def fit_and_evaluate(
    spec: TrainSpec,
    frame: pd.DataFrame,
    target: str,
    task: Task,
    feature_columns: Sequence[str] | None,
    callbacks: Callbacks | None,
    out_dir: str | Path,
    *,
    text_columns: Sequence[str] = (),
    datetime_formats: Mapping[str, str] | None = None,
) -> TrainResult:
    """Split, fit, score on validation and test, save the artifact and diagnose the curves.

    ``text_columns`` (features holding free text) stay text for a trainer that declares ``TEXT_FEATURES``
    (a TF-IDF baseline); any other trainer is refused them.

    ``spec.time_budget_s`` starts counting on entry; when it runs out (or ``callbacks`` asks to stop)
    the best model so far is kept, scored and saved, and the result is marked ``partial``. Errors in
    the data raise :class:`~trainers.preprocess.SchemaMismatch`, bad parameters
    :class:`~trainers.base.TrainerParamError`, an impossible task
    :class:`~trainers.base.TrainerCapabilityError`, a stop before the first round
    :class:`~trainers.callbacks.TrainingStopped`.
    """
    started = time.perf_counter()
    budget = TimeBudget(spec.time_budget_s) if spec.time_budget_s is not None else None
    cls = get_trainer(spec.trainer)
    # Refuse before touching the data: a wrong task or parameter should fail in milliseconds.
    cls.check(task, "tabular", device=spec.params.get("device"))
    cls.check_params(spec.params, task)
    if text_columns and not cls.TEXT_FEATURES:
        raise TrainerCapabilityError(f"{cls.NAME} does not take free-text columns")
    split_spec = spec.resolved_split()

    X, y, schema = prepare_frame(
        frame, target, feature_columns, task, text_columns=text_columns, datetime_formats=datetime_formats
    )
    parts = split_rows(y, task, split_spec, spec.seed)

    def part(idx: np.ndarray) -> TrainData:
        return TrainData(X.iloc[idx].reset_index(drop=True), y[idx], schema)

    train, valid, test = part(parts.train), part(parts.validation), part(parts.test)
    prepared = time.perf_counter()

    trainer: Trainer = cls(spec.params, seed=spec.seed, n_threads=spec.n_threads)
    fit_started = time.monotonic()
    trainer.fit(train, valid, CallbackList(*(c for c in (callbacks, budget) if c is not None)))
    fit_s = time.monotonic() - fit_started - trainer.tuning_s_  # what a fold or a refit (no search) takes

    n_out = schema.n_classes or 1

    def output(model: Trainer, data: TrainData) -> np.ndarray:
        # The frames already follow the schema: skip re-applying it.
        return model._predict_output(data.X) if len(data) else np.empty((0, n_out) if n_out > 1 else (0,))

    non_test = np.sort(np.concatenate([parts.train, parts.validation]))
    cv = None
    note = None
    if not use_kfold(len(non_test)):
        note = f"holdout: {len(non_test)} non-test rows are above the k-fold cut-off"
    elif trainer.partial_:
        note = f"holdout: the saved model's fit was stopped ({trainer.partial_reason_}), no time for folds"
    else:
        tuned = _tuned(spec, trainer)
        cv, note = _cross_validate(
            cls,
            tuned,
            _refit_params(cls, dict(tuned.params), trainer),
            X,
            y,
            schema,
            task,
            non_test,
            callbacks,
            budget,
            fit_s,
            output,
        )
    served, served_how = _refit(
        cls,
        _tuned(spec, trainer),
        trainer,
        part(non_test),
        callbacks,
        budget,
        fit_s * len(non_test) / max(1, len(train)),
    )
    valid_out = output(trainer, valid)  # the train-split fit: the validation rows are unseen by it
    test_out = output(served, test)  # scored once, by a model that has not seen the test rows
    if spec.refit_all and len(parts.test) and served is not trainer:
        served, served_how = _refit_all(
            cls,
            _tuned(spec, trainer),
            trainer,
            served,
            served_how,
            part(np.arange(len(y))),
            callbacks,
            budget,
            fit_s * len(y) / max(1, len(train)),
        )
    fitted = time.perf_counter()

    metrics: dict[str, dict[str, float | None]] = {}
    notes: dict[str, dict[str, str]] = {}
    for name, data, out in (("validation", valid, valid_out), ("test", test, test_out)):
        metrics[name], part_notes = evaluate(task, data.y, out)
        if part_notes:
            notes[name] = part_notes
    if cv is not None:
        fold_scores, oof, repeats = cv
        summary = _summary_kfold(fold_scores, len(non_test), note, repeats).model_copy(
            update={"served_model": served_how}
        )
        metrics["validation"] = dict(summary.mean)
        notes.pop("validation", None)
        valid_rows, valid_pred = non_test, oof
    else:
        summary = ValidationSummary(
            method="holdout",
            k=None,
            n_rows=len(valid),
            mean=dict(metrics["validation"]),
            sd={m: None for m in metrics["validation"]},
            served_model=served_how,
            note=note,
        )
        valid_rows, valid_pred = parts.validation, valid_out
    predictions = prediction_arrays(task, y, valid_rows, valid_pred, parts.test, test_out)
    summary = summary.model_copy(update={"prediction_files": dict(PREDICTION_FILES)})
    predicted = time.perf_counter()
    result = finish_run(
        served,
        spec,
        task,
        split=parts.info,
        metrics=metrics,
        notes=notes,
        out_dir=out_dir,
        marks=(started, prepared, fitted, predicted),
        n_rows_dropped=len(frame) - len(X),
        validation=summary,
        predictions=predictions,
    )
    return _with_importance(result, trainer, served, valid, spec, budget, callbacks, time.perf_counter() - started)


def _with_importance(
    result: TrainResult,
    fitted: Trainer,
    served: Trainer,
    valid: TrainData,
    spec: TrainSpec,
    budget: TimeBudget | None,
    callbacks: Callbacks | None,
    elapsed_s: float,
) -> TrainResult:
    """The result with ``importance.json`` (:mod:`trainers.explain`) saved beside the model: permutation
    importance of the train-split fit on the validation rows, in at most :func:`trainers.explain.permutation_limit`
    seconds (a share of the run so far and of the budget left)."""
    from trainers.explain import feature_importance, permutation_limit, save_importance

    limit = permutation_limit(elapsed_s, budget.remaining() if budget is not None else None)
    stopped = "the run was stopped" if callbacks is not None and callbacks.should_stop() else None
    importance = feature_importance(
        fitted, served, valid.X, valid.y, seed=spec.seed, max_seconds=limit, stopped=stopped
    )
    return save_importance(result, importance)


def prediction_arrays(
    task: Task,
    y: np.ndarray,
    valid_rows: np.ndarray,
    valid_out: np.ndarray,
    test_rows: np.ndarray,
    test_out: np.ndarray,
) -> dict[str, np.ndarray]:
    """The stored validation and test predictions (``PREDICTION_FILES``) with their row positions and targets:
    float32 outputs, int64 rows, and int64 class codes or float64 values as targets."""
    target = np.float64 if task == "regression" else np.int64
    return {
        "valid_pred": np.asarray(valid_out, dtype=np.float32),
        "valid_index": valid_rows.astype(np.int64),
        "valid_target": y[valid_rows].astype(target),
        "test_pred": np.asarray(test_out, dtype=np.float32),
        "test_index": test_rows.astype(np.int64),
        "test_target": y[test_rows].astype(target),
    }


class _StopOnly(Callbacks):
    """Forwards only stop requests (a cancel) to a fold's fit: its rounds are not the job's progress."""

    def __init__(self, inner: Callbacks | None) -> None:
        self.inner = inner

    def should_stop(self) -> bool:
        return self.inner is not None and self.inner.should_stop()

    def stop_reason(self) -> Any:
        return self.inner.stop_reason() if self.inner is not None else "cancelled"

    def time_left(self) -> float | None:
        return self.inner.time_left() if self.inner is not None else None


def _tuned(spec: TrainSpec, first: Trainer) -> TrainSpec:
    """``spec`` with the hyperparameters ``first`` chose from its training split fixed, for the folds and the refit:
    one search per run. The folds then score the chosen value, not the search (its rows overlap theirs), a small
    optimism of one hyperparameter chosen on out-of-bag rows."""
    tuned = getattr(first, "tuned_params_", {})
    return spec.model_copy(update={"params": {**spec.params, **tuned}}) if tuned else spec


def _refit_params(cls: type[Trainer], params: dict[str, Any], first: Trainer) -> dict[str, Any] | None:
    """The parameters that refit ``first``'s recipe on more rows, or None where a refit cannot keep its rounds.

    One-shot models (forests, k-NN, SVM, linear) refit as they are; boosting refits for the rounds early stopping
    chose (``best_iteration_ + 1``), with early stopping off; anything else (torch: epochs early-stopped on a
    split) keeps the early-stopped fit."""
    if not cls.ITERATIVE:
        return dict(params)
    if {"n_estimators", "early_stopping_rounds"} <= cls.PARAMS and first.best_iteration_ is not None:
        return {**params, "n_estimators": int(first.best_iteration_) + 1, "early_stopping_rounds": None}
    return None


def _refit_on(
    cls: type[Trainer],
    params: dict[str, Any],
    spec: TrainSpec,
    first: Trainer,
    rows: TrainData,
    callbacks: Callbacks | None,
    budget: TimeBudget | None,
    expected_s: float,
    what: str,
) -> Trainer | str:
    """``first``'s recipe (``params``) fitted on ``rows``, or why not (a reason naming ``what`` was to be refit)."""
    if budget is not None and budget.remaining() < expected_s * FOLD_TIME_MARGIN:
        return f"no time left to refit it on {what}"
    model = cls(params, seed=spec.seed, n_threads=spec.n_threads)
    model.record_curves = False  # it keeps ``first``'s curves (below): nothing to evaluate per round
    stoppers: list[Callbacks] = [_StopOnly(callbacks)]
    if budget is not None:
        stoppers.append(TimeBudget(max(budget.remaining(), 1e-3)))
    try:
        model.fit(rows, rows, CallbackList(*stoppers))
    except Exception as exc:  # a stop request, or a library refusing the larger set: serve the earlier fit
        if not isinstance(exc, TrainingStopped):  # said in the job's validation; the traceback is for the operator
            logger.warning("the refit of %s on %s failed; the earlier fit serves", cls.NAME, what, exc_info=True)
        return f"the refit on {what} failed: {type(exc).__name__}"
    if model.partial_ and not model.serves_when_partial():
        return f"the refit on {what} was stopped"
    # What the job reports of training is the early-stopped fit's: its curves, rounds and best round (the refit
    # holds best round + 1 rounds, so a prediction limited to the best round still uses all of its trees).
    model.curves_, model.n_rounds_, model.best_iteration_ = first.curves_, first.n_rounds_, first.best_iteration_
    # What the first fit chose from the data (a searched leaf size) stays on record; the refit's own (a loss scale
    # measured on more rows) wins.
    model.derived_params_ = {**first.derived_params_, **model.derived_params_}
    return model


def _cut(model: Trainer) -> str:
    """What a refit that the time left cut short (and that serves all the same) holds: "" when it is whole."""
    if not model.partial_:
        return ""
    grown = model.derived_params_.get("n_estimators_grown")
    of = f": {grown} of {model.params.get('n_estimators', 100)} trees" if grown is not None else ""
    return f", cut short by the time left{of},"


def _rounds(cls: type[Trainer], params: dict[str, Any]) -> str:
    return (
        f", {params['n_estimators']} rounds as early stopping chose"
        if "n_estimators" in params and cls.ITERATIVE
        else ""
    )


def _refit(
    cls: type[Trainer],
    spec: TrainSpec,
    first: Trainer,
    rows: TrainData,
    callbacks: Callbacks | None,
    budget: TimeBudget | None,
    expected_s: float,
) -> tuple[Trainer, str]:
    """The model that scores the test split, and what it is: ``first`` (fit on the train split, early-stopped on the
    validation split) refit on train + validation, once selection is done, where the recipe allows it and the
    budget holds it; else ``first`` itself. The refit keeps ``first``'s learning curves and rounds (what the
    diagnosis reads: its validation curve is on rows it did not train on)."""
    params = _refit_params(cls, dict(spec.params), first)
    if params is None:
        return first, SERVED_MODEL
    if first.partial_:
        return first, f"{SERVED_MODEL} (its fit was stopped: no refit)"
    model = _refit_on(cls, params, spec, first, rows, callbacks, budget, expected_s, "train + validation")
    if isinstance(model, str):
        return first, f"{SERVED_MODEL} ({model})"
    how = f"refit on the train and validation splits ({len(rows)} rows{_rounds(cls, params)}){_cut(model)}"
    return model, f"{how} after validation"


def _refit_all(
    cls: type[Trainer],
    spec: TrainSpec,
    first: Trainer,
    scored: Trainer,
    scored_how: str,
    rows: TrainData,
    callbacks: Callbacks | None,
    budget: TimeBudget | None,
    expected_s: float,
) -> tuple[Trainer, str]:
    """The saved model once the test split is scored: ``scored``'s recipe refit on every row (test rows included:
    the test score is already taken, and the model that serves should learn from all the data, as AutoML
    libraries' final refits do), where the budget holds it; else ``scored`` itself, with why."""
    params = _refit_params(cls, dict(spec.params), first)
    assert params is not None  # ``scored`` is a refit, so the recipe allows one
    model = _refit_on(cls, params, spec, first, rows, callbacks, budget, expected_s, "all rows")
    if isinstance(model, str):
        return scored, f"{scored_how}; not refit on all rows: {model}"
    how = f"refit on all {len(rows)} rows (train, validation and test{_rounds(cls, params)}){_cut(model)}"
    return model, f"{how}; the test split was scored before, by the {scored_how}"


def _cross_validate(
    cls: type[Trainer],
    spec: TrainSpec,
    fixed: dict[str, Any] | None,
    X: pd.DataFrame,
    y: np.ndarray,
    schema: Any,
    task: Task,
    non_test: np.ndarray,
    callbacks: Callbacks | None,
    budget: TimeBudget | None,
    fit_s: float,
    output: Any,
) -> tuple[tuple[list[MetricValues], np.ndarray, int] | None, str | None]:
    """k-fold scores and out-of-fold outputs over ``non_test``, or ``None`` and why not (then: holdout).

    The folds share what is left of the run's budget: they start only if it holds k fits as long as the
    saved model's (``fit_s``, with a margin), each fold gets an equal share of what is left, and a fold cut
    short by its share or by a stop request abandons them all (a shortened fold model would bias the score).

    ``fixed`` (the refit's parameters: boosting for the rounds early stopping chose on the validation split, with
    early stopping off) is what each fold fits where the recipe has it. A fold model early-stopped on its own
    validation fold would pick its round count on the rows it is scored on: on a fold of a few dozen rows that
    choice flatters iterative models against one-shot ones (forests, SVMs), whose score involves no such choice.
    """
    k = fold_count(len(non_test), CV_FOLDS)
    # As many partitions as the row count calls for (splits.CV_REPEATS on small tables) and the budget holds.
    repeats = cv_repeats(len(non_test))
    if budget is not None:
        while repeats > 1 and budget.remaining() < repeats * k * fit_s * FOLD_TIME_MARGIN:
            repeats -= 1
        if budget.remaining() < k * fit_s * FOLD_TIME_MARGIN:
            return None, (
                f"holdout: {budget.remaining():.1f} s of budget left cannot hold {k} folds of ~{fit_s:.1f} s each"
            )
    folds = kfold_rows(y, task, non_test, spec.seed, CV_FOLDS, repeats)
    n_fits = len(folds.validation)
    n_out = schema.n_classes or 1
    oof = np.zeros((len(y), n_out) if n_out > 1 else (len(y),), dtype=np.float64)
    scores: list[MetricValues] = []
    for i, (tr, va) in enumerate(zip(folds.train, folds.validation, strict=True)):
        where = f"fold {i % k + 1} of {k}" + (f" (repeat {i // k + 1} of {repeats})" if repeats > 1 else "")
        stoppers: list[Callbacks] = [_StopOnly(callbacks)]
        if budget is not None:
            stoppers.append(TimeBudget(max(budget.remaining(), 1e-3) / (n_fits - i)))
        model = cls(fixed if fixed is not None else spec.params, seed=spec.seed, n_threads=spec.n_threads)
        # Only its output on the fold is used: never saved, and with fixed rounds it has no use for curves either.
        model.saved, model.record_curves = False, fixed is None
        fold_train = TrainData(X.iloc[tr].reset_index(drop=True), y[tr], schema)
        fold_valid = TrainData(X.iloc[va].reset_index(drop=True), y[va], schema)
        try:
            model.fit(fold_train, fold_valid, CallbackList(*stoppers))
        except Exception as exc:  # TrainingStopped, or a fold the library cannot fit (one class left, ...)
            return None, f"holdout: {where} could not be fitted ({type(exc).__name__}: {exc})"
        if model.partial_:
            return None, f"holdout: {where} was stopped ({model.partial_reason_})"
        out = output(model, fold_valid)
        oof[va] += out  # each row is in one validation fold per partition: the sum over partitions
        scores.append(evaluate(task, y[va], out)[0])
    oof /= repeats
    return (scores, oof[non_test], repeats), folds.note


def _summary_kfold(scores: list[MetricValues], n_rows: int, note: str | None, repeats: int = 1) -> ValidationSummary:
    """Mean and sample sd over the folds (of every partition), per metric (None where a fold has no value)."""
    mean: MetricValues = {}
    sd: MetricValues = {}
    for name in scores[0]:
        values = [s.get(name) for s in scores]
        if any(v is None for v in values):
            mean[name] = sd[name] = None
            continue
        arr = np.asarray(values, dtype=np.float64)
        mean[name] = float(arr.mean())
        sd[name] = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return ValidationSummary(
        method="kfold",
        k=len(scores) // repeats,
        repeats=repeats,
        n_rows=n_rows,
        mean=mean,
        sd=sd,
        folds=scores,
        served_model=SERVED_MODEL,
        note=note,
    )


@dataclass(frozen=True)
class Predictions:
    """Predictions for new rows: labels (or values) and, for classifiers, class probabilities."""

    predictions: list[Label] | list[float]
    classes: list[Label] | None
    probabilities: np.ndarray | None  # (n, k), columns in ``classes`` order
    warnings: tuple[str, ...] = ()  # ignored extra columns, categories encoded as unknown

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row: ``{"prediction": ..., "probabilities": {label: p}}``."""
        if self.probabilities is None or self.classes is None:
            return [{"prediction": v} for v in self.predictions]
        keys = [str(c) for c in self.classes]
        return [
            {"prediction": label, "probabilities": dict(zip(keys, map(float, row), strict=True))}
            for label, row in zip(self.predictions, self.probabilities, strict=True)
        ]


def predict_frame(trainer: Trainer, rows: pd.DataFrame) -> Predictions:
    """Apply the training-time schema to ``rows`` and predict.

    Raises :class:`~trainers.preprocess.SchemaMismatch` naming every missing column, or the first column
    whose values cannot be read as its training-time type.
    """
    warnings: list[str] = []
    output = trainer.predict_output(rows, warnings=warnings)
    if trainer.task_ == "regression":
        return Predictions(
            predictions=[float(v) for v in output], classes=None, probabilities=None, warnings=tuple(warnings)
        )
    labels = decode_labels(output.argmax(axis=1), trainer.schema_)
    return Predictions(
        predictions=labels, classes=list(trainer.schema_.classes or []), probabilities=output, warnings=tuple(warnings)
    )
