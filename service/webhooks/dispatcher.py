"""The webhook dispatcher: a thread of every API process that POSTs due outbox rows, with retries and backoff.

Every ``webhook_poll_s`` it looks for due rows (a read), claims up to :data:`BATCH` of them with a
compare-and-set lease (:func:`service.webhooks.outbox.claim_due`: several dispatchers — threads, replicas —
never try one row at once) and tries them side by side:

* the target is checked again (:func:`service.webhooks.targets.check_url`: DNS may have changed since the job
  was created), and the connection itself only goes to allowed addresses (``GuardedBackend``); a refused
  target fails the delivery with the reason, a host that does not resolve now is retried;
* the stored payload is POSTed exactly as stored, with ``content-type: application/json``, a User-Agent and
  the Standard Webhooks headers signed with the tenant's secret and a fresh timestamp; redirects are not
  followed (a redirect could lead anywhere);
* 2xx → ``delivered``; 410 Gone → ``failed`` (the receiver asked to stop); any other answer or error →
  another try after ``webhook_backoff_s · 2^(tries−1)`` (at most ``webhook_backoff_max_s``, ±10 % jitter),
  until ``webhook_max_attempts`` tries → ``failed``. ``last_status_code`` / ``last_error`` say what happened.

A dispatcher that dies mid-try leaves its rows leased; when the lease expires another one tries them again,
so a receiver may see a call twice (it dedupes on ``webhook-id``) but never loses one.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy.exc import SQLAlchemyError

from service.db.session import Database
from service.db.types import utcnow
from service.settings import Settings
from service.webhooks import outbox, signing, targets

logger = logging.getLogger(__name__)

BATCH: Final = 8  # rows claimed (and tried side by side) per pass
USER_AGENT: Final = "model-advisor-webhooks/1.0"
PEEK_BYTES: Final = 200  # of a refusing receiver's answer, kept in last_error
RETRY: Final = "retry"


def backoff_s(tries: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``tries`` failed tries: ``base_s · 2^(tries−1)``, at most ``max_s``, ±10 % jitter
    (so receivers that came back are not hit by every waiting call at the same moment)."""
    delay = min(base_s * 2.0 ** min(max(tries - 1, 0), 60), max_s)
    return delay * (rng or random).uniform(0.9, 1.1)


def _peek(response: httpx.Response) -> str:
    """The start of a response body, as one line of text (the rest is not read)."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= PEEK_BYTES:
                break
    except httpx.HTTPError:
        pass
    return re.sub(r"\s+", " ", data[:PEEK_BYTES].decode("utf-8", "replace")).strip()


class WebhookDispatcher:
    """A daemon thread delivering due webhooks every ``webhook_poll_s`` (see the module docstring)."""

    def __init__(
        self, *, db: Database, settings: Settings, name: str | None = None, client: httpx.Client | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.name = name or f"webhooks@{socket.gethostname()}:{os.getpid()}"
        self.allow_private = settings.webhook_allow_private_targets
        # A try takes at most about: resolve + connect + write + read the status line.
        self.lease_s = targets.RESOLVE_TIMEOUT_S + 4 * settings.webhook_timeout_s + 30.0
        self.client = client or httpx.Client(
            transport=targets.guarded_transport(allow_private=self.allow_private),
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            follow_redirects=False,
            trust_env=False,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- the thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._loop, name="advisor-webhooks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            tried = 0
            try:
                tried = self.run_once()
            except SQLAlchemyError as exc:  # not migrated yet, or the database is away: try again later
                logger.warning("webhooks: %s", str(exc).splitlines()[0])
            except Exception:
                logger.exception("webhook dispatch pass failed")
            if tried < BATCH:  # a full batch: more may be due, go on at once
                self._stop.wait(self.settings.webhook_poll_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a try in progress ends first, within ``timeout``); rows not tried stay pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # a slow try: the daemon thread ends it; its lease covers the row meanwhile
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.client.close()

    # -- one pass ------------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim the due rows (up to :data:`BATCH`) and try each once; returns how many were tried."""
        now = utcnow()
        if not self.db.call(outbox.any_due, now=now, write=False):
            return 0
        owner = f"{self.name}:{uuid.uuid4().hex[:12]}"  # unique per claim: reads back only what it won
        rows = self.db.call(outbox.claim_due, owner=owner, now=now, lease_s=self.lease_s, limit=BATCH)
        if len(rows) == 1:
            self._deliver(rows[0], owner)
        elif rows:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="advisor-webhook")
            list(self._executor.map(lambda row: self._deliver(row, owner), rows))
        return len(rows)

    def _try(self, row: outbox.Claimed) -> tuple[str, int | None, str | None]:
        """POST the row once: ``(verdict, status code, error)``; verdict delivered, failed or retry."""
        try:
            targets.check_url(row.url, allow_private=self.allow_private)
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                **signing.headers(row.secret, row.id, row.payload),
            }
            with self.client.stream("POST", row.url, content=row.payload.encode(), headers=headers) as response:
                code = response.status_code
                if 200 <= code < 300:
                    return outbox.DELIVERED, code, None
                peek = _peek(response)
        except targets.TargetUnresolvable as exc:  # DNS may be back by the next try
            return RETRY, None, str(exc)
        except targets.TargetRefused as exc:
            return outbox.FAILED, None, f"target refused: {exc}"
        except signing.InvalidSecret as exc:
            return outbox.FAILED, None, f"cannot sign: {exc}"
        except httpx.HTTPError as exc:
            return RETRY, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:
            logger.exception("webhook %s: unexpected error on a try", row.id)
            return RETRY, None, f"{type(exc).__name__}: {exc}"
        if code == 410:
            return outbox.FAILED, code, "HTTP 410 Gone: the receiver asked for no more calls"
        said = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
        return RETRY, code, f"{said}: {peek}" if peek else said

    def _deliver(self, row: outbox.Claimed, owner: str) -> None:
        """Try the row once and record the outcome (a failure to record leaves the lease to expire)."""
        try:
            verdict, code, error = self._try(row)
            now = utcnow()
            tries = row.attempts + 1
            next_at: datetime | None = None
            if verdict == RETRY:
                if tries >= self.settings.webhook_max_attempts:
                    verdict, error = outbox.FAILED, f"{error} (gave up after {tries} tries)"
                else:
                    verdict = outbox.PENDING
                    next_at = now + timedelta(
                        seconds=backoff_s(
                            tries, base_s=self.settings.webhook_backoff_s, max_s=self.settings.webhook_backoff_max_s
                        )
                    )
            if not self.db.call(
                outbox.settle,
                id=row.id,
                owner=owner,
                now=now,
                status=verdict,
                status_code=code,
                error=error,
                next_attempt_at=next_at,
            ):
                logger.warning("webhook %s: lease lost before the outcome was written", row.id)
                return
            extra = {
                "job_id": row.job_id,
                "webhook_id": row.id,
                "event": row.event,
                "attempt": tries,
                "status_code": code,
            }
            if verdict == outbox.DELIVERED:
                logger.info("webhook %s (%s) delivered on try %d", row.id, row.event, tries, extra=extra)
            elif verdict == outbox.PENDING:
                logger.warning(
                    "webhook %s (%s) try %d failed: %s; next at %s",
                    row.id,
                    row.event,
                    tries,
                    error,
                    next_at.isoformat() if next_at else "?",
                    extra=extra,
                )
            else:
                logger.warning("webhook %s (%s) failed: %s", row.id, row.event, error, extra=extra)
        except Exception:
            logger.exception("webhook %s: could not record the try; its lease will expire", row.id)
