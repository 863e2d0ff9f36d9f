"""Recommendation requests and responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, overload

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor import Constraints, DatasetProfile, Recommendation
from service.schemas.common import ID_PATTERN


class RecommendationCreate(BaseModel):
    """What to recommend for: the dataset (exactly one source) and the team's constraints."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # The ways a request can name its dataset; exactly one must be given. Adding a source (e.g.
    # ``dataset_id``) is a new optional field here plus its name in this tuple.
    SOURCES: ClassVar[tuple[str, ...]] = ("profile", "dataset_id")

    profile: DatasetProfile | None = Field(default=None, description="The dataset, described inline.")
    dataset_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="A stored dataset: its measured profile is used.",
    )
    constraints: Constraints = Field(
        default_factory=Constraints, description="What the team needs and has; omitted values are assumed."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> RecommendationCreate:
        given = [name for name in self.SOURCES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of: {', '.join(self.SOURCES)}")
        return self


class RecommendationRead(Recommendation):
    """A stored recommendation: the advisor's answer as it was produced, with its id and time."""

    id: str
    created_at: datetime


class RecommendationPage(BaseModel):
    """One page of recommendations, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[RecommendationRead]
    next_cursor: str | None


@overload
def recommendation_json(*, id: str, created_at: datetime, document: str) -> str: ...
@overload
def recommendation_json(*, id: str, created_at: datetime, document: bytes) -> bytes: ...
def recommendation_json(*, id: str, created_at: datetime, document: str | bytes) -> str | bytes:
    """The ``RecommendationRead`` JSON for a stored document, without parsing it.

    The stored text is returned as it was written (even if the advisor's schema has moved on since):
    ``id`` and ``created_at`` are spliced in front of the document's own fields. A document given as UTF-8
    bytes (a new one) gives bytes, ready to send; text gives text.
    """
    if isinstance(document, bytes):
        if not document.startswith(b"{") or document.startswith(b"{}"):
            raise ValueError("a stored recommendation must be a non-empty JSON object")
        return _head(id, created_at).encode() + document[1:]
    if not document.startswith("{") or document.startswith("{}"):
        raise ValueError("a stored recommendation must be a non-empty JSON object")
    return _head(id, created_at) + document[1:]


def _head(id: str, created_at: datetime) -> str:
    stamp = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f'{{"id":"{id}","created_at":"{stamp}",'


def page_json(items: list[str], next_cursor: str | None) -> str:
    """The ``RecommendationPage`` JSON from already-rendered items."""
    cursor = "null" if next_cursor is None else f'"{next_cursor}"'
    return f'{{"items":[{",".join(items)}],"next_cursor":{cursor}}}'
