"""A rule's declared ``CONDITIONS`` (what ``GET /v1/rules`` shows) say when it fires, checked over a grid.

``CONDITIONS`` mixes gates (``"task": "binary"``, ``"n_rows_gte": 100000``) with the values and tables a rule
decides by (``"learning_rate": 0.001``, ``"below": ...``); :data:`GATES` is the vocabulary of gates. Over a
grid of contexts, for every rule of the policy, the conjunction of its gates must equal whether it fires:

- a rule of a candidate chain, where the chain runs (networks, or its one classical model) and no earlier
  rule of the chain fired: a chain reads as if/elif, so a last rule with no gates is the "otherwise";
- an assumption: whether the field matters (its ``relevant``; ``applies`` adds "the field is missing");
- a family question or a checklist item: ``applies``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from advisor import policy
from advisor.engine import _dl_options, _resolve
from advisor.profile import Constraints, DatasetProfile
from advisor.rules.assumptions import Assume
from advisor.rules.base import Context, Rule
from advisor.rules.batch_size import _n_train

Gate = Callable[[Context, Any], bool]


def _one_of(get: Callable[[Context], Any]) -> Gate:
    return lambda ctx, want: get(ctx) in (want if isinstance(want, list) else [want])


def _pixels(ctx: Context) -> int:
    size = ctx.profile.image_size
    return 0 if size is None else size[0] * size[1]


GATES: dict[str, Gate] = {
    "always": lambda ctx, want: bool(want),
    "task": _one_of(lambda c: c.profile.task),
    "modality": _one_of(lambda c: c.profile.modality),
    "label_format": _one_of(lambda c: c.profile.label_format),
    "arch": _one_of(lambda c: c.arch),
    "model": _one_of(lambda c: c.model),
    "family": _one_of(lambda c: c.family),
    "compute": _one_of(lambda c: c.constraints.compute),
    "performance": _one_of(lambda c: c.constraints.performance),
    "transfer": lambda ctx, want: ctx.use_transfer is want,
    "optimizer": _one_of(lambda c: c.value("optimizer")["name"]),
    "n_rows_gte": lambda ctx, n: ctx.profile.n_rows >= n,
    "n_rows_lt": lambda ctx, n: ctx.profile.n_rows < n,
    "batch_size_gte": lambda ctx, n: ctx.value("batch_size") >= n,
    "batch_size_lt": lambda ctx, n: ctx.value("batch_size") < n,
    "image_pixels_gte": lambda ctx, n: _pixels(ctx) >= n,
    "minority_share_lt": lambda ctx, _formula: ctx.is_imbalanced,
    "n_train_rows_lte": lambda ctx, n: _n_train(ctx) <= n,
    "target_outlier_share_gte": lambda ctx, x: (ctx.profile.target_outlier_share or 0.0) >= x,
    "target_outlier_share_lt": lambda ctx, x: (ctx.profile.target_outlier_share or 0.0) < x,
    "target_mode_share_gte": lambda ctx, x: (ctx.profile.target_mode_share or 0.0) >= x,
    "target_mode_share_lt": lambda ctx, x: (ctx.profile.target_mode_share or 0.0) < x,
}


def gates_of(rule: Rule) -> dict[str, Any]:
    """The gates among a rule's conditions: known keys (``or_`` for an alternative) with a plain value."""
    conditions = dict(rule.CONDITIONS)
    if "below" in conditions or "at_or_above" in conditions:  # the threshold picks between two values
        conditions.pop("n_rows_lt", None)
    if " if " in str(conditions.get("value", "")):  # "balanced if imbalanced else null": picks the value
        conditions.pop("minority_share_lt", None)
    return {
        key: value
        for key, value in conditions.items()
        if key.removeprefix("or_") in GATES and not isinstance(value, dict)
    }


def declared(rule: Rule, ctx: Context) -> bool:
    """Whether the rule's gates hold: all the plain ones, or any ``or_`` one."""
    gates = gates_of(rule)
    holds = {key: GATES[key.removeprefix("or_")](ctx, want) for key, want in gates.items()}
    alternatives = [ok for key, ok in holds.items() if key.startswith("or_")]
    return all(ok for key, ok in holds.items() if not key.startswith("or_")) or any(alternatives)


Case = tuple[str, Rule, list[Context], Callable[[Context], bool]]


