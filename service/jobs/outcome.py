"""How an attempt ends: what the runner watched → the job's next state. Pure: no clock, database or process.

:func:`next_state` is the whole rule table (tests/service/jobs/test_outcome.py walks it row by row):

======================================  =============================================================
watched                                 next state
======================================  =============================================================
lease lost                              nothing is written (another runner owns the job)
server shut down                        ``queued``, the attempt not counted
a model                                 ``succeeded``; ``cancelled`` with the model if cancel was asked
the model's run failed: stopped         ``cancelled`` (cancel asked) or ``failed`` (time budget)
the model's run failed: an error        ``failed`` with the run's error
killed (no model)                       ``cancelled`` / ``failed`` (time budget) / ``failed`` (startup)
died (no model)                         ``cancelled`` if cancel was asked, else ``queued`` while attempts
                                        are left, else ``failed``
======================================  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.jobs import states
from service.jobs.messages import ResultMessage, RunError
from service.jobs.process import describe_exit

# How an attempt ended, in the job's history ("retried": the process died and another attempt follows).
_OUTCOMES = {states.QUEUED: "retried"}


@dataclass
class Watch:
    """What the runner learned from the training process during one attempt (filled in while watching)."""

    model: ResultMessage | None = None
    model_error: RunError | None = None
    baseline: ResultMessage | None = None
    baseline_error: RunError | None = None
    done: bool = False
    died: int | None = None
    died_reason: str | None = None
    stop_reason: str | None = None
    killed: bool = False
    lost_lease: bool = False
    shutdown: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    phase_started: float | None = None


@dataclass(frozen=True)
class Facts:
    """What the job row and the settings say about the attempt."""

    attempt: int
    max_attempts: int
    cancel_requested: bool = False  # as read when the job was claimed
    grace_s: float = 10.0
    time_budget_s: float = 60.0


@dataclass(frozen=True)
class Ending:
    """The job's next state: its status, its error (None: none), whether the model run's result is stored with
    it, and whether the attempt counts (a shutdown hands the job back without using one up)."""

    status: str
    error: dict[str, Any] | None = None
    with_model: bool = False
    count_attempt: bool = True

    @property
    def outcome(self) -> str:
        """How the attempt ended, in the job's history: a status, ``retried`` or ``interrupted``."""
        return _OUTCOMES.get(self.status, self.status) if self.count_attempt else "interrupted"

    @property
    def reason(self) -> str | None:
        """The error's message, if any."""
        return None if self.error is None else str(self.error.get("message"))


def _cancelled(message: str) -> Ending:
    return Ending(states.CANCELLED, {"type": "cancelled", "message": message})


def next_state(w: Watch, facts: Facts) -> Ending | None:
    """The job's next state after an attempt; None when the lease was lost (nothing may be written)."""
    if w.lost_lease:
        return None
    if w.shutdown:
        return Ending(
            states.QUEUED,
            {"type": "interrupted", "message": "the server shut down during training"},
            count_attempt=False,
        )
    cancelled = w.stop_reason == "cancelled"
    if w.model is not None:
        if not cancelled:
            return Ending(states.SUCCEEDED, with_model=True)
        partial = " (partial)" if w.model.result.partial else ""
        message = f"cancelled; the best model so far was kept{partial}"
        return Ending(states.CANCELLED, {"type": "cancelled", "message": message}, with_model=True)
    if w.model_error is not None:
        if w.model_error.type != "stopped":
            return Ending(states.FAILED, w.model_error.as_dict())
        if w.model_error.reason == "cancelled" or cancelled:
            return _cancelled("cancelled before the first round ended; there is no model")
        return Ending(
            states.FAILED, {"type": "time_budget", "message": "the time budget ran out before the first round ended"}
        )
    # No result and no error: the process died, was killed by the runner, or never started.
    if w.killed:
        if cancelled:
            return _cancelled(
                f"cancelled; training did not stop within {facts.grace_s:.0f} s and was killed before a model was saved"
            )
        if w.stop_reason == "time_budget":
            return Ending(
                states.FAILED,
                {
                    "type": "time_budget",
                    "message": f"the time budget of {facts.time_budget_s:.0f} s ran out and training did not stop "
                    f"within {facts.grace_s:.0f} s; it was killed",
                },
            )
        return Ending(states.FAILED, {"type": "startup", "message": w.died_reason or "no training process"})
    reason = w.died_reason or describe_exit(w.died)
    if facts.cancel_requested or cancelled:
        return _cancelled(f"cancelled; {reason}")
    if facts.attempt < facts.max_attempts:
        message = f"{reason} on attempt {facts.attempt} of {facts.max_attempts}; retrying"
        return Ending(states.QUEUED, {"type": "crashed", "message": message, "exitcode": w.died})
    message = f"{reason} on attempt {facts.attempt} of {facts.max_attempts}"
    return Ending(states.FAILED, {"type": "crashed", "message": message, "exitcode": w.died})
