"""Prediction requests and responses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_JSON_ROWS = 10_000
MAX_JSON_COLUMNS = 10_000

# One cell: a finite number, a 64-bit integer, a bool, a string or null (a missing value).
Cell = bool | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | float | Annotated[str, Field(max_length=10_000)] | None
Column = Annotated[str, Field(max_length=1_000)]


class PredictionCreate(BaseModel):
    """Rows to predict, as JSON objects keyed by column name (the training columns; extras are ignored)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rows: list[Annotated[dict[Column, Cell], Field(max_length=MAX_JSON_COLUMNS)]] = Field(
        min_length=1, max_length=MAX_JSON_ROWS
    )


class PredictionRead(BaseModel):
    """Predicted labels (classification) or values (regression), in the order of the input rows."""

    job_id: str
    model: str
    task: str
    n_rows: int
    predictions: list[Any]
    classes: list[Any] | None = Field(default=None, description="Column order of `probabilities`.")
    probabilities: list[list[float]] | None = None
    partial_model: bool = Field(description="True when the job was cancelled or cut by its time budget.")
    warnings: list[str] = Field(
        default_factory=list,
        description="What was ignored (columns the model does not use) or encoded as unknown (categories not "
        "seen in training).",
    )
