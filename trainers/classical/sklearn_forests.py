"""scikit-learn forests: random forest and extra trees, for classification and regression.

Both are the shared Pipeline of :mod:`trainers.classical.sklearn_common` without a scaler (trees split on
thresholds, so scale changes nothing): numeric columns → median imputation + missing-value indicators; categorical
columns → one-hot over the training levels, or (a column of more than ``MAX_DENSE_ONEHOT_LEVELS`` levels) its
level codes → the forest. Trees are grown in parallel on ``n_threads`` cores (``n_jobs``) and seeded with
``seed``, so a fit is reproducible; predictions run on one thread so that they are identical bit for bit however
many threads the predicting process has. Hyperparameters use scikit-learn's own names; the advisor's
``class_weight`` choice applies to classifiers only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from threadpoolctl import threadpool_limits

from trainers.base import TrainerParamError, check_int, check_number
from trainers.callbacks import Callbacks
from trainers.classical.sklearn_common import (
    SklearnPipelineTrainer,
    check_class_weight,
    class_weight_codes,
    model_input,
)
from trainers.registry import register_trainer
from trainers.spec import FeatureSchema, Task, TrainData

FOREST_PARAMS = frozenset(
    {
        "n_estimators",
        "max_features",
        "min_samples_leaf",
        "min_samples_split",
        "max_depth",
        "bootstrap",
        "max_samples",
        "criterion",
        "class_weight",
    }
)
MAX_FEATURES_NAMES = ("sqrt", "log2")
# A list of leaf sizes is a search: each candidate is grown as a bootstrapped forest of at most this many trees and
# scored on its out-of-bag rows (every tree predicts the rows its bootstrap sample left out), so the choice costs
# no rows of the training data and about one more forest of the requested size.
LEAF_SEARCH_TREES = 50
# With a deadline, a forest is grown in parts (_Forest._fit_pipeline): first this many trees per thread, timed (one
# tree of a large table can take seconds); the rest in as few calls as the time left holds at that pace, times
# TIME_SAFETY (the last trees of a call wait for the slowest thread). On a normal budget that is two calls, not one.
FIRST_TREES_PER_THREAD = 2
TIME_SAFETY = 0.8
# A refit on more rows that the time left cut short still serves when it holds at least this share of its trees:
# a forest's trees are whole models each, and more rows help it more than the last trees do.
PARTIAL_REFIT_MIN_SHARE = 0.5
# A forest's time does not end with its fit: the job saves it (skops), loads it back to check it, packs it into the
# download zip and hashes both, and a race's ensemble loads it again. That costs about 0.05 s per MB of trees on a
# 2-core machine (a 300-tree extra-trees regressor with one row per leaf on 10,000 rows is 300 MB: 17 s after a
# 4 s fit); with a deadline each tree is charged this much per MB beside its growing time.
AFTER_FIT_SECONDS_PER_MB = 0.06
LEAF_SEARCH_MAX_CANDIDATES = 8
CRITERIA = {
    "classification": ("gini", "entropy", "log_loss"),
    "regression": ("squared_error", "absolute_error", "friedman_mse", "poisson"),
}


def check_max_features(params: Mapping[str, Any]) -> None:
    """``max_features``: "sqrt", "log2", null (all), a fraction in (0, 1] or a count ≥ 1."""
    if "max_features" not in params:
        return
    v = params["max_features"]
    if v is None or v in MAX_FEATURES_NAMES:
        return
    if isinstance(v, int) and not isinstance(v, bool):
        if v >= 1:
            return
    elif isinstance(v, float) and 0.0 < v <= 1.0:
        return
    raise TrainerParamError(
        "max_features", f"expected 'sqrt', 'log2', null, a fraction in (0, 1] or a count ≥ 1, got {v!r}"
    )


def check_leaf_sizes(params: Mapping[str, Any]) -> None:
    """``min_samples_leaf``: an integer ≥ 1, or a list of them to choose from by out-of-bag error."""
    v = params.get("min_samples_leaf")
    if not isinstance(v, list | tuple):
        check_int(params, "min_samples_leaf", minimum=1)
        return
    ok = 1 <= len(v) <= LEAF_SEARCH_MAX_CANDIDATES and all(
        isinstance(x, int | np.integer) and not isinstance(x, bool) and x >= 1 for x in v
    )
    if not ok:
        raise TrainerParamError(
            "min_samples_leaf",
            f"expected an integer ≥ 1 or a list of 1 to {LEAF_SEARCH_MAX_CANDIDATES} of them to choose from, got {v!r}",
        )


def oob_score(task: Task, y: np.ndarray, forest: Any) -> float:
    """Higher is better: R² of the out-of-bag predictions (regression) or minus their log loss (classification),
    over the rows that some tree left out (a row every tree drew has no out-of-bag prediction)."""
    if task == "regression":
        pred = np.asarray(forest.oob_prediction_, dtype=np.float64).reshape(len(y))
        ok = np.isfinite(pred)
        resid = float(np.sum((y[ok] - pred[ok]) ** 2))
        total = float(np.sum((y[ok] - y[ok].mean()) ** 2))
        return 1.0 - resid / total if total > 0 else -resid
    proba = np.asarray(forest.oob_decision_function_, dtype=np.float64)
    ok = np.all(np.isfinite(proba), axis=1)
    codes = np.searchsorted(forest.classes_, y[ok])
    picked = proba[ok][np.arange(int(ok.sum())), codes]
    return float(np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def after_fit_seconds(forest: Any) -> float:
    """Seconds that saving, checking and packing one tree of ``forest`` will take once it is grown: the mean size of
    its fitted trees (nodes and their values, as skops stores them) × :data:`AFTER_FIT_SECONDS_PER_MB`."""
    from sklearn.tree._tree import NODE_DTYPE

    trees = [t.tree_ for t in forest.estimators_]
    if not trees:
        return 0.0
    value = trees[0].value  # (nodes, outputs, classes)
    per_node = NODE_DTYPE.itemsize + value.itemsize * value.shape[1] * value.shape[2]
    megabytes = sum(t.node_count for t in trees) * per_node / len(trees) / 1e6
    return megabytes * AFTER_FIT_SECONDS_PER_MB


class _Forest(SklearnPipelineTrainer):
    """Shared parameter checks and estimator construction of the two forests."""

    TASKS = frozenset({"binary", "multiclass", "regression"})
    PARAMS = FOREST_PARAMS
    DEFAULT_SCALING = "none"
    WIDE_CATEGORIES_AS_CODES = True
    MODEL_KIND = "scikit-learn forests"
    PREDICT_SERIAL = True  # trees are grown on n_threads; predictions summed in one order, bit for bit
    # Fitted trees are sklearn.tree._tree.Tree objects, which skops rebuilds from plain arrays.
    TRUSTED_TYPES: ClassVar[frozenset[str]] = frozenset({"sklearn.tree._tree.Tree"})
    CLASSIFIER: ClassVar[type]
    REGRESSOR: ClassVar[type]
    DEFAULT_BOOTSTRAP: ClassVar[bool]

    @classmethod
    def _check_param_values(cls, params: Mapping[str, Any], task: Task) -> None:
        check_int(params, "n_estimators", minimum=1)
        check_leaf_sizes(params)
        check_int(params, "min_samples_split", minimum=2)
        check_int(params, "max_depth", minimum=1, allow_none=True)
        check_max_features(params)
        if "bootstrap" in params and not isinstance(params["bootstrap"], bool):
            raise TrainerParamError("bootstrap", f"expected true or false, got {params['bootstrap']!r}")
        if params.get("max_samples") is not None:
            if not params.get("bootstrap", cls.DEFAULT_BOOTSTRAP):
                raise TrainerParamError("max_samples", "applies only with bootstrap=true")
            check_number(params, "max_samples", low=0.0, high=1.0, low_open=True)
        kind = "regression" if task == "regression" else "classification"
        criterion = params.get("criterion")
        if criterion is not None and criterion not in CRITERIA[kind]:
            raise TrainerParamError(
                "criterion", f"unknown {criterion!r} for {kind}; use one of {', '.join(CRITERIA[kind])}"
            )
        if params.get("class_weight") is not None and task == "regression":
            raise TrainerParamError("class_weight", "class weights apply to classification only")
        check_class_weight(params, ("balanced", "balanced_subsample"))

    def _estimator(self, schema: FeatureSchema) -> BaseEstimator:
        p = self.params
        common: dict[str, Any] = {
            "n_estimators": int(p.get("n_estimators", 100)),
            "max_features": p.get("max_features", "sqrt" if self.task_ != "regression" else 1.0),
            "min_samples_leaf": self._leaf_size(),
            "min_samples_split": int(p.get("min_samples_split", 2)),
            "max_depth": p.get("max_depth"),
            "bootstrap": bool(p.get("bootstrap", self.DEFAULT_BOOTSTRAP)),
            "max_samples": p.get("max_samples"),
            "n_jobs": self.n_threads,
            "random_state": self.seed,
        }
        if p.get("criterion") is not None:
            common["criterion"] = p["criterion"]
        if self.task_ == "regression":
            return self.REGRESSOR(**common)
        return self.CLASSIFIER(**common, class_weight=class_weight_codes(p.get("class_weight"), schema))

    def _fit_pipeline(self, pipe: Any, X: Any, y: np.ndarray, callbacks: Callbacks) -> None:
        """Grow the forest to fit the time left, when there is a deadline.

        A forest is one scikit-learn call that cannot look at the clock, and on a large table it ran past its
        budget until the job was killed. With a deadline, the preprocessing is fitted once and the trees are
        grown with ``warm_start``: a first few (:data:`FIRST_TREES_PER_THREAD`), timed, then as many of the rest as the
        time left holds at that pace (:data:`TIME_SAFETY`), all in one call when they fit. Each tree is also charged
        what saving it will cost (:func:`after_fit_seconds`), so that a forest of deep trees on a large table
        leaves its job the time to save it; a cross-validation fold's forest, never saved, is not. A forest stopped
        short keeps the trees grown so far and is marked partial; the trees are the same as one call's (each tree's seed
        comes from the same stream). Without a deadline it is one call.
        """
        if callbacks.time_left() is None:
            pipe.fit(X, y)
            return
        pre, forest = pipe.named_steps["preprocess"], pipe.named_steps["model"]
        total = int(forest.n_estimators)
        A = pre.fit_transform(X, y)
        started = time.monotonic()
        grown, _ = self._grow_first_trees(forest, A, y)
        # per tree: saving, checking and packing it once grown (nothing for a fold's model, which is never saved)
        after = after_fit_seconds(forest) if self.saved else 0.0
        while grown < total:
            per_tree = (time.monotonic() - started) / grown + after
            room = (callbacks.time_left() or 0.0) * TIME_SAFETY - grown * after
            fits = int(room / per_tree) if per_tree > 0 else total
            stop = callbacks.should_stop()
            if stop or fits < 1:
                self.partial_ = True
                self.partial_reason_ = callbacks.stop_reason() if stop else "time_budget"
                break
            grown = min(total, grown + fits)
            forest.set_params(n_estimators=grown)
            forest.fit(A, y)
        forest.set_params(warm_start=False)
        if grown < total:
            self.derived_params_["n_estimators_grown"] = grown

    def serves_when_partial(self) -> bool:
        """A forest out of time keeps whole trees: as a refit on more rows it serves when it holds at least
        :data:`PARTIAL_REFIT_MIN_SHARE` of them."""
        if self.partial_reason_ != "time_budget" or getattr(self, "model_", None) is None:
            return False
        grown = len(self.model_.named_steps["model"].estimators_)
        return grown >= PARTIAL_REFIT_MIN_SHARE * int(self.params.get("n_estimators", 100))

    def _grow_first_trees(self, forest: Any, A: Any, y: np.ndarray) -> tuple[int, float]:
        """Grow the first :data:`FIRST_TREES_PER_THREAD` trees per thread of ``forest`` (left warm, so that a later
        ``fit`` adds to them): how many, and the seconds per tree they took."""
        first = min(int(forest.n_estimators), FIRST_TREES_PER_THREAD * self.n_threads)
        started = time.monotonic()
        forest.set_params(warm_start=True, n_estimators=first)
        forest.fit(A, y)
        return first, (time.monotonic() - started) / first

    def _leaf_size(self) -> int:
        """The leaf size to grow: the one chosen by the search, else the requested one (a list's smallest until
        the search has run)."""
        if "min_samples_leaf" in self.tuned_params_:
            return int(self.tuned_params_["min_samples_leaf"])
        v = self.params.get("min_samples_leaf", 1)
        return int(min(v)) if isinstance(v, list | tuple) else int(v)

    def _fit(self, train: TrainData, valid: TrainData, callbacks: Callbacks) -> None:
        leaves = self.params.get("min_samples_leaf")
        if isinstance(leaves, list | tuple) and "min_samples_leaf" not in self.tuned_params_:
            started = time.monotonic()
            chosen, scores = self._leaf_by_oob(train, sorted({int(v) for v in leaves}), callbacks)
            self.tuning_s_ = time.monotonic() - started
            self.tuned_params_["min_samples_leaf"] = chosen
            self.derived_params_["min_samples_leaf"] = chosen
            self.derived_params_["min_samples_leaf_oob"] = scores
        super()._fit(train, valid, callbacks)

    def _leaf_by_oob(
        self, train: TrainData, leaves: list[int], callbacks: Callbacks | None = None
    ) -> tuple[int, dict[str, float]]:
        """The leaf size whose bootstrapped forest scores best on its out-of-bag rows (the smallest on a tie), and
        every candidate's score. Leaf size is how much each leaf averages: the regularization strength of a forest
        (cf. §6), which no rule can read off a table's shape (a noisy target wants large leaves, a clean one full
        trees), so it is measured."""
        if len(leaves) == 1:
            return leaves[0], {}
        schema = train.schema
        pre = clone(self._pipeline(schema, len(train)).named_steps["preprocess"])
        trees = min(LEAF_SEARCH_TREES, int(self.params.get("n_estimators", 100)))
        y = np.asarray(train.y)
        scores: dict[str, float] = {}
        best, best_score = leaves[0], -np.inf
        after = 0.0  # the forest's saving cost per tree, from the first candidate's first trees
        with threadpool_limits(limits=self.n_threads):
            A = pre.fit_transform(model_input(train.X, schema), y)
            forest_trees = int(self.params.get("n_estimators", 100))
            started = time.monotonic()
            for i, leaf in enumerate(leaves):
                left = callbacks.time_left() if callbacks is not None else None
                if i and left is not None:
                    # the next candidate and then the forest itself (about n_estimators / trees candidates' worth)
                    each = (time.monotonic() - started) / i
                    if left * TIME_SAFETY < each * (1 + forest_trees / trees) + after * forest_trees:
                        self.derived_params_["min_samples_leaf_search"] = (
                            f"stopped after {i} of {len(leaves)} sizes: the time left holds the forest, not more"
                        )
                        break
                est = self._estimator(schema).set_params(
                    n_estimators=trees, min_samples_leaf=leaf, bootstrap=True, oob_score=True, max_samples=None
                )
                if i == 0 and left is not None and callbacks is not None:
                    # Timed on its first trees (the smallest leaves grow the slowest trees): a search that would
                    # not leave time for the forest is not started, and the middle size is grown.
                    est.set_params(oob_score=False)  # scored once grown
                    _, per_tree = self._grow_first_trees(est, A, y)
                    after = after_fit_seconds(est)
                    need = per_tree * (trees * len(leaves) + forest_trees) + after * forest_trees
                    if (callbacks.time_left() or 0.0) * TIME_SAFETY < need:
                        middle = leaves[len(leaves) // 2]
                        self.derived_params_["min_samples_leaf_search"] = (
                            f"not run: about {need:.0f} s for the search and the forest, more than the time left; "
                            f"{middle} rows per leaf, the middle size"
                        )
                        return middle, {}
                    est.set_params(n_estimators=trees, oob_score=True)  # the rest of its trees, still warm
                est.fit(A, y)
                est.set_params(warm_start=False)
                score = oob_score(self.task_, y, est)
                scores[str(leaf)] = round(score, 6)
                if score > best_score + 1e-12:
                    best, best_score = leaf, score
        return best, scores


@register_trainer("sklearn_random_forest")
class RandomForestTrainer(_Forest):
    """Random forest: bootstrapped trees, best split among a random subset of features at each node."""

    NAME = "sklearn_random_forest"
    CLASSIFIER = RandomForestClassifier
    REGRESSOR = RandomForestRegressor
    DEFAULT_BOOTSTRAP = True


@register_trainer("sklearn_extra_trees")
class ExtraTreesTrainer(_Forest):
    """Extremely randomized trees: random split thresholds, every tree sees all rows (no bootstrap)."""

    NAME = "sklearn_extra_trees"
    CLASSIFIER = ExtraTreesClassifier
    REGRESSOR = ExtraTreesRegressor
    DEFAULT_BOOTSTRAP = False
