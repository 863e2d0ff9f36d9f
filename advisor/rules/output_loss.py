"""§1-§3 Output layer (units + activation), hidden activation, and the loss that matches them."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule

# --- §1 output units ---------------------------------------------------------------------------------


class OutputUnits(Rule):
    """§1 "Output Layer Size": binary 1 node, multi-class N nodes, regression 1 node."""

    SHARED = True
    ID = "output.units"
    SECTION = "§1"
    DECIDES = "output_units"
    CONDITIONS = {"binary": 1, "multiclass": "n_classes", "regression": 1}

    def decide(self, ctx: Context) -> Decision:
        p = ctx.profile
        if p.task == "multiclass":
            return self.make(p.n_classes, f"Multi-class with {p.n_classes} classes: {p.n_classes} output nodes (§1).")
        if p.task == "binary":
            return self.make(1, "Binary classification: 1 output node (§1).")
        return self.make(1, "Regression: 1 output node (§1).")


# --- §2 activations ----------------------------------------------------------------------------------


class OutputActivation(Rule):
    """§2: sigmoid for binary output, softmax for multi-class, linear for regression."""

    SHARED = True
    ID = "activation.output"
    SECTION = "§2"
    DECIDES = "output_activation"
    CONDITIONS = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}

    def decide(self, ctx: Context) -> Decision:
        task = ctx.profile.task
        act = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}[task]
        return self.make(act, f"{task.capitalize()} output → {act} (§2 Quick Selection Guide).")


class HiddenActivationTransformer(Rule):
    """§2 "Modern transformers → GELU"."""

    ID = "activation.hidden_gelu"
    SECTION = "§2"
    DECIDES = "hidden_activation"
    CONDITIONS = {"arch": "transformer"}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer"

    def decide(self, ctx: Context) -> Decision:
        return self.make("gelu", "Transformer hidden layers → GELU (§2 'Modern transformers').")


class HiddenActivationRNN(Rule):
    """§2 "RNN hidden → Tanh" (zero-centred, the LSTM's own cell activation)."""

    ID = "activation.hidden_tanh"
    SECTION = "§2"
    DECIDES = "hidden_activation"
    CONDITIONS = {"arch": "lstm"}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "lstm"

    def decide(self, ctx: Context) -> Decision:
        return self.make("tanh", "RNN hidden state → tanh (§2 'RNN hidden').")


class HiddenActivationDefault(Rule):
    """§2 "Hidden layers (default) → ReLU"; Leaky ReLU is the fix when ReLUs die (see diagnose)."""

    ID = "activation.hidden_relu"
    SECTION = "§2"
    DECIDES = "hidden_activation"
    CONDITIONS = {"arch": ["mlp", "cnn"]}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            "relu",
            "Hidden layers → ReLU, the §2 default (fast, no vanishing gradient); switch to Leaky ReLU if neurons die.",
        )


# --- §3 losses ---------------------------------------------------------------------------------------


class LossFocal(Rule):
    """§3 "Imbalanced → Focal Loss" when the rarest class is under the imbalance threshold."""

    SHARED = True
    ID = "loss.focal"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {
        "task": ["binary", "multiclass"],
        "minority_share_lt": f"{t.IMBALANCE_RATIO} / n_classes",
        "gamma": t.FOCAL_GAMMA,
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.is_imbalanced

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.minority_share or 0.0
        alpha = round(1 - m, 4) if ctx.profile.task == "binary" else None
        value = {
            "name": "focal",
            "gamma": t.FOCAL_GAMMA,
            "alpha": alpha,
            "from": "sigmoid" if ctx.profile.task == "binary" else "softmax",
        }
        return self.make(
            value,
            f"The rarest class is {m:.1%} of rows (under {ctx.imbalance_threshold:.1%}): "
            f"focal loss (§3 'Imbalanced'), γ={t.FOCAL_GAMMA:g}.",
        )


class LossBinary(Rule):
    """§3 "Binary → Binary Cross-Entropy" with a sigmoid output."""

    SHARED = True
    ID = "loss.binary_crossentropy"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {"task": "binary"}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "binary"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"name": "binary_crossentropy"}, "Binary task with a sigmoid output → binary cross-entropy (§3)."
        )


class LossSparseCategorical(Rule):
    """§3 "Multi-class (int labels) → Sparse Categorical"."""

    SHARED = True
    ID = "loss.sparse_categorical_crossentropy"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {"task": "multiclass", "label_format": "integer"}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "multiclass" and ctx.profile.label_format != "one_hot"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"name": "sparse_categorical_crossentropy"},
            "Multi-class with integer labels → sparse categorical cross-entropy (§3).",
        )


