"""§10 Implementation checklist tailored to the profile and the top candidate."""

from __future__ import annotations

from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.rules.data_prep import TREE_MODELS
from advisor.text import thousands


class Item(Rule):
    """A checklist line. ``decide`` returns ``{"step", "item", "detail"}`` as the value."""

    SECTION = "§10"
    DECIDES = "checklist"
    STEP = ""
    ITEM = ""

    def detail(self, ctx: Context) -> str:
        raise NotImplementedError

    def decide(self, ctx: Context) -> Decision:
        return self.make({"step": self.STEP, "item": self.ITEM, "detail": self.detail(ctx)}, self.ITEM)


def _dl(ctx: Context) -> bool:
    return ctx.family == "deep_learning"


class CheckScale(Item):
    """Networks and linear models need scaled inputs; trees do not."""

    ID = "checklist.scale"
    STEP = "1. Data preparation"
    ITEM = "Normalize/scale features"
    CONDITIONS = {"always": True}

    def detail(self, ctx: Context) -> str:
        if _dl(ctx) or ctx.model not in TREE_MODELS:
            return "Standardize inputs (fit the scaler on the training split only)."
        return f"Not needed for {ctx.model} (trees); the linear baseline standardizes its inputs."


class CheckMissing(Item):
    """Report the measured share of missing cells and what to do with it."""

    ID = "checklist.missing"
    STEP = "1. Data preparation"
    ITEM = "Handle missing values"
    CONDITIONS = {"always": True, "detail_by": "missing_share"}

    def detail(self, ctx: Context) -> str:
        share = ctx.profile.missing_share or 0.0
        if share == 0:
            return "No missing values measured; keep an imputer for gaps at prediction time."
        if ctx.model in ("xgboost", "lightgbm"):
            return f"{share:.1%} of cells missing: {ctx.model} handles them natively; impute for the baseline."
        return f"{share:.1%} of cells missing: impute (median / most frequent) and add missing indicators."


class CheckSplit(Item):
    """Hold out validation and test data before anything is fitted."""

    ID = "checklist.split"
    STEP = "1. Data preparation"
    ITEM = "Train/val/test split"
    CONDITIONS = {"always": True}

    def detail(self, ctx: Context) -> str:
        how = "stratified by class" if ctx.is_classification else "shuffled"
        n = ctx.profile.n_rows
        train, held_out = thousands(int(n * 0.7)), thousands(int(n * 0.15))
        return f"70/15/15 {how}: about {train} / {held_out} / {held_out} rows."


class CheckAugment(Item):
    """Images get augmentation (§6 priority 2)."""

    ID = "checklist.augmentation"
    STEP = "1. Data preparation"
    ITEM = "Data augmentation (if applicable)"
    CONDITIONS = {"modality": "image"}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.modality == "image"

    def detail(self, ctx: Context) -> str:
        return "Flip, crop and rotate training images only, never validation or test images."


class CheckImbalance(Item):
    """An imbalanced target changes the loss and the metric to watch."""

    ID = "checklist.imbalance"
    STEP = "1. Data preparation"
    ITEM = "Check class balance"
    CONDITIONS = {"task": ["binary", "multiclass"], "minority_share_lt": "0.2 / n_classes"}

    def applies(self, ctx: Context) -> bool:
        return ctx.is_imbalanced

    def detail(self, ctx: Context) -> str:
        return (
            f"The rarest class is {ctx.profile.minority_share:.1%} of rows: judge models by balanced accuracy, "
            "F1 and ROC AUC, not accuracy."
        )


class CheckArchitecture(Item):
    """Architecture, activations, normalization and dropout as chosen for the top candidate."""

    ID = "checklist.architecture"
    STEP = "2. Architecture design"
    ITEM = "Choose architecture, activations, normalization and dropout"
    CONDITIONS = {"family": "deep_learning"}

    def applies(self, ctx: Context) -> bool:
        return _dl(ctx)

    def detail(self, ctx: Context) -> str:
        return (
            f"{ctx.value('architecture')['type'].upper()} with {ctx.value('hidden_activation')} hidden and "
            f"{ctx.value('output_activation')} output, {ctx.value('normalization')}, dropout "
            f"{ctx.value('dropout')}."
        )


class CheckTraining(Item):
    """Loss, optimizer, learning rate and callbacks."""

    ID = "checklist.training_setup"
    STEP = "3. Training setup"
    ITEM = "Loss, optimizer, learning rate, callbacks"
    CONDITIONS = {"always": True}

    def detail(self, ctx: Context) -> str:
        if _dl(ctx):
            opt = ctx.value("optimizer")
            return (
                f"{ctx.value('loss')['name']} loss, {opt['name']} at lr {opt['learning_rate']:g}, "
                f"{ctx.value('lr_schedule')['name']} schedule, early stopping on val_loss "
                f"(patience {ctx.value('early_stopping')['patience']})."
            )
        if "early_stopping_rounds" in ctx.choices:
            return (
                f"{ctx.model} with early stopping after {ctx.value('early_stopping_rounds')} rounds without "
                "validation improvement."
            )
        return (
            f"{ctx.model} in one fit with the values above; the validation split scores it against the "
            "other candidates and the baseline."
        )


class CheckMonitor(Item):
    """Watch the curves; the service runs them through diagnose after each job."""

    ID = "checklist.monitor"
    STEP = "4. Training process"
    ITEM = "Monitor train/val curves; save the best model, not the last"
    CONDITIONS = {"always": True}

    def detail(self, ctx: Context) -> str:
        return (
            "Curves are stored per epoch/round and diagnosed (§10 'Common Training Issues'); the best "
            "checkpoint is kept."
        )


class CheckEvaluate(Item):
    """Final evaluation on held-out data, leakage check, and the baseline comparison (Pro tip 6)."""

    ID = "checklist.evaluate"
    STEP = "5. Evaluation"
    ITEM = "Test on held-out data, check for leakage, compare with the baseline"
    CONDITIONS = {"always": True}

    def detail(self, ctx: Context) -> str:
        base = "logistic regression" if ctx.is_classification else "linear (ridge) regression"
        return (
            f"Score once on the test split; a model that barely beats the {base} baseline or scores "
            "near-perfectly deserves a leakage check."
        )
