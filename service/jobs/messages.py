"""The messages between the runner and a training process: two pydantic unions, told apart by ``t``.

On the pipe they are strict JSON (never pickle, never NaN), one message per ``send_bytes``:

parent → child (:data:`ParentMessage`): :class:`JobMessage` (ids, paths and JSON parameters),
:class:`StopMessage`, :class:`ExitMessage`.

child → parent (:data:`ChildMessage`): :class:`ReadyMessage` (pid, host), :class:`ProgressMessage` (phase,
current, total, the latest round's metrics), :class:`ResultMessage` / :class:`ErrorMessage` for the ``model``
run and then for the ``baseline`` run, and :class:`DoneMessage`.

Cheap to import (pydantic and :mod:`trainers.spec` only): a training process loads it before any ML library.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from trainers.spec import StopReason, TrainResult

Run = Literal["model", "baseline"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- parent → child ---------------------------------------------------------------------------------
class RunSpec(BaseModel):
    """One run of a job: a registered trainer and its parameters (the job's model, or its baseline)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: str
    params: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(default=None, description="Display name (a baseline's).")
    unavailable: str | None = Field(default=None, description="Why the service expects this run to fail.")


class Member(BaseModel):
    """A race's finished entry that an ensemble combines: its artifact folder and digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    directory: str
    sha256: str


class JobMessage(_Message):
    """Train this job: its model and then, if any, its baseline."""

    t: Literal["job"] = "job"
    job_id: str
    dataset_dir: str
    dataset_sha256: dict[str, str] | None = Field(description="File → SHA-256; None for datasets stored unhashed.")
    out_dir: str
    model: RunSpec
    baseline: RunSpec | None = None
    seed: int
    n_threads: int
    time_budget_s: float
    members: list[Member] = Field(default_factory=list, description="A race's ensemble: what it combines.")


class StopMessage(_Message):
    """Stop the job (the trainer keeps its best model so far)."""

    t: Literal["stop"] = "stop"
    job_id: str
    reason: StopReason


class ExitMessage(_Message):
    """Exit once the current job (if any) is done."""

    t: Literal["exit"] = "exit"


ParentMessage = Annotated[JobMessage | StopMessage | ExitMessage, Field(discriminator="t")]


# -- child → parent ---------------------------------------------------------------------------------
class ReadyMessage(_Message):
    """The process has imported what it preloads and serves jobs."""

    t: Literal["ready"] = "ready"
    pid: int
    host: dict[str, Any]


class ProgressMessage(_Message):
    """Where the job is: phase and rounds done of the most it may run."""

    t: Literal["progress"] = "progress"
    job_id: str
    phase: str
    current: int = 0
    total: int = 0
    metrics: dict[str, float | None] | None = None


class ZipInfo(BaseModel):
    """The model's download: a deterministic zip of its files, in the attempt's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    sha256: str
    size: int


class DeviceRecord(BaseModel):
    """The device a run used and, when a GPU was there but unused, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    cpu: str | None = None
    gpu: str | None = None
    gpu_unused_reason: str | None = None
    threads: int


class ResultMessage(_Message):
    """A run's typed result; the model run also carries what the parent stores beside it."""

    t: Literal["result"] = "result"
    run: Run
    job_id: str
    result: TrainResult
    round_times: list[int] = Field(default_factory=list, description="When each round ended (ms since the epoch).")
    run_info: dict[str, Any] = Field(default_factory=dict)
    sample_predictions: dict[str, Any] | None = None
    zip: ZipInfo | None = None
    device: DeviceRecord | None = None
    notes: list[str] = Field(default_factory=list)


class RunError(BaseModel):
    """Why a run failed: the exception's kind (``stopped`` when it was asked to stop) and message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    message: str
    reason: str | None = Field(default=None, description="A stop's reason (cancelled, time_budget), or the error's.")
    key: str | None = None
    column: str | None = None
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The error as the job stores it: only the fields that are set."""
        return self.model_dump(mode="json", exclude_none=True)


class ErrorMessage(_Message):
    """A run failed (or stopped before it had a model)."""

    t: Literal["error"] = "error"
    run: Run
    job_id: str
    error: RunError


class DoneMessage(_Message):
    """The job's runs are over; the process takes the next job."""

    t: Literal["done"] = "done"
    job_id: str
    stamps: list[tuple[str, float]] = Field(
        default_factory=list,
        description="When each stage of the job ended in the process (perf_counter seconds; service.jobs.stages).",
    )


ChildMessage = Annotated[
    ReadyMessage | ProgressMessage | ResultMessage | ErrorMessage | DoneMessage, Field(discriminator="t")
]

_PARENT: TypeAdapter[ParentMessage] = TypeAdapter(ParentMessage)
_CHILD: TypeAdapter[ChildMessage] = TypeAdapter(ChildMessage)


def to_wire(message: BaseModel) -> dict[str, Any]:
    """A message as the plain JSON object the pipe carries."""
    return message.model_dump(mode="json")


def parent_message(data: dict[str, Any]) -> ParentMessage:
    """A parent's message, validated (``ValidationError`` on anything else)."""
    return _PARENT.validate_python(data)


def child_message(data: dict[str, Any]) -> ChildMessage:
    """A training process's message, validated (``ValidationError`` on anything else)."""
    return _CHILD.validate_python(data)


def encode(message: BaseModel | dict[str, Any]) -> bytes:
    """A message as strict JSON bytes (non-finite floats are a bug upstream: they raise)."""
    data = to_wire(message) if isinstance(message, BaseModel) else message
    return json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
