"""Progress, curves and cancellation hooks a trainer calls while it fits.

Every hook is a no-op by default (skorch's callback style): a job engine subclasses :class:`Callbacks`
and overrides what it needs. Trainers call :meth:`Callbacks.on_round` once per boosting round and
:meth:`Callbacks.should_stop` right after it, so both must be cheap: read a flag or the clock, and
throttle anything slower (a database write, a heartbeat) inside the override.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from trainers.errors import TrainerError
from trainers.spec import StopReason


class TrainingStopped(TrainerError):
    """Stop was requested before any model existed, so there is no partial result to keep."""

    kind = "stopped"

    def __init__(self, reason: StopReason) -> None:
        super().__init__(f"training stopped before the first round ({reason})")
        self.reason = reason


class Callbacks:
    """No-op hooks; override any of them."""

    def on_start(self, total: int) -> None:
        """Training begins; ``total`` is the most rounds it may run (1 for single-fit models)."""

    def on_round(self, round: int, metrics: Mapping[str, float]) -> None:
        """Round ``round`` (0-based) finished; ``metrics`` maps 'train-logloss', 'valid-auc', ... to values."""

    def should_stop(self) -> bool:
        """True to stop now; the trainer keeps the best model so far and marks the result partial."""
        return False

    def stop_reason(self) -> StopReason:
        """Why :meth:`should_stop` said True (asked only after it did)."""
        return "cancelled"

    def time_left(self) -> float | None:
        """Seconds until :meth:`should_stop` says True on time alone; None without a deadline. A trainer whose
        fit is one long library call (a forest) reads it to fit that call to the time."""
        return None

    def on_end(self) -> None:
        """Training ended (normally, early-stopped or stopped on request)."""


class CallbackList(Callbacks):
    """Several callbacks as one: every hook goes to each; stop when any of them says so."""

    def __init__(self, *callbacks: Callbacks) -> None:
        self.callbacks = [c for c in callbacks if c is not None]
        self._stopper: Callbacks | None = None

    def on_start(self, total: int) -> None:
        for c in self.callbacks:
            c.on_start(total)

    def on_round(self, round: int, metrics: Mapping[str, float]) -> None:
        for c in self.callbacks:
            c.on_round(round, metrics)

    def should_stop(self) -> bool:
        for c in self.callbacks:
            if c.should_stop():
                self._stopper = c
                return True
        return False

    def stop_reason(self) -> StopReason:
        return self._stopper.stop_reason() if self._stopper is not None else "cancelled"

    def time_left(self) -> float | None:
        left = [t for t in (c.time_left() for c in self.callbacks) if t is not None]
        return min(left) if left else None

    def on_end(self) -> None:
        for c in self.callbacks:
            c.on_end()


class TimeBudget(Callbacks):
    """Stop once ``seconds`` have passed since construction (or since ``start`` on ``clock``)."""

    def __init__(
        self, seconds: float, *, start: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if seconds <= 0:
            raise ValueError("a time budget must be positive")
        self.seconds = seconds
        self._clock = clock
        self.deadline = (clock() if start is None else start) + seconds

    def remaining(self) -> float:
        """Seconds left (negative once exceeded)."""
        return self.deadline - self._clock()

    def should_stop(self) -> bool:
        return self._clock() >= self.deadline

    def stop_reason(self) -> StopReason:
        return "time_budget"

    def time_left(self) -> float | None:
        return self.remaining()


class CancelToken(Callbacks):
    """A cancel flag another thread can set (:meth:`cancel`); checking it costs one attribute read."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the running fit to stop after the current round."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def should_stop(self) -> bool:
        return self._event.is_set()

    def stop_reason(self) -> StopReason:
        return "cancelled"
