"""``make bench``: every bench in ``bench/`` with short settings, then one table: figure, target, pass/miss.

    python bench/run_all.py                    # short settings (minutes)
    python bench/run_all.py --smallest         # each at its smallest setting (what the smoke test runs)
    python bench/run_all.py --only recommend,ingest

Each bench runs in its own process with this checkout first on ``PYTHONPATH`` (so it measures this checkout's
code, not an installed copy) and reports its headline figures through :mod:`bench.results`. A bench that
needs something this machine lacks (a GPU; Redis for the Celery scale-out) is skipped with the reason. The
figures are ratios measured within each bench's own run; the machine's load average is printed with them.
Exit status 1 when a bench fails to run (a missed target is a row, not a failure; ``--check`` makes it one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import PREFIX, SKIP_PREFIX  # noqa: E402


@dataclass(frozen=True)
class Bench:
    """A bench script, its short and smallest arguments, and what it needs to run at all."""

    name: str
    short: tuple[str, ...]
    smallest: tuple[str, ...]
    needs_ports: tuple[tuple[int, str], ...] = ()  # (port on 127.0.0.1, what listens there)
    needs_gpu: bool = False
    own_smoke_test: str | None = None  # a bench whose smoke test lives elsewhere
    reports: bool = True  # False: prints its own table (no bench.results lines); a clean exit is what counts

    @property
    def script(self) -> Path:
        return ROOT / "bench" / f"{self.name}.py"


BENCHES: tuple[Bench, ...] = (
    Bench(
        "recommend", ("--calls", "1000", "--seconds", "5"), ("--calls", "20", "--seconds", "0.3", "--concurrency", "4")
    ),
    Bench("request_overhead", ("--requests", "500", "--rounds", "3"), ("--requests", "10", "--rounds", "1")),
    Bench("ingest", ("--rows", "500000", "--repeats", "1", "--http"), ("--rows", "2000", "--repeats", "1")),
    Bench("dispatch", ("--jobs", "60", "--latency-jobs", "10"), ("--jobs", "2", "--latency-jobs", "1")),
    Bench(
        "scale",
        ("--jobs", "60", "--latency-jobs", "5"),
        ("--jobs", "2", "--latency-jobs", "1", "--workers", "1"),
        needs_ports=((6379, "Redis (the Celery broker)"),),
    ),
    Bench("job_overhead", ("--jobs", "30"), ("--jobs", "1", "--database", "sqlite")),
    Bench("train_direct", ("--rows", "200000", "--rounds", "50"), ("--rows", "3000", "--rounds", "3", "--repeat", "1")),
    Bench("train_overhead", ("--rows", "200000", "--rounds", "50"), ("--rows", "3000", "--rounds", "3")),
    Bench(
        "torch_overhead",
        ("--rows", "200000", "--repeat", "1"),
        ("--rows", "4000", "--valid-rows", "1000", "--repeat", "1"),
    ),
    Bench("classical_pool", ("--datasets", "dev/iris,dev/wine,dev/breast_cancer"), ("--datasets", "dev/iris")),
    Bench(
        "gpu_check",
        ("--rows", "200000", "--mlp-epochs", "1", "--cnn-epochs", "3"),
        ("--rows", "20000", "--mlp-epochs", "1", "--cnn-epochs", "1"),
        needs_gpu=True,
    ),
    Bench("race_quality", ("--quick",), ("--quick",), own_smoke_test="tests/test_race_quality_bench.py", reports=False),
)
# Not benches: bench/realdata.py (the datasets), bench/learn_portfolio.py (learns advisor/data/portfolio.json),
# bench/cpu_share.py (scale.py's CPU sampler) and bench/selection_study.py (replays a race_quality.py --dump; its
# smoke test is race_quality's) and bench/imbalance_study.py and bench/regression_loss_study.py (studies of class
# weights and of regression losses in boosting, with their own smoke tests beside race_quality's).
NOT_BENCHES = frozenset(
    {
        "realdata",
        "learn_portfolio",
        "results",
        "run_all",
        "cpu_share",
        "selection_study",
        "imbalance_study",
        "regression_loss_study",
    }
)


@dataclass
class Outcome:
    """What one bench run gave: its figures, or why it was skipped, or how it failed."""

    bench: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _gpu() -> bool:
    """An NVIDIA driver is present (without importing torch, which takes seconds; the bench checks CUDA itself)."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()


