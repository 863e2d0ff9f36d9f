"""§8 Transfer learning: strategy by dataset size × domain similarity, layer learning rates, backbone."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.text import thousands


def size_bucket(n_rows: int) -> str:
    """The §8 dataset-size row: small (<1K), medium (1K-10K) or large (>10K)."""
    if n_rows < t.TRANSFER_SMALL_MAX_ROWS:
        return "small"
    if n_rows <= t.TRANSFER_MEDIUM_MAX_ROWS:
        return "medium"
    return "large"


def transfer_cell(n_rows: int, similarity: str) -> t.TransferCell:
    """Look up the §8 cell for a size and a similarity (all nine cells are defined)."""
    size = size_bucket(n_rows)
    for cell in t.TRANSFER_TABLE:
        if cell.size == size and cell.similarity == similarity:
            return cell
    raise LookupError(f"no transfer cell for {size}/{similarity}")  # unreachable: the table is complete


def pretrained_choice(ctx: Context) -> tuple[str, str]:
    """Pick a §8 "Popular Pre-trained Models" row by domain and deployment target; returns (name, why)."""
    c = ctx.constraints
    if ctx.profile.modality == "image":
        if c.deployment in ("mobile", "edge"):
            return "MobileNet", f"MobileNet is the §8 choice for {c.deployment} deployment"
        if c.compute == "limited":
            return "EfficientNet", "EfficientNet gives the best accuracy per unit of compute (§8) on limited compute"
        if c.performance == "state_of_the_art":
            return "EfficientNet", "EfficientNet gives the best accuracy/efficiency (§8)"
        return "ResNet50", "ResNet50 is the §8 general baseline for vision on a server"
    if c.deployment in ("mobile", "edge") or c.compute == "limited":
        return "DistilBERT", "DistilBERT is the faster, smaller BERT (§8) for limited compute or small devices"
    return "BERT", "BERT is the §8 model for text understanding on a server"


class TransferPlan(Rule):
    """Plan transfer learning from a pretrained backbone: strategy, unfrozen share, per-group LRs, model."""

    ID = "transfer.strategy"
    SECTION = "§8"
    DECIDES = "transfer"
    CONDITIONS = {
        "applies_to": "image and text candidates built on a pretrained backbone",
        "transfer": True,
        "size_rows": {
            "small": f"< {t.TRANSFER_SMALL_MAX_ROWS}",
            "medium": f"{t.TRANSFER_SMALL_MAX_ROWS}-{t.TRANSFER_MEDIUM_MAX_ROWS}",
            "large": f"> {t.TRANSFER_MEDIUM_MAX_ROWS}",
        },
        "table": [
            {
                "size": c.size,
                "similarity": c.similarity,
                "strategy": c.strategy,
                "unfreeze_fraction": c.unfreeze_fraction,
                "extrapolated": c.extrapolated,
            }
            for c in t.TRANSFER_TABLE
        ],
        "layer_learning_rates": t.LAYER_LEARNING_RATES,
        "runs_here": {
            s.recommended: {
                "backbone": t.SERVED_BACKBONES[s.served].name,
                "parameters": t.SERVED_BACKBONES[s.served].params,
                "why": s.why,
            }
            for s in t.BACKBONE_SUBSTITUTES.values()
        },
    }

    def applies(self, ctx: Context) -> bool:
        return ctx.use_transfer

    def decide(self, ctx: Context) -> Decision:
        sim = ctx.constraints.domain_similarity or "medium"
        cell = transfer_cell(ctx.profile.n_rows, sim)
        name, why_model = pretrained_choice(ctx)
        served, sub = t.served_backbone(name)
        lrs = dict(t.LAYER_LEARNING_RATES)
        groups = {
            "feature_extraction": {"backbone": "frozen", "head": "head"},
            "fine_tuning": {"bottom": "frozen", "top": "middle", "head": "head"},
            "full_fine_tuning": {"early": "early", "late": "middle", "head": "head"},
        }[cell.strategy]
        value = {
            "strategy": cell.strategy,
            "unfreeze_fraction": cell.unfreeze_fraction,
            "layer_learning_rates": {g: lrs[k] for g, k in groups.items()},
            "pretrained_model": name,
            "pretrained_params": t.PRETRAINED_MODELS[name].params,
            "runs_here": {
                "backbone": served.name,
                "runtime_name": served.runtime_name,
                "parameters": served.params,
                "why": sub.why,
            },
            "size_bucket": cell.size,
            "domain_similarity": sim,
        }
        cell_note = " (an extrapolated cell: the cheatsheet lists only the diagonal)" if cell.extrapolated else ""
        reason = (
            f"{thousands(ctx.profile.n_rows)} samples is {cell.size} and similarity is {sim}: "
            f"{cell.strategy.replace('_', ' ')}, {cell.unfreeze_fraction:.0%} of layers unfrozen"
            f"{cell_note}; {cell.why}. {why_model}. {name} recommended; {served.name} "
            f"({served.params / 1e6:.1f}M parameters) will run here because {name}'s weights do not ship with "
            f"this service and {served.name} is {sub.why}; the §13 estimates count {served.name}."
        )
        return self.make(value, reason, extrapolated=cell.extrapolated)


class NoTransfer(Rule):
    """Train from scratch when §8's pretrained-model table has nothing for the modality or the plan."""

    ID = "transfer.none"
    SECTION = "§8"
    DECIDES = "transfer"
    CONDITIONS = {"applies_to": "candidates without a pretrained backbone"}

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.modality
        if m in ("image", "text"):
            why = (
                "Trained from scratch as the alternative to the transfer-learning candidate, so the two can "
                "be compared."
            )
            if m == "image" and ctx.profile.image_size and min(ctx.profile.image_size[:2]) < 32:
                why = (
                    "Images smaller than 32 px are far from the inputs pretrained vision models saw: "
                    "trained from scratch."
                )
        else:
            why = f"§8 lists no pretrained models for {m} data: trained from scratch."
        return self.make({"strategy": "none", "unfreeze_fraction": 1.0}, why)
