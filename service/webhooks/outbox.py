"""The webhook outbox (``webhook_deliveries``): rows written with the job's end, claimed and settled by dispatchers.

:func:`enqueue_for_job` runs **inside** the transaction that writes a job's terminal status (the runner's
finish, the reaper's release, a cancel of a queued job): the delivery commits with the status or not at
all, so a crash can neither lose a call nor make one for a job that did not end. The payload is built and
serialized once, there: every try sends (and signs) exactly the stored text.

A dispatcher claims due rows with a compare-and-set on the lease (:func:`claim_due`): a row is claimed by
one dispatcher at a time, across threads, processes and replicas; a lease that expired (its dispatcher
died mid-try) makes the row claimable again. Delivery is at least once: a receiver dedupes on
``webhook-id`` (the row's id, the same on every try). Functions here never commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from service.db.dml import rowcount
from service.db.models import Job, Tenant, WebhookDelivery
from service.db.types import new_id, utcnow
from service.jobs import states
from service.views.jobs import to_read

logger = logging.getLogger(__name__)

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
ERROR_MAX_CHARS = 1000  # of last_error


def envelope(event: str, data: dict[str, Any], *, at: datetime) -> str:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}`` as compact JSON (no NaN)."""
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": event, "timestamp": stamp, "data": data}, allow_nan=False, separators=(",", ":"))


def job_summary(job: Job) -> dict[str, Any]:
    """What a job's webhook carries: the API's view of the job, without its learning curves."""
    try:
        summary: dict[str, Any] = to_read(job, include_curves=False).model_dump(mode="json")
        json.dumps(summary, allow_nan=False)
        return summary
    except Exception:  # never let a summary that cannot be shown stop the job from ending
        logger.exception("job %s: its summary cannot be serialized; the webhook carries the essentials", job.id)
        return {
            "id": job.id,
            "status": job.status,
            "error": job.error,
            "dataset_id": job.dataset_id,
            "model": job.model,
            "trainer": job.trainer,
        }


def enqueue_for_job(session: Session, job_id: str) -> None:
    """Stage the job's webhook if it has a ``callback_url`` and has ended; call it in the transaction that
    ended the job. A job that already has a delivery for this event gets no second one."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or not job.callback_url or not states.is_terminal(job.status):
        return
    event = f"job.{job.status}"
    existing = session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.job_id == job.id, WebhookDelivery.event == event).limit(1)
    ).first()
    if existing is not None:
        return
    now = utcnow()
    session.add(
        WebhookDelivery(
            id=new_id(),
            created_at=now,
            tenant_id=job.tenant_id,
            job_id=job.id,
            event=event,
            url=job.callback_url,
            payload=envelope(event, job_summary(job), at=job.finished_at or now),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
        )
    )
    session.flush()


# -- the dispatcher's side ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a dispatcher holds the lease of, with what a try needs."""

    id: str
    tenant_id: str
    job_id: str
    event: str
    url: str
    payload: str
    attempts: int
    secret: str


def _due(now: datetime) -> Any:
    free = or_(
        WebhookDelivery.lease_owner.is_(None),
        WebhookDelivery.lease_expires_at.is_(None),
        WebhookDelivery.lease_expires_at < now,
    )
    return and_(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now, free)


def any_due(*, session: Session, now: datetime) -> bool:
    """Whether some pending row is due and not leased (a read: no write lock for an idle poll)."""
    return session.scalars(select(WebhookDelivery.id).where(_due(now)).limit(1)).first() is not None


def claim_due(*, session: Session, owner: str, now: datetime, lease_s: float, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due rows to ``owner`` (unique per claim) and return them, oldest due first.

    The update re-checks the due condition row by row, so of two dispatchers that picked the same row only
    one sets its lease (PostgreSQL re-evaluates the condition after waiting for the row lock; SQLite runs
    one writer at a time); each then reads back only the rows that carry its own ``owner``.
    """
    ids = list(
        session.scalars(
            select(WebhookDelivery.id).where(_due(now)).order_by(WebhookDelivery.next_attempt_at).limit(limit)
        )
    )
    if not ids:
        return []
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), _due(now))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(WebhookDelivery, Tenant.webhook_secret)
        .join(Tenant, Tenant.id == WebhookDelivery.tenant_id)
        .where(WebhookDelivery.id.in_(ids), WebhookDelivery.lease_owner == owner)
        .order_by(WebhookDelivery.next_attempt_at)
    ).all()
    return [
        Claimed(
            id=d.id,
            tenant_id=d.tenant_id,
            job_id=d.job_id,
            event=d.event,
            url=d.url,
            payload=d.payload,
            attempts=d.attempts,
            secret=secret,
        )
        for d, secret in rows
    ]


def settle(
    *,
    session: Session,
    id: str,
    owner: str,
    now: datetime,
    status: str,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Record one try of a row ``owner`` holds: ``delivered``, ``failed`` (no more tries) or ``pending`` again
    at ``next_attempt_at``; the lease is released. False (nothing written) if ``owner`` lost the lease."""
    values: dict[str, Any] = {
        "status": status,
        "attempts": WebhookDelivery.attempts + 1,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_status_code": status_code,
        "last_error": None if error is None else error[:ERROR_MAX_CHARS],
    }
    if status == DELIVERED:
        values["delivered_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == id, WebhookDelivery.lease_owner == owner, WebhookDelivery.status == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def for_job(*, session: Session, job_id: str) -> list[WebhookDelivery]:
    """A job's deliveries, oldest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
    return list(session.scalars(stmt.order_by(WebhookDelivery.created_at, WebhookDelivery.id)))
