"""§10 Data preparation choices every candidate carries: split, missing values, feature scaling."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule


class Split(Rule):
    """§10 "Train/val/test split": 70/15/15, stratified for classification, so the test set stays untouched."""

    SHARED = True
    ID = "data.split"
    SECTION = "§10"
    DECIDES = "split"
    CONDITIONS = {**t.SPLIT, "stratify": "classification tasks"}

    def decide(self, ctx: Context) -> Decision:
        value = {**t.SPLIT, "stratify": ctx.is_classification}
        how = "stratified by class" if ctx.is_classification else "random"
        return self.make(
            value,
            f"Train/validation/test 70/15/15, {how} (§10): validation drives early stopping, "
            "the test set is only for the final score.",
        )


class ImputeNative(Rule):
    """Gradient boosting routes missing values itself; imputing would hide the signal in missingness."""

    ID = "data.imputation_native"
    SECTION = "§10"
    DECIDES = "imputation"
    CONDITIONS = {"model": ["xgboost", "lightgbm"]}

    def applies(self, ctx: Context) -> bool:
        return ctx.model in ("xgboost", "lightgbm")

    def decide(self, ctx: Context) -> Decision:
        share = ctx.profile.missing_share or 0.0
        return self.make(
            "native",
            f"{share:.1%} of cells missing: {ctx.model} learns a default direction for "
            "missing values, so no imputation (§10 'handle missing values').",
        )


class ImputeMedian(Rule):
    """§10 "Handle missing values": median for numbers, most frequent for categories, with missing flags."""

    SHARED = True
    ID = "data.imputation_median"
    SECTION = "§10"
    DECIDES = "imputation"
    CONDITIONS = {"numeric": "median", "categorical": "most_frequent", "add_indicator": "missing_share > 0"}

    def __init__(self) -> None:
        super().__init__()
        # the answer without measured missing values reads nothing else: made once, shared (read-only)
        self._none = self.make(
            {"numeric": "median", "categorical": "most_frequent", "add_indicator": False},
            "No missing values measured; the same imputation guards unseen gaps at prediction time (§10).",
        )

    def decide(self, ctx: Context) -> Decision:
        share = ctx.profile.missing_share or 0.0
        if share > 0:
            value = {"numeric": "median", "categorical": "most_frequent", "add_indicator": True}
            return self.make(
                value,
                f"{share:.1%} of cells missing: impute the median (numbers) or the most "
                "frequent value (categories) and add missing-value indicators (§10).",
            )
        return self._none


# Tree ensembles: invariant to feature scale.
TREE_MODELS = ("xgboost", "lightgbm", "random_forest", "extra_trees")


class ScaleNative(Rule):
    """Trees split on thresholds, so feature scaling changes nothing for them."""

    ID = "data.scaling_none"
    SECTION = "§10"
    DECIDES = "scaling"
    CONDITIONS = {"model": list(TREE_MODELS)}

    def applies(self, ctx: Context) -> bool:
        return ctx.model in TREE_MODELS

    def decide(self, ctx: Context) -> Decision:
        return self.make("none", "Tree models are invariant to feature scale: no scaling needed.")


class ScaleForNetworks(Rule):
    """§10 "Normalize/scale features" for networks: standardize columns, scale pixels to [0, 1]."""

    SHARED = True
    ID = "data.scaling_networks"
    SECTION = "§10"
    DECIDES = "scaling"
    CONDITIONS = {
        "tabular|sequence|audio": "standard",
        "image": "pixels / 255 then per-channel standardize",
        "text": "tokenizer",
    }

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.modality
        if m == "image":
            return self.make(
                "unit_pixels",
                "Scale pixels to [0, 1] and standardize per channel (§10), as the pretrained models expect.",
            )
        if m == "text":
            return self.make("tokenizer", "Text is tokenized to ids; the embedding layer learns its own scale.")
        return self.make(
            "standard",
            "Standardize each numeric input to mean 0, s.d. 1 (§10 'Normalize/scale'); "
            "regression targets too, reported back in original units.",
        )
