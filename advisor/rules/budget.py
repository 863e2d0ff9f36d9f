"""§13 Memory and time estimates, and the training device.

Memory follows §13 literally: 4 bytes per float32 parameter, gradients the same size as the trainable
parameters, optimizer state (Adam keeps two moments, SGD-momentum and RMSprop one), and activations =
batch size × layer size × 4 bytes summed over layers. Time is a rough FLOP count (about 2 FLOPs per
weight per sample forward, 6 with the backward pass) over an assumed throughput per device.
"""

from __future__ import annotations

from itertools import pairwise
from math import floor, isfinite
from typing import Any, NamedTuple

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule, train_rows


class Cost(NamedTuple):
    """Static cost of one candidate network (a named tuple: built for every candidate, and four times cheaper
    to build than a frozen dataclass)."""

    params: int
    trainable: int
    forward_flops: float  # per sample
    train_flops: float  # per sample, forward + backward through trainable parts
    activations: int  # floats per sample (sum of layer output sizes)


# Cost(...) without the named tuple's generated __new__ in between: the same tuple, at half the cost
_new_tuple = tuple.__new__

# The tables these estimates read, looked up once (module constants: the tables never change at run time)
_VALIDATION_SHARE = t.SPLIT["validation"]
_BYTES = t.BYTES_PER_PARAM
_SLOTS = t.OPTIMIZER_STATE_SLOTS
DEFAULT_BUDGET = t.DEFAULT_TIME_BUDGET_S


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def network_cost(ctx: Context) -> Cost:
    """Parameter, FLOP and activation counts from the chosen architecture (computed once per candidate)."""
    cost: Cost | None = ctx.cache.get("cost")
    if cost is None:
        cost = ctx.cache["cost"] = _network_cost(ctx)
    return cost


def _network_cost(ctx: Context) -> Cost:
    # the counts as _linear(a, b) = a * b + b spells them, written out (the same integers and the same float
    # operations in the same order)
    choices = ctx.choices
    arch: dict[str, Any] = choices["architecture"].value
    out = int(choices["output_units"].value)
    kind = arch["type"]
    if "backbone" in arch:
        # Counted on the backbone that really trains here (EfficientNet-Lite0 for ResNet50, ...), not the §8 name.
        m, _ = t.served_backbone(arch["backbone"])
        fwd, acts = m.forward_flops, m.activations
        if kind == "cnn":
            h, w = (arch.get("input_size") or [224, 224])[:2]
            scale = (h * w) / (224 * 224)
        else:
            scale = arch.get("max_length", 128) / 128
        head = m.feature_dim * out + out
        frac = choices["transfer"].value["unfreeze_fraction"]
        trainable = int(m.params * frac) + head
        fwd_total = fwd * scale + 2 * head
        # backward costs about twice the forward, only through the unfrozen part
        train = fwd_total + 2 * (fwd * scale * frac + 2 * head)
        return _new_tuple(Cost, (m.params + head, trainable, fwd_total, train, int(acts * scale) + out))
    if kind == "mlp":
        sizes = [arch["input_features"], *arch["hidden_units"], out]
        params = sum(_linear(a, b) for a, b in pairwise(sizes))
        acts = sum(sizes[1:])
        return _new_tuple(Cost, (params, params, 2.0 * params, 6.0 * params, acts))
    if kind == "cnn":
        h, w, c = arch["input_size"]
        k = arch["kernel_size"]
        params = 0
        flops = 0.0
        acts = 0
        for ch, pool in zip(arch["conv_channels"], arch["pool_after"], strict=False):
            p = k * k * c * ch + ch
            params += p
            flops += 2.0 * k * k * c * ch * h * w
            acts += h * w * ch
            c = ch
            if pool:
                h, w = h // 2, w // 2
        flat = h * w * c
        dense = [flat, *arch["dense_units"], out]
        dp = sum(_linear(a, b) for a, b in pairwise(dense))
        params += dp
        flops += 2.0 * dp
        acts += sum(dense[1:])
        return _new_tuple(Cost, (params, params, flops, 3 * flops, acts))
    length = arch.get("max_length", 100)
    if kind == "lstm":
        n_in = arch["embedding_dim"] if "embedding_dim" in arch else arch.get("input_size", 1)
        hdim = arch["hidden_size"]
        n_layers = arch["num_layers"]
        params = 0
        for _ in range(n_layers):
            params += 4 * (n_in * hdim + hdim * hdim + 2 * hdim)
            n_in = hdim
        step_params = params
        head = hdim * out + out
        params += head
        emb = arch.get("vocab_size", 0) * arch.get("embedding_dim", 0)
        flops = 2.0 * step_params * length + 2 * head
        acts = length * hdim * n_layers * 5 + out  # gates + state per step
        return _new_tuple(Cost, (params + emb, params + emb, flops, 3 * flops, acts))
    # transformer from scratch
    d, ff, n_layers = arch["d_model"], arch["ff_dim"], arch["n_layers"]
    per_layer = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 4 * d
    emb = arch.get("vocab_size", 0) * d
    if "input_size" in arch:
        emb += arch["input_size"] * d + d
    params = n_layers * per_layer + emb + length * d + (d * out + out)
    flops = 2.0 * (n_layers * per_layer) * length + 4.0 * n_layers * length * length * d
    acts = n_layers * length * (4 * d + ff + arch["n_heads"] * length)
    return _new_tuple(Cost, (params, params, flops, 3 * flops, acts))


