"""Where one job's time goes: named ``time.perf_counter()`` stamps from the runner and the training process.

Both sides stamp the same clock: ``perf_counter`` is ``CLOCK_MONOTONIC`` on Linux, one clock for every process
of the machine, so a stamp the training process took can be set beside the runner's (the hand-off over the pipe
is the gap between the runner's ``sent`` and the process's ``received``). Elsewhere (another OS, another
machine) the process's stamps are still right relative to each other; :func:`breakdown` then reports what it
can and never a negative gap.

A stamp costs well under a microsecond; an attempt takes about twenty.
"""

from __future__ import annotations

import itertools
import time

Stamp = tuple[str, float]


class Stamps:
    """Named moments of one job, in the order they happened."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Stamp] = []

    def __call__(self, name: str) -> None:
        """Record that ``name`` ended now."""
        self.items.append((name, time.perf_counter()))


def breakdown(stamps: list[Stamp]) -> dict[str, float]:
    """Milliseconds per stage: each stamp's time since the one before it (in time order), summed by name."""
    ordered = sorted(stamps, key=lambda s: s[1])
    out: dict[str, float] = {}
    for (_, before), (name, at) in itertools.pairwise(ordered):
        out[name] = out.get(name, 0.0) + max(0.0, at - before) * 1000
    return out
