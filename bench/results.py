"""How a bench hands its headline figures to ``make bench`` (:mod:`bench.run_all`): one line each on stdout.

    report("HTTP POST /v1/recommendations", 0.42, ">= 0.5x trivial", ok=False, unit="x trivial")
    skip("no CUDA device")   # prints the reason and exits 0: the bench cannot run here

A bench still prints its own human-readable lines; these are the ones the summary table is built from.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

PREFIX = "BENCH-RESULT "
SKIP_PREFIX = "BENCH-SKIP "


def report(figure: str, value: float, target: str, ok: bool | None, unit: str = "") -> None:
    """One figure, its target in words, and whether it met it (None: a figure without a target)."""
    line = {"figure": figure, "value": round(float(value), 4), "unit": unit, "target": target, "ok": ok}
    print(PREFIX + json.dumps(line, ensure_ascii=False), flush=True)


def skip(reason: str) -> NoReturn:
    """Say why this bench cannot run on this machine and stop (exit status 0)."""
    print(SKIP_PREFIX + json.dumps({"reason": reason}, ensure_ascii=False), flush=True)
    sys.exit(0)
