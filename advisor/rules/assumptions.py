"""Defaults for facts the caller did not give. Each fires only when its field is missing and says so."""

from __future__ import annotations

from typing import Any, ClassVar

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule


class Assume(Rule):
    """Fill one missing profile or constraint field with a stated default."""

    TARGET: ClassVar[str]  # "profile" or "constraints"
    FIELD: ClassVar[str]
    SECTION = "assumption"

    def applies(self, ctx: Context) -> bool:
        owner = ctx.profile if self.TARGET == "profile" else ctx.constraints
        return getattr(owner, self.FIELD) is None and self.relevant(ctx)

    def relevant(self, ctx: Context) -> bool:
        """Whether the field matters for this profile at all (e.g. image_size only for images)."""
        return True

    def default(self, ctx: Context) -> tuple[Any, str]:
        raise NotImplementedError

    def decide(self, ctx: Context) -> Decision:
        value, why = self.default(ctx)
        return Decision(self.DECIDES, value, self.ID, self.SECTION, why, True, self.EXTRAPOLATED)


def _assume(
    rule_id: str,
    target: str,
    field: str,
    conditions: dict[str, Any],
    default: Any,
    why: str,
    relevant: Any = None,
) -> type[Assume]:
    """Declare a simple assumption rule whose default does not depend on the context (so neither does its
    decision: made once, shared like every decision, read-only)."""
    decision = Decision(f"{target}.{field}", default, rule_id, Assume.SECTION, why, True, Assume.EXTRAPOLATED)

    def _default(self: Assume, ctx: Context) -> tuple[Any, str]:
        return default, why

    def _decide(self: Assume, ctx: Context) -> Decision:
        return decision

    def _relevant(self: Assume, ctx: Context) -> bool:
        return bool(relevant(ctx))

    return type(
        f"Assume_{field}",
        (Assume,),
        {
            "ID": rule_id,
            "DECIDES": f"{target}.{field}",
            "TARGET": target,
            "FIELD": field,
            "CONDITIONS": conditions,
            "default": _default,
            "decide": _decide,
            **({} if relevant is None else {"relevant": _relevant}),
            "__doc__": f"Assume {field} = {default!r} when it is not given.",
        },
    )


AssumeLabelFormat = _assume(
    "assume.label_format",
    "profile",
    "label_format",
    {"task": ["binary", "multiclass"]},
    "integer",
    "Label format not given: assumed integer class ids, the usual encoding.",
    lambda c: c.profile.task != "regression",
)


class AssumeMinorityShare(Assume):
    """Without a class balance, plan for balanced classes (no focal loss, no class weights)."""

    ID = "assume.minority_share"
    DECIDES = "profile.minority_share"
    TARGET = "profile"
    FIELD = "minority_share"
    CONDITIONS = {"task": ["binary", "multiclass"], "default": "1 / n_classes"}

    def relevant(self, ctx: Context) -> bool:
        return ctx.profile.task != "regression"

    def default(self, ctx: Context) -> tuple[Any, str]:
        share = round(1 / (ctx.profile.n_classes or 2), 4)
        return share, "Class balance not given: assumed balanced classes, so no imbalance handling is planned."


AssumeOutliers = _assume(
    "assume.target_outlier_share",
    "profile",
    "target_outlier_share",
    {"task": "regression"},
    0.0,
    "Share of target outliers not given: assumed none, so the standard MSE loss is planned.",
    lambda c: c.profile.task == "regression",
)
AssumeMissing = _assume(
    "assume.missing_share",
    "profile",
    "missing_share",
    {},
    0.0,
    "Share of missing values not given: assumed none.",
)
AssumeImageSize = _assume(
    "assume.image_size",
    "profile",
    "image_size",
    {"modality": "image"},
    [224, 224, 3],
    "Image size not given: assumed 224×224 RGB, the input size of the common pretrained vision models.",
    lambda c: c.profile.modality == "image",
)
AssumeSequenceLength = _assume(
    "assume.sequence_length",
    "profile",
    "sequence_length",
    {"modality": ["sequence", "audio"]},
    100,
    "Sequence length not given: assumed 100 time steps.",
    lambda c: c.profile.modality in ("sequence", "audio"),
)
AssumeTextLength = _assume(
    "assume.text_length",
    "profile",
    "text_length",
    {"modality": "text"},
    128,
    "Text length not given: assumed 128 tokens per document.",
    lambda c: c.profile.modality == "text",
)


class AssumeFeatures(Assume):
    """Without a feature count the input layer and the §13 estimates cannot be sized."""

    ID = "assume.n_features"
    DECIDES = "profile.n_features"
    TARGET = "profile"
    FIELD = "n_features"
    CONDITIONS = {"modality": ["tabular", "sequence", "audio"], "tabular_default": 20, "sequence_default": 1}

    def relevant(self, ctx: Context) -> bool:
        return ctx.profile.modality in ("tabular", "sequence", "audio")

    def default(self, ctx: Context) -> tuple[Any, str]:
        if ctx.profile.modality == "tabular":
            return 20, "Feature count not given: assumed 20 columns to size the input layer and estimates."
        return 1, "Features per time step not given: assumed one channel (a univariate series)."


AssumeInterpretability = _assume(
    "assume.interpretability_required",
    "constraints",
    "interpretability_required",
    {},
    False,
    "Interpretability not asked for: assumed not required (§9 question 3 then allows deep learning).",
)
AssumeGpu = _assume(
    "assume.gpu_available",
    "constraints",
    "gpu_available",
    {},
    False,
    "GPU availability not given: assumed CPU only.",
)
AssumePerformance = _assume(
    "assume.performance",
    "constraints",
    "performance",
    {},
    "good_enough",
    "Performance target not given: assumed 'good enough' (§9 question 5's cheaper branch).",
)
AssumeSimilarity = _assume(
    "assume.domain_similarity",
    "constraints",
    "domain_similarity",
    {"modality": ["image", "text"]},
    "medium",
    "Domain similarity to pretrained models not given: assumed medium, the middle row of the §8 table.",
    lambda c: c.profile.modality in ("image", "text"),
)
AssumeDeployment = _assume(
    "assume.deployment",
    "constraints",
    "deployment",
    {},
    "server",
    "Deployment target not given: assumed a server.",
)
AssumeTimeBudget = _assume(
    "assume.time_budget_s",
    "constraints",
    "time_budget_s",
    {"default_s": t.DEFAULT_TIME_BUDGET_S},
    t.DEFAULT_TIME_BUDGET_S,
    "Time budget not given: assumed one hour of training.",
)


class AssumeCompute(Assume):
    """Compute follows the GPU: training deep networks on CPUs only is what §9 calls limited compute."""

    ID = "assume.compute"
    DECIDES = "constraints.compute"
    TARGET = "constraints"
    FIELD = "compute"
    CONDITIONS = {"gpu_available": {"true": "ample", "false": "limited"}}

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[bool, Decision] = {}  # the decision with a GPU and without, each made once (read-only)

    def default(self, ctx: Context) -> tuple[Any, str]:
        if ctx.constraints.gpu_available:
            return "ample", "Compute not given: assumed ample because a GPU is available."
        return "limited", "Compute not given: assumed limited because no GPU is available."

    def decide(self, ctx: Context) -> Decision:
        gpu = bool(ctx.constraints.gpu_available)  # all that the default reads
        found = self._made.get(gpu)
        if found is None:
            found = self._made[gpu] = super().decide(ctx)
        return found
