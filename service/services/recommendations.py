"""Recommend, store, fetch and list recommendations."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

import advisor
from advisor.portfolio import EvidenceRow, Portfolio, default_portfolio
from service.db.models import Recommendation
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.errors import NotFound
from service.portfolio import current_portfolio
from service.repositories import datasets as datasets_repo
from service.repositories import recommendations as repo
from service.repositories.recommendations import NewRecommendation
from service.schemas.pagination import after_key, page
from service.schemas.recommendations import RecommendationCreate
from service.services.evidence import tenant_history
from service.settings import Settings


async def _resolve_profile(*, db: Database, tenant_id: str, data: RecommendationCreate) -> advisor.DatasetProfile:
    # The one place that turns a request's dataset source into a profile.
    if data.profile is not None:
        return data.profile
    assert data.dataset_id is not None  # guaranteed by RecommendationCreate's exactly-one-source check
    row = await db.run(datasets_repo.get, id=data.dataset_id, tenant_id=tenant_id, write=False)
    if row is None:
        raise NotFound(f"There is no dataset with id {data.dataset_id!r}.")
    return advisor.DatasetProfile.model_validate(row.profile)


_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _model_fields(obj: Any) -> dict[str, Any]:
    """A pydantic model's fields in declaration order, for orjson (which writes dataclasses itself)."""
    if not isinstance(obj, BaseModel):
        raise TypeError(f"{type(obj).__name__} is not JSON serializable here")
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(cls.model_fields)
    data = obj.__dict__
    return data if tuple(data) == names else {k: data[k] for k in names}


def document_bytes(answer: advisor.Recommendation) -> bytes:
    """``answer.model_dump_json()`` as UTF-8, byte for byte, in a fraction of the time.

    The document is pydantic models (fields in declaration order), the advisor's dataclasses and plain JSON
    values; orjson writes the same compact UTF-8 text and shortest round-trip floats as pydantic (the stored
    corpus in ``tests/advisor`` proves it on every case). Anything else (a set, an int over 64 bits, ...)
    falls back to pydantic.
    """
    try:
        return orjson.dumps(answer, default=_model_fields)
    except TypeError:
        return answer.model_dump_json().encode()


def document_json(answer: advisor.Recommendation) -> str:
    """``answer.model_dump_json()``, byte for byte (:func:`document_bytes` as text)."""
    return document_bytes(answer).decode()


def advise(
    profile: advisor.DatasetProfile,
    constraints: advisor.Constraints,
    portfolio: Portfolio | None,
    history: tuple[EvidenceRow, ...] = (),
) -> advisor.Recommendation:
    """The one place the service asks the advisor; ``portfolio`` is the learned evidence to rank with (packaged,
    or ``ADVISOR_PORTFOLIO_PATH``) and ``history`` the tenant's finished races (:mod:`service.services.evidence`)."""
    return advisor.recommend(profile, constraints, portfolio=portfolio, history=history)


async def create(
    *, db: Database, tenant_id: str, data: RecommendationCreate, settings: Settings | None = None
) -> NewRecommendation:
    """Run the advisor and store its answer as produced, owned by ``tenant_id``.

    ``settings`` chooses the portfolio (``portfolio_path``); without them the packaged one is used. The tenant's
    finished races on tables are added to the evidence for a table's recommendation.
    """
    profile = await _resolve_profile(db=db, tenant_id=tenant_id, data=data)
    portfolio = current_portfolio(settings) if settings is not None else default_portfolio()
    history: tuple[EvidenceRow, ...] = ()
    if profile.modality == "tabular":
        history = await db.run(tenant_history, tenant_id=tenant_id, write=False)
    # Pure CPU, well under a millisecond: it runs on the event loop; only the reads and the write go to a thread.
    answer = advise(profile, data.constraints, portfolio, history)
    # The document stays the UTF-8 bytes orjson wrote: stored (compressed) and sent as they are, never turned
    # into text and back on the way.
    row = NewRecommendation(
        id=new_id(),
        created_at=utcnow(),
        tables_version=answer.tables_version,
        family=answer.family,
        modality=profile.modality,
        task=profile.task,
        document=document_bytes(answer),
        dataset_id=data.dataset_id,
        tenant_id=tenant_id,
    )
    # Group commit: concurrent requests share a transaction; this returns once the row is committed.
    await db.insert_batched(repo.insert_many, row)
    return row


async def get(*, db: Database, tenant_id: str, id: str) -> Recommendation:
    """The tenant's stored recommendation ``id``; ``NotFound`` if there is none."""
    row = await db.run(repo.get, id=id, tenant_id=tenant_id, write=False)
    if row is None:
        raise NotFound(f"There is no recommendation with id {id!r}.")
    return row


async def list_page(
    *, db: Database, tenant_id: str, limit: int, cursor: str | None = None
) -> tuple[list[Recommendation], str | None]:
    """A page of the tenant's recommendations, newest first, and the next page's cursor (None at the end)."""
    rows = await db.run(repo.list_page, tenant_id=tenant_id, limit=limit + 1, after=after_key(cursor), write=False)
    return page(rows, limit)
