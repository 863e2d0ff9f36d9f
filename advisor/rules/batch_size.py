"""§5 Batch size: 32 to start, full batch only for tiny data, large batches for large data."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule, train_rows
from advisor.text import thousands


class BatchFull(Rule):
    """§5 "Full dataset (Batch) — small datasets only"."""

    ID = "batch_size.full_dataset"
    SECTION = "§5"
    DECIDES = "batch_size"
    CONDITIONS = {"n_train_rows_lte": t.FULL_BATCH_MAX_ROWS}

    def applies(self, ctx: Context) -> bool:
        return _n_train(ctx) <= t.FULL_BATCH_MAX_ROWS

    def decide(self, ctx: Context) -> Decision:
        n = _n_train(ctx)
        return self.make(
            n, f"Only {n} training rows: the whole set in one batch (§5 'small datasets only').", extrapolated=True
        )


class BatchLarge(Rule):
    """§5 "Modern trend: large batches (512-4096) with LR scaling" for large data on ample compute."""

    ID = "batch_size.large"
    SECTION = "§5"
    DECIDES = "batch_size"
    CONDITIONS = {
        "n_rows_gte": t.LARGE_BATCH_MIN_ROWS,
        "compute": "ample",
        "modality": ["tabular", "sequence"],
        "transfer": False,
        "batch_size": t.LARGE_BATCH_SIZE,
    }

    def applies(self, ctx: Context) -> bool:
        return (  # the shape first: a plan for other data or for transfer leaves the rule out
            ctx.profile.modality in ("tabular", "sequence")
            and not ctx.use_transfer
            and ctx.profile.n_rows >= t.LARGE_BATCH_MIN_ROWS
            and ctx.constraints.compute == "ample"
        )

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.LARGE_BATCH_SIZE,
            f"{thousands(ctx.profile.n_rows)} rows on ample compute: batch "
            f"{t.LARGE_BATCH_SIZE} (§5 modern trend), with warmup (§4) to keep the larger steps stable.",
        )


class BatchSmallForMemory(Rule):
    """§5 "Decrease if: memory issues" — large images on limited compute; 16 keeps BatchNorm valid (§7)."""

    ID = "batch_size.memory"
    SECTION = "§5"
    DECIDES = "batch_size"
    CONDITIONS = {"image_pixels_gte": t.LARGE_IMAGE_PIXELS, "compute": "limited", "batch_size": t.SMALL_BATCH_SIZE}

    def applies(self, ctx: Context) -> bool:
        if ctx.profile.modality != "image":  # the shape alone says no: a plan for other data leaves the rule out
            return False
        size = ctx.profile.image_size
        return size is not None and size[0] * size[1] >= t.LARGE_IMAGE_PIXELS and ctx.constraints.compute == "limited"

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.SMALL_BATCH_SIZE,
            f"Large images on limited compute: batch {t.SMALL_BATCH_SIZE} to save "
            "memory (§5 'decrease if memory issues'), still ≥16 for BatchNorm (§7).",
        )


class BatchDefault(Rule):
    """§5 "Start with: 32 (good default)"."""

    ID = "batch_size.default"
    SECTION = "§5"
    DECIDES = "batch_size"
    CONDITIONS = {"batch_size": t.DEFAULT_BATCH_SIZE}

    def decide(self, ctx: Context) -> Decision:
        return self.make(
            t.DEFAULT_BATCH_SIZE, "Mini-batch of 32, the §5 starting point (balanced speed and stability)."
        )


def _n_train(ctx: Context) -> int:
    return train_rows(ctx.profile.n_rows)
