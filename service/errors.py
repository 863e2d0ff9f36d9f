"""RFC 9457 problem details: one error family, one renderer, used for every error response.

Raise a ``ServiceError`` subclass from services; the handler turns it into ``application/problem+json``.
Framework errors (invalid input, unknown routes) and unexpected exceptions are rendered the same way;
an unexpected exception is a 500 with a request id that is also in the log next to the traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.observability.request_id import accept as accept_request_id
from service.observability.request_id import current_request_id

logger = logging.getLogger("service.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:model-advisor:problem:"


class ServiceError(Exception):
    """Base of every error the service answers on purpose; subclasses set status, type and title."""

    # Set by each subclass; an error described by another layer (a data problem) sets them per instance.
    status: int = 500
    type: str = "about:blank"
    title: str = "Internal Server Error"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any) -> None:
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


class PayloadTooLarge(ServiceError):
    """413: a request body (JSON or upload) over its size limit; ``limit`` says the limit in bytes."""

    status = 413
    type = _TYPE_PREFIX + "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    type = _TYPE_PREFIX + "unsupported-media-type"
    title = "Unsupported media type"


class InvalidInput(ServiceError):
    """422; ``errors`` lists ``{"loc": [...], "msg": ..., "type": ...}``, one per invalid field."""

    status = 422
    type = _TYPE_PREFIX + "invalid-input"
    title = "Invalid input"


class Unauthorized(ServiceError):
    """401: no key, or a key that is unknown or revoked; the response says how to authenticate."""

    status = 401
    type = _TYPE_PREFIX + "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str, *, error: str | None = None, **extensions: Any) -> None:
        challenge = 'Bearer realm="model-advisor"' + (f', error="{error}"' if error else "")
        super().__init__(detail, headers={"WWW-Authenticate": challenge}, **extensions)


class TooManyRequests(ServiceError):
    """429: the key's rate limit; ``Retry-After`` says when the next request is allowed."""

    status = 429
    type = _TYPE_PREFIX + "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, retry_after_s=retry_after_s, **extensions)


class QuotaExceeded(TooManyRequests):
    """429: the tenant's concurrent-jobs quota is used up; retry when one of its jobs has ended."""

    type = _TYPE_PREFIX + "quota-exceeded"
    title = "Quota exceeded"


class StorageQuotaExceeded(ServiceError):
    """413: the tenant's stored-bytes quota (datasets + model files) leaves no room for this."""

    status = 413
    type = _TYPE_PREFIX + "storage-quota-exceeded"
    title = "Storage quota exceeded"


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
    headers: Mapping[str, str] | None = None,
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
    if exc.status_code == 400:
        # FastAPI's answer to a body json.loads refused other than by syntax: invalid UTF-8, nesting too
        # deep for the parser, an integer with too many digits.
        detail = exc.detail if isinstance(exc.detail, str) else ""
        if detail in ("", "There was an error parsing the body"):
            detail = "The request body is not valid JSON (bad UTF-8, nested too deep, or a number too long)."
        return render(BadRequest(detail, headers=exc.headers), request)
    headers = exc.headers
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        # Starlette's Allow names the first route on the path only; the resource supports every route's methods.
        headers = {**(headers or {}), "Allow": allowed}
    return problem_response(
        status=exc.status_code,
        type="about:blank",
        title=phrase,
        detail=exc.detail if isinstance(exc.detail, str) else phrase,
        request=request,
        headers=headers,
    )


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def path_items(app: Any, path: str) -> list[dict[str, Any]]:
    """The OpenAPI path items of ``app`` whose template (``/v1/jobs/{id}``) matches ``path``."""
    segments = path.split("/")
    found = []
    for template, item in app.openapi().get("paths", {}).items():
        parts = template.split("/")
        if len(parts) == len(segments) and all(
            t == s or (t.startswith("{") and t.endswith("}") and s) for t, s in zip(parts, segments, strict=True)
        ):
            found.append(item)
    return found


def _allowed_methods(request: Request) -> str:
    """The methods the OpenAPI documents for the request's path ("" if it documents none), plus HEAD with GET."""
    methods = {m.upper() for item in path_items(request.app, request.url.path) for m in item if m in _HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The request's id (service.observability.request_id); made here only if its middleware did not run.
    request_id = current_request_id() or accept_request_id(request.headers.get("x-request-id"))
    logger.error("unhandled error on %s %s [request_id=%s]", request.method, request.url.path, request_id, exc_info=exc)
    error = ServerFault(
        "An unexpected error occurred; quote the request id when reporting it.",
        headers={"X-Request-ID": request_id},
        request_id=request_id,
    )
    return render(error, request)


_PROBLEM_REF = "#/components/schemas/Problem"
# FastAPI's own 422 documentation; the handler above answers those with a problem too.
_FRAMEWORK_ERROR_REFS = frozenset({_PROBLEM_REF, "#/components/schemas/HTTPValidationError"})


def _problems_in(schema: dict[str, Any]) -> None:
    """Document every problem body of ``schema`` under the problem media type, in place."""
    problem = {"schema": {"$ref": _PROBLEM_REF}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                # Any body can be malformed (400) or over its size limit (413, service.body_limit).
                for status in (400, 413):
                    responses.setdefault(
                        str(status),
                        {"description": HTTPStatus(status).phrase, "content": {PROBLEM_MEDIA_TYPE: problem}},
                    )
            for response in responses.values():
                content = response.get("content") or {}
                documented = content.get("application/json", {}).get("schema", {}).get("$ref")
                if documented in _FRAMEWORK_ERROR_REFS:
                    del content["application/json"]
                    content[PROBLEM_MEDIA_TYPE] = problem
    components = schema.get("components", {}).get("schemas", {})
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document error bodies as ``application/problem+json``, as they are served.

    FastAPI files every ``responses=`` model under the route's media type (application/json); this moves
    the problem bodies (and FastAPI's default 422) to the problem media type, once, when the schema is built.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _problems_in(build())  # build() caches its result in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers: service errors, invalid input, HTTP errors, anything else (500); document
    error bodies as problems in the OpenAPI."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    _document_problems(app)
