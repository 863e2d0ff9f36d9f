"""A size limit on request bodies that are not uploads (JSON and anything else), as pure ASGI middleware.

A declared ``Content-Length`` over the limit is answered 413 before the body is read; a body without one
(chunked) or with one that understates it is counted while it streams, and answered 413 the moment it
passes the limit. ``multipart/form-data`` bodies sent to an operation that documents them (the uploads) are
left to the upload limit (``service.uploads``), which streams them to disk; anywhere else a multipart body
is held to this limit too, since FastAPI would read it whole before refusing it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, path_items, render

_UPLOAD_TYPE = "multipart/form-data"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _takes_uploads(scope: Scope) -> bool:
    """Whether the request's operation documents a multipart body (its upload limit then applies), or its path
    is one of ``app.state.upload_paths`` (undocumented uploads: the dashboard's upload form)."""
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return False
    if scope["method"] == "POST" and scope["path"] in getattr(app.state, "upload_paths", ()):
        return True
    method = str(scope["method"]).lower()
    return any(
        _UPLOAD_TYPE in ((item.get(method) or {}).get("requestBody") or {}).get("content", {})
        for item in path_items(app, scope["path"])
    )


def _file_hint(scope: Scope) -> str:
    """Where an operation also takes its data as a file upload (predictions: JSON rows or a CSV / Parquet file),
    the way past this limit."""
    if str(scope.get("method")) != "POST" or not _takes_uploads(scope):
        return ""
    return " This operation also takes the data as a file (multipart/form-data: CSV or Parquet), with a larger limit."


class BodyLimitMiddleware:
    """Answer 413 (problem+json) to a non-multipart request body longer than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, detail: str) -> PayloadTooLarge:
        return PayloadTooLarge(detail, limit=self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type == _UPLOAD_TYPE and _takes_uploads(scope):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = (_header(scope, b"content-length") or "").strip()
        if declared.isdigit() and int(declared) > limit:
            error = self._too_large(
                f"The request body is {int(declared):,} bytes; the limit is {limit:,} bytes.{_file_hint(scope)}"
            )
            await render(error, Request(scope))(scope, receive, send)
            return

        received = 0
        answered = False  # the 413 was sent: whatever the app does next is dropped
        started = False  # the app's own response began: too late for a 413

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        error = self._too_large(
                            f"The request body exceeds the limit of {limit:,} bytes.{_file_hint(scope)}"
                        )
                        await render(error, Request(scope))(scope, receive, send)
                    answered = True
                    # The app sees a client that went away, and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # The app failed because its body was cut off: the 413 already is the answer.
            if not answered:
                raise
