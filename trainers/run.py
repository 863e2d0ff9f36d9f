"""One training run from a table to a saved, scored, diagnosed model: :func:`fit_and_evaluate`.

Runner-independent: the job engine calls it in a child process with its own callbacks (progress,
cancel, heartbeat) and stores the returned :class:`~trainers.spec.TrainResult`. The prediction side is
:func:`predict_frame` on a model from :func:`trainers.artifacts.load_artifact`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainers.base import Trainer
from trainers.callbacks import CallbackList, Callbacks, TimeBudget
from trainers.metrics import evaluate
from trainers.preprocess import decode_labels, prepare_frame
from trainers.registry import get_trainer
from trainers.spec import Label, Task, TrainData, TrainResult, TrainSpec
from trainers.splits import split_rows


def _diagnose(curves: dict[str, Any]) -> list[dict[str, Any]]:
    """``advisor.diagnose`` on the curves, as plain dicts for the job record."""
    from advisor import Curves, diagnose

    return [d.model_dump(mode="json") for d in diagnose(Curves(**curves))]


def finish_run(
    trainer: Trainer,
    spec: TrainSpec,
    task: Task,
    *,
    split: dict[str, Any],
    metrics: dict[str, dict[str, float | None]],
    notes: dict[str, dict[str, str]],
    out_dir: str | Path,
    marks: tuple[float, float, float, float],
    n_rows_dropped: int = 0,
) -> TrainResult:
    """Save a fitted, scored trainer and assemble its result (curves, diagnosis, timings): the common end of
    :func:`fit_and_evaluate` and the array jobs (``trainers.torch.jobs``). ``marks`` are the
    ``time.perf_counter()`` readings at start, prepared, fitted and predicted."""
    started, prepared, fitted, predicted = marks
    artifact = trainer.save(Path(out_dir))
    saved = time.perf_counter()
    curves = trainer.curves_
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
    )


def fit_and_evaluate(
    spec: TrainSpec,
    frame: pd.DataFrame,
    target: str,
    task: Task,
    feature_columns: Sequence[str] | None,
    callbacks: Callbacks | None,
    out_dir: str | Path,
) -> TrainResult:
    """Split, fit, score on validation and test, save the artifact and diagnose the curves.

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
    split_spec = spec.resolved_split()

    X, y, schema = prepare_frame(frame, target, feature_columns, task)
    parts = split_rows(y, task, split_spec, spec.seed)

    def part(idx: np.ndarray) -> TrainData:
        return TrainData(X.iloc[idx].reset_index(drop=True), y[idx], schema)

    train, valid, test = part(parts.train), part(parts.validation), part(parts.test)
    prepared = time.perf_counter()

    trainer: Trainer = cls(spec.params, seed=spec.seed, n_threads=spec.n_threads)
    trainer.fit(train, valid, CallbackList(*(c for c in (callbacks, budget) if c is not None)))
    fitted = time.perf_counter()

    metrics: dict[str, dict[str, float | None]] = {}
    notes: dict[str, dict[str, str]] = {}
    for name, data in (("validation", valid), ("test", test)):
        # The frames already follow the schema: skip re-applying it.
        output = trainer._predict_output(data.X) if len(data) else np.empty((0, schema.n_classes or 1))
        metrics[name], part_notes = evaluate(task, data.y, output)
        if part_notes:
            notes[name] = part_notes
    predicted = time.perf_counter()
    return finish_run(trainer, spec, task, split=parts.info, metrics=metrics, notes=notes, out_dir=out_dir,
                      marks=(started, prepared, fitted, predicted), n_rows_dropped=len(frame) - len(X))


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
    return Predictions(predictions=labels, classes=list(trainer.schema_.classes or []), probabilities=output,
                       warnings=tuple(warnings))
