"""What every scikit-learn trainer shares: the preprocessing Pipeline, the one-shot fit, curves, artifacts.

Each model is one Pipeline: numeric columns → imputer (+ missing-value indicators) → scaler (where the model needs
one); categorical columns → one-hot over the training levels (missing and unseen levels encode as all zeros, or as
the most frequent level), kept sparse for a column of more than :data:`MAX_DENSE_ONEHOT_LEVELS` levels, which
trees take as its level codes instead (``WIDE_CATEGORIES_AS_CODES``); text columns (trainers with
``TEXT_FEATURES`` only) → TF-IDF weights of word unigrams and bigrams (:func:`tfidf_vectorizer`, sparse) → the
estimator. Fits are single calls, so a stop request is honoured only before the fit starts; the job's hard time
limit covers the rest. Saved with skops, loaded with an explicit trusted-type list (skops' defaults,
:data:`trainers.artifacts.SKOPS_TRUSTED_TYPES` and the trainer's own ``TRUSTED_TYPES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from threadpoolctl import threadpool_limits

from trainers.artifacts import skops_dump, skops_load
from trainers.base import Trainer, TrainerCapabilityError, TrainerParamError
from trainers.callbacks import Callbacks, TrainingStopped
from trainers.metrics import evaluate
from trainers.preprocess import text_values
from trainers.spec import CurveSet, FeatureSchema, Task, TrainData

# Accepted spellings of the advisor's ``scaling`` and ``imputation`` choices.
SCALERS: dict[str, type | None] = {
    "standard": StandardScaler,
    "standardize": StandardScaler,
    "standardise": StandardScaler,
    "zscore": StandardScaler,
    "z-score": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
    "none": None,
}
IMPUTERS = ("median", "mean", "most_frequent", "none")  # for numeric columns
# TF-IDF of a text column: the vocabulary keeps at most this many terms (the most frequent), and a term
# must occur in at least TFIDF_MIN_DF training texts once there are TFIDF_MIN_DF_FROM texts or more, so
# the model's width and memory stay bounded whatever the corpus size.
TFIDF_MAX_FEATURES = 50_000
TFIDF_MIN_DF = 2
TFIDF_MIN_DF_FROM = 50
# A categorical column with more training levels than this is "wide": one-hot encoding it into a dense matrix
# costs rows × levels floats (a 30,000-row table with a 3,000-level name column: 720 MB) and makes every
# split search of a forest walk those columns. Trees take a wide column as its level codes instead (a tree
# isolates any level with two splits on the code); the other models keep its one-hot, stored sparse.
MAX_DENSE_ONEHOT_LEVELS = 64
# What a model fitted on a sparse matrix keeps of it (k-NN's training rows, an SVM's support vectors): trusted by
# the trainers that keep one. skops stores it with scipy's own npz format, without pickle.
SPARSE_TRUSTED_TYPES = frozenset({"scipy.sparse._csr.csr_matrix"})
# The vectorizer's types, listed in the trusted types of every trainer that takes text columns.
TFIDF_TRUSTED_TYPES = frozenset(
    {"sklearn.feature_extraction.text.TfidfVectorizer", "sklearn.feature_extraction.text.TfidfTransformer"}
)


def scaler(params: Mapping[str, Any], default: str = "standard") -> Any:
    """The scaler named by the advisor's ``scaling`` (``default`` when absent), or None for ``"none"``."""
    value = params.get("scaling", default)
    if value is True:
        value = "standard"
    if value is False or value is None:
        value = "none"
    key = str(value).lower()
    if key not in SCALERS:
        raise TrainerParamError("scaling", f"unknown {value!r}; use one of {', '.join(SCALERS)}")
    cls = SCALERS[key]
    return None if cls is None else cls()


