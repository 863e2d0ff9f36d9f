"""Where a job's id is sent: the task name, and the broker queue: ``cpu`` or ``gpu`` (with the deployment's prefix).

A job row records the queue its trainer prefers (``trainers.torch.preferred_queue``: ``gpu`` for torch
trainers). The deployment decides at publish time: torch jobs go to the ``gpu`` queue only while GPU
workers exist (``gpu_queue_enabled``), otherwise to ``cpu`` with everything else. Deciding when
publishing, not when storing, means that turning the setting off re-routes the jobs the reconciler
re-publishes, instead of leaving them on a queue nobody consumes.
"""

from __future__ import annotations

from typing import Literal

from service.settings import Settings

# The Celery task that runs a job, named explicitly: a rename of the Python function never orphans queued
# messages. Here, beside the queues, because both the publisher (celery_queue) and the worker (tasks) need it.
TASK_NAME = "advisor.run_job"

QueueKind = Literal["cpu", "gpu"]
KINDS: tuple[QueueKind, ...] = ("cpu", "gpu")


def queue_kind(preferred: str, settings: Settings) -> QueueKind:
    """``gpu`` when the job prefers it and GPU workers are enabled; ``cpu`` otherwise."""
    return "gpu" if preferred == "gpu" and settings.gpu_queue_enabled else "cpu"


def queue_name(kind: str, settings: Settings) -> str:
    """The broker's name for a queue kind: ``<broker_queue_prefix><kind>``."""
    if kind not in KINDS:
        raise ValueError(f"unknown queue {kind!r}; expected one of {', '.join(KINDS)}")
    return f"{settings.broker_queue_prefix}{kind}"


def route(preferred: str, settings: Settings) -> str:
    """The broker queue name for a job whose row prefers ``preferred``."""
    return queue_name(queue_kind(preferred, settings), settings)