def device_of(ctx: Context) -> str:
    """``gpu`` when the constraints say one is available, else ``cpu``."""
    return "gpu" if ctx.constraints.gpu_available else "cpu"


def seconds_per_epoch(ctx: Context, cost: Cost) -> float:
    """Rough seconds for one pass over the training split on the planned device."""
    # int() and max(1, ·) as floor() and ``or 1`` (the same ints for the non-negative products; half the cost)
    n_rows = ctx.profile.n_rows
    n_train = train_rows(n_rows)
    n_val = floor(n_rows * _VALIDATION_SHARE) or 1
    flops = n_train * cost.train_flops + n_val * cost.forward_flops
    return flops / t.FLOPS_PER_SECOND[device_of(ctx)]


def epoch_seconds(ctx: Context) -> float:
    """:func:`seconds_per_epoch` for the candidate's network, computed once per candidate."""
    found: float | None = ctx.cache.get("epoch_seconds")
    if found is None:
        found = ctx.cache["epoch_seconds"] = seconds_per_epoch(ctx, network_cost(ctx))
    return found


def budget_text(budget: float) -> str:
    """``f"{budget:g}"``: a budget as the reasons write it."""
    return _g(budget)


def _sig(x: float) -> float:
    """Round to three significant digits so estimates read as the rough figures they are.

    The shortest correct form: ``float(f"{x:.3g}")`` is ``round(x, 2 - floor(log10(|x|)))`` (both round the
    exact binary value half to even; tests/advisor compares them around every power of ten) at a third of
    the cost, and without the logarithm's own rounding next to a power of ten."""
    if x == 0 or not isfinite(x):
        return 0.0
    return float("%.3g" % x)  # noqa: UP031 (printf-style: the same digits as f"{x:.3g}", without __format__)


def _sig_g(x: float) -> tuple[float, str]:
    """``(_sig(x), _g(_sig(x)))``: the rounded figure and its text.

    ``%.3g`` and ``%g`` write the same digits in positional notation for the same decimal exponents (-4 to 2
    for three digits): there the text of the rounded figure is the ``%.3g`` text itself, and only an exponent
    form (a figure of 1,000 or more, or under 0.0001) is formatted again."""
    if x == 0 or not isfinite(x):
        return 0.0, "0"
    s = "%.3g" % x  # noqa: UP031
    v = float(s)
    return v, (s if "e" not in s else "%g" % v)  # noqa: UP031


def _g(x: float) -> str:
    """``f"{x:g}"``: printf-style ``%g`` gives the same text (both are ``repr``-free shortest-``g`` formatting
    of the same double) at half the cost; a recommendation formats a dozen estimates."""
    return "%g" % x  # noqa: UP031