def precondition(bench: Bench) -> str | None:
    """Why ``bench`` cannot run on this machine, or None."""
    if bench.needs_gpu and not _gpu():
        return "GPU only: no CUDA device on this machine"
    for port, what in bench.needs_ports:
        if not _port_open(port):
            return f"needs {what} on 127.0.0.1:{port}"
    return None


def run_one(bench: Bench, *, smallest: bool = False, timeout: float = 3600, echo: bool = True) -> Outcome:
    """Run ``bench`` in a child process and collect its figures (``echo`` streams its own output, indented)."""
    out = Outcome(bench.name)
    reason = precondition(bench)
    if reason is not None:
        out.skipped = reason
        return out
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    args = [sys.executable, str(bench.script), *(bench.smallest if smallest else bench.short)]
    start = time.monotonic()
    tail: list[str] = []
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(timeout, proc.kill)  # a bench that hangs silently still ends
    watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(PREFIX):
                out.rows.append(json.loads(line[len(PREFIX) :]))
            elif line.startswith(SKIP_PREFIX):
                out.skipped = json.loads(line[len(SKIP_PREFIX) :])["reason"]
            else:
                tail = [*tail[-30:], line]
                if echo:
                    print(f"  | {line}", flush=True)
        rc = proc.wait()
    finally:
        watchdog.cancel()
    out.seconds = time.monotonic() - start
    if out.seconds >= timeout:
        out.error = f"timed out after {timeout:.0f} s: " + " / ".join(tail[-4:])
    elif rc != 0:
        out.error = f"exit status {rc}: " + " / ".join(tail[-6:])
    elif not out.rows and out.skipped is None and bench.reports:
        out.error = "ran, but reported no figure (bench.results.report)"
    return out


def table(outcomes: list[Outcome]) -> str:
    """The summary: one row per figure (or per skipped/failed bench)."""
    lines = [f"{'bench':16s} {'figure':58s} {'value':>12s}  {'target':24s} result", "-" * 122]
    for o in outcomes:
        if o.error is not None:
            lines.append(f"{o.bench:16s} {'(did not run)':58s} {'':>12s}  {'':24s} ERROR: {o.error[:200]}")
        elif o.skipped is not None:
            lines.append(f"{o.bench:16s} {'(skipped)':58s} {'':>12s}  {'':24s} skip: {o.skipped}")
        elif not o.rows:
            lines.append(f"{o.bench:16s} {'(ran: its figures are in its own output above)':58s} {'':>12s}  {'':24s} ok")
        for r in o.rows:
            verdict = "pass" if r["ok"] is True else "MISS" if r["ok"] is False else "-"
            value = f"{r['value']:g} {r['unit']}".strip()
            lines.append(f"{o.bench:16s} {r['figure'][:58]:58s} {value:>12s}  {r['target'][:24]:24s} {verdict}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smallest", action="store_true", help="each bench at its smallest setting")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one bench may take")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed too")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    args = parser.parse_args()
    wanted = {n for n in args.only.split(",") if n}
    unknown = wanted - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    outcomes = []
    for bench in BENCHES:
        if wanted and bench.name not in wanted:
            continue
        print(f"== {bench.name} {' '.join(bench.smallest if args.smallest else bench.short)}", flush=True)
        outcomes.append(run_one(bench, smallest=args.smallest, timeout=args.timeout, echo=not args.quiet))
    for o in outcomes:
        print(f"{o.bench}: {o.seconds:.0f} s", end="; " if o is not outcomes[-1] else "\n")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs")
    print(table(outcomes))
    failed = any(o.error for o in outcomes)
    missed = any(r["ok"] is False for o in outcomes for r in o.rows)
    return 1 if failed or (args.check and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
