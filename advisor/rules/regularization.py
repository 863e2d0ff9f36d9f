"""§6 Regularization in its priority order (early stopping, augmentation, dropout, L2) and epochs."""

from __future__ import annotations

from math import ceil, floor

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule, train_rows
from advisor.rules.budget import DEFAULT_BUDGET, budget_text, epoch_seconds
from advisor.text import thousands


def base_epochs(n_rows: int) -> int:
    """Upper bound on epochs when training from scratch: more passes for less data (heuristic)."""
    for limit, epochs in t.EPOCHS_BY_ROWS:
        if n_rows < limit:
            return epochs
    return t.EPOCHS_HUGE


def _nominal(ctx: Context) -> tuple[int, int, int, bool]:
    """(planned epochs, the epochs before any raise, steps per epoch, raised?), once per candidate."""
    found: tuple[int, int, int, bool] | None = ctx.cache.get("nominal_epochs")
    if found is not None:
        return found
    n_rows = ctx.profile.n_rows
    first = t.TRANSFER_EPOCHS[ctx.value("transfer")["strategy"]] if ctx.use_transfer else base_epochs(n_rows)
    n_train = train_rows(n_rows)
    steps_per_epoch = ceil(n_train / int(ctx.value("batch_size")))
    epochs = first
    raised = epochs * steps_per_epoch < t.MIN_OPTIMIZER_STEPS
    if raised:
        epochs = min(t.MAX_EPOCHS, ceil(t.MIN_OPTIMIZER_STEPS / steps_per_epoch))
    found = ctx.cache["nominal_epochs"] = (epochs, first, steps_per_epoch, raised)
    return found


def _nominal_epochs(ctx: Context) -> tuple[int, str]:
    epochs, first, steps_per_epoch, raised = _nominal(ctx)
    if ctx.use_transfer:
        strategy = ctx.value("transfer")["strategy"]
        why = f"{first} epochs for {strategy.replace('_', ' ')} (the §8 workflow)"
    else:
        why = f"at most {first} epochs for {thousands(ctx.profile.n_rows)} rows; early stopping (§6) ends sooner"
    if raised:
        why += (
            f", raised to {epochs} so that {steps_per_epoch} step(s) per epoch add up to at least "
            f"{t.MIN_OPTIMIZER_STEPS} weight updates"
        )
    return epochs, why


def _epochs_that_fit(ctx: Context) -> int:
    """The epochs the time budget allows, at least one (computed once per candidate)."""
    cache = ctx.cache
    fit: int | None = cache.get("epochs_that_fit")
    if fit is None:
        budget = ctx.constraints.time_budget_s or DEFAULT_BUDGET
        per_epoch = epoch_seconds(ctx)
        fit = cache["epochs_that_fit"] = (floor(budget / per_epoch) or 1) if per_epoch > 0 else 10**9
    return fit


class EpochsBudgetCut(Rule):
    """Fewer epochs than planned when the §13 time estimate says the plan would overrun the time budget."""

    ID = "epochs.budget_cut"
    SECTION = "§13"
    DECIDES = "epochs"
    CONDITIONS = {
        "when": "estimated seconds per epoch × planned epochs > time_budget_s",
        "epochs": "floor(time_budget_s / estimated seconds per epoch), at least 1",
    }
    EXTRAPOLATED = True

    def applies(self, ctx: Context) -> bool:
        return _epochs_that_fit(ctx) < _nominal(ctx)[0]

    def decide(self, ctx: Context) -> Decision:
        _, why = _nominal_epochs(ctx)
        fit = _epochs_that_fit(ctx)
        budget = budget_text(ctx.constraints.time_budget_s or DEFAULT_BUDGET)
        return self.make(fit, f"Planned {why}, cut to {fit} to fit the {budget} s budget (§13 time estimate).")


class Epochs(Rule):
    """An upper bound on epochs: §8's workflow for transfer, more passes for less data from scratch."""

    ID = "epochs.planned"
    SECTION = "§6"
    DECIDES = "epochs"
    CONDITIONS = {
        "from_scratch_by_rows": [{"n_rows_lt": a, "epochs": b} for a, b in t.EPOCHS_BY_ROWS]
        + [{"n_rows_gte": t.EPOCHS_BY_ROWS[-1][0], "epochs": t.EPOCHS_HUGE}],
        "transfer": t.TRANSFER_EPOCHS,
    }

    def decide(self, ctx: Context) -> Decision:
        epochs, why = _nominal_epochs(ctx)
        return self.make(epochs, why[0].upper() + why[1:] + ".", extrapolated=not ctx.use_transfer)


