"""The outcome rule table: what the runner watched during an attempt → the job's next state (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from service.jobs.messages import ResultMessage, RunError
from service.jobs.outcome import Ending, Facts, Watch, next_state
from trainers.spec import TrainResult


def _model(partial: bool = False) -> ResultMessage:
    # The rule reads only whether there is a model and whether it is partial.
    return ResultMessage.model_construct(result=TrainResult.model_construct(partial=partial))


STOPPED_CANCELLED = RunError(type="stopped", message="stopped", reason="cancelled")
STOPPED_BUDGET = RunError(type="stopped", message="stopped", reason="time_budget")
BROKEN = RunError(type="DataError", message="the table has no rows", column="x")
FACTS = Facts(attempt=1, max_attempts=2, grace_s=10.0, time_budget_s=60.0)
LAST = Facts(attempt=2, max_attempts=2, grace_s=10.0, time_budget_s=60.0)
CANCEL_ASKED = Facts(attempt=1, max_attempts=2, cancel_requested=True)

# (name, watched, facts, status, error type, error message (start), with model, outcome in the history)
RULES: list[tuple[str, dict[str, Any], Facts, str | None, str | None, str | None, bool, str | None]] = [
    ("lease lost: nothing written", {"lost_lease": True, "model": _model()}, FACTS, None, None, None, False, None),
    (
        "shutdown: handed back",
        {"shutdown": True, "died": -9},
        FACTS,
        "queued",
        "interrupted",
        "the server shut down",
        False,
        "interrupted",
    ),
    ("a model", {"model": _model(), "done": True}, FACTS, "succeeded", None, None, True, "succeeded"),
    (
        "a model, cancel asked",
        {"model": _model(partial=True), "stop_reason": "cancelled"},
        FACTS,
        "cancelled",
        "cancelled",
        "cancelled; the best model so far was kept (partial)",
        True,
        "cancelled",
    ),
    (
        "a model past its budget",
        {"model": _model(partial=True), "stop_reason": "time_budget"},
        FACTS,
        "succeeded",
        None,
        None,
        True,
        "succeeded",
    ),
    (
        "stopped for cancel before a round",
        {"model_error": STOPPED_CANCELLED},
        FACTS,
        "cancelled",
        "cancelled",
        "cancelled before the first round ended",
        False,
        "cancelled",
    ),
    (
        "stopped by the budget before a round",
        {"model_error": STOPPED_BUDGET},
        FACTS,
        "failed",
        "time_budget",
        "the time budget ran out before the first round",
        False,
        "failed",
    ),
    (
        "stopped by the budget, cancel asked meanwhile",
        {"model_error": STOPPED_BUDGET, "stop_reason": "cancelled"},
        FACTS,
        "cancelled",
        "cancelled",
        "cancelled before the first round ended",
        False,
        "cancelled",
    ),
    (
        "the run's own error",
        {"model_error": BROKEN},
        FACTS,
        "failed",
        "DataError",
        "the table has no rows",
        False,
        "failed",
    ),
    (
        "killed after a cancel",
        {"killed": True, "stop_reason": "cancelled"},
        FACTS,
        "cancelled",
        "cancelled",
        "cancelled; training did not stop within 10 s",
        False,
        "cancelled",
    ),
    (
        "killed past budget + grace",
        {"killed": True, "stop_reason": "time_budget"},
        FACTS,
        "failed",
        "time_budget",
        "the time budget of 60 s ran out",
        False,
        "failed",
    ),
    (
        "killed: never started",
        {"killed": True, "died_reason": "the training process did not start in time"},
        FACTS,
        "failed",
        "startup",
        "the training process did not start in time",
        False,
        "failed",
    ),
    (
        "died, attempts left",
        {"died": -9},
        FACTS,
        "queued",
        "crashed",
        "the training process was killed by SIGKILL",
        False,
        "retried",
    ),
    (
        "died on the last attempt",
        {"died": 1},
        LAST,
        "failed",
        "crashed",
        "the training process exited",
        False,
        "failed",
    ),
    (
        "died, cancel asked before the claim",
        {"died": 1},
        CANCEL_ASKED,
        "cancelled",
        "cancelled",
        "cancelled; the training process exited with status 1",
        False,
        "cancelled",
    ),
    (
        "died after a cancel",
        {"died": -9, "stop_reason": "cancelled"},
        FACTS,
        "cancelled",
        "cancelled",
        "cancelled; the training process was killed",
        False,
        "cancelled",
    ),
]


@pytest.mark.parametrize(
    ("watched", "facts", "status", "error_type", "message", "with_model", "outcome"),
    [rule[1:] for rule in RULES],
    ids=[rule[0] for rule in RULES],
)
def test_next_state_follows_the_rule_table(
    watched: dict[str, Any],
    facts: Facts,
    status: str | None,
    error_type: str | None,
    message: str | None,
    with_model: bool,
    outcome: str | None,
) -> None:
    ending = next_state(Watch(**watched), facts)
    if status is None:
        assert ending is None
        return
    assert isinstance(ending, Ending)
    assert ending.status == status and ending.with_model is with_model and ending.outcome == outcome
    if error_type is None:
        assert ending.error is None and ending.reason is None
    else:
        assert ending.error is not None and ending.error["type"] == error_type
        assert message is not None and str(ending.error["message"]).startswith(message), ending.error
        assert ending.reason == ending.error["message"]


def test_a_crash_keeps_its_exit_code_and_a_run_error_keeps_its_fields() -> None:
    crashed = next_state(Watch(died=-9), FACTS)
    assert crashed is not None and crashed.error is not None and crashed.error["exitcode"] == -9
    failed = next_state(Watch(model_error=BROKEN), FACTS)
    assert failed is not None and failed.error == {
        "type": "DataError",
        "message": "the table has no rows",
        "column": "x",
    }
