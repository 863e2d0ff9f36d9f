"""How each model treats an imbalanced classification target (§3 'Imbalanced'): balanced class weights where they
help (the linear models, forests and the SVM), none in the boosters, where the corpus measured them not to.

The imbalance test is the profile's: the rarest class under ``IMBALANCE_RATIO / n_classes`` of the rows. The
evidence is ``bench/imbalance_study.py``'s (corpus tables cut to 5% and 2% positives): weighting lowered the
boosters' held-out ROC AUC or left it level, and raised the random forest's a little (0.886 → 0.888, 0.873 →
0.881).
"""

from __future__ import annotations

from typing import Any, ClassVar

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule


class BalancedClassWeight(Rule):
    """Balanced class weights for an imbalanced target (§3 'Imbalanced'), none otherwise; classification only.

    Subclasses set ``ID`` and ``HOW`` (what the weights do in that model, for the reason)."""

    SHARED = True
    SECTION = "§3"
    DECIDES = "class_weight"
    CONDITIONS = {
        "task": ["binary", "multiclass"],
        "minority_share_lt": f"{t.IMBALANCE_RATIO} / n_classes",
        "value": "balanced if imbalanced else null",
    }
    HOW: ClassVar[str]

    def applies(self, ctx: Context) -> bool:
        return ctx.is_classification

    def decide(self, ctx: Context) -> Decision:
        if ctx.is_imbalanced:
            return self.make(
                "balanced",
                f"The minority class is {ctx.profile.minority_share:.1%} of rows: {self.HOW} (§3 'Imbalanced').",
            )
        return self.make(None, "Classes are balanced enough: no class weights (§3).")


class BoostingUnweighted(Rule):
    """Binary imbalance: a booster's classes stay unweighted, as measured on the corpus (bench/imbalance_study.py).

    Subclasses set ``ID``, ``DECIDES``, the library's no-weights ``VALUE`` and ``MEASURED`` (what weighting did
    to the held-out ROC AUC, with the figures)."""

    SECTION = "§3"
    VALUE: ClassVar[Any]
    MEASURED: ClassVar[str]

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.task == "binary" and ctx.is_imbalanced

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            self.VALUE,
            f"The minority class is {ctx.profile.minority_share:.1%} of rows, yet the classes stay unweighted: the "
            "race ranks by ROC AUC and the model serves probabilities, and on corpus tables cut to 5% and 2% "
            f"positives (bench/imbalance_study.py) weighting them {self.MEASURED}. §3's imbalance losses are for "
            "networks; the rare class's probabilities stay calibrated here.",
        )


class XGBScalePosWeight(BoostingUnweighted):
    """Binary imbalance: positives keep weight 1 (weighting them lowered XGBoost's held-out ROC AUC)."""

    ID = "xgboost.scale_pos_weight"
    DECIDES = "scale_pos_weight"
    VALUE = 1.0
    CONDITIONS = {"task": "binary", "minority_share_lt": f"{t.IMBALANCE_RATIO} / n_classes", "value": VALUE}
    MEASURED = "lowered the held-out ROC AUC at both shares (unweighted 0.860 and 0.872, weighted 0.850 and 0.813)"


class LGBUnbalance(BoostingUnweighted):
    """Binary imbalance: ``is_unbalance`` stays off (it gained nothing at 5% positives and lost at 2%)."""

    ID = "lightgbm.is_unbalance"
    DECIDES = "is_unbalance"
    VALUE = False
    CONDITIONS = {"task": "binary", "minority_share_lt": f"{t.IMBALANCE_RATIO} / n_classes", "value": VALUE}
    MEASURED = (
        "left the held-out ROC AUC level at 5% and lowered it at 2% (unweighted 0.886 and 0.888, is_unbalance "
        "0.887 and 0.870)"
    )
