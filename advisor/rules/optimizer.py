"""§4 Optimizer, learning rate and learning-rate schedule."""

from __future__ import annotations

import math

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule


class OptimizerAdamW(Rule):
    """§4 "AdamW 0.001 — modern transformers" (better regularization via decoupled weight decay)."""

    ID = "optimizer.adamw_transformer"
    SECTION = "§4"
    DECIDES = "optimizer"
    CONDITIONS = {"arch": "transformer", "learning_rate": t.ADAMW_LR, "weight_decay": t.ADAMW_WEIGHT_DECAY}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer"

    def decide(self, ctx: Context) -> Decision:
        value = {"name": "adamw", "learning_rate": t.ADAMW_LR, "weight_decay": t.ADAMW_WEIGHT_DECAY}
        why = "Transformer → AdamW at 0.001 (§4, §14)."
        if ctx.use_transfer:
            why += " With a pretrained backbone, per-group learning rates from §8 apply (see transfer)."
        return self.make(value, why)


class OptimizerRMSprop(Rule):
    """§4 "RMSprop 0.001 — RNNs"."""

    ID = "optimizer.rmsprop_rnn"
    SECTION = "§4"
    DECIDES = "optimizer"
    CONDITIONS = {"arch": "lstm", "learning_rate": t.RMSPROP_LR}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "lstm"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"name": "rmsprop", "learning_rate": t.RMSPROP_LR},
            "Recurrent network → RMSprop at 0.001 (§4 'good for RNNs').",
        )


class OptimizerSGDVision(Rule):
    """§4 "SGD + Momentum — best generalization, CV" when the best model is asked and compute allows tuning."""

    ID = "optimizer.sgd_momentum_vision"
    SECTION = "§4"
    DECIDES = "optimizer"
    CONDITIONS = {
        "arch": "cnn",
        "performance": "state_of_the_art",
        "compute": "ample",
        "learning_rate": t.SGD_LR,
        "momentum": t.SGD_MOMENTUM,
    }

    def applies(self, ctx: Context) -> bool:
        c = ctx.constraints
        return ctx.arch == "cnn" and c.performance == "state_of_the_art" and c.compute == "ample"

    def decide(self, ctx: Context) -> Decision:
        value = {"name": "sgd", "learning_rate": t.SGD_LR, "momentum": t.SGD_MOMENTUM, "nesterov": True}
        return self.make(
            value,
            "Vision with state of the art asked and ample compute → SGD + momentum at 0.01 "
            "(§4: best generalization for CV, slower and needs tuning).",
        )


class OptimizerAdam(Rule):
    """§4 "Adam 0.001 — default choice"."""

    ID = "optimizer.adam_default"
    SECTION = "§4"
    DECIDES = "optimizer"
    CONDITIONS = {"learning_rate": t.ADAM_LR}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            {"name": "adam", "learning_rate": t.ADAM_LR},
            "Adam at 0.001, the §4 default (fast convergence, adaptive learning rate).",
        )


def _warmup_epochs(epochs: int) -> int:
    return max(1, math.ceil(epochs * t.WARMUP_FRACTION))


class ScheduleWarmupTransformer(Rule):
    """§4 "Warmup — large batch, transformers", followed by a cosine decay."""

    ID = "schedule.warmup_cosine"
    SECTION = "§4"
    DECIDES = "lr_schedule"
    CONDITIONS = {"arch": "transformer", "or_batch_size_gte": t.LARGE_BATCH_SIZE, "warmup_fraction": t.WARMUP_FRACTION}

    def applies(self, ctx: Context) -> bool:
        return ctx.arch == "transformer" or ctx.value("batch_size") >= t.LARGE_BATCH_SIZE

    def decide(self, ctx: Context) -> Decision:
        epochs = ctx.value("epochs")
        w = _warmup_epochs(epochs)
        why = "Transformer" if ctx.arch == "transformer" else f"Large batch ({ctx.value('batch_size')})"
        return self.make(
            {"name": "warmup_cosine", "warmup_epochs": w, "t_max_epochs": epochs},
            f"{why} → linear warmup over {w} epoch(s), then cosine annealing (§4 'Warmup').",
        )


class ScheduleSGDStep(Rule):
    """§4 "Step Decay — reduce by 0.1 every N epochs", the simple partner of SGD."""

    ID = "schedule.step_decay"
    SECTION = "§4"
    DECIDES = "lr_schedule"
    CONDITIONS = {"optimizer": "sgd", "gamma": t.STEP_DECAY_FACTOR, "step_epochs": "epochs // 3"}

    def applies(self, ctx: Context) -> bool:
        name: str = ctx.value("optimizer")["name"]
        return name == "sgd"

    def decide(self, ctx: Context) -> Decision:
        step = max(1, ctx.value("epochs") // 3)
        return self.make(
            {"name": "step", "step_epochs": step, "gamma": t.STEP_DECAY_FACTOR},
            f"SGD needs a decaying rate: step decay ×{t.STEP_DECAY_FACTOR:g} every {step} epochs (§4).",
        )


class ScheduleTransferCosine(Rule):
    """§4 "Cosine Annealing — smooth decrease" for short fine-tuning runs with fixed epochs."""

    ID = "schedule.cosine_transfer"
    SECTION = "§4"
    DECIDES = "lr_schedule"
    CONDITIONS = {"transfer": True}

    def applies(self, ctx: Context) -> bool:
        return ctx.use_transfer

    def decide(self, ctx: Context) -> Decision:
        epochs = ctx.value("epochs")
        return self.make(
            {"name": "cosine", "t_max_epochs": epochs},
            f"A short {epochs}-epoch transfer run: cosine annealing lowers the rate smoothly to the end (§4).",
        )


class SchedulePlateau(Rule):
    """§4 "ReduceLROnPlateau — adaptive": reduce when validation stops improving."""

    ID = "schedule.reduce_on_plateau"
    SECTION = "§4"
    DECIDES = "lr_schedule"
    CONDITIONS = {"factor": t.PLATEAU_FACTOR, "patience": "early-stopping patience // 2"}

    def __init__(self) -> None:
        super().__init__()
        # the answer per early-stopping patience (one of the tables' two), made once and shared (read-only)
        self._by_patience: dict[int, Decision] = {}

    def decide(self, ctx: Context) -> Decision:
        stopping_patience = ctx.choices["early_stopping"].value["patience"]
        found = self._by_patience.get(stopping_patience)
        if found is None:
            patience = max(2, stopping_patience // 2)
            found = self._by_patience[stopping_patience] = self.make(
                {"name": "reduce_on_plateau", "monitor": "val_loss", "factor": t.PLATEAU_FACTOR, "patience": patience},
                f"Reduce the rate ×{t.PLATEAU_FACTOR:g} when validation loss stalls for {patience} epochs "
                "(§4 'adaptive'), before early stopping gives up.",
            )
        return found
