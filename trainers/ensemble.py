"""A race's ensemble entry: greedy ensemble selection with replacement (Caruana et al., 2004).

Built from the stored predictions of finished runs (``valid_pred.npy`` / ``test_pred.npy`` and their row
indices, see :mod:`trainers.run`), never by training anything: starting from nothing, each of
:data:`ROUNDS` rounds adds (with replacement) the member whose addition gives the best loss of the averaged
validation predictions (log loss for classifiers, RMSE for regressors; a tie goes to the earlier member); a
member's weight is how often it was picked, over the rounds. That selection runs on :data:`BAGS` bootstrap
samples of the validation rows and the weights are averaged (:func:`bagged_selection`): on a few hundred rows one
draw of the rows otherwise decides between members whose losses differ by less than their noise. Replayed on
finished races (``bench/selection_study.py``), bagging served a lower mean regret than one selection on all
rows both on the 61 datasets the race was designed on and on 20 tables it had never seen (``bench/realdata.py``'s
checks group).

Validation rows are those every member has a prediction for (all non-test rows when every member was
cross-validated, the holdout rows otherwise). The weights are chosen on those predictions, so the ensemble's
validation score is optimistic by that choice (``validation.note`` says so). Each member is scored on those
same rows the same way (``validation.members``): a race compares the ensemble with its members on those terms,
not with their fold means. Its test score is the weighted members' saved-model predictions on the shared test
rows, reported only.

The artifact (format ``ensemble-json``): ``ensemble.json`` lists each member's job id, trainer, artifact
SHA-256, weight and sub-folder; each member's whole artifact is copied into ``member-<i>/`` and verified
against that SHA-256 when the ensemble loads, so the ensemble is self-contained and nothing is unpickled.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from trainers.artifacts import ArtifactError, load_artifact, read_manifest
from trainers.base import Trainer, TrainerCapabilityError, check_int
from trainers.callbacks import Callbacks
from trainers.metrics import evaluate, selection_loss
from trainers.preprocess import prepare_frame
from trainers.registry import register_trainer
from trainers.run import PREDICTION_FILES, finish_run, prediction_arrays
from trainers.spec import CurveSet, Task, TrainData, TrainResult, TrainSpec, ValidationSummary
from trainers.splits import split_rows

ROUNDS = 25
BAGS = 20
ENSEMBLE_FILE = "ensemble.json"
_MEMBER_DIR = re.compile(r"^member-[0-9]{1,3}$")
# The loss the selection minimises, by task (names as trainers.metrics reports them).
SELECTION_LOSS: dict[str, str] = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}


@dataclass(frozen=True)
class Member:
    """A finished run to ensemble: its job id and its verified artifact folder."""

    job_id: str
    directory: Path
    sha256: str


def greedy_selection(
    predictions: list[np.ndarray],
    y: np.ndarray,
    task: Task,
    rounds: int = ROUNDS,
    initial: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Caruana et al.'s forward selection with replacement: member weights (summing to 1) and the loss of the
    ensemble after each round. ``predictions[i]`` is member i's output on the rows of ``y``. ``initial`` (picks
    per member, e.g. the N best members once each: the paper's sorted initialisation) starts the ensemble; rounds
    then add members until ``rounds`` picks in all."""
    loss_name = SELECTION_LOSS[task]
    counts = np.zeros(len(predictions), dtype=np.int64)
    total = np.zeros_like(predictions[0], dtype=np.float64)
    for i, c in enumerate(initial or ()):
        if c:
            counts[i] += c
            total += c * predictions[i]
    path: list[float] = []
    for r in range(int(counts.sum()) + 1, rounds + 1):
        best_i, best_loss = -1, np.inf
        for i, p in enumerate(predictions):
            loss = selection_loss(task, y, (total + p) / r)
            if loss is not None and loss < best_loss:
                best_i, best_loss = i, loss
        if best_i < 0:
            raise ValueError(f"no member has a finite {loss_name} on the validation rows")
        counts[best_i] += 1
        total += predictions[best_i]
        path.append(float(best_loss))
    return counts / counts.sum(), path


def bagged_selection(
    predictions: list[np.ndarray],
    y: np.ndarray,
    task: Task,
    rounds: int = ROUNDS,
    bags: int = BAGS,
    seed: int = 0,
    deadline: float | None = None,
) -> tuple[np.ndarray, list[float]]:
    """:func:`greedy_selection` on ``bags`` bootstrap samples of the rows (drawn with ``seed``), the weights
    averaged: the selection no longer fits the luck of the particular rows it is chosen on, which on a few hundred
    rows decides between members whose losses differ by less than their noise. Caruana et al. (2004) bag over
    models for the same reason (overfitting a small hillclimb set); this bags over rows.

    Returns the weights and, after each bag, the loss of the weights so far on all the rows. Past ``deadline``
    (a ``time.perf_counter()`` value) no further bag starts; the first always runs."""
    rng = np.random.default_rng(seed)
    total = np.zeros(len(predictions))
    path: list[float] = []
    for b in range(1, bags + 1):
        idx = rng.integers(0, len(y), len(y))
        total += greedy_selection([p[idx] for p in predictions], y[idx], task, rounds)[0]
        out = sum(w / b * p for w, p in zip(total, predictions, strict=True) if w)
        loss = selection_loss(task, y, np.asarray(out))
        path.append(float(loss) if loss is not None else float("nan"))
        if deadline is not None and time.perf_counter() > deadline:
            break
    return total / total.sum(), path


