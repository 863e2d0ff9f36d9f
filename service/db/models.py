"""ORM models (bare nouns). Relationships, when added, default to ``lazy="raise"``: load explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import StrictJSON, UTCDateTime, new_id, utcnow


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
    # Set when the profile was measured from a stored dataset; kept if that dataset is deleted later.
    dataset_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("datasets.id", ondelete="SET NULL"), index=True, default=None
    )

    # Cursor pagination walks (created_at, id) newest first.
    __table_args__ = (Index("ix_recommendations_created_at_id", "created_at", "id"),)


class Dataset(Base):
    """An uploaded (or metadata-only) dataset and what was measured about it.

    Uploaded data is stored once under ``data_dir/datasets/<fingerprint>/`` (normalized: Parquet or
    NPZ plus ``schema.json``); ``fingerprint`` is the SHA-256 of the original bytes and of the options that
    shape the normalized copy (target, task, modality), so the same upload is recognised and not stored
    twice. A metadata-only dataset has no files and cannot be trained on.
    """

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # "upload" | "metadata"
    modality: Mapped[str] = mapped_column(String(16))
    task: Mapped[str] = mapped_column(String(16))
    task_reason: Mapped[str | None] = mapped_column(Text, default=None)
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    format: Mapped[str | None] = mapped_column(String(32), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    n_rows: Mapped[int] = mapped_column(Integer)
    storage_path: Mapped[str | None] = mapped_column(String(300), default=None)  # relative to data_dir
    profile: Mapped[dict] = mapped_column(StrictJSON())
    details: Mapped[dict] = mapped_column(StrictJSON())
    warnings: Mapped[list] = mapped_column(StrictJSON())

    __table_args__ = (Index("ix_datasets_created_at_id", "created_at", "id"),)


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")

