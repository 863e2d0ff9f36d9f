"""The rule contract: small named classes with an id, a section, conditions, and a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import floor
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from advisor import tables as t
from advisor.profile import Constraints, DatasetProfile
from advisor.recommendation import Decision

Arch = Literal["mlp", "cnn", "lstm", "transformer"]
M = TypeVar("M", bound=BaseModel)


class _Fields:
    """A validated model's field values as plain attributes (see :func:`plain`)."""


_new = object.__new__


def plain(model: M) -> M:
    """``model``'s fields for the rules to read: the same ``__dict__``, on a plain object.

    A pydantic model has a ``__getattr__`` (for private attributes), so CPython cannot specialize reads of
    its fields: each ``ctx.profile.n_rows`` takes the generic hook, four times the cost of a plain object's
    read, and the rules read the profile and constraints over a hundred times per recommendation. The
    object shares the model's (frozen, validated) field dict, reads exactly as the model does, and is only
    ever read: the engine puts the models themselves in its answer.
    """
    return plain_fields(model.__dict__)  # type: ignore[no-any-return]  # read as the model reads: same fields


def plain_fields(fields: dict[str, Any]) -> Any:
    """A plain object whose attributes are ``fields`` (what :func:`plain` makes, for field values that are not
    yet a model's: the constraints with an assumption filled in, read by the assumptions after it)."""
    obj = _new(_Fields)
    obj.__dict__ = fields
    return obj


_TRAIN_SHARE = t.SPLIT["train"]  # the table, looked up once (it never changes at run time)


def train_rows(n_rows: int) -> int:
    """Rows in the training split, at least one: ``max(1, int(n_rows × train share))``, written as ``floor`` and
    ``or 1`` (the same int for a non-negative product, at half the cost; the budget rules ask for it per candidate)."""
    return floor(n_rows * _TRAIN_SHARE) or 1


@dataclass
class Context:
    """What rules read: the resolved profile and constraints, and, per candidate, the choices so far."""

    profile: DatasetProfile
    constraints: Constraints
    family: str = ""
    arch: Arch | None = None
    model: str = ""
    use_transfer: bool = False
    choices: dict[str, Decision] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # derived values shared by rules of one candidate

    def value(self, key: str) -> Any:
        """The value already chosen for ``key`` in this candidate (KeyError if none yet)."""
        return self.choices[key].value

    @property
    def is_classification(self) -> bool:
        return self.profile.task != "regression"

    @property
    def imbalance_threshold(self) -> float:
        """Minority share under which classes count as imbalanced: a fifth of the balanced share."""
        return t.IMBALANCE_RATIO / (self.profile.n_classes or 2)

    @property
    def is_imbalanced(self) -> bool:
        m = self.profile.minority_share
        return self.is_classification and m is not None and m < self.imbalance_threshold


def new_context(
    profile: DatasetProfile,
    constraints: Constraints,
    family: str = "",
    arch: Arch | None = None,
    model: str = "",
    use_transfer: bool = False,
) -> Context:
    """``Context(profile=..., ..., use_transfer=...)`` field by field, in declaration order: the same object
    without the class call's way to the dataclass's ``__init__`` and its default factories (a context is built
    for every candidate)."""
    c = _new(Context)
    c.profile = profile
    c.constraints = constraints
    c.family = family
    c.arch = arch
    c.model = model
    c.use_transfer = use_transfer
    c.choices = {}
    c.cache = {}
    return c


class Rule:
    """A rule decides one key. Subclasses set ID, SECTION, DECIDES, CONDITIONS and implement the two hooks.

    ``CONDITIONS`` is data (thresholds and the facts it reads) so ``GET /v1/rules`` can show it.
    """

    ID: ClassVar[str]
    SECTION: ClassVar[str]
    DECIDES: ClassVar[str]
    CONDITIONS: ClassVar[dict[str, Any]] = {}
    EXTRAPOLATED: ClassVar[bool] = False
    # True when the decision reads only the profile and constraints (not the candidate's model or earlier
    # choices): the engine then decides it once per recommendation and shares it between candidates.
    SHARED: ClassVar[bool] = False

    def applies(self, ctx: Context) -> bool:
        """Whether this rule fires for the context; the first applicable rule for a key wins."""
        return True

    def decide(self, ctx: Context) -> Decision:
        """The decision: a value and the one-sentence reason."""
        raise NotImplementedError

    def __init__(self) -> None:
        # ``make`` bound once per rule with its constants: about a hundred decisions per recommendation, and
        # the class-attribute lookups cost as much as building the Decision
        if not all(hasattr(self, a) for a in ("DECIDES", "ID", "SECTION")):  # an abstract rule: the method stays
            return
        key, rule_id, section, default = self.DECIDES, self.ID, self.SECTION, self.EXTRAPOLATED

        def make(value: Any, reason: str, *, extrapolated: bool | None = None) -> Decision:
            # Decision(key, value, ...) field by field: the same object (a dataclass's __init__ only sets its
            # fields, in this order) without the class call's way to __init__, a third of the cost
            d = _new(Decision)
            d.key = key
            d.value = value
            d.rule_id = rule_id
            d.section = section
            d.reason = reason
            d.assumed = False
            d.extrapolated = default if extrapolated is None else extrapolated
            return d

        make.__doc__ = Rule.make.__doc__
        self.make = make  # type: ignore[method-assign]

    def make(self, value: Any, reason: str, *, extrapolated: bool | None = None) -> Decision:
        """Build this rule's ``Decision`` for ``value``."""
        # positional (key, value, rule_id, section, reason, assumed, extrapolated): keyword arguments cost twice
        return Decision(
            self.DECIDES,
            value,
            self.ID,
            self.SECTION,
            reason,
            False,
            self.EXTRAPOLATED if extrapolated is None else extrapolated,
        )