def _profiles(n: int = 800, seed: int = 7) -> list[Context]:
    """Resolved contexts (the assumptions applied) for a seeded grid of profiles and constraints."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        task = rng.choice(["binary", "multiclass", "regression"])
        modality = rng.choice(["tabular", "image", "text", "sequence", "audio"])
        n_classes = None if task == "regression" else (2 if task == "binary" else rng.choice([3, 10]))
        profile = DatasetProfile(
            modality=modality,
            task=task,
            n_rows=rng.choice([20, 40, 500, 5_000, 50_000, 200_000, 2_000_000]),
            n_classes=n_classes,
            label_format=None if task == "regression" else rng.choice([None, "integer", "one_hot"]),
            minority_share=None if task == "regression" else rng.choice([None, 0.01, 0.3 / n_classes, 0.5]),
            target_outlier_share=None if task != "regression" else rng.choice([None, 0.0, 0.01, 0.05, 0.1, 0.3]),
            target_mode_share=None if task != "regression" else rng.choice([None, 0.01, 0.25, 0.7]),
            image_size=rng.choice([None, (28, 28, 1), (224, 224, 3), (512, 512, 3)]) if modality == "image" else None,
        )
        constraints = Constraints(
            compute=rng.choice([None, "limited", "ample"]),
            performance=rng.choice([None, "good_enough", "state_of_the_art"]),
            interpretability_required=rng.choice([None, True, False]),
            gpu_available=rng.choice([None, True, False]),
            time_budget_s=rng.choice([None, 60.0, 3600.0]),
        )
        ctx, _assumed = _resolve(profile, constraints)
        ctx.family = rng.choice(["classical", "deep_learning"])
        out.append(ctx)
    return out


def _candidates(base: Context) -> list[tuple[str, Context]]:
    """Each candidate the engine would build on ``base``: its chains' name and its fresh context."""
    out = [
        (name, replace(base, family="classical", model=name, choices={}, cache={}))
        for name in policy.CANDIDATE_CHAINS
        if name != "deep_learning"
    ]
    for arch, transfer, _summary in _dl_options(base):
        dl = replace(base, family="deep_learning", arch=arch, model=arch, use_transfer=transfer, choices={}, cache={})
        out.append(("deep_learning", dl))
    return out


def _cases() -> list[Case]:
    """(name, rule, the contexts that reach it, whether it fires) for every rule where the policy uses it.

    A chain's contexts are taken as the engine runs it: every earlier chain of the candidate has decided.
    """
    cases: list[Case] = [
        (rule.ID, rule, BASES, rule.relevant) for rule in policy.ASSUMPTIONS if isinstance(rule, Assume)
    ]
    cases += [(rule.ID, rule, BASES, rule.applies) for rule in [*policy.FAMILY, *policy.CHECKLIST]]
    reached: dict[tuple[str, str, int], list[Context]] = defaultdict(list)
    for base in BASES:
        for name, ctx in _candidates(base):
            for key, rules in policy.CANDIDATE_CHAINS[name]:
                for i, rule in enumerate(rules):
                    snapshot = replace(ctx, choices=dict(ctx.choices), cache=dict(ctx.cache))
                    reached[name, key, i].append(snapshot)
                    if rule.applies(ctx):
                        ctx.choices[key] = rule.decide(ctx)
                        break
    for name, chains in policy.CANDIDATE_CHAINS.items():
        for key, rules in chains:
            cases += [(f"{name}:{r.ID}", r, reached[name, key, i], r.applies) for i, r in enumerate(rules)]
    return cases


BASES = _profiles()
CASES = _cases()
# Rules whose condition is a computed estimate, said in words ("when": ...): checked to fire only sometimes.
IN_WORDS = "when"


@pytest.mark.parametrize(("name", "rule", "contexts", "fires"), CASES, ids=[c[0] for c in CASES])
def test_declared_conditions_say_when_the_rule_fires(
    name: str, rule: Rule, contexts: list[Context], fires: Callable[[Context], bool]
) -> None:
    # No contexts: an earlier rule of the chain always fires for this candidate (a dead end, not a mismatch).
    if IN_WORDS in rule.CONDITIONS:
        assert not contexts or {fires(ctx) for ctx in contexts} == {True, False}
        return
    wrong = [ctx for ctx in contexts if fires(ctx) != declared(rule, ctx)]
    assert not wrong, (
        f"{name}: CONDITIONS {gates_of(rule)} differ from when it fires on {len(wrong)} of {len(contexts)} "
        f"contexts, e.g. {wrong[0].profile!r} {wrong[0].constraints!r} arch={wrong[0].arch} model={wrong[0].model} "
        f"transfer={wrong[0].use_transfer} choices={ {k: d.value for k, d in wrong[0].choices.items()} } "
        f"-> fires={fires(wrong[0])}"
    )


def test_the_grid_reaches_every_rule() -> None:
    assert {rule.ID for _name, rule, contexts, _fires in CASES if contexts} == {rule.ID for _n, rule, _c, _f in CASES}
