"""What the advisor answers: ranked candidates where every value carries the rule that chose it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from advisor.profile import Constraints, DatasetProfile

M = TypeVar("M", bound=BaseModel)


# BaseModel's own slots, set through their descriptors: half the cost of object.__setattr__ by name
_new = object.__new__
_slots = BaseModel.__dict__
_set_dict = _slots["__dict__"].__set__
_set_fields_set = _slots["__pydantic_fields_set__"].__set__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__


def build(cls: type[M], **data: Any) -> M:
    """Construct a model from trusted engine values without validation.

    The rules are our own code and their output is covered by tests that validate it; skipping
    validation (and ``model_construct``'s per-field bookkeeping) keeps a recommendation under 200 µs.
    Models with private attributes or a ``__new__`` of their own are not built here.
    """
    return adopt(cls, data)


def adopt(cls: type[M], data: dict[str, Any]) -> M:
    """:func:`build` on a dict of field values in declaration order, which becomes the model's own."""
    obj: M = _new(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, set(data))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def whole(cls: type[BaseModel]) -> set[str]:
    """The fields set of a model built by :func:`adopt_whole`: every field, in declaration order."""
    return set(cls.model_fields)


def adopt_whole(cls: type[M], data: dict[str, Any], fields_set: set[str]) -> M:
    """:func:`adopt` for ``data`` holding every field of ``cls``; ``fields_set`` is ``whole(cls)``, one set
    shared by every model so built (pydantic only ever adds a field's name to a model's fields set, after an
    assignment, and this set already holds them all), instead of a new ``set(data)`` for each."""
    obj: M = _new(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


Family = Literal["classical", "deep_learning", "both"]
CandidateFamily = Literal["classical", "deep_learning", "baseline"]


@dataclass
class Decision:
    """One chosen value and why: the rule id, the cheatsheet section, a sentence a person can check.

    A plain dataclass rather than a pydantic model: a recommendation builds about a hundred of these;
    pydantic still validates and serializes it as a field of the models below. Not ``slots``: a dataclass
    with a ``__dict__`` is created faster and serialized several times faster by orjson (the service's path).
    """

    key: str
    value: Any
    rule_id: str
    section: str
    reason: str
    assumed: bool = False
    extrapolated: bool = False


class Candidate(BaseModel):
    """A model to train and every choice its training run needs, keyed by name."""

    model_config = ConfigDict(extra="forbid")

    rank: int
    model: str
    trainer: str
    family: CandidateFamily
    summary: str
    choices: dict[str, Decision]
    evidence: str | None = None  # why the learned portfolio placed it here, when one ranked the candidates

    def params(self) -> dict[str, Any]:
        """The plain values a trainer consumes (``{key: value}``), without the explanations."""
        return {k: d.value for k, d in self.choices.items()}


@dataclass
class ChecklistItem:
    """One line of the §10 implementation checklist, tailored to the profile."""

    step: str
    item: str
    detail: str
    rule_id: str
    section: str = "§10"


class Recommendation(BaseModel):
    """The advisor's whole answer; deterministic for a given profile, constraints and tables version."""

    model_config = ConfigDict(extra="forbid")

    family: Family
    tables_version: str
    profile: DatasetProfile
    constraints: Constraints
    assumptions: list[Decision]
    decisions: list[Decision]
    candidates: list[Candidate]
    baseline: Candidate
    checklist: list[ChecklistItem]
    warnings: list[str]