def imputation(params: Mapping[str, Any], model: str = "linear models") -> tuple[str, str, bool]:
    """(numeric strategy, categorical strategy, add indicators) from the advisor's ``imputation``.

    Accepts a strategy name (``"median"``) or the advisor's mapping
    ``{"numeric": "median", "categorical": "most_frequent", "add_indicator": true}``. A categorical
    strategy of ``"none"`` leaves missing/unseen levels as an all-zero one-hot row.
    """
    value = params.get("imputation", "median")
    if value is None or value is False:
        value = "none"
    if isinstance(value, str):
        numeric, categorical, indicator = value.lower(), "none", value.lower() != "none"
    elif isinstance(value, Mapping):
        extra = set(value) - {"numeric", "categorical", "add_indicator"}
        if extra:
            raise TrainerParamError("imputation", f"unknown key {sorted(extra)[0]!r}")
        numeric = str(value.get("numeric", "median")).lower()
        categorical = str(value.get("categorical", "none")).lower()
        indicator = bool(value.get("add_indicator", True))
    else:
        raise TrainerParamError("imputation", f"expected a strategy or a mapping, got {value!r}")
    if numeric == "native":
        raise TrainerParamError("imputation", f"{model} cannot route missing values natively; use 'median'")
    if numeric not in IMPUTERS:
        raise TrainerParamError("imputation", f"unknown numeric strategy {numeric!r}; use one of {', '.join(IMPUTERS)}")
    if categorical not in ("most_frequent", "none"):
        raise TrainerParamError("imputation", f"unknown categorical strategy {categorical!r}")
    return numeric, categorical, indicator


def matrix(X: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """Numeric columns as floats, categorical columns as level codes (-1 = missing or unseen)."""
    cols = []
    for spec in schema.columns:
        s = X[spec.name]
        cols.append(s.cat.codes.to_numpy(np.float64) if spec.kind == "categorical" else s.to_numpy(np.float64))
    return np.column_stack(cols) if cols else np.empty((len(X), 0))


def model_input(X: pd.DataFrame, schema: FeatureSchema) -> np.ndarray | pd.DataFrame:
    """What the Pipeline reads: :func:`matrix`, or, when the schema has text columns, a frame with the same
    numbers plus each text column as strings (the vectorizer inside the Pipeline reads the raw text)."""
    if not any(c.kind == "text" for c in schema.columns):
        return matrix(X, schema)
    data: dict[str, Any] = {}
    for spec in schema.columns:
        s = X[spec.name]
        if spec.kind == "text":
            data[spec.name] = text_values(s)
        elif spec.kind == "categorical":
            data[spec.name] = s.cat.codes.to_numpy(np.float64)
        else:
            data[spec.name] = s.to_numpy(np.float64)
    return pd.DataFrame(data, index=pd.RangeIndex(len(X)))


def tfidf_vectorizer(n_texts: int) -> TfidfVectorizer:
    """TF-IDF of word unigrams and bigrams, sublinear term frequency, capped vocabulary (float32, sparse).

    ``n_texts`` (training rows) decides the document-frequency floor: terms seen in a single text are
    dropped once there are :data:`TFIDF_MIN_DF_FROM` texts, kept below that so a tiny set has a vocabulary.
    """
    return TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=TFIDF_MIN_DF if n_texts >= TFIDF_MIN_DF_FROM else 1,
        max_features=TFIDF_MAX_FEATURES,
        sublinear_tf=True,
        strip_accents="unicode",
        dtype=np.float32,
    )


def check_class_weight(params: Mapping[str, Any], allowed: tuple[str, ...] = ("balanced",)) -> None:
    """Refuse a ``class_weight`` that is not one of ``allowed``, a mapping of label → weight, or null."""
    cw = params.get("class_weight")
    if cw is None or isinstance(cw, Mapping) or (isinstance(cw, str) and cw in allowed):
        return
    named = " or ".join(repr(a) for a in allowed)
    raise TrainerParamError("class_weight", f"expected {named}, a mapping or null, got {cw!r}")


def class_weight_codes(value: Any, schema: FeatureSchema) -> Any:
    """``class_weight`` for the estimator: a mapping's keys are class labels, the model sees their codes."""
    if not isinstance(value, Mapping):
        return value
    index = {str(label): i for i, label in enumerate(schema.classes or [])}
    unknown = [k for k in value if str(k) not in index]
    if unknown:
        raise TrainerParamError("class_weight", f"unknown class {unknown[0]!r}")
    return {index[str(k)]: float(v) for k, v in value.items()}