@register_trainer("ensemble")
class EnsembleTrainer(Trainer):
    """A weighted average of other runs' saved models; built by :func:`fit_ensemble`, not by ``fit``."""

    NAME = "ensemble"
    TASKS = frozenset({"binary", "multiclass", "regression"})
    ARTIFACT_FORMAT = "ensemble-json"
    ITERATIVE: ClassVar[bool] = False
    PARAMS = frozenset({"rounds", "bags"})
    LIBRARIES = ("numpy", "pandas")

    @classmethod
    def _check_param_values(cls, params: Any, task: Task) -> None:
        check_int(params, "rounds", minimum=1)
        check_int(params, "bags", minimum=1)

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        raise TrainerCapabilityError("an ensemble is built from finished runs' predictions (fit_ensemble)")

    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        out = None
        for model, weight in zip(self.members_, self.weights_, strict=True):
            if weight == 0:
                continue
            part = weight * np.asarray(model._predict_output(X), dtype=np.float64)
            out = part if out is None else out + part
        assert out is not None
        return out

    def _save_model(self, directory: Path) -> list[str]:
        listed = []
        for i, (info, weight) in enumerate(zip(self.member_info_, self.weights_, strict=True)):
            sub = f"member-{i}"
            target = directory / sub
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(info["source"], target)
            read_manifest(target, expected_sha256=info["sha256"])  # the copy is what was selected
            listed.append(
                {
                    "job_id": info["job_id"],
                    "trainer": info["trainer"],
                    "sha256": info["sha256"],
                    "weight": float(weight),
                    "directory": sub,
                }
            )
        document = {
            "members": listed,
            "rounds": self.rounds_,
            "bags": self.bags_,
            "selection_loss": SELECTION_LOSS[self.task_],
        }
        (directory / ENSEMBLE_FILE).write_text(json.dumps(document, sort_keys=True, indent=1), encoding="utf-8")
        return [ENSEMBLE_FILE]

    def _load_model(self, directory: Path) -> None:
        try:
            document = json.loads((directory / ENSEMBLE_FILE).read_text(encoding="utf-8"))
            listed = list(document["members"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"unreadable {ENSEMBLE_FILE}: {exc}") from exc
        members, weights, info = [], [], []
        for m in listed:
            sub = str(m.get("directory"))
            if not _MEMBER_DIR.match(sub):
                raise ArtifactError(f"ensemble member folder {sub!r} is not a member-<i> folder")
            model = load_artifact(directory / sub, n_threads=self.n_threads, expected_sha256=str(m["sha256"]))
            if model.schema_ != self.schema_:
                raise ArtifactError(f"ensemble member {m.get('job_id')!r} was trained on another schema")
            members.append(model)
            weights.append(float(m["weight"]))
            info.append({"job_id": m["job_id"], "trainer": m["trainer"], "sha256": m["sha256"]})
        self.members_, self.weights_, self.member_info_ = members, weights, info
        self.rounds_ = int(document.get("rounds") or len(members))
        self.bags_ = int(document.get("bags") or 1)  # ensembles saved before bagging made one selection
        self.model_ = document


def fit_ensemble(
    spec: TrainSpec,
    frame: pd.DataFrame,
    target: str,
    task: Task,
    feature_columns: list[str] | None,
    members: list[Member],
    out_dir: str | Path,
    *,
    datetime_formats: Mapping[str, str] | None = None,
) -> TrainResult:
    """Select weights over ``members``' stored validation predictions, score, and save the ensemble artifact.

    Members whose artifact fails its SHA-256 check, whose schema or test rows differ from the others', or
    that have no stored predictions are left out (``validation.note`` names them); fewer than two left
    raises ``ValueError``. ``datetime_formats`` as for the members (:func:`trainers.run.fit_and_evaluate`), so that
    their schemas match.
    """
    started = time.perf_counter()
    rounds = int(spec.params.get("rounds", ROUNDS))
    bags = int(spec.params.get("bags", BAGS))
    EnsembleTrainer.check_params(spec.params, task)
    X, y, schema = prepare_frame(frame, target, feature_columns, task, datetime_formats=datetime_formats)
    parts = split_rows(y, task, spec.resolved_split(), spec.seed)
    loaded: list[tuple[Member, Trainer, dict[str, np.ndarray]]] = []
    left_out: list[str] = []
    for m in members:
        try:
            model = load_artifact(m.directory, expected_sha256=m.sha256)
            arrays = {
                role: np.load(m.directory / name, allow_pickle=False)
                for role, name in PREDICTION_FILES.items()
                if role in ("valid_pred", "valid_index", "test_pred", "test_index")
            }
        except (ArtifactError, OSError, ValueError) as exc:
            left_out.append(f"{m.job_id} ({type(exc).__name__}: {exc})")
            continue
        if model.schema_ != schema or not np.array_equal(arrays["test_index"], parts.test):
            left_out.append(f"{m.job_id} (another schema or other test rows)")
            continue
        loaded.append((m, model, arrays))
    if len(loaded) < 2:
        raise ValueError(f"an ensemble needs two members with stored predictions; {len(loaded)} usable")
    prepared = time.perf_counter()

    rows = loaded[0][2]["valid_index"]
    for _, _, a in loaded[1:]:
        rows = np.intersect1d(rows, a["valid_index"])
    valid_preds = [a["valid_pred"][np.searchsorted(a["valid_index"], rows)].astype(np.float64) for _, _, a in loaded]
    # Half the entry's budget for the bags at most: scoring and saving the members' copies come after.
    deadline = started + spec.time_budget_s / 2 if spec.time_budget_s else None
    weights, path = bagged_selection(valid_preds, y[rows], task, rounds, bags, spec.seed, deadline)
    valid_out = sum(w * p for w, p in zip(weights, valid_preds, strict=True))
    test_out = sum(w * a["test_pred"].astype(np.float64) for w, (_, _, a) in zip(weights, loaded, strict=True))
    fitted = time.perf_counter()

    ensemble = EnsembleTrainer(spec.params, seed=spec.seed, n_threads=spec.n_threads)
    ensemble.schema_, ensemble.task_ = schema, task
    ensemble.members_ = [model for _, model, _ in loaded]
    ensemble.weights_ = [float(w) for w in weights]
    ensemble.member_info_ = [
        {"job_id": m.job_id, "trainer": model.NAME, "sha256": m.sha256, "source": m.directory} for m, model, _ in loaded
    ]
    ensemble.rounds_, ensemble.bags_ = rounds, len(path)
    ensemble.model_ = True
    ensemble.best_iteration_, ensemble.n_rounds_ = len(path) - 1, len(path)
    ensemble.partial_, ensemble.partial_reason_ = False, None
    ensemble.curves_ = CurveSet(loss_name=SELECTION_LOSS[task], train_loss=list(path), train_rows=len(rows))

    metrics: dict[str, dict[str, float | None]] = {}
    notes: dict[str, dict[str, str]] = {}
    for name, yy, out in (("validation", y[rows], valid_out), ("test", y[parts.test], test_out)):
        metrics[name], part_notes = evaluate(task, yy, np.asarray(out))
        if part_notes:
            notes[name] = part_notes
    note = (
        f"greedy ensemble selection ({rounds} rounds, with replacement) on the members' validation predictions, "
        f"averaged over {len(path)} bootstrap sample(s) of their {len(rows)} shared rows"
        + (f" (of {bags}: the time budget ended the rest)" if len(path) < bags else "")
        + "; the weights were chosen on these rows, so this score is optimistic"
    )
    if left_out:
        note += "; left out: " + "; ".join(left_out)
    # Each member scored as the ensemble is, on the same rows: what a race compares the ensemble with.
    members_scored = {m.job_id: evaluate(task, y[rows], p)[0] for (m, _, _), p in zip(loaded, valid_preds, strict=True)}
    summary = ValidationSummary(
        method="ensemble",
        k=None,
        n_rows=len(rows),
        mean=dict(metrics["validation"]),
        sd={k: None for k in metrics["validation"]},
        served_model="the weighted average of the members' saved models",
        note=note,
        prediction_files=dict(PREDICTION_FILES),
        members=members_scored,
    )
    predictions = prediction_arrays(task, y, rows, valid_out, parts.test, test_out)
    predicted = time.perf_counter()
    result = finish_run(
        ensemble,
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
    # Its importance: the members' own (each measured on rows its fit had not seen), weighted as the ensemble is.
    from trainers.explain import combine_importances, member_importance, save_importance

    found = [(float(w), member_importance(m.directory)) for w, (m, _, _) in zip(weights, loaded, strict=True)]
    measured = [(w, imp) for w, imp in found if imp is not None]
    result = save_importance(result, combine_importances(measured, schema.feature_names, EnsembleTrainer.NAME, task))
    return result.model_copy(update={"diagnosis": []})
