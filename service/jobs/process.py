"""The parent's handle on one training process: spawn it, talk JSON to it, stop or kill it.

Spawned (never forked): a fork would copy the API's database connections, threads and event loop into
the child. Messages are JSON bytes on a ``multiprocessing`` pipe, never pickled objects.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import time
from typing import Any

from service.jobs.child import child_main, decode, encode
from service.jobs.memory import current_rss
from service.settings import Settings

logger = logging.getLogger(__name__)
_CTX = multiprocessing.get_context("spawn")

# The thread pools' default sizes (OpenMP: XGBoost, LightGBM, scikit-learn; the BLAS libraries under numpy).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def child_env(settings: Settings) -> dict[str, str]:
    """Environment variables a training process sets before it loads any ML library.

    The thread pools default to the job's threads (``threads_per_job``), not to every core: a library call that
    takes no thread count (XGBoost loading a model, a BLAS product) would otherwise open a parallel region as
    wide as the machine and wait, at its barrier, for a core another job is using. Measured with the other core
    busy: loading a 5-round XGBoost model took 13 ms (median) instead of 0.08 ms.
    """
    env: dict[str, str] = {}
    if settings.job_omp_wait_policy != "inherit":
        env["OMP_WAIT_POLICY"] = settings.job_omp_wait_policy
    if settings.threads_per_job:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(settings.threads_per_job)))
    return env


def start_training_process(settings: Settings) -> TrainingProcess:
    """Spawn a training process set up as ``settings`` say (its environment: :func:`child_env`).

    The one way a process is started: the embedded pool, the runner and the Celery worker all call it, so
    a process prewarmed anywhere gets the same environment as one spawned for a job.
    """
    return TrainingProcess(env=child_env(settings))


# A warm process is replaced once its resident memory, idle after a job, is this many times what it was after its
# first job (the libraries jobs use loaded) and at least RETIRE_MIN_GROWTH bytes more: what a large job left
# allocated (allocator pools, fragmentation) goes back to the system. Job counts alone bound it too
# (``job_max_per_child``): a respawn costs about 1.2 CPU-seconds of imports.
RETIRE_GROWTH = 2.0
RETIRE_MIN_GROWTH = 256 << 20


class ChildDied(Exception):
    """The training process exited (or was killed) while the parent was waiting for it."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(describe_exit(exitcode))


def describe_exit(exitcode: int | None) -> str:
    """A sentence for how a process ended: ``killed by SIGKILL``, ``exited with status 1``."""
    if exitcode is None:
        return "the training process stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory, or killed from outside)" if name == "SIGKILL" else ""
        return f"the training process was killed by {name}{hint}"
    return f"the training process exited with status {exitcode}"


class TrainingProcess:
    """One spawned training process; it serves jobs one at a time until closed or killed."""

    def __init__(self, *, preload: bool = True, env: dict[str, str] | None = None) -> None:
        self._conn, child_conn = _CTX.Pipe(duplex=True)
        # daemon: a parent that exits without closing the pool still takes its children with it.
        self._proc = _CTX.Process(
            target=child_main, args=(child_conn, preload, env or {}), name="advisor-train", daemon=True
        )
        self._proc.start()
        child_conn.close()
        self.jobs_run = 0
        self.settled_rss: int | None = None  # resident bytes, idle after its first job
        self.host: dict[str, Any] | None = None
        self._dead = False

    @property
    def pid(self) -> int | None:
        """The process id."""
        return self._proc.pid

    @property
    def exitcode(self) -> int | None:
        """The exit code once it has ended (negative: killed by that signal)."""
        return self._proc.exitcode

    def alive(self) -> bool:
        """Whether the process runs and its pipe is open."""
        return not self._dead and self._proc.is_alive()

    def rss_bytes(self) -> int | None:
        """Resident memory now, in bytes (Linux ``VmRSS``); None where it cannot be read."""
        return current_rss(self.pid) if self.pid is not None else None

    def retire_reason(self, max_jobs: int) -> str | None:
        """Why this idle process should be replaced before its next job (None: keep it warm): it has run
        ``max_jobs`` jobs, or it holds far more memory than after its first job (see :data:`RETIRE_GROWTH`)."""
        if self.jobs_run >= max_jobs:
            return f"it ran {self.jobs_run} jobs"
        rss = self.rss_bytes()
        if rss is None:
            return None
        if self.settled_rss is None:
            self.settled_rss = rss
            return None
        if rss > RETIRE_GROWTH * self.settled_rss and rss - self.settled_rss > RETIRE_MIN_GROWTH:
            return f"it holds {rss >> 20} MiB, {self.settled_rss >> 20} MiB after its first job"
        return None

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; :class:`ChildDied` if the process is gone."""
        try:
            self._conn.send_bytes(encode(message))
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            self._dead = True
            raise ChildDied(self._wait_exitcode()) from exc

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None if none came within ``timeout``; :class:`ChildDied` if it ended."""
        try:
            if not self._conn.poll(timeout):
                if not self._proc.is_alive():
                    # It may have ended right after writing: drain first, then report the death.
                    if self._conn.poll(0):
                        return decode(self._conn.recv_bytes())
                    self._dead = True
                    raise ChildDied(self._wait_exitcode())
                return None
            return decode(self._conn.recv_bytes())
        except (EOFError, ConnectionResetError, OSError) as exc:
            self._dead = True
            raise ChildDied(self._wait_exitcode()) from exc

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Wait for the ``ready`` message (the imports done); returns the host description."""
        deadline = time.monotonic() + timeout
        while self.host is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the training process did not start within {timeout:.0f} s")
            message = self.recv(min(left, 1.0))
            if message is not None and message.get("t") == "ready":
                self.host = dict(message.get("host") or {})
        return self.host

    def _wait_exitcode(self, timeout: float = 5.0) -> int | None:
        self._proc.join(timeout)
        return self._proc.exitcode

    def kill(self) -> int | None:
        """SIGKILL the process (native code included) and reap it; returns its exit code."""
        self._dead = True
        if self._proc.is_alive():
            self._proc.kill()
        code = self._wait_exitcode()
        self._conn.close()
        return code

    def close(self, timeout: float = 2.0) -> None:
        """Ask the process to exit; kill it if it has not within ``timeout`` seconds."""
        if not self._dead and self._proc.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send_bytes(encode({"t": "exit"}))
            self._proc.join(timeout)
        self.kill()
