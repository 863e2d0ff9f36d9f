"""Where job ids go once their row is committed: a small ``JobQueue`` protocol and the in-process one.

The queue carries nothing but the id (and the name of the queue, ``"cpu"`` or ``"gpu"``, for routing);
the row in the database is the truth. Callers enqueue only after the transaction that wrote the row
has committed (``db.call`` has returned), so a rollback never sends anything, and a worker never
receives an id whose row it cannot see yet.

Delivery is at-least-once: an id may arrive twice (a re-enqueue by the reaper, a broker redelivery).
That is safe because the runner claims a job with a compare-and-set on ``status='queued'``.

A Celery implementation (separate ``cpu``/``gpu`` queues on Redis/RabbitMQ) plugs in here later with
the same ``enqueue``; its task calls the same :func:`service.jobs.runner.run`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol, runtime_checkable

QueueName = str  # "cpu" | "gpu"


@runtime_checkable
class JobQueue(Protocol):
    """Sends a committed job's id to whatever trains it."""

    def enqueue(self, job_id: str, queue_name: QueueName) -> None:
        """Deliver ``job_id`` to the workers of ``queue_name`` (at least once)."""
        ...

    def close(self) -> None:
        """Stop accepting ids and wake anyone waiting on the queue."""
        ...


class QueueClosed(Exception):
    """The queue was closed (the app is shutting down)."""


class InProcessQueue:
    """A thread-safe FIFO for the embedded worker pool; all queue names share it.

    An id already waiting is not added twice, so the reaper may re-enqueue queued jobs freely.
    """

    def __init__(self) -> None:
        self._items: deque[str] = deque()
        self._waiting: set[str] = set()
        self._cond = threading.Condition()
        self._closed = False

    def enqueue(self, job_id: str, queue_name: QueueName = "cpu") -> None:
        """Add ``job_id`` unless it is already waiting; raises :class:`QueueClosed` after ``close``."""
        with self._cond:
            if self._closed:
                raise QueueClosed("the job queue is closed")
            if job_id in self._waiting:
                return
            self._waiting.add(job_id)
            self._items.append(job_id)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> str | None:
        """The next id, waiting up to ``timeout`` seconds; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout=timeout):
                return None
            if self._closed:
                return None
            job_id = self._items.popleft()
            self._waiting.discard(job_id)
            return job_id

    def waiting(self) -> frozenset[str]:
        """Ids enqueued and not yet taken."""
        with self._cond:
            return frozenset(self._waiting)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Refuse new ids, drop the waiting ones (their rows stay queued) and wake the consumers."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._waiting.clear()
            self._cond.notify_all()
