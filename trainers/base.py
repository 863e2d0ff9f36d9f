"""The trainer contract every model family follows (scikit-learn style).

* ``__init__`` stores ``params`` unmodified; nothing is validated or learned there.
* :meth:`Trainer.fit` validates, learns, and returns ``self``; learned state ends in ``_``
  (``model_``, ``schema_``, ``best_iteration_``, ``n_rounds_``, ``curves_``, ``partial_``...).
* A trainer declares what it can do (``MODALITIES``, ``TASKS``, ``SUPPORTS_GPU``) and
  :meth:`Trainer.check` refuses anything else with a reason.
* :meth:`Trainer.save` writes only safe formats plus ``schema.json``/``meta.json`` and a hashed
  manifest; :meth:`Trainer.load` verifies the hashes before parsing anything.
"""

from __future__ import annotations

import json
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from trainers.artifacts import ArtifactError, library_versions, read_manifest, write_manifest
from trainers.callbacks import Callbacks
from trainers.errors import TrainerError
from trainers.export.onnx import NotConvertible, OnnxExport, export_onnx, sample_matrix, sklearn_graph
from trainers.metrics import constant_loss
from trainers.preprocess import apply_schema
from trainers.spec import ArtifactInfo, CurveSet, FeatureSchema, StopReason, Task, TrainData

if TYPE_CHECKING:
    import onnx

# Keys the advisor adds to explain or steer a run that are not library parameters. Trainers accept
# them and apply those that mean something to them (e.g. ``scaling`` for a linear model).
ADVISORY_PARAMS = frozenset(
    {"split", "device", "memory_estimate", "time_estimate", "imputation", "scaling", "input_features"}
)
META_FILE = "meta.json"
SCHEMA_FILE = "schema.json"


class TrainerCapabilityError(TrainerError):
    """The trainer cannot do what was asked (task, modality, device); ``reason`` says why."""

    kind = "unsupported"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrainerParamError(TrainerError):
    """A parameter is unknown to the trainer or has a value it cannot apply; ``key`` names it."""

    kind = "config"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"parameter {key!r}: {reason}")
        self.key = key
        self.reason = reason


class NotFittedError(TrainerError):
    """The trainer has no model yet: call ``fit`` or ``load`` first."""

    kind = "state"


