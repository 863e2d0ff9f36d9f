"""ORM models (bare nouns). Relationships, when added, default to ``lazy="raise"``: load explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import UTCDateTime, new_id, utcnow


class Recommendation(Base):
    """A stored advisor answer.

    ``document`` is the advisor's JSON text exactly as produced (``Recommendation.model_dump_json()``),
    so a stored answer is returned unchanged even after the advisor's schema or tables move on; the
    columns beside it are copies for listing and filtering.
    """

    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tables_version: Mapped[str] = mapped_column(String(32))
    family: Mapped[str] = mapped_column(String(32))
    modality: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(32))
    document: Mapped[str] = mapped_column(Text)

    # Cursor pagination walks (created_at, id) newest first.
    __table_args__ = (Index("ix_recommendations_created_at_id", "created_at", "id"),)