class Device(Rule):
    """Train on the GPU when one is available (§13 timings are single-GPU), else on the CPU."""

    SHARED = True
    ID = "budget.device"
    SECTION = "§13"
    DECIDES = "device"
    CONDITIONS = {"gpu_available": {"true": "cuda", "false": "cpu"}}

    def __init__(self) -> None:
        super().__init__()
        # two answers, each made once and shared (read-only) by every recommendation, as a Fixed rule's is
        self._gpu = self.make(
            "cuda", "A GPU is available: train on it with mixed precision (§13 figures are single-GPU)."
        )
        self._cpu = self.make("cpu", "No GPU available: train on the CPU; expect §13's GPU times to be much longer.")

    def decide(self, ctx: Context) -> Decision:
        return self._gpu if ctx.constraints.gpu_available else self._cpu


class MemoryEstimate(Rule):
    """§13 Memory Requirements applied to the chosen network, batch size and optimizer."""

    ID = "budget.memory"
    SECTION = "§13"
    DECIDES = "memory_estimate"
    CONDITIONS = {
        "bytes_per_param": t.BYTES_PER_PARAM,
        "gradients": "= trainable parameters",
        "optimizer_state_slots": t.OPTIMIZER_STATE_SLOTS,
        "activations": "batch × layer size × 4 bytes",
    }

    def decide(self, ctx: Context) -> Decision:
        cost = network_cost(ctx)
        b = _BYTES
        choices = ctx.choices
        optimizer = choices["optimizer"].value["name"]
        batch = int(choices["batch_size"].value)
        params, trainable, _, _, activations = cost
        # the sum in the order the parts are listed (the same float as summing the dict's values)
        parameter_bytes, gradient_bytes = params * b, trainable * b
        optimizer_state_bytes = trainable * b * _SLOTS[optimizer]
        activation_bytes = batch * activations * b
        total = parameter_bytes + gradient_bytes + optimizer_state_bytes + activation_bytes
        mib, mib_text = _sig_g(total / 2**20)
        value: dict[str, float | str] = {
            "parameters": params,
            "trainable_parameters": trainable,
            "parameter_bytes": parameter_bytes,
            "gradient_bytes": gradient_bytes,
            "optimizer_state_bytes": optimizer_state_bytes,
            "activation_bytes": activation_bytes,
            "total_bytes": total,
            "total_mib": mib,
        }
        params_text = f"{params:,}"
        trainable_text = params_text if trainable == params else f"{trainable:,}"  # a network trained whole
        arch = choices["architecture"].value
        on = ""
        if "backbone" in arch:
            served, _ = t.served_backbone(arch["backbone"])
            value["backbone"] = served.name
            on = f"For {served.name}, the backbone that runs here, plus the new head: "
        return self.make(
            value,
            f"{on}{params_text} parameters × 4 B, gradients and {optimizer} state for {trainable_text} trainable "
            f"ones, and activations for a batch of {batch}: about {mib_text} MiB (§13).",
        )


class TimeEstimate(Rule):
    """A rough training-time estimate against the time budget (§13 gives single-GPU reference times)."""

    ID = "budget.time"
    SECTION = "§13"
    DECIDES = "time_estimate"
    CONDITIONS = {"flops_per_second": t.FLOPS_PER_SECOND, "train_flops": "≈ 6 × weights per sample (3× forward)"}

    def decide(self, ctx: Context) -> Decision:
        per_epoch = epoch_seconds(ctx)
        epochs = int(ctx.choices["epochs"].value)
        total = per_epoch * epochs
        budget = ctx.constraints.time_budget_s or DEFAULT_BUDGET
        device = device_of(ctx)
        per_epoch_sig, per_epoch_text = _sig_g(per_epoch)
        total_sig, total_text = _sig_g(total)
        within = total <= budget
        value = {
            "device": device,
            "seconds_per_epoch": per_epoch_sig,
            "max_epochs": epochs,
            "total_seconds_upper_bound": total_sig,
            "within_budget": within,
            "time_budget_s": budget,
        }
        return self.make(
            value,
            f"About {per_epoch_text} s per epoch on the {device}, at most {total_text} s for {epochs} epochs "
            f"({'within' if within else 'over'} the {budget_text(budget)} s budget; early stopping usually ends "
            "sooner). A rough FLOP-based figure.",
            extrapolated=True,
        )
