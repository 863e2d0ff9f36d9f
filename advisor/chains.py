"""Rule chains compiled for the engine: each candidate's chains as bound steps, specialized per candidate shape.

``run_chains(ctx, chains, shared)`` decides a candidate's keys as the policy's chains read (for each key, the first
rule whose ``applies`` is true decides it), from a plan compiled once per chains and specialized once per shape; a
shape's plan then runs as one generated straight-line function (``_compile``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from advisor import policy
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule

T = TypeVar("T")

# A chain compiled once: (key, steps, the key its shared decision is filed under, whether every rule is SHARED);
# a step is (the rule's applies, or None where it is Rule's "always", its decide, and the rule's own ID when the
# rule alone is SHARED in a chain that is not), bound once. Chains share by the rule IDs they hold, so the same
# rules declared in two chains (input_features in every classical model) are decided once per recommendation.
_Step = tuple[Callable[[Context], bool] | None, Callable[[Context], Decision], str | None]
_Plan = tuple[tuple[str, tuple[_Step, ...], int, bool], ...]
_PLANS: dict[int, tuple[tuple[policy.Chain, ...], _Plan]] = {}
_CHAIN_KEYS: dict[tuple[str, ...], int] = {}


def _plan(chains: tuple[policy.Chain, ...]) -> _Plan:
    """The compiled form of a candidate's chains (the policy's tuples never change; a new tuple compiles anew)."""
    found = _PLANS.get(id(chains))
    if found is not None and found[0] is chains:
        return found[1]
    plan = []
    for key, rules in chains:
        is_shared = all(r.SHARED for r in rules)
        steps = tuple(
            (
                None if type(r).applies is Rule.applies else r.applies,
                r.decide,
                r.ID if r.SHARED and not is_shared else None,
            )
            for r in rules
        )
        chain_key = _CHAIN_KEYS.setdefault(tuple(r.ID for r in rules), len(_CHAIN_KEYS))
        plan.append((key, steps, chain_key, is_shared))
    _PLANS[id(chains)] = (chains, tuple(plan))
    return tuple(plan)


def run_chains(
    base: Context, chains: tuple[policy.Chain, ...], shared: dict[int | str, Decision | None]
) -> dict[str, Decision]:
    shape = (
        id(chains),
        base.family,
        base.arch,
        base.model,
        base.use_transfer,
        base.profile.modality,
        base.profile.task,
    )
    found = _SPECIALIZED.get(shape)
    if found is not None and found[0] is chains:
        return found[2](base, shared)
    plan = _plan(chains)
    probed: _Probed = {}
    choices = _execute(base, _probing(plan, probed), shared)
    specialized = _specialize(plan, probed)
    _SPECIALIZED[shape] = (chains, specialized, _compile(specialized))
    return choices


def _rule_shared(
    shared: dict[int | str, Decision | None],
    rule_key: str,
    applies: Callable[[Context], bool] | None,
    decide: Callable[[Context], Decision],
    base: Context,
) -> Decision | None:
    """A rule that reads only the profile, in a chain that does not: decided (or not) once per recommendation."""
    if rule_key in shared:
        return shared[rule_key]
    found = shared[rule_key] = decide(base) if applies is None or applies(base) else None
    return found


def _execute(base: Context, plan: _Plan, shared: dict[int | str, Decision | None]) -> dict[str, Decision]:
    choices = base.choices
    for key, steps, chain_key, is_shared in plan:
        if is_shared and chain_key in shared:  # decided for an earlier candidate from the profile alone
            d = shared[chain_key]
            if d is not None:
                choices[key] = d
            continue
        d = None
        for applies, decide, rule_key in steps:
            if rule_key is not None:  # this rule reads only the profile: decided (or not) once
                found = _rule_shared(shared, rule_key, applies, decide, base)
                if found is not None:
                    d = choices[key] = found
                    break
                continue
            if applies is None or applies(base):
                d = choices[key] = decide(base)
                break
        if is_shared:
            shared[chain_key] = d
    return choices


# Chains specialized to a candidate's shape: what a rule can read without reading the data's numbers (the
# chains, family, architecture, model, transfer, and the profile's modality and task). A test (``applies``) that
# read nothing else answers the same for every candidate of that shape: where it said no, the rule is left out
# of the shape's plan; where it said yes, the rule decides unconditionally and the rules after it are left out.
# A decision (``decide``) that read nothing else is the same for every candidate of the shape: it is made once
# and the plan hands out that Decision (the engine already shares Decisions between candidates; nothing changes
# one once made). What each test and decision read is recorded on the shape's first candidate (_Probe); one that
# read anything else (a count, a share, a constraint, an earlier choice, the candidate's cache) stays as it is.
# The rules are pure functions of what they read (the engine is deterministic), so a shape's plan decides
# exactly as the full chains do (the stored corpus in tests/advisor proves it byte for byte).
_Run = Callable[[Context, dict[int | str, Decision | None]], dict[str, Decision]]
_SPECIALIZED: dict[tuple[object, ...], tuple[tuple[policy.Chain, ...], _Plan, _Run]] = {}
_SHAPE_READS = frozenset({"family", "arch", "model", "use_transfer", "profile.modality", "profile.task"})
# A property or method of the context is not a read itself: what it reads is (``ctx.value(k)`` reads choice k).
_CONTEXT_PROPERTIES = frozenset(
    n for n, v in vars(Context).items() if isinstance(v, property) or (callable(v) and not n.startswith("__"))
)
_CHOICE = "choice:"  # a read of an earlier choice, recorded as "choice:<key>"


class _ChoiceReads:
    """A candidate's choices as a ``_Probe`` hands them out: each key looked up is recorded."""

    def __init__(self, real: dict[str, Decision], reads: set[str]) -> None:
        self._real, self._reads = real, reads

    def __getitem__(self, key: str) -> Decision:
        self._reads.add(_CHOICE + key)
        return self._real[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._reads.add(_CHOICE + key)
        return self._real.get(key, default)

    def __contains__(self, key: object) -> bool:
        self._reads.add(f"{_CHOICE}{key}")
        return key in self._real


class _Fields:
    """The profile or constraints as a ``_Probe`` hands them out: each field read is recorded."""

    def __init__(self, real: object, owner: str, reads: set[str]) -> None:
        self._real, self._owner, self._reads = real, owner, reads

    def __getattr__(self, name: str) -> Any:
        self._reads.add(f"{self._owner}.{name}")
        return getattr(self._real, name)


class _Probe(Context):
    """A candidate's context that records every attribute a rule reads (a property is not a read itself: what
    it reads is). It shares the context's choices and cache; an attribute set on it is set on the context."""

    def __getattribute__(self, name: str) -> Any:
        data = object.__getattribute__(self, "__dict__")
        if name in _CONTEXT_PROPERTIES or name == "__dict__":
            return object.__getattribute__(self, name)
        reads: set[str] = data["_reads"]
        if name in ("profile", "constraints"):
            return _Fields(data[name], name, reads)
        if name == "choices":
            return _ChoiceReads(data[name], reads)
        reads.add(name)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        data = object.__getattribute__(self, "__dict__")
        data["_reads"].add(name)
        setattr(data["_real"], name, value)
        data[name] = value


def _probe(ctx: Context, reads: set[str]) -> Context:
    probe = object.__new__(_Probe)
    object.__getattribute__(probe, "__dict__").update(ctx.__dict__, _reads=reads, _real=ctx)
    return probe


def read_only_shape(fn: Callable[[Context], T], ctx: Context) -> tuple[T, bool]:
    """``fn(ctx)``, and whether it read nothing but the candidate's shape (``_SHAPE_READS``): then it answers
    the same for every candidate of that shape."""
    reads: set[str] = set()
    answer = fn(_probe(ctx, reads))
    return answer, reads <= _SHAPE_READS


# ("applies" | "decide", chain, step) -> (answer / Decision, the earlier choices it read), where it read nothing
# else but the shape; else None
_Probed = dict[tuple[str, int, int], tuple[Any, frozenset[str]] | None]


def _shape_and_choices(reads: set[str]) -> frozenset[str] | None:
    """The choice keys among ``reads`` if everything else read is the shape, else None."""
    keys = []
    for read in reads:
        if read.startswith(_CHOICE):
            keys.append(read[len(_CHOICE) :])
        elif read not in _SHAPE_READS:
            return None
    return frozenset(keys)


def _probing(plan: _Plan, probed: _Probed) -> _Plan:
    """``plan`` with every test and decision recording into ``probed`` its answer (a bool or the Decision) and
    the earlier choices it read, where it read nothing else but the shape; else None."""

    def recording(fn: Callable[[Context], Any], at: tuple[str, int, int]) -> Callable[[Context], Any]:
        def run(ctx: Context) -> Any:
            reads: set[str] = set()
            answer = fn(_probe(ctx, reads))
            keys = _shape_and_choices(reads)
            probed[at] = None if keys is None else (answer, keys)
            return answer

        return run

    return tuple(
        (
            key,
            tuple(
                (
                    None if applies is None else recording(applies, ("applies", c, i)),
                    recording(decide, ("decide", c, i)),
                    rule_key,
                )
                for i, (applies, decide, rule_key) in enumerate(steps)
            ),
            chain_key,
            is_shared,
        )
        for c, (key, steps, chain_key, is_shared) in enumerate(plan)
    )


class _Made:
    """A decision made once for a shape, handed out as its rule's ``decide`` would."""

    __slots__ = ("decision",)

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def __call__(self, ctx: Context) -> Decision:
        return self.decision


def _specialize(plan: _Plan, probed: _Probed) -> _Plan:
    out = []
    made_keys: set[str] = set()  # keys this shape's plan decides with one decision made once, so far

    def fixed(at: tuple[str, int, int]) -> Any:
        """The probed answer where it read only the shape and earlier choices made once; else None."""
        found = probed.get(at)
        return found[0] if found is not None and found[1] <= made_keys else None

    for c, (key, steps, chain_key, is_shared) in enumerate(plan):
        kept: list[_Step] = []
        for i, (applies, decide, rule_key) in enumerate(steps):
            made = fixed(("decide", c, i))
            if made is not None:
                decide = _Made(made)
            answer = fixed(("applies", c, i))
            if applies is None or answer is True:  # fires for every candidate of the shape: the rest never runs
                kept.append((None, decide, rule_key))
                break
            if answer is False:  # never fires for this shape
                continue
            kept.append((applies, decide, rule_key))
        if len(kept) == 1 and kept[0][0] is None and isinstance(kept[0][1], _Made):
            made_keys.add(key)  # a later rule that reads this choice reads a constant
        out.append((key, tuple(kept), chain_key, is_shared))
    return tuple(out)


# A shape's plan compiled to one straight-line function: per key, the steps left in it as an if/elif chain, a
# decision made once as a constant, a shared chain behind its one lookup. It decides exactly as ``_execute`` does
# on the same plan (that loop stays the reference and probes each shape's first candidate); what it saves is the
# loop's own work per key (unpacking steps, testing what kind each is): about 6% of the worst bench profile's time.


def _compile(plan: _Plan) -> _Run:
    env: dict[str, Any] = {"_rule_shared": _rule_shared}

    def bound(obj: object) -> str:
        name = f"_{len(env)}"
        env[name] = obj
        return name

    lines = ["def run(base, shared):", "    choices = base.choices"]
    for key, steps, chain_key, is_shared in plan:
        pad = "    "
        if is_shared:  # decided for an earlier candidate from the profile alone, or decided here and filed
            lines += [
                f"    if {chain_key!r} in shared:",
                f"        d = shared[{chain_key!r}]",
                "        if d is not None:",
                f"            choices[{key!r}] = d",
                "    else:",
            ]
            pad = "        "
        target = f"d = choices[{key!r}]" if is_shared else f"choices[{key!r}]"
        keyword, settled = "if", False
        for applies, decide, rule_key in steps:
            if rule_key is not None:
                test: str | None = (
                    f"(found := _rule_shared(shared, {rule_key!r}, {bound(applies)}, {bound(decide)}, base)) "
                    "is not None"
                )
                value = "found"
            else:
                test = None if applies is None else f"{bound(applies)}(base)"
                value = bound(decide.decision) if isinstance(decide, _Made) else f"{bound(decide)}(base)"
            if test is None:  # decides unconditionally: the last step (``_specialize`` drops what follows)
                lines += (
                    [f"{pad}{target} = {value}"] if keyword == "if" else [f"{pad}else:", f"{pad}    {target} = {value}"]
                )
                settled = True
                break
            lines += [f"{pad}{keyword} {test}:", f"{pad}    {target} = {value}"]
            keyword = "elif"
        if is_shared:
            if not settled:
                lines += [f"{pad}d = None"] if keyword == "if" else [f"{pad}else:", f"{pad}    d = None"]
            lines.append(f"{pad}shared[{chain_key!r}] = d")
    lines.append("    return choices")
    exec(compile("\n".join(lines), f"<advisor plan {len(_SPECIALIZED)}>", "exec"), env)
    run: _Run = env["run"]
    return run