class EarlyStopping(Rule):
    """§6 priority 1, "Always": monitor val_loss with patience 10-20 and keep the best model (Pro tip 4)."""

    ID = "regularization.early_stopping"
    SECTION = "§6"
    DECIDES = "early_stopping"
    CONDITIONS = {
        "monitor": "val_loss",
        "patience": f"{t.EARLY_STOPPING_PATIENCE} ({t.EARLY_STOPPING_PATIENCE_LONG} when epochs ≥ 100)",
        "restore_best": True,
    }

    def __init__(self) -> None:
        super().__init__()
        # two answers (by run length), each made once and shared (read-only) by every recommendation
        self._short, self._long = (
            self.make(
                {"monitor": "val_loss", "patience": patience, "restore_best": True},
                f"Early stopping always (§6 priority 1): monitor val_loss, patience {patience}, "
                "and keep the best checkpoint, not the last (Pro tip 4).",
            )
            for patience in (t.EARLY_STOPPING_PATIENCE, t.EARLY_STOPPING_PATIENCE_LONG)
        )

    def decide(self, ctx: Context) -> Decision:
        return self._long if ctx.choices["epochs"].value >= 100 else self._short


class DropoutConv(Rule):
    """§6 "Dropout 0.2 (CNN)" on conv blocks and 0.5 on the dense head."""

    ID = "regularization.dropout_cnn"
    SECTION = "§6"
    DECIDES = "dropout"
    CONDITIONS = {"arch": "cnn", "conv": t.DROPOUT_CONV, "dense": t.DROPOUT_DENSE}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "cnn"

    def decide(self, ctx: Context) -> Decision:
        if ctx.use_transfer:
            return self.make(
                {"dense": t.DROPOUT_DENSE},
                "Dropout 0.5 before the new dense head (§6 'dense'); the pretrained conv layers keep their own design.",
            )
        return self.make(
            {"conv": t.DROPOUT_CONV, "dense": t.DROPOUT_DENSE},
            "Dropout 0.2 after conv blocks and 0.5 on dense layers (§6).",
        )


class DropoutRecurrent(Rule):
    """Between recurrent layers the conv value (0.2) is used; the cheatsheet gives no RNN value."""

    ID = "regularization.dropout_rnn"
    SECTION = "§6"
    DECIDES = "dropout"
    CONDITIONS = {"arch": "lstm", "recurrent": t.DROPOUT_RECURRENT, "dense": t.DROPOUT_DENSE}
    EXTRAPOLATED = True

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "lstm"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"recurrent": t.DROPOUT_RECURRENT, "dense": t.DROPOUT_DENSE},
            "Dropout 0.2 between "
            "recurrent layers (the cheatsheet's conv value; it gives none for RNNs) and 0.5 before the "
            "dense output (§6).",
        )


class DropoutTransformer(Rule):
    """Transformers use 0.1 (the architecture's own default); the cheatsheet gives no value for them."""

    ID = "regularization.dropout_transformer"
    SECTION = "§6"
    DECIDES = "dropout"
    CONDITIONS = {"arch": "transformer", "attention_and_ffn": t.DROPOUT_TRANSFORMER}
    EXTRAPOLATED = True

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"attention": t.DROPOUT_TRANSFORMER, "dense": t.DROPOUT_TRANSFORMER},
            "Dropout 0.1 in attention and feed-forward blocks, the Transformer's standard value (the "
            "cheatsheet gives none for transformers).",
        )


class DropoutDense(Rule):
    """§6 "Dropout 0.5 (dense)"."""

    ID = "regularization.dropout_dense"
    SECTION = "§6"
    DECIDES = "dropout"
    CONDITIONS = {"arch": "mlp", "dense": t.DROPOUT_DENSE}

    def decide(self, ctx: Context) -> Decision:
        return self.make({"dense": t.DROPOUT_DENSE}, "Dropout 0.5 after each dense layer (§6).")


class L2Transformer(Rule):
    """With AdamW the L2 term is its decoupled weight decay; no second penalty is added."""

    ID = "regularization.l2_adamw"
    SECTION = "§6"
    DECIDES = "l2"
    CONDITIONS = {"optimizer": "adamw"}

    def applies(self, ctx: Context) -> bool:
        name: str = ctx.value("optimizer")["name"]
        return name == "adamw"

    def decide(self, ctx: Context) -> Decision:
        wd = ctx.value("optimizer")["weight_decay"]
        return self.make(
            0.0, f"AdamW already applies decoupled weight decay {wd:g} (§4 'better regularization'); no extra L2 term."
        )