class SklearnPipelineTrainer(Trainer):
    """Shared pipeline, one-shot fit, curves and skops artifact of the scikit-learn trainers.

    Subclasses implement :meth:`_estimator`; ``DEFAULT_SCALING`` is the scaling used when the advisor
    sends none (``"none"`` for trees, which are invariant to feature scale), ``TRUSTED_TYPES`` the few
    types their fitted model holds beyond skops' defaults.
    """

    ARTIFACT_FORMAT = "skops"
    ITERATIVE = False
    LIBRARIES = ("sklearn", "skops", "numpy", "pandas")
    MODEL_FILE = "model.skops"
    PARAMS: ClassVar[frozenset[str]] = frozenset()
    DEFAULT_SCALING: ClassVar[str] = "standard"
    TRUSTED_TYPES: ClassVar[frozenset[str]] = frozenset()
    MODEL_KIND: ClassVar[str] = "linear models"  # how refusals name the model
    # Predict on one thread: a forest sums its trees' outputs from several threads in whatever order they
    # finish, which changes the last bit of a prediction from one call to the next.
    PREDICT_SERIAL: ClassVar[bool] = False
    # Wide categorical columns (over MAX_DENSE_ONEHOT_LEVELS levels) as level codes (trees) rather than one-hot.
    WIDE_CATEGORIES_AS_CODES: ClassVar[bool] = False
    # Whether probabilities of a fit with class weights are brought back to the data's class balance
    # (Trainer._prior_corrected). Exact for a model fit to its weighted optimum whose weights only move its
    # intercept: logistic regression. Not for a forest (unpruned leaves stay 0/1 whatever the weights: dividing
    # them over-corrects, measured), nor for the SVM (its sigmoid is already fit on unweighted labels).
    PRIOR_CORRECTION: ClassVar[bool] = False

    @classmethod
    def check_params(cls, params: Mapping[str, Any], task: Task) -> None:
        """Also refuse an ``imputation`` or ``scaling`` the pipeline cannot apply, before any data is read."""
        super().check_params(params, task)
        imputation(params, cls.MODEL_KIND)
        scaler(params, cls.DEFAULT_SCALING)

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        raise NotImplementedError

    def _pipeline(self, schema: FeatureSchema, n_rows: int = 0) -> Pipeline:
        """The preprocessing + estimator Pipeline for ``schema`` (``n_rows`` training rows: sizes TF-IDF)."""
        num = [i for i, c in enumerate(schema.columns) if c.kind not in ("categorical", "text")]
        text = [i for i, c in enumerate(schema.columns) if c.kind == "text"]
        if text and not self.TEXT_FEATURES:
            raise TrainerCapabilityError(f"{self.NAME} does not take free-text columns")
        cat = [i for i, c in enumerate(schema.columns) if c.kind == "categorical" and c.categories]
        wide = [i for i in cat if len(schema.columns[i].categories or []) > MAX_DENSE_ONEHOT_LEVELS]
        codes = wide if self.WIDE_CATEGORIES_AS_CODES else []
        onehot_cols = [i for i in cat if i not in codes]
        numeric, categorical, indicator = imputation(self.params, self.MODEL_KIND)
        steps: list[tuple[str, Any]] = []
        if numeric != "none":
            # Indicators let the model learn "value was missing" rather than trust the filled value.
            steps.append(("impute", SimpleImputer(strategy=numeric, add_indicator=indicator, keep_empty_features=True)))
        scale = scaler(self.params, self.DEFAULT_SCALING)
        if scale is not None:
            steps.append(("scale", scale))
        parts: list[tuple[str, Any, list[int] | int]] = []  # a list of column indices, or one (a text column)
        if num:
            parts.append(("numeric", Pipeline(steps) if steps else "passthrough", num))

        def fill() -> SimpleImputer:
            # Code -1 is a missing or unseen level; "most_frequent" fills it with the commonest training level.
            return SimpleImputer(missing_values=-1.0, strategy="most_frequent", keep_empty_features=True)

        if onehot_cols:
            levels = [np.arange(len(schema.columns[i].categories or []), dtype=np.float64) for i in onehot_cols]
            # Fixed categories = the training levels; code -1 (missing/unseen) is "unknown" → all zeros,
            # unless the recommendation asks to fill it with the most frequent level.
            onehot = OneHotEncoder(categories=levels, handle_unknown="ignore")
            if categorical == "most_frequent":
                parts.append(("categorical", Pipeline([("impute", fill()), ("onehot", onehot)]), onehot_cols))
            else:
                parts.append(("categorical", onehot, onehot_cols))
        if codes:
            # Level codes as they come (0..levels-1, -1 missing/unseen: a level of its own for a tree).
            parts.append(("codes", fill() if categorical == "most_frequent" else "passthrough", codes))
        for i in text:
            # A scalar column index hands the vectorizer a 1-D column of strings.
            parts.append((f"text_{i}", tfidf_vectorizer(n_rows), i))
        # TF-IDF and wide one-hot stay sparse (one column per term or level); otherwise the model gets a dense
        # matrix as before.
        sparse = bool(text) or any(i in onehot_cols for i in wide)
        pre = ColumnTransformer(parts, remainder="drop", sparse_threshold=1.0 if sparse else 0.0)
        return Pipeline([("preprocess", pre), ("model", self._estimator(schema))])

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        if self._stop(callbacks):
            raise TrainingStopped(self.partial_reason_ or "cancelled")
        schema = train.schema
        pipe = self._pipeline(schema, len(train))
        with threadpool_limits(limits=self.n_threads):
            self._fit_pipeline(pipe, model_input(train.X, schema), np.asarray(train.y), callbacks)
        if self.PREDICT_SERIAL:
            pipe.set_params(model__n_jobs=1)
        self.model_ = pipe
        self.n_rounds_ = 1
        self.best_iteration_ = 0
        self.class_weights_ = _fitted_class_weights(pipe, train) if self.PRIOR_CORRECTION else None
        tr = self._predict_output(train.X)
        va = self._predict_output(valid.X)
        task = train.task
        loss_key, metric = ("rmse", None) if task == "regression" else ("log_loss", "accuracy")
        tr_m, va_m = evaluate(task, train.y, tr)[0], evaluate(task, valid.y, va)[0]
        nan = float("nan")
        callbacks.on_round(
            0,
            {f"train-{k}": nan if v is None else v for k, v in tr_m.items()}
            | {f"valid-{k}": nan if v is None else v for k, v in va_m.items()},
        )
        self.curves_ = CurveSet(
            loss_name=loss_key,
            train_loss=[tr_m[loss_key]],
            val_loss=[va_m[loss_key]],
            metric_name=metric,
            train_metric=[tr_m[metric]] if metric else None,
            val_metric=[va_m[metric]] if metric else None,
            metric_higher_is_better=True,
            history={"train": {k: [v] for k, v in tr_m.items()}, "valid": {k: [v] for k, v in va_m.items()}},
        )

    def _fit_pipeline(self, pipe: Pipeline, X: Any, y: np.ndarray, callbacks: Callbacks) -> None:
        """Fit the Pipeline: one call here; a trainer whose estimator can be grown in parts may fit it to the time
        left (the forests)."""
        pipe.fit(X, y)

    def _predict_output(self, X: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads):
            m = model_input(X, self.schema_)
            if self.task_ == "regression":
                return np.asarray(self.model_.predict(m), dtype=np.float64)
            proba = np.asarray(self.model_.predict_proba(m), dtype=np.float64)
        k = self.schema_.n_classes or proba.shape[1]
        if proba.shape[1] != k:
            # A class missing from the training split has no column: give it probability 0.
            full = np.zeros((len(proba), k))
            full[:, self.model_.classes_.astype(int)] = proba
            proba = full
        return self._prior_corrected(proba)

    def _save_model(self, directory: Path) -> list[str]:
        skops_dump(self.model_, directory / self.MODEL_FILE, extra_trusted=self.TRUSTED_TYPES)
        return [self.MODEL_FILE]

    def _load_model(self, directory: Path) -> None:
        self.model_ = skops_load(directory / self.MODEL_FILE, extra_trusted=self.TRUSTED_TYPES)
        if self.PREDICT_SERIAL:
            return
        # The model's thread count is this process's, not the one it was trained with.
        jobs = {k: self.n_threads for k in self.model_.get_params() if k.startswith("model__") and k.endswith("n_jobs")}
        if jobs:
            self.model_.set_params(**jobs)


def _fitted_class_weights(pipe: Pipeline, train: TrainData) -> list[float] | None:
    """Per class, the weight the fitted estimator's loss gave it (its ``class_weight``: "balanced",
    "balanced_subsample" or {code: weight}), for the prior correction of its probabilities; None when it weighted
    none."""
    cw = getattr(pipe.named_steps["model"], "class_weight", None)
    if cw is None or train.task == "regression":
        return None
    k = train.schema.n_classes or int(np.max(train.y)) + 1
    if isinstance(cw, str):  # "balanced" / "balanced_subsample": the same weights in expectation
        return balanced_class_weights(np.asarray(train.y), k)
    return [float(cw.get(c, 1.0)) for c in range(k)]


def balanced_class_weights(y: np.ndarray, n_classes: int) -> list[float]:
    """The "balanced" weights scikit-learn's estimators give class codes 0..k-1 (``compute_class_weight`` over
    the classes in ``y``); a class absent from ``y`` gets 1."""
    present = np.unique(y)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return [float(w) for w in weights]
