"""One image / sequence / text job from arrays to a saved, scored, diagnosed model.

The array counterpart of :func:`trainers.run.fit_and_evaluate` (which handles tables, ``torch_mlp``
included): same split, metrics, curves, diagnosis and artifact, so a deep-learning job reports exactly what
a classical one does. The trainer's ``run_info_`` (device, reproducibility, backbone substitution, notes)
is returned beside the :class:`~trainers.spec.TrainResult`, which has no field for it yet.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from trainers.base import TrainerCapabilityError
from trainers.callbacks import CallbackList, Callbacks, TimeBudget
from trainers.metrics import evaluate
from trainers.registry import get_trainer
from trainers.run import finish_run
from trainers.spec import TrainResult, TrainSpec
from trainers.splits import split_rows
from trainers.torch.base import TorchTrainer
from trainers.torch.data import ArrayData


def fit_and_evaluate_arrays(
    spec: TrainSpec, data: ArrayData, callbacks: Callbacks | None, out_dir: str | Path
) -> tuple[TrainResult, dict[str, Any]]:
    """Split ``data``, fit ``spec.trainer``, score validation and test, save, diagnose.

    Returns the result and the trainer's ``run_info_``. Errors as in :func:`trainers.run.fit_and_evaluate`.
    """
    started = time.perf_counter()
    budget = TimeBudget(spec.time_budget_s) if spec.time_budget_s is not None else None
    cls = get_trainer(spec.trainer)
    task = data.task
    cls.check(task, data.modality, device=spec.params.get("device"))
    if not issubclass(cls, TorchTrainer):  # check() has refused any other: only the torch trainers take arrays
        raise TrainerCapabilityError(f"{spec.trainer} does not train on {data.modality} arrays")
    cls.check_params(spec.params, task)
    parts = split_rows(np.asarray(data.y), task, spec.resolved_split(), spec.seed)
    train, valid, test = data.subset(parts.train), data.subset(parts.validation), data.subset(parts.test)
    prepared = time.perf_counter()

    trainer = cls(spec.params, seed=spec.seed, n_threads=spec.n_threads)
    trainer.fit(train, valid, CallbackList(*(c for c in (callbacks, budget) if c is not None)))
    fitted = time.perf_counter()

    metrics: dict[str, dict[str, float | None]] = {}
    notes: dict[str, dict[str, str]] = {}
    for name, part in (("validation", valid), ("test", test)):
        k = data.schema.n_classes or 1
        output = trainer.predict_output(part) if len(part) else np.empty((0, k))
        metrics[name], part_notes = evaluate(task, part.y, output)
        if part_notes:
            notes[name] = part_notes
    predicted = time.perf_counter()
    result = finish_run(
        trainer,
        spec,
        task,
        split=parts.info,
        metrics=metrics,
        notes=notes,
        out_dir=out_dir,
        marks=(started, prepared, fitted, predicted),
    )
    return result, trainer.run_info_ or {}  # a fit always records its run
