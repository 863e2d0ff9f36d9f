"""Dataset requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor import DatasetProfile
from service.schemas.common import TEXT_PATTERN


class DatasetMetadataCreate(BaseModel):
    """Register a dataset by its description alone: it gets recommendations but cannot be trained on."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    profile: DatasetProfile


class DatasetRead(BaseModel):
    """A stored dataset and what was measured about it."""

    id: str
    created_at: datetime
    name: str
    source: Literal["upload", "metadata"]
    trainable: bool = Field(description="False for metadata-only datasets: there is no data to train on.")
    modality: str
    task: str
    task_reason: str | None
    target: str | None
    format: str | None
    sha256: str | None
    size_bytes: int | None
    profile: dict[str, Any] = Field(description="The measured DatasetProfile plus feature type counts.")
    details: dict[str, Any]
    warnings: list[str]


class DatasetPage(BaseModel):
    """One page of datasets, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[DatasetRead]
    next_cursor: str | None
