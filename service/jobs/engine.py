"""The job engine an app owns: the queue, the embedded worker pool and the reaper, started and stopped
by the lifespan (``create_app``) so nothing runs at import and tests get a fresh engine per app."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from service import gcpolicy
from service.db.session import Database
from service.jobs.pool import PREWARM_DELAY_S, WorkerPool
from service.jobs.queue import InProcessQueue, JobQueue
from service.jobs.reaper import Reaper
from service.settings import Settings
from service.webhooks.dispatcher import WebhookDispatcher

if TYPE_CHECKING:
    from service.jobs.reconciler import Reconciler

logger = logging.getLogger(__name__)

# What POST /v1/jobs needs to check parameters: first the libraries (modules that register no trainer),
# then the trainers, most used first, through the registry. Torch loads on first use only.
VALIDATION_LIBRARIES = (
    "xgboost",
    "sklearn.linear_model",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "lightgbm",
    "trainers.run",
    "trainers.datasets",
)
VALIDATION_TRAINERS = ("xgboost", "sklearn_logistic", "sklearn_ridge", "lightgbm")


class JobEngine:
    """Queue + pool + reaper + webhook dispatcher for one app."""

    def __init__(self, *, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.inprocess = InProcessQueue()
        self.queue: JobQueue = self.inprocess
        self.reaper: Reaper | Reconciler
        if settings.queue == "celery":
            # Scale-out: this process only accepts and reports jobs; `advisor worker` processes train them.
            # The reconciler (lease recovery + re-publishing lost messages) runs here, beside the publisher.
            # Imported here: Celery is an optional extra, loaded only by deployments that use it.
            from service.jobs.celery_app import make_celery
            from service.jobs.celery_queue import CeleryQueue
            from service.jobs.reconciler import Reconciler

            celery_queue = CeleryQueue(make_celery(settings), settings)
            self.queue = celery_queue
            self.pool = None
            self.reaper = Reconciler(db=db, settings=settings, queue=celery_queue)
        else:
            self.pool = WorkerPool(db=db, settings=settings, queue=self.inprocess) if settings.workers > 0 else None
            self.reaper = Reaper(db=db, settings=settings, queue=self.queue)
        # Both modes: jobs end in workers too, but their webhooks are sent from the API processes.
        self.webhooks = WebhookDispatcher(db=db, settings=settings)
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start the pool's slots, the reaper (whose first pass is the startup recovery) and the webhook dispatcher."""
        if self.pool is not None:
            self.pool.start()
        self.reaper.start()
        self.webhooks.start()
        if self.settings.worker_prewarm:
            threading.Thread(target=self._warm_validation, name="advisor-warm-validation", daemon=True).start()

    def _warm_validation(self) -> None:
        # POST /v1/jobs checks parameters with the trainer classes; importing XGBoost, LightGBM and
        # scikit-learn on the first request took seconds. Import them once, shortly after startup.
        # Trainer modules only through get_trainer: it imports them holding the registry's lock, and their
        # @register_trainer takes that lock, so importing one directly here while a request's get_trainer
        # imports it deadlocks (seen). Libraries first, directly: that is the slow part, and it keeps
        # the registry's lock short when the trainers follow.
        if self._stopping.wait(PREWARM_DELAY_S):
            return
        from trainers.registry import get_trainer

        steps: list[tuple[Callable[[str], object], str]] = [(importlib.import_module, m) for m in VALIDATION_LIBRARIES]
        steps += [(get_trainer, t) for t in VALIDATION_TRAINERS]
        for load, name in steps:
            if self._stopping.is_set():
                return
            try:
                load(name)
            except Exception:  # an optional library missing: the request naming it will say so
                logger.debug("could not import %s", name, exc_info=True)
        if not self._stopping.is_set():
            gcpolicy.freeze_startup_objects()  # the libraries just imported live as long as the process

    async def aclose(self) -> None:
        """:meth:`stop` on a worker thread (it waits for threads), for the app's lifespan."""
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        """Stop the webhook dispatcher and the reaper, then the pool: running jobs go back to the queue, processes
        are killed. Webhooks not sent yet stay in the outbox for the next start."""
        self._stopping.set()
        self.webhooks.stop()
        self.reaper.stop()
        if self.pool is not None:
            self.pool.stop()
        self.queue.close()
