"""RFC 9457 problem details: one error family, one renderer, used for every error response.

Raise a ``ServiceError`` subclass from services; the handler turns it into ``application/problem+json``.
Framework errors (invalid input, unknown routes) and unexpected exceptions are rendered the same way;
an unexpected exception is a 500 with a request id that is also in the log next to the traceback.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

logger = logging.getLogger("service.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:model-advisor:problem:"


class ServiceError(Exception):
    """Base of every error the service answers on purpose; subclasses set status, type and title."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


class BadRequest(ServiceError):
    status = 400
    type = _TYPE_PREFIX + "malformed-request"
    title = "Malformed request"


class NotFound(ServiceError):
    status = 404
    type = _TYPE_PREFIX + "not-found"
    title = "Resource not found"


class Conflict(ServiceError):
    """409: the request does not fit the resource's current state."""

    status = 409
    type = _TYPE_PREFIX + "conflict"
    title = "Conflict with the current state"


class UnsupportedMediaType(ServiceError):
    status = 415
    type = _TYPE_PREFIX + "unsupported-media-type"
    title = "Unsupported media type"


class InvalidInput(ServiceError):
    """422; ``errors`` lists ``{"loc": [...], "msg": ..., "type": ...}``, one per invalid field."""

    status = 422
    type = _TYPE_PREFIX + "invalid-input"
    title = "Invalid input"


class NotReady(ServiceError):
    status = 503
    type = _TYPE_PREFIX + "not-ready"
    title = "Service not ready"


class ServerFault(ServiceError):
    """What an unexpected exception becomes; its detail never includes the exception text."""

    type = _TYPE_PREFIX + "internal-error"


# OpenAPI documentation of the body every error has.
class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description='Where the value is, e.g. ["body", "profile", "n_rows"].')
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details (media type application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ErrorItem] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem bodies for ``statuses`` on a route."""
    return {s: {"model": Problem, "description": HTTPStatus(s).phrase} for s in statuses}


def problem_response(
    *,
    status: int,
    type: str,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """The one place a problem body is built."""
    body: dict[str, Any] = {"type": type, "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    if extensions:
        body.update(extensions)
    # allow_nan=False: a problem body must be valid JSON whatever the input was.
    content = json.dumps(body, allow_nan=False, ensure_ascii=False, default=str).encode()
    return Response(content, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def render(error: ServiceError, request: Request | None = None) -> Response:
    """The problem response for a ``ServiceError``."""
    return problem_response(
        status=error.status,
        type=error.type,
        title=error.title,
        detail=error.detail,
        request=request,
        headers=error.headers,
        extensions=error.extensions,
    )


def _error_items(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Never echo "input" or "ctx": they may hold NaN, bytes or exception objects (and user data).
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return render(exc, request)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return render(BadRequest("The request body is not valid JSON.", errors=_error_items(errors)), request)
    return render(InvalidInput("The request has invalid fields.", errors=_error_items(errors)), request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    if exc.status_code == 404:
        return render(NotFound(f"No resource at {request.url.path}.", headers=exc.headers), request)
    return problem_response(
        status=exc.status_code,
        type="about:blank",
        title=phrase,
        detail=exc.detail if isinstance(exc.detail, str) else phrase,
        request=request,
        headers=exc.headers,
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    given = request.headers.get("x-request-id", "")
    # Echo a caller's id only if it is short and plain; otherwise make one.
    request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
    logger.error("unhandled error on %s %s [request_id=%s]", request.method, request.url.path, request_id, exc_info=exc)
    error = ServerFault(
        "An unexpected error occurred; quote the request id when reporting it.",
        headers={"X-Request-ID": request_id},
        request_id=request_id,
    )
    return render(error, request)


def install(app: FastAPI) -> None:
    """Register the handlers: service errors, invalid input, HTTP errors, anything else (500)."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
