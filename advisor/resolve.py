"""Resolve a profile and constraints: fill every missing field with its assumption's stated default.

The assumptions run in policy order (``policy.ASSUMPTIONS``); each fires when its field is missing and it is
relevant to the data. Per shape of the data (modality and task), as for the candidates' rule chains
(:mod:`advisor.chains`): a relevance test that read only the shape is answered once (an assumption that can never
fire for the shape is left out of its plan), and a decision that read only the shape is made once and handed out
(the engine shares Decisions; nothing changes one once made). What each read is recorded on the shape's first
profile that needs it (``read_only_shape``); one that read anything else (a count, a constraint) runs every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from advisor import policy
from advisor.chains import read_only_shape
from advisor.profile import Constraints, DatasetProfile
from advisor.recommendation import Decision, adopt_whole, whole
from advisor.rules.assumptions import Assume
from advisor.rules.base import Context, Rule, new_context, plain, plain_fields


class _Step:
    """One assumption in a shape's plan: its field, where the field lives, its test (None once it is known to
    hold for the shape), and its decision (``made`` once it is known to read only the shape)."""

    __slots__ = ("applies", "decide", "field", "made", "on_profile", "probed")

    def __init__(self, rule: Rule) -> None:
        assert isinstance(rule, Assume)
        applies: Callable[[Context], bool] | None
        if type(rule).applies is not Assume.applies:
            applies = rule.applies
        else:  # Assume.applies = the field is missing (checked by the caller) and relevant
            applies = None if type(rule).relevant is Assume.relevant else rule.relevant
        self.field: str = rule.FIELD
        self.on_profile: bool = rule.TARGET == "profile"
        self.applies: Callable[[Context], bool] | None = applies
        self.decide: Callable[[Context], Decision] = rule.decide
        self.made: Decision | None = None
        self.probed = False  # whether ``decide`` ran once and was found to read more than the shape

    def decision(self, ctx: Context) -> Decision:
        """The assumption's decision: made once for the shape where it reads nothing else."""
        if self.probed:
            return self.decide(ctx)
        d, fixed = read_only_shape(self.decide, ctx)
        if fixed:
            self.made = d
        self.probed = True
        return d


_PROFILE_FIELDS, _CONSTRAINT_FIELDS = whole(DatasetProfile), whole(Constraints)  # every field: given_p/c hold all
_PLANS: dict[tuple[str, str], tuple[tuple[Rule, ...], tuple[_Step, ...]]] = {}


def _plan(ctx: Context) -> tuple[_Step, ...]:
    """The assumptions that can fire for the shape of ``ctx.profile`` (the policy's tuple never changes)."""
    rules = policy.ASSUMPTIONS
    shape = (ctx.profile.modality, ctx.profile.task)
    found = _PLANS.get(shape)
    if found is not None and found[0] is rules:
        return found[1]
    steps = []
    for rule in rules:
        step = _Step(rule)
        if step.applies is not None:
            relevant, fixed = read_only_shape(step.applies, ctx)  # a test reads, never writes: safe to ask early
            if fixed:
                if not relevant:
                    continue  # never for this shape
                step.applies = None
        steps.append(step)
    plan = tuple(steps)
    _PLANS[shape] = (rules, plan)
    return plan


def resolved(profile: DatasetProfile, constraints: Constraints) -> tuple[DatasetProfile, Constraints, list[Decision]]:
    """The profile and constraints with every missing field filled, and the decisions that say what was assumed."""
    p, c, assumed, _ = resolved_context(profile, constraints)
    return p, c, assumed


def resolved_context(
    profile: DatasetProfile, constraints: Constraints
) -> tuple[DatasetProfile, Constraints, list[Decision], Context]:
    """:func:`resolved`, and the context the rules read: the resolved fields through plain objects
    (:func:`advisor.rules.base.plain`; those that the assumptions read reused where nothing was filled in)."""
    # the rules read the fields through plain objects (advisor.rules.base.plain)
    ctx = new_context(plain(profile), plain(constraints))
    assumed: list[Decision] = []
    p_updates: dict[str, Any] = {}
    c_updates: dict[str, Any] = {}
    given_p, given_c = profile.__dict__, constraints.__dict__
    for step in _plan(ctx):
        field, on_profile, applies = step.field, step.on_profile, step.applies
        if (given_p if on_profile else given_c)[field] is not None or (applies is not None and not applies(ctx)):
            continue  # given (no assumption reads a field a caller gave), or not relevant here
        d = step.made or step.decision(ctx)
        assumed.append(d)
        if on_profile:
            p_updates[field] = tuple(d.value) if field == "image_size" else d.value
        else:
            c_updates[field] = d.value
            if field == "gpu_available":  # the compute assumption reads it next (the fields, not a model yet)
                ctx.constraints = plain_fields({**given_c, **c_updates})
    # the inputs were validated on the way in and the defaults are valid values: no re-validation
    if p_updates:
        profile = adopt_whole(DatasetProfile, {**given_p, **p_updates}, _PROFILE_FIELDS)
        ctx.profile = plain(profile)
    if c_updates:
        constraints = adopt_whole(Constraints, {**given_c, **c_updates}, _CONSTRAINT_FIELDS)
        ctx.constraints = plain(constraints)
    return profile, constraints, assumed, ctx