class LossCategorical(Rule):
    """§3 "Multi-class → Categorical Cross-Entropy" for one-hot labels."""

    SHARED = True
    ID = "loss.categorical_crossentropy"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {"task": "multiclass", "label_format": "one_hot"}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "multiclass"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"name": "categorical_crossentropy"}, "Multi-class with one-hot labels → categorical cross-entropy (§3)."
        )


def regression_loss_of(outlier_share: float | None, mode_share: float | None) -> str:
    """The §3 regression loss for a target: "mse", "huber" or "mae" (what :class:`LossPointMass`, :class:`LossMAE`,
    :class:`LossHuber` and :class:`LossMSE` decide, for the classical candidates' objectives)."""
    if (mode_share or 0.0) >= t.POINT_MASS_SHARE:
        return "mse"
    share = outlier_share or 0.0
    if share >= t.OUTLIER_MAE_SHARE:
        return "mae"
    if share >= t.OUTLIER_HUBER_SHARE:
        return "huber"
    return "mse"


class LossPointMass(Rule):
    """§3 "Standard → MSE" when one target value holds a large share of the rows, whatever the outlier share.

    A count with many zeros (visits, affairs, claims) is the usual case: with a quarter of the rows or more on one
    value, that value is a quartile, Tukey's fences stand on it, and the ordinary values off it count as
    "outliers". They are not errors to be robust to: they are what the mean is made of, and RMSE and R² (what a
    race selects and reports on) score the mean. MAE fits the median, which is that one value, and Huber with a
    δ from the target's robust spread nearly so. Measured on the corpus (bench/regression_loss_study.py).
    """

    SHARED = True
    ID = "loss.point_mass"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {"task": "regression", "target_mode_share_gte": t.POINT_MASS_SHARE}
    EXTRAPOLATED = True

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "regression" and (ctx.profile.target_mode_share or 0) >= t.POINT_MASS_SHARE

    def decide(self, ctx: Context) -> Decision:
        mode = ctx.profile.target_mode_share or 0
        return self.make(
            {"name": "mse"},
            f"{mode:.0%} of targets share one value (≥ {t.POINT_MASS_SHARE:.0%}, e.g. a count with many zeros): "
            "the outliers Tukey's fences find are the ordinary values off it, and MAE or Huber would fit that "
            "one value (the median) where RMSE and R² score the mean → MSE (§3 'Standard').",
        )


class LossMAE(Rule):
    """§3 "Outliers present → MAE" (robust) when many targets are outliers."""

    SHARED = True
    ID = "loss.mae"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {
        "task": "regression",
        "target_outlier_share_gte": t.OUTLIER_MAE_SHARE,
        "target_mode_share_lt": t.POINT_MASS_SHARE,
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "regression" and (ctx.profile.target_outlier_share or 0) >= t.OUTLIER_MAE_SHARE

    def decide(self, ctx: Context) -> Decision:
        s = ctx.profile.target_outlier_share or 0
        return self.make(
            {"name": "mae"},
            f"{s:.1%} of targets are outliers (≥ {t.OUTLIER_MAE_SHARE:.0%}): MAE, robust to outliers (§3).",
        )


class LossHuber(Rule):
    """§3 "Balanced → Huber" (MSE near zero, MAE in the tails) for a few outliers."""

    SHARED = True
    ID = "loss.huber"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {
        "task": "regression",
        "target_outlier_share_gte": t.OUTLIER_HUBER_SHARE,
        "target_outlier_share_lt": t.OUTLIER_MAE_SHARE,
        "target_mode_share_lt": t.POINT_MASS_SHARE,
        "delta": 1.0,
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "regression" and (ctx.profile.target_outlier_share or 0) >= t.OUTLIER_HUBER_SHARE

    def decide(self, ctx: Context) -> Decision:
        s = ctx.profile.target_outlier_share or 0
        return self.make(
            {"name": "huber", "delta": 1.0},
            f"{s:.1%} of targets are outliers: Huber balances MSE's "
            "smoothness and MAE's robustness (§3); δ=1 is one s.d. of the target (networks train on the "
            "standardized target; boosted trees get δ = the target's robust s.d. at fit time).",
        )


class LossMSE(Rule):
    """§3 "Standard → MSE" for regression targets without notable outliers."""

    SHARED = True
    ID = "loss.mse"
    SECTION = "§3"
    DECIDES = "loss"
    CONDITIONS = {
        "task": "regression",
        "target_outlier_share_lt": t.OUTLIER_HUBER_SHARE,
        "target_mode_share_lt": t.POINT_MASS_SHARE,
    }

    def decide(self, ctx: Context) -> Decision:
        return self.make({"name": "mse"}, "Regression without notable outliers → MSE (§3 'Standard').")
