"""Where the cores go during a bench run: CPU seconds per part of the system, sampled from Linux ``/proc``.

:class:`CpuShare` samples every process's user + system CPU time about once a second on a thread, sorts each
process into a part (the API server and its children, each Celery worker's own processes, the training
processes, this run's PostgreSQL backends, PostgreSQL's shared processes, Redis / RabbitMQ, the bench client)
and, at the end, reports what each part used: CPU seconds, milliseconds per job, and its share of the
machine's cores over the run. ``other`` is everything else on the machine (other users' work), from the
machine-wide counters in ``/proc/stat``.

A process that exits between two samples loses at most its last second; the sampling itself costs a few
milliseconds a second and is counted in ``bench client``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _read_procs() -> dict[int, tuple[int, float, str, str]]:
    """pid → (parent pid, CPU seconds, command name, command line) for every process readable now."""
    out: dict[int, tuple[int, float, str, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[pid] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, name, cmdline)
    return out


def _machine_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine so far (all cores)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


class CpuShare:
    """Samples CPU use per part while running (a context manager); :meth:`report` prints the table.

    ``roots``: part name → the pids whose process trees form that part (the API server, each worker);
    a process that is a training process (a ``multiprocessing`` spawn child) counts as ``training processes``
    whichever tree it is in. ``database`` names this run's PostgreSQL database (its backends are the part
    ``database (this run)``).
    """

    def __init__(
        self, roots: Callable[[], dict[str, list[int]]], database: str | None, interval_s: float = 1.0
    ) -> None:
        self.roots = roots
        self.database = database
        self.interval_s = interval_s
        self.first: dict[int, float] = {}  # CPU seconds when first seen (0 for a process born during the run)
        self.last: dict[int, float] = {}
        self.part: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-share", daemon=True)
        self.started = self.ended = 0.0  # monotonic seconds
        self.busy0 = self.busy1 = 0.0

    def _classify(self, procs: dict[int, tuple[int, float, str, str]]) -> dict[int, str]:
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in procs.items():
            children.setdefault(ppid, []).append(pid)
        parts: dict[int, str] = {}
        for part, pids in self.roots().items():
            for root in pids:
                if root in procs:
                    parts[root] = part
            stack = [child for root in pids for child in children.get(root, [])]
            while stack:  # a root's descendants: Celery's pool processes (where the runner runs), and theirs
                pid = stack.pop()
                if pid in procs and pid not in parts:
                    parts[pid] = f"{part}: child processes"
                    stack.extend(children.get(pid, []))
        me = os.getpid()
        for pid, (_, _, name, cmdline) in procs.items():
            if "multiprocessing.spawn" in cmdline and pid in parts:
                parts[pid] = "training processes"
            elif pid in parts:
                continue
            elif pid == me:
                parts[pid] = "bench client"
            elif name == "postgres" or cmdline.startswith("postgres"):
                ours = self.database is not None and f" {self.database} " in f" {cmdline} "
                parts[pid] = "database (this run)" if ours else "database (shared processes, all users)"
            elif name.startswith("redis") or name == "beam.smp":
                parts[pid] = "broker (all users)"
        return parts

    def _sample(self, initial: bool = False) -> None:
        procs = _read_procs()
        for pid, part in self._classify(procs).items():
            cpu = procs[pid][1]
            if pid not in self.first:
                self.first[pid] = cpu if initial else 0.0
            self.last[pid] = cpu
            self.part[pid] = part

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> CpuShare:
        self.busy0 = _machine_busy_s()
        self._sample(initial=True)
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.ended = time.monotonic()
        self.busy1 = _machine_busy_s()

    def seconds(self) -> dict[str, float]:
        """CPU seconds per part over the run, ``other`` included."""
        out: dict[str, float] = {}
        for pid, part in self.part.items():
            out[part] = out.get(part, 0.0) + max(0.0, self.last[pid] - self.first[pid])
        out["other (rest of the machine)"] = max(0.0, (self.busy1 - self.busy0) - sum(out.values()))
        return out

    def report(self, jobs: int, title: str) -> dict[str, float]:
        """Print CPU per part: seconds, ms per job, share of the cores; returns the seconds."""
        seconds = self.seconds()
        wall = max(1e-9, self.ended - self.started)
        cores = len(os.sched_getaffinity(0))
        print(f"  where the cores went, {title} ({wall:.1f} s on {cores} cores, load {os.getloadavg()[0]:.2f}):")
        for part, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
            print(
                f"    {part:40s} {s:7.2f} s CPU  {1000 * s / max(1, jobs):7.1f} ms/job  {100 * s / wall / cores:5.1f} %"
            )
        idle = max(0.0, cores * wall - sum(seconds.values()))
        print(f"    {'idle':40s} {idle:7.2f} s      {'':16s} {100 * idle / wall / cores:5.1f} %")
        others = seconds["other (rest of the machine)"]
        ours = sum(seconds.values()) - others
        per_job = ours / max(1, jobs)
        print(
            f"    this run's own CPU: {1000 * per_job:.1f} ms/job, so {cores / per_job:.1f} jobs/s at most on {cores} "
            f"free cores; the rest of the machine took {others / wall:.2f} of the {cores} cores meanwhile"
        )
        return seconds


def database_name(url: str) -> str | None:
    """The database name in a PostgreSQL URL (None for SQLite)."""
    return None if url.startswith("sqlite") else Path(url.rsplit("/", 1)[1].split("?", 1)[0]).name


def server_pids() -> list[int]:
    """This process's children that run ``advisor serve`` (``python -m service.cli serve``)."""
    me = os.getpid()
    return [pid for pid, (ppid, _, _, cmd) in _read_procs().items() if ppid == me and "service.cli serve" in cmd]
