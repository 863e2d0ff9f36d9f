"""``CeleryQueue``: the :class:`~service.jobs.queue.JobQueue` that publishes job ids to a Celery broker.

Each message is the task name plus one argument, the job id, sent to the ``cpu`` or ``gpu`` queue
chosen by :mod:`service.jobs.routing`. Callers enqueue only after the row has committed.

In the API the publish happens on a background thread (``background=True``): ``enqueue`` is called
from the event loop, and a broker that is slow or restarting must not stall every request. An id whose
publish failed stays ``queued`` in the database; the reconciler re-publishes it. The queue remembers
when it last published each id, so the reconciler does not re-publish a job that is merely waiting
behind others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from celery import Celery

from service.jobs.queue import QueueClosed
from service.jobs.routing import TASK_NAME, route
from service.settings import Settings

logger = logging.getLogger(__name__)


class CeleryQueue:
    """Publishes ``(job_id,)`` messages to ``<prefix>cpu`` / ``<prefix>gpu``."""

    def __init__(self, app: Celery, settings: Settings, *, background: bool = True) -> None:
        self.app = app
        self.settings = settings
        self.background = background
        self._published: dict[str, float] = {}  # job id → monotonic time of its last successful publish
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: deque[tuple[str, str]] = deque()
        self._pending_ids: set[str] = set()  # an id waiting to be published is not queued twice
        self._closed = False
        self._thread: threading.Thread | None = None
        self.failures = 0

    # -- JobQueue ------------------------------------------------------------------------------------
    def enqueue(self, job_id: str, queue_name: str = "cpu") -> None:
        """Publish ``job_id`` to the queue its row prefers (routed by the settings); never blocks in the
        background mode. Raises :class:`QueueClosed` after :meth:`close`."""
        if self._closed:
            raise QueueClosed("the job queue is closed")
        if not self.background:
            self.publish(job_id, queue_name)
            return
        with self._cond:
            if job_id in self._pending_ids:
                return
            self._pending_ids.add(job_id)
            self._pending.append((job_id, queue_name))
            if self._thread is None:
                self._thread = threading.Thread(target=self._publisher, name="advisor-celery-publish", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Publish what is pending (up to a few seconds), then refuse new ids."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10.0)

    # -- publishing ----------------------------------------------------------------------------------
    def publish(self, job_id: str, preferred: str = "cpu") -> None:
        """Send the message now (blocking; retries briefly, then raises)."""
        name = route(preferred, self.settings)
        self.app.send_task(TASK_NAME, args=(job_id,), queue=name, routing_key=name, ignore_result=True)
        with self._lock:
            self._published[job_id] = time.monotonic()

    def _publisher(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return  # closed and drained
                job_id, preferred = self._pending.popleft()
                self._pending_ids.discard(job_id)
            try:
                self.publish(job_id, preferred)
            except Exception as exc:  # the row stays queued; the reconciler publishes it again
                self.failures += 1
                logger.warning("could not publish job %s (%s); the reconciler will", job_id, exc)

    def recently_published(self, job_id: str, within_s: float) -> bool:
        """Whether this process published ``job_id`` within the last ``within_s`` seconds."""
        now = time.monotonic()
        with self._lock:
            at = self._published.get(job_id)
            if len(self._published) > 10_000:  # forget old entries; they only matter within the window
                self._published = {k: v for k, v in self._published.items() if now - v < within_s}
        return at is not None and now - at < within_s

    def pending(self) -> int:
        """Ids handed to :meth:`enqueue` and not yet published (background mode)."""
        with self._lock:
            return len(self._pending)
