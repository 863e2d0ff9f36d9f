"""Classical candidates (§9 "XGBoost/LightGBM") and the Pro tip 6 baseline.

The cheatsheet names the models but sets none of their hyperparameters; where a value comes from the
library's documented defaults or common practice, the reason says so. Where a cheatsheet principle carries
over — §3's robust losses for outliers and imbalance handling, §6's early stopping and L2 — the rule cites it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.rules.output_loss import regression_loss_of
from advisor.text import thousands


def _imbalanced(ctx: Context) -> bool:
    return ctx.is_imbalanced


# §3 Huber's δ is one standard deviation of the target; a booster sees the target in its own units, so the
# trainer sets δ from the training target when it is fitted (the job result records it under derived_params).
_HUBER_SCALE = (
    " Its δ ({param}) is set when the model is fitted to the training target's robust s.d. "
    "(1.4826 × MAD), i.e. §3's δ = 1 s.d. in the target's own units; the library default 1 would "
    "treat every error above 1 as an outlier on a target in the thousands."
)


def _regression_loss(ctx: Context) -> str:
    """The §3 loss the outliers call for, or ``point_mass``: MSE because one value holds many targets."""
    if (ctx.profile.target_mode_share or 0.0) >= t.POINT_MASS_SHARE:
        return "point_mass"
    return regression_loss_of(ctx.profile.target_outlier_share, None)


def _loss_text(key: str) -> str:
    """What a ByLoss key names in a reason."""
    if key in _TASKS:
        return f"loss for a {key} task"
    if key == "point_mass":
        return (
            f"MSE choice (loss.point_mass: one value holds ≥ {t.POINT_MASS_SHARE:.0%} of the targets, so the "
            "outliers are the values off it and a robust loss would fit that one value, not the mean)"
        )
    return f"{key.upper()} choice"


_TASKS = ("binary", "multiclass")  # a ByLoss key that is a task, not a regression loss


class ByLoss(Rule):
    """A rule whose decision reads only the task, or for regression the §3 loss the outliers call for: one
    decision per such key, made once and shared (read-only) by every answer. Subclasses write ``answer``."""

    def __init__(self) -> None:
        super().__init__()
        self._answers: dict[str, Decision] = {}

    def decide(self, ctx: Context) -> Decision:
        key = ctx.profile.task if ctx.is_classification else _regression_loss(ctx)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self.answer(key)
        return found

    def answer(self, key: str) -> Decision:
        """The decision for a task ("binary", "multiclass") or a regression loss ("mse", "huber", "mae")."""
        raise NotImplementedError


class Fixed(Rule):
    """A value that does not depend on the data: a library default or common practice, stated as such."""

    VALUE: ClassVar[Any]
    WHY: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        if hasattr(self, "VALUE"):  # the decision depends on nothing: made once, shared (read-only) by every answer
            self._decision = self.make(self.VALUE, self.WHY)

    def decide(self, ctx: Context) -> Decision:
        return self._decision


def fixed(rule_id: str, section: str, key: str, value: Any, why: str, *, extrapolated: bool = True) -> type[Fixed]:
    """Declare a ``Fixed`` rule."""
    return type(
        f"Fixed_{rule_id.replace('.', '_')}",
        (Fixed,),
        {
            "ID": rule_id,
            "SECTION": section,
            "DECIDES": key,
            "VALUE": value,
            "WHY": why,
            "CONDITIONS": {"value": value},
            "EXTRAPOLATED": extrapolated,
            "SHARED": True,
            "__doc__": why,
        },
    )


# --- XGBoost -----------------------------------------------------------------------------------------

_XGB_OBJECTIVE = {
    "binary": "binary:logistic",
    "multiclass": "multi:softprob",
    "mse": "reg:squarederror",
    "point_mass": "reg:squarederror",
    "huber": "reg:pseudohubererror",
    "mae": "reg:absoluteerror",
}
_XGB_METRIC = {
    "binary": "logloss",
    "multiclass": "mlogloss",
    "mse": "rmse",
    "point_mass": "rmse",
    "huber": "mphe",
    "mae": "mae",
}


class XGBObjective(ByLoss):
    """The XGBoost objective mirrors the §3 loss table: log loss for classes, MSE/Huber/MAE by outliers."""

    ID = "xgboost.objective"
    SECTION = "§3"
    DECIDES = "objective"
    CONDITIONS = {
        "by_task_or_regression_loss": _XGB_OBJECTIVE,
        "outlier_share": {"huber_gte": t.OUTLIER_HUBER_SHARE, "mae_gte": t.OUTLIER_MAE_SHARE},
        "mode_share": {"point_mass_gte": t.POINT_MASS_SHARE},
    }

    def answer(self, key: str) -> Decision:
        return self.make(
            _XGB_OBJECTIVE[key],
            f"{_XGB_OBJECTIVE[key]}: the boosting counterpart of the §3 "
            f"{_loss_text(key)}." + (_HUBER_SCALE.format(param="huber_slope") if key == "huber" else ""),
        )


class XGBEvalMetric(ByLoss):
    """Early stopping watches the validation value of the training objective."""

    ID = "xgboost.eval_metric"
    SECTION = "§6"
    DECIDES = "eval_metric"
    CONDITIONS = {"by_task_or_regression_loss": _XGB_METRIC}

    def answer(self, key: str) -> Decision:
        return self.make(
            _XGB_METRIC[key],
            f"Validation {_XGB_METRIC[key]} is the loss early stopping monitors (§6 'monitor val_loss').",
        )


class BoostingLearningRate(Rule):
    """A smaller step (0.05) with many rounds for moderate data; 0.1 converges faster on millions of rows."""

    SHARED = True
    ID = "boosting.learning_rate"
    SECTION = "§4"
    DECIDES = "learning_rate"
    CONDITIONS = {"n_rows_lt": t.BOOSTING_LARGE_ROWS, "below": t.BOOSTING_LR_SMALL, "at_or_above": t.BOOSTING_LR_LARGE}
    EXTRAPOLATED = True

    def __init__(self) -> None:
        super().__init__()
        # the answer below the large-data gate reads nothing else: made once, shared (read-only)
        self._small = self.make(
            t.BOOSTING_LR_SMALL,
            f"Shrinkage {t.BOOSTING_LR_SMALL:g}: small steps generalize "
            "better and early stopping picks the number of rounds (common practice).",
        )

    def decide(self, ctx: Context) -> Decision:
        if ctx.profile.n_rows >= t.BOOSTING_LARGE_ROWS:
            return self.make(
                t.BOOSTING_LR_LARGE,
                f"Shrinkage {t.BOOSTING_LR_LARGE:g} for {thousands(ctx.profile.n_rows)} "
                "rows: faster convergence where data is plenty (§4 'slow convergence → higher LR').",
            )
        return self._small


class BoostingRounds(Rule):
    """An upper bound on boosting rounds; early stopping picks the real number."""

    SHARED = True
    ID = "boosting.n_estimators"
    SECTION = "§6"
    DECIDES = "n_estimators"
    CONDITIONS = {"n_estimators": t.BOOSTING_MAX_ROUNDS}
    EXTRAPOLATED = True

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.BOOSTING_MAX_ROUNDS,
            f"Up to {t.BOOSTING_MAX_ROUNDS} rounds; early stopping (§6) ends training at the best validation round.",
        )


class BoostingEarlyStopping(Rule):
    """§6 "Always: early stopping", in rounds for boosting."""

    SHARED = True
    ID = "boosting.early_stopping_rounds"
    SECTION = "§6"
    DECIDES = "early_stopping_rounds"
    CONDITIONS = {"rounds": t.BOOSTING_EARLY_STOPPING_ROUNDS}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.BOOSTING_EARLY_STOPPING_ROUNDS,
            f"Stop after {t.BOOSTING_EARLY_STOPPING_ROUNDS} rounds "
            "without validation improvement and keep the best iteration (§6 priority 1, Pro tip 4).",
        )


class NumClass(Rule):
    """Multi-class boosting needs the class count (§1 "N nodes")."""

    SHARED = True
    ID = "boosting.num_class"
    SECTION = "§1"
    DECIDES = "num_class"
    CONDITIONS = {"task": "multiclass"}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "multiclass"

    def decide(self, ctx: Context) -> Decision:
        return self.make(ctx.profile.n_classes, f"{ctx.profile.n_classes} classes, one score per class (§1).")


XGBTreeMethod = fixed(
    "xgboost.tree_method",
    "§9",
    "tree_method",
    "hist",
    "Histogram tree building: XGBoost's fastest exact-enough method on CPU and GPU.",
)
XGBMaxDepth = fixed("xgboost.max_depth", "§9", "max_depth", 6, "Depth 6, XGBoost's documented default.")
XGBSubsample = fixed(
    "xgboost.subsample",
    "§6",
    "subsample",
    0.8,
    "Row subsampling 0.8: randomness that regularizes trees (common practice, cf. §6).",
)
XGBColsample = fixed(
    "xgboost.colsample_bytree",
    "§6",
    "colsample_bytree",
    0.8,
    "Column subsampling 0.8 per tree: regularization by randomness (common practice, cf. §6).",
)
XGBMinChildWeight = fixed(
    "xgboost.min_child_weight", "§9", "min_child_weight", 1.0, "Minimum child weight 1, XGBoost's documented default."
)
XGBLambda = fixed(
    "xgboost.reg_lambda",
    "§6",
    "reg_lambda",
    1.0,
    "L2 penalty on leaf weights λ=1 (§6 'L2 regularization'; XGBoost's default).",
)

# --- LightGBM ----------------------------------------------------------------------------------------

_LGB_OBJECTIVE = {
    "binary": "binary",
    "multiclass": "multiclass",
    "mse": "regression",
    "point_mass": "regression",
    "huber": "huber",
    "mae": "regression_l1",
}
_LGB_METRIC = {
    "binary": "binary_logloss",
    "multiclass": "multi_logloss",
    "mse": "l2",
    "point_mass": "l2",
    "huber": "huber",
    "mae": "l1",
}


class LGBObjective(ByLoss):
    """The LightGBM objective mirrors the §3 loss table."""

    ID = "lightgbm.objective"
    SECTION = "§3"
    DECIDES = "objective"
    CONDITIONS = {"by_task_or_regression_loss": _LGB_OBJECTIVE}

    def answer(self, key: str) -> Decision:
        return self.make(
            _LGB_OBJECTIVE[key],
            f"{_LGB_OBJECTIVE[key]}: the boosting counterpart of the §3 "
            f"{_loss_text(key)}." + (_HUBER_SCALE.format(param="alpha") if key == "huber" else ""),
        )


class LGBMetric(ByLoss):
    """Early stopping watches the validation value of the training objective."""

    ID = "lightgbm.metric"
    SECTION = "§6"
    DECIDES = "metric"
    CONDITIONS = {"by_task_or_regression_loss": _LGB_METRIC}

    def answer(self, key: str) -> Decision:
        return self.make(
            _LGB_METRIC[key],
            f"Validation {_LGB_METRIC[key]} is the loss early stopping monitors (§6 'monitor val_loss').",
        )


LGBLeaves = fixed("lightgbm.num_leaves", "§9", "num_leaves", 31, "31 leaves, LightGBM's documented default.")
LGBMinChild = fixed(
    "lightgbm.min_child_samples",
    "§6",
    "min_child_samples",
    20,
    "At least 20 rows per leaf, LightGBM's default guard against overfitting (cf. §6).",
)
LGBFeatureFraction = fixed(
    "lightgbm.feature_fraction",
    "§6",
    "feature_fraction",
    0.8,
    "Column subsampling 0.8 per tree: regularization by randomness (common practice, cf. §6).",
)
LGBBaggingFraction = fixed(
    "lightgbm.bagging_fraction",
    "§6",
    "bagging_fraction",
    0.8,
    "Row subsampling 0.8: regularization by randomness (common practice, cf. §6).",
)
LGBBaggingFreq = fixed(
    "lightgbm.bagging_freq",
    "§6",
    "bagging_freq",
    1,
    "Resample rows every iteration (needed for bagging_fraction to apply).",
)
LGBLambda = fixed("lightgbm.lambda_l2", "§6", "lambda_l2", 1.0, "L2 penalty on leaf values λ=1 (§6 'L2').")

# --- Baselines (Pro tip 6) ---------------------------------------------------------------------------


class BaselineC(Rule):
    """Logistic regression with unit inverse regularization (scikit-learn's default L2 strength); C=10 on
    TF-IDF text inputs, whose unit-length rows need larger weights than standardized columns."""

    SHARED = True
    ID = "baseline.logistic_c"
    SECTION = "Pro tip 6"
    DECIDES = "C"
    CONDITIONS = {"C": 1.0, "text": 10.0}

    def decide(self, ctx: Context) -> Decision:
        if ctx.profile.modality == "text":
            return self.make(
                10.0,
                "C=10 (L2, §6) on TF-IDF inputs: each text is a unit-length vector over "
                "thousands of terms, so its weights must be larger than on standardized columns, "
                "and C=1 shrinks the baseline towards always predicting the majority class.",
            )
        return self.make(1.0, "C=1 (L2, §6), scikit-learn's default: a baseline is not tuned.")


class BaselineClassWeight(Rule):
    """Balanced class weights for an imbalanced target, none otherwise (§3 'Imbalanced')."""

    SHARED = True
    ID = "baseline.class_weight"
    SECTION = "§3"
    DECIDES = "class_weight"
    CONDITIONS = {"minority_share_lt": f"{t.IMBALANCE_RATIO} / n_classes", "value": "balanced if imbalanced else null"}

    def decide(self, ctx: Context) -> Decision:
        if _imbalanced(ctx):
            return self.make(
                "balanced",
                f"Minority class {ctx.profile.minority_share:.1%}: balanced class weights (§3 'Imbalanced').",
            )
        return self.make(None, "Classes are balanced enough: no class weights.")


class BaselineAlpha(Rule):
    """Ridge with α=1: linear regression with a little L2 (§6) so collinear features do not explode."""

    SHARED = True
    ID = "baseline.ridge_alpha"
    SECTION = "Pro tip 6"
    DECIDES = "alpha"
    CONDITIONS = {"alpha": 1.0}

    def decide(self, ctx: Context) -> Decision:
        return self.make(1.0, "Linear regression with L2 α=1 (§6): stable with collinear features, untuned.")


class BaselineInputs(Rule):
    """How non-tabular data becomes a feature matrix for a linear baseline."""

    SHARED = True
    ID = "baseline.input_features"
    SECTION = "Pro tip 6"
    DECIDES = "input_features"
    CONDITIONS = {
        "modality": ["image", "text", "sequence", "audio"],
        "tabular": "columns",
        "image": "flattened_pixels",
        "text": "tfidf",
        "sequence|audio": "flattened_sequence",
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.modality != "tabular"

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.modality
        value = {"tabular": "columns", "image": "flattened_pixels", "text": "tfidf"}.get(m, "flattened_sequence")
        why = {
            "columns": "the table's columns, one-hot encoding categoricals",
            "flattened_pixels": "raw pixels flattened into one vector per image",
            "tfidf": "TF-IDF word and bigram weights",
            "flattened_sequence": "the series flattened, one column per time step and channel",
        }[value]
        return self.make(value, f"Baseline inputs: {why}.")


BaselinePenalty = fixed(
    "baseline.penalty", "§6", "penalty", "l2", "L2 penalty (§6 'general regularization').", extrapolated=False
)
BaselineMaxIter = fixed(
    "baseline.max_iter",
    "Pro tip 6",
    "max_iter",
    1000,
    "Up to 1000 solver iterations so the baseline converges on scaled features.",
)
BaselineScaling = fixed(
    "baseline.scaling",
    "§10",
    "scaling",
    "standard",
    "Standardize features (§10 'Normalize/scale features'): linear models need it.",
    extrapolated=False,
)
