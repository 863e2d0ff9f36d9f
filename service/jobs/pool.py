"""The embedded worker pool of ``advisor serve``: ``workers`` slots, each owning one spawned training process.

A slot is a thread of the API process that takes job ids from the in-process queue and calls the
runner; the training itself happens in the slot's process (spawn context: no copied DB connections,
threads or event loop), which stays warm between jobs (ML libraries imported) and is replaced when it
was killed, crashed, or has run ``job_max_per_child`` jobs. The API's event loop never waits on any of it.

Size: ``workers`` jobs at once, each with ``threads_per_job`` threads (settings check that the product
does not exceed the cores: oversubscribed jobs ran almost 4× slower here).
"""

from __future__ import annotations

import logging
import threading
import time

from service.db.session import Database
from service.jobs import runner
from service.jobs.process import TrainingProcess, start_training_process
from service.jobs.queue import InProcessQueue
from service.settings import Settings

logger = logging.getLogger(__name__)

# A slot starts its process this long after the pool starts (or right away when a job comes first):
# an app that lives a moment (a test, a CLI call) never pays for a process it does not use.
PREWARM_DELAY_S = 1.0


class WorkerPool:
    """Threads that run queued jobs, each through its own warm training process."""

    def __init__(self, *, db: Database, settings: Settings, queue: InProcessQueue) -> None:
        self.db = db
        self.settings = settings
        self.queue = queue
        self.size = settings.workers
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._processes: dict[int, TrainingProcess] = {}
        self._lock = threading.Lock()
        self.busy: dict[int, str] = {}

    def start(self) -> None:
        """Start the slots (each spawns its training process shortly after, if prewarming)."""
        for slot in range(self.size):
            thread = threading.Thread(target=self._slot, args=(slot,), name=f"advisor-worker-{slot}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _set_process(self, slot: int, process: TrainingProcess | None) -> None:
        with self._lock:
            if process is None:
                self._processes.pop(slot, None)
            else:
                self._processes[slot] = process

    def _slot(self, slot: int) -> None:
        name = f"pool-{slot}"
        process: TrainingProcess | None = None
        prewarm_at = time.monotonic() + PREWARM_DELAY_S if self.settings.worker_prewarm else None
        try:
            while not self._stopping.is_set():
                # Wake for the prewarm moment while there is no process yet; after that only new ids (or
                # stop) matter. (A 0 s timeout once the moment had passed made this loop spin a core.)
                if prewarm_at is None or process is not None:
                    wait = 0.5
                else:
                    wait = max(0.0, min(0.5, prewarm_at - time.monotonic()))
                job_id = self.queue.get(timeout=wait)
                if self._stopping.is_set():
                    break
                if job_id is None:
                    if prewarm_at is not None and process is None and time.monotonic() >= prewarm_at:
                        process = start_training_process(self.settings)
                        self._set_process(slot, process)
                    continue
                self.busy[slot] = job_id
                try:
                    outcome = runner.run(
                        job_id,
                        db=self.db,
                        settings=self.settings,
                        queue=self.queue,
                        worker=name,
                        process=process,
                        shutdown=self._stopping,
                    )
                    process = outcome.process
                except Exception:  # run() ends jobs itself; this is a last resort so the slot survives
                    logger.exception("worker %s: job %s raised", name, job_id)
                    if process is not None:
                        process.kill()
                    process = None
                finally:
                    self.busy.pop(slot, None)
                self._set_process(slot, process)
                if process is None and prewarm_at is not None and not self._stopping.is_set():
                    # Replace a killed or retired process now, so the next job finds one warm.
                    process = start_training_process(self.settings)
                    self._set_process(slot, process)
        finally:
            if process is not None:
                process.kill()  # idle: nothing to lose, and a process mid-import cannot read "exit"
            self._set_process(slot, None)

    def processes(self) -> dict[int, TrainingProcess]:
        """The slots' current training processes (for tests and diagnostics)."""
        with self._lock:
            return dict(self._processes)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; running jobs are handed back to the queue (no attempt used) and their
        processes killed; idle processes are killed."""
        self._stopping.set()
        self.queue.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for slot, process in self.processes().items():  # slots that did not finish in time
            logger.warning("worker pool-%d did not stop in time; killing its training process", slot)
            process.kill()
