"""Prediction requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainers.explain import Contributions

MAX_JSON_ROWS = 10_000
MAX_JSON_COLUMNS = 10_000

# One cell: a finite number, a 64-bit integer, a bool, a string or null (a missing value).
Cell = bool | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | float | Annotated[str, Field(max_length=10_000)] | None
Column = Annotated[str, Field(max_length=1_000)]


# One image, sequence or text: a string (a text, or a base64 PNG/JPEG) or nested lists of numbers.
Sample = Annotated[str, Field(max_length=20_000_000)] | list[Any]


class PredictionCreate(BaseModel):
    """Samples to predict: ``rows`` (JSON objects keyed by column name: the training columns, extras ignored;
    a text model takes its text column) or ``inputs`` (images as nested lists H×W[×C] or base64 PNG/JPEG,
    texts as strings, sequences as nested lists T[×F])."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rows: list[Annotated[dict[Column, Cell], Field(max_length=MAX_JSON_COLUMNS)]] | None = Field(
        default=None, min_length=1, max_length=MAX_JSON_ROWS
    )
    inputs: list[Sample] | None = Field(default=None, min_length=1, max_length=MAX_JSON_ROWS)

    @model_validator(mode="after")
    def _one_of(self) -> PredictionCreate:
        if (self.rows is None) == (self.inputs is None):
            raise ValueError("send either 'rows' (table rows) or 'inputs' (images, sequences or texts), not both")
        return self

    @property
    def n_samples(self) -> int:
        """How many samples the request holds."""
        return len(self.rows if self.rows is not None else self.inputs or [])


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
        "seen in training), or changed as in training (images resized, sequences padded).",
    )
    ids: list[str] | None = Field(
        default=None,
        description="What each prediction is for, where the input names its samples (image file names in a "
        "zip, sequence ids of a long table); absent otherwise.",
    )

    contributions: Contributions | None = Field(
        default=None,
        description="With explain=true only: each row's contributions per input column to the model's margin "
        "(XGBoost/LightGBM SHAP values, or coefficient x value for linear models), with the bias; "
        "available=false and the reason for models that have none.",
    )

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``ids`` only where the input named its samples (table answers keep their shape), and
        ``contributions`` only when asked for."""
        left_out = {name for name in ("ids", "contributions") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=left_out or None)


class PredictionBatchRead(BaseModel):
    """A batch prediction: poll it until ``succeeded`` (then download ``result_url``) or ``failed``."""

    id: str
    job_id: str
    status: str = Field(description="queued, running, succeeded or failed.")
    n_rows: int | None = Field(default=None, description="Samples to predict, once the input has been read.")
    n_done: int = 0
    task: str | None = None
    classes: list[Any] | None = Field(default=None, description="Column order of each line's `probabilities`.")
    warnings: list[str] = Field(default_factory=list)
    result_url: str | None = Field(
        default=None,
        description="The result once succeeded: JSON lines, one per sample in input order, each "
        '{"row", "prediction", "probabilities"?, "id"?}.',
    )
    result_sha256: str | None = None
    error: dict[str, Any] | None = None
    created_at: datetime
    finished_at: datetime | None = None