class L2SmallData(Rule):
    """§6 "L2 λ = 0.001-0.01": the upper end when data is small and overfitting is likelier."""

    ID = "regularization.l2_small_data"
    SECTION = "§6"
    DECIDES = "l2"
    CONDITIONS = {"n_rows_lt": t.L2_SMALL_DATA_MAX_ROWS, "lambda": t.L2_SMALL_DATA}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.n_rows < t.L2_SMALL_DATA_MAX_ROWS

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.L2_SMALL_DATA,
            f"Under {thousands(t.L2_SMALL_DATA_MAX_ROWS)} rows: L2 λ={t.L2_SMALL_DATA:g}, the "
            "upper end of §6's range, because small data overfits sooner.",
        )


class L2Default(Rule):
    """§6 "L2 λ = 0.001-0.01": the lower end for larger datasets."""

    ID = "regularization.l2_default"
    SECTION = "§6"
    DECIDES = "l2"
    CONDITIONS = {"lambda": t.L2_DEFAULT}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.L2_DEFAULT,
            f"L2 λ={t.L2_DEFAULT:g}, the lower end of §6's range for {thousands(ctx.profile.n_rows)} rows.",
        )


class AugmentImages(Rule):
    """§6 priority 2, "Data augmentation: rotation, flip, crop (images) — essential for CV"."""

    SHARED = True
    ID = "regularization.augmentation_images"
    SECTION = "§6"
    DECIDES = "augmentation"
    CONDITIONS = {"modality": "image", "transforms": ["horizontal_flip (3+ channels only)", "random_crop", "rotation"]}

    def applies(self, ctx: Context) -> bool:
        return ctx.profile.modality == "image"

    def decide(self, ctx: Context) -> Decision:
        size = ctx.profile.image_size or (224, 224, 3)
        # Single-channel images are mostly glyphs, scans and scientific images, where a mirror image is a
        # different thing (a mirrored 2 is not a 2): crop and rotate them, but do not flip.
        flip = size[2] >= 3
        value = {"horizontal_flip": flip, "random_crop": {"padding_fraction": 0.125}, "rotation_degrees": 15}
        if flip:
            return self.make(
                value,
                "Images: flip, crop and rotation augmentation (§6 priority 2, 'essential for "
                "CV'); drop the flip if orientation carries the label (text in images).",
            )
        return self.make(
            value,
            "Grayscale images: crop and rotation augmentation (§6 priority 2); no flip, "
            "because single-channel images are often glyphs whose mirror image is another class.",
        )


class NoAugmentation(Rule):
    """The cheatsheet lists augmentation for images only."""

    SHARED = True
    ID = "regularization.augmentation_none"
    SECTION = "§6"
    DECIDES = "augmentation"
    CONDITIONS = {"modality": ["tabular", "text", "sequence", "audio"]}

    def decide(self, ctx: Context) -> Decision:
        return self.make({}, f"No augmentation for {ctx.profile.modality} data: §6 lists it for images.")


class GradientClipping(Rule):
    """§10 "Exploding gradients → gradient clipping": planned up front for recurrent nets and transformers."""

    ID = "regularization.gradient_clipping"
    SECTION = "§10"
    DECIDES = "gradient_clipping"
    CONDITIONS = {"arch": ["lstm", "transformer"], "max_norm": t.GRADIENT_CLIP_NORM}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch in ("lstm", "transformer")

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"max_norm": t.GRADIENT_CLIP_NORM},
            "Recurrent and attention networks are prone to "
            f"exploding gradients: clip the gradient norm at {t.GRADIENT_CLIP_NORM:g} (§10).",
        )


class NoGradientClipping(Rule):
    """Feed-forward and conv nets with normalization rarely explode; clipping is left to diagnose (§10)."""

    ID = "regularization.gradient_clipping_none"
    SECTION = "§10"
    DECIDES = "gradient_clipping"
    CONDITIONS = {"arch": ["mlp", "cnn"]}

    def decide(self, ctx: Context) -> Decision:
        return self.make(None, "No gradient clipping up front; add it if the loss spikes or turns NaN (§10).")
