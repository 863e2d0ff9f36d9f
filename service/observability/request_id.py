"""Request and job ids for log lines: two context variables and the ASGI middleware that sets the first.

Every HTTP request gets an id: the caller's ``X-Request-ID`` when it is plain (1-128 characters of
``A-Z a-z 0-9 . _ : -``), a fresh uuid4 hex otherwise. It is in every log line written while the request is
handled (``service.observability.logging``), in the ``X-Request-ID`` response header (errors included), and
on the jobs the request creates, so the runner's log lines for a job (in the API or a Celery worker) carry
the id of the request that submitted it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: ContextVar[str | None] = ContextVar("advisor_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("advisor_job_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or of the request that created the job) being handled, if any."""
    return request_id.get()


def accept(given: str | None) -> str:
    """``given`` if it is a plain id of 1-128 characters ``[A-Za-z0-9._:-]``; a new uuid4 hex otherwise."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


@contextmanager
def job_context(job: str, request: str | None = None) -> Iterator[None]:
    """Set ``job_id`` (and ``request_id``) for the block; both are restored when it ends, even if
    ``request_id`` was set again inside it (e.g. once the job's row has been read)."""
    job_token = job_id.set(job)
    request_token = request_id.set(request)
    try:
        yield
    finally:
        request_id.reset(request_token)
        job_id.reset(job_token)


class RequestIdMiddleware:
    """Pure ASGI middleware: picks the request's id, sets :data:`request_id`, echoes it in the response.

    The id stays set when the app raises: the 500 handler (``service.errors``) runs after this middleware
    returns, in Starlette's outermost middleware, and logs and answers with it. Each request the server
    handles runs in its own context, so the id never reaches another request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        rid = accept(given)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[HEADER] = rid
            await send(message)

        token = request_id.set(rid)
        await self.app(scope, receive, send_with_id)
        request_id.reset(token)