class Trainer(ABC):
    """Base class of every trainer. Subclasses set the class attributes and the ``_``-hooks."""

    NAME: ClassVar[str]
    MODALITIES: ClassVar[frozenset[str]] = frozenset({"tabular"})
    TASKS: ClassVar[frozenset[Task]]
    SUPPORTS_GPU: ClassVar[bool] = False
    ARTIFACT_FORMAT: ClassVar[str]
    # Whether fit runs in rounds that a stop request can cut short (boosting) or is one call.
    ITERATIVE: ClassVar[bool] = True
    # Library parameters accepted besides ADVISORY_PARAMS; anything else is refused.
    PARAMS: ClassVar[frozenset[str]]
    # Whether the trainer vectorizes free-text columns itself (``input_features="tfidf"``: a text
    # dataset's table with its text column kept as text, see :func:`trainers.datasets.plan_inputs`).
    TEXT_FEATURES: ClassVar[bool] = False
    # Import names of the libraries whose versions are recorded with the artifact.
    LIBRARIES: ClassVar[tuple[str, ...]] = ("numpy", "pandas")

    # Learned by ``_fit`` (or read back by ``load``): the 0-based round the model ends at, and the rounds run.
    best_iteration_: int | None
    n_rounds_: int
    # Per class (schema order), the weight the model's loss gave it when it weighted classes (§3 'Imbalanced') and
    # its probabilities are to be prior-corrected (see :meth:`_prior_corrected`); None otherwise.
    class_weights_: list[float] | None = None
    # False for a refit that keeps the first fit's learning curves (trainers.run): an iterative trainer then
    # evaluates nothing per round (on a 200,000-row XGBoost job the refits' evaluations took a fifth of the run).
    record_curves: bool = True
    # False for a cross-validation fold's model (trainers.run), which scores its fold and is never saved: a trainer
    # that charges its deadline for saving what it grows (the forests) then charges nothing.
    saved: bool = True

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0, n_threads: int = 1) -> None:
        self.params = params if params is not None else {}
        self.seed = seed
        self.n_threads = n_threads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r}, seed={self.seed}, n_threads={self.n_threads})"

    # -- capabilities --------------------------------------------------------------------------
    @classmethod
    def check(cls, task: str, modality: str = "tabular", *, device: str | None = None) -> None:
        """Raise :class:`TrainerCapabilityError` with a reason unless this trainer can do the job."""
        if modality not in cls.MODALITIES:
            raise TrainerCapabilityError(
                f"{cls.NAME} trains on {', '.join(sorted(cls.MODALITIES))} data, not {modality}"
            )
        if task not in cls.TASKS:
            raise TrainerCapabilityError(f"{cls.NAME} supports {', '.join(sorted(cls.TASKS))} tasks, not {task}")
        if device is not None and device not in ("cpu", "auto") and not cls.SUPPORTS_GPU:
            raise TrainerCapabilityError(f"{cls.NAME} runs on CPU only, not on {device}")

    @classmethod
    def check_params(cls, params: Mapping[str, Any], task: Task) -> None:
        """Raise :class:`TrainerParamError` for an unknown key or a value this trainer cannot apply."""
        unknown = sorted(set(params) - cls.PARAMS - ADVISORY_PARAMS)
        if unknown:
            accepted = ", ".join(sorted(cls.PARAMS | ADVISORY_PARAMS))
            raise TrainerParamError(unknown[0], f"unknown to {cls.NAME}; accepted keys: {accepted}")
        features = params.get("input_features")
        allowed = (None, "columns", "tfidf") if cls.TEXT_FEATURES else (None, "columns")
        if "tabular" in cls.MODALITIES and len(cls.MODALITIES) == 1 and features not in allowed:
            raise TrainerParamError("input_features", f"{cls.NAME} trains on table columns, not {features!r}")
        cls._check_param_values(params, task)

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        """Subclass hook: refuse values that do not fit the task (e.g. a regression objective)."""
        return None

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks | None = None) -> Self:
        """Learn from ``train``, early-stop and report curves on ``valid``; returns ``self``.

        If ``callbacks.should_stop()`` turns true mid-fit, the best model so far is kept and
        ``partial_``/``partial_reason_`` say so. Raises :class:`~trainers.callbacks.TrainingStopped`
        if the stop comes before any model exists.
        """
        task = train.task
        modality = self._modality(train, valid)
        self.check(task, modality, device=self.params.get("device"))
        self.check_params(self.params, task)
        if valid.schema != train.schema:
            raise ValueError("train and validation data were prepared with different schemas")
        callbacks = callbacks if callbacks is not None else Callbacks()
        self.schema_: FeatureSchema = train.schema
        self.task_: Task = task
        self.modality_: str = modality
        self.partial_ = False
        self.partial_reason_: StopReason | None = None
        self.model_: Any = None  # a failed refit must not leave the previous model looking current
        # Parameters the trainer set from the data (e.g. a robust loss's scale), recorded with the model.
        self.derived_params_: dict[str, Any] = {}
        # Hyperparameters the fit chose from its training data (e.g. a forest's leaf size from a list, by
        # out-of-bag error): folds and the refit on more rows reuse them instead of searching again.
        self.tuned_params_: dict[str, Any] = {}
        # Seconds of the fit spent choosing them: folds and refits, which reuse the choice, take that much less.
        self.tuning_s_ = 0.0
        self.curves_: CurveSet | None = None
        start = time.perf_counter()
        callbacks.on_start(self._total_rounds())
        try:
            self._fit(train, valid, callbacks)
        finally:
            callbacks.on_end()
        self._complete_curves(train, valid)
        self.fit_time_s_ = time.perf_counter() - start
        return self

    def _modality(self, train: TrainData, valid: TrainData) -> str:
        """Modality hook: the kind of data ``fit`` was given, checked against ``MODALITIES``.

        Frames are "tabular"; a trainer that also takes arrays (images, sequences, texts) reads the
        modality from the data and refuses a train/validation pair of different kinds.
        """
        return "tabular"

    def _complete_curves(self, train: TrainData, valid: TrainData) -> None:
        """Fill what the trainer's curves left out: a constant predictor's loss and the rows the curve saw."""
        if self.curves_ is None:
            return
        if self.curves_.baseline_loss is None:
            self.curves_.baseline_loss = constant_loss(train.task, train.y, valid.y, train.schema.n_classes)
        if self.curves_.train_rows is None:
            self.curves_.train_rows = len(train)

    def _stop(self, callbacks: Callbacks) -> bool:
        """Ask the callbacks whether to stop; remember why (one call per round: keep it cheap)."""
        if callbacks.should_stop():
            self.partial_ = True
            self.partial_reason_ = callbacks.stop_reason()
            return True
        return False

    def serves_when_partial(self) -> bool:
        """Whether this model, stopped short as a refit on more rows, still beats the earlier fit it would replace.
        Not in general (a boosting refit cut before the rounds early stopping chose is an unfinished model)."""
        return False

    def _total_rounds(self) -> int:
        """Most rounds the fit may run (announced to ``on_start``)."""
        return 1

    @abstractmethod
    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        """Set ``model_``, ``best_iteration_``, ``n_rounds_`` and ``curves_``."""

    # -- predicting ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    def predict_output(self, X: pd.DataFrame, *, warnings: list[str] | None = None) -> np.ndarray:
        """Class probabilities ``(n, k)`` for classifiers, predicted values ``(n,)`` for regressors.

        ``X`` may be raw rows: the training-time schema is applied first (see ``apply_schema``), which
        appends to ``warnings`` what it ignored (extra columns) or encoded as unknown (unseen categories).
        """
        self._check_fitted()
        return self._predict_output(apply_schema(X, self.schema_, warnings))

    @abstractmethod
    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        """Model output for a frame that already follows ``schema_``."""

    def _prior_corrected(self, proba: np.ndarray) -> np.ndarray:
        """Class probabilities of a model fit with class weights, brought back to the data's own class balance.

        A loss that weights class c by w_c is minimised by probabilities proportional to w_c × p(c | x): balanced
        weights move every prediction towards the rare classes, so the probabilities overstate them and the
        arg-max label trades a lot of accuracy for the rare classes' recall. Dividing by w_c and renormalising
        (prior correction) undoes that shift exactly for a well-specified model and keeps the weighted fit's
        ranking of rows (a binary ROC AUC is unchanged). The served probabilities are then calibrated, and their
        arg-max is the most likely class.
        """
        weights = self.class_weights_
        if weights is None or proba.ndim != 2 or proba.shape[1] != len(weights):
            return proba
        out = proba / np.asarray(weights, dtype=np.float64)
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.zeros_like(out), where=total > 0)

    def input_spec(self) -> dict[str, Any]:
        """What :meth:`predict_output` takes, for readers of prediction inputs (:mod:`trainers.predict_inputs`):
        ``{"modality": "tabular"}`` (a frame that ``schema_`` types) here; a trainer of images or sequences
        returns its modality and the sample shape it was trained on."""
        return {"modality": "tabular"}

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class indices 0..k-1 (see ``schema_.classes`` for labels) or regression values."""
        out = self.predict_output(X)
        return out if self.task_ == "regression" else out.argmax(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(n, k)``, columns in ``schema_.classes`` order."""
        self._check_fitted()
        if self.task_ == "regression":
            raise TrainerCapabilityError(f"{self.NAME} was trained for regression: no class probabilities")
        return self.predict_output(X)

    # -- export --------------------------------------------------------------------------------
    def to_onnx(self) -> OnnxExport:
        """The fitted model as an ONNX graph with its inputs documented (see :mod:`trainers.export.onnx`).

        Raises :class:`~trainers.export.onnx.NotConvertible` with the reason when the model has no
        converter or the converted graph does not reproduce its outputs.
        """
        return export_onnx(self)

    def _onnx_graph(self) -> onnx.ModelProto:
        """Family hook: the model as an ONNX graph taking ``feature_matrix`` rows.

        The default converts a scikit-learn estimator or Pipeline held in ``model_`` (skl2onnx), so any
        trainer built that way exports without code of its own; anything else is refused.
        """
        sklearn_base = sys.modules.get("sklearn.base")
        if sklearn_base is not None and isinstance(self.model_, sklearn_base.BaseEstimator):
            return sklearn_graph(self.model_, len(self.schema_.columns), self.task_)
        raise NotConvertible(f"{self.NAME} models have no ONNX converter ({type(self.model_).__name__})")

    def _onnx_sample_matrix(self) -> np.ndarray:
        """Rows (``feature_matrix`` form) on which the export is checked against this model."""
        return sample_matrix(self.schema_)

    def _onnx_check_inputs(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], np.ndarray]:
        """Family hook for non-tabular models: input docs, check feeds and the model's outputs on them."""
        raise NotConvertible(f"{self.NAME} has no ONNX export for {getattr(self, 'modality_', 'this')} data")

    # -- artifacts -----------------------------------------------------------------------------
    @abstractmethod
    def _save_model(self, directory: Path) -> list[str]:
        """Write the model in the safe format; return the file names written."""

    @abstractmethod
    def _load_model(self, directory: Path) -> None:
        """Read the model written by :meth:`_save_model` into ``model_``."""

    def save(self, directory: str | Path) -> ArtifactInfo:
        """Write the model, ``schema.json`` and ``meta.json``, and a manifest with SHA-256 digests."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = self._save_model(directory)
        (directory / SCHEMA_FILE).write_text(self.schema_.to_json(), encoding="utf-8")
        meta = {
            "trainer": self.NAME,
            "task": self.task_,
            "params": dict(self.params),
            "derived_params": dict(getattr(self, "derived_params_", {})),
            "seed": self.seed,
            "best_iteration": self.best_iteration_,
            "n_rounds": self.n_rounds_,
            "partial": self.partial_,
            "partial_reason": self.partial_reason_,
            "curves": self.curves_.model_dump(mode="json") if self.curves_ is not None else None,
            "class_weights": self.class_weights_,
        }
        (directory / META_FILE).write_text(
            json.dumps(meta, sort_keys=True, indent=1, allow_nan=False), encoding="utf-8"
        )
        return write_manifest(
            directory,
            trainer=self.NAME,
            fmt=self.ARTIFACT_FORMAT,
            files=[*files, SCHEMA_FILE, META_FILE],
            versions=library_versions(self.LIBRARIES),
        )

    @classmethod
    def load(cls, directory: str | Path, *, n_threads: int = 1, expected_sha256: str | None = None) -> Self:
        """Load an artifact written by :meth:`save`, after checking every file's SHA-256.

        ``expected_sha256`` (the ``ArtifactInfo.sha256`` stored with the job) also guards the
        manifest itself. Nothing is unpickled.
        """
        directory = Path(directory)
        manifest = read_manifest(directory, expected_sha256=expected_sha256)
        if manifest.trainer != cls.NAME:
            raise ArtifactError(f"artifact was written by {manifest.trainer!r}, not {cls.NAME!r}")
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        obj = cls(meta["params"], seed=meta["seed"], n_threads=n_threads)
        obj.schema_ = FeatureSchema.from_json((directory / SCHEMA_FILE).read_text(encoding="utf-8"))
        obj.task_ = meta["task"]
        obj.derived_params_ = dict(meta.get("derived_params") or {})
        obj.best_iteration_ = meta["best_iteration"]
        obj.n_rounds_ = meta["n_rounds"]
        obj.partial_ = meta["partial"]
        obj.partial_reason_ = meta["partial_reason"]
        obj.curves_ = CurveSet.model_validate(meta["curves"]) if meta.get("curves") else None
        weights = meta.get("class_weights")  # absent in artifacts written before the correction: uncorrected
        obj.class_weights_ = [float(w) for w in weights] if weights else None
        obj._load_model(directory)
        return obj


def curve_values(values: list[float]) -> list[float | None]:
    """Per-round values as JSON-safe floats (``None`` for NaN/inf)."""
    out: list[float | None] = []
    for v in values:
        f = float(v)
        out.append(f if np.isfinite(f) else None)
    return out


def metric_list(value: Any, key: str) -> list[str]:
    """A metric parameter (one name or a list of names) as a list; refuses anything else."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TrainerParamError(key, f"expected a metric name or a list of names, got {value!r}")


def check_int(params: Mapping[str, Any], key: str, *, minimum: int, allow_none: bool = False) -> None:
    """Refuse a non-integer or too small value of ``params[key]`` (absent keys pass)."""
    if key not in params:
        return
    v = params[key]
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise TrainerParamError(key, f"expected an integer ≥ {minimum}, got {v!r}")


def check_number(
    params: Mapping[str, Any],
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """Refuse a non-numeric or out-of-range value of ``params[key]`` (absent keys pass)."""
    if key not in params:
        return
    v = params[key]
    ok = isinstance(v, int | float | np.number) and not isinstance(v, bool) and np.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '≥'} {low}"
        hi = "" if high is None else f"≤ {high}"
        raise TrainerParamError(key, f"expected a finite number {lo} {hi}".rstrip() + f", got {v!r}")
