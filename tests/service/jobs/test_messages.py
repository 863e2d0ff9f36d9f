"""The runner ↔ training process messages: typed both ways, told apart by ``t``, strict JSON on the pipe."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from service.jobs.child import decode
from service.jobs.messages import (
    DoneMessage,
    ErrorMessage,
    ExitMessage,
    JobMessage,
    ProgressMessage,
    ReadyMessage,
    RunError,
    RunSpec,
    StopMessage,
    child_message,
    encode,
    parent_message,
    to_wire,
)


def test_parent_messages_round_trip_through_the_pipe_encoding() -> None:
    job = JobMessage(
        job_id="j",
        dataset_dir="/data/d",
        dataset_sha256={"data.parquet": "ab" * 32},
        out_dir="/out/j/1",
        model=RunSpec(trainer="xgboost", params={"n_estimators": 3}),
        baseline=RunSpec(model="logistic_regression", trainer="sklearn_logistic"),
        seed=7,
        n_threads=2,
        time_budget_s=30.0,
    )
    for message in (job, StopMessage(job_id="j", reason="cancelled"), ExitMessage()):
        assert parent_message(decode(encode(message))) == message
    assert to_wire(ExitMessage()) == {"t": "exit"}


def test_child_messages_are_told_apart_by_t() -> None:
    assert isinstance(child_message({"t": "ready", "pid": 1, "host": {}}), ReadyMessage)
    progress = child_message({"t": "progress", "job_id": "j", "phase": "loading"})
    assert isinstance(progress, ProgressMessage) and progress.current == progress.total == 0
    assert isinstance(child_message({"t": "done", "job_id": "j"}), DoneMessage)
    error = child_message({"t": "error", "run": "model", "job_id": "j", "error": {"type": "stopped", "message": "m"}})
    assert isinstance(error, ErrorMessage) and error.error.as_dict() == {"type": "stopped", "message": "m"}


@pytest.mark.parametrize(
    "data",
    [
        {"t": "resutl", "job_id": "j"},  # an unknown kind
        {"job_id": "j"},  # no kind
        {"t": "done"},  # a field missing
        {"t": "error", "run": "warmup", "job_id": "j", "error": {"type": "x", "message": "m"}},
        {"t": "progress", "job_id": "j", "phase": "training", "surprise": 1},  # an unknown field
    ],
)
def test_a_malformed_child_message_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        child_message(data)


def test_encoding_refuses_non_finite_numbers() -> None:
    with pytest.raises(ValueError):
        encode(ProgressMessage(job_id="j", phase="training", metrics={"loss": float("nan")}))
    assert json.loads(encode(RunError(type="t", message="m")))["reason"] is None
