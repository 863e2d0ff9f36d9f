"""Job statuses and the transitions between them; every status write in the engine is checked here.

::

    queued ──claim──► running ──► succeeded | failed | cancelled
       │                 │
       │                 └──(worker died, attempts left)──► queued
       └──(cancel)──► cancelled

Terminal statuses never change again.
"""

from __future__ import annotations

from typing import Final, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]

QUEUED: Final = "queued"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"

STATUSES: Final[tuple[JobStatus, ...]] = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL: Final[frozenset[str]] = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE: Final[frozenset[str]] = frozenset({QUEUED, RUNNING})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    QUEUED: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, QUEUED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


class InvalidTransition(Exception):
    """A status change the state machine does not allow (a bug in the caller, never user input)."""


def can_transition(current: str, new: str) -> bool:
    """Whether a job may go from ``current`` to ``new``."""
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, new: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current`` → ``new`` is allowed."""
    if not can_transition(current, new):
        raise InvalidTransition(f"a job cannot go from {current} to {new}")


def is_terminal(status: str) -> bool:
    """Whether ``status`` is final."""
    return status in TERMINAL
