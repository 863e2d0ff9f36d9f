"""Typed errors: every RFC 9457 problem (``application/problem+json``) the service answers becomes a
:class:`ProblemError` subclass chosen by its status, carrying the problem's fields.

>>> try:
...     advisor.job("nope")
... except NotFound as e:
...     e.status, e.type, e.title, e.detail, e.extensions
"""

from __future__ import annotations

import json
from typing import Any

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"
_STANDARD = ("type", "title", "status", "detail", "instance")


class AdvisorError(Exception):
    """Base of every error this client raises."""


class TransportError(AdvisorError):
    """The service could not be reached, or the connection broke (the underlying httpx error is ``__cause__``)."""


class JobFailed(AdvisorError):
    """``wait(raise_on_failure=True)``: the job ended ``failed`` or ``cancelled``; ``job`` is its last state."""

    def __init__(self, job: Any) -> None:
        error = getattr(job, "error", None) or {}
        detail = error.get("detail") or error.get("message") or error.get("title") or ""
        super().__init__(f"job {job.id} {job.status}" + (f": {detail}" if detail else ""))
        self.job = job


class ExplanationUnavailable(AdvisorError):
    """The server answered predictions without a ``contributions`` field: it does not support ``explain=true``."""


class ProblemError(AdvisorError):
    """An error answer of the service: an RFC 9457 problem (or a plain HTTP error made into one).

    ``status``, ``type``, ``title``, ``detail`` and ``instance`` are the standard members; every other member
    (``errors``, ``retry_after_s``, ``request_id``, ``limit``, ...) is in ``extensions`` and readable as an
    attribute. ``response`` is the httpx response.
    """

    def __init__(
        self,
        *,
        status: int,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        instance: str | None = None,
        extensions: dict[str, Any] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.response = response
        message = f"{status} {title}: {detail}" if detail else f"{status} {title}"
        fields = [e for e in self.extensions.get("errors") or [] if isinstance(e, dict)]
        if fields:
            shown = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in fields[:3])
            message += f" ({shown}{'; ...' if len(fields) > 3 else ''})"
        super().__init__(message)

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally: the problem's extension members.
        extensions = self.__dict__.get("extensions", {})
        if name in extensions:
            return extensions[name]
        raise AttributeError(name)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The invalid fields (``loc``, ``msg``, ``type``) of a 400/422 problem; empty otherwise."""
        return list(self.extensions.get("errors") or [])

    def to_dict(self) -> dict[str, Any]:
        """The problem as the service sent it."""
        body = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.instance is not None:
            body["instance"] = self.instance
        return {**body, **self.extensions}


class ClientError(ProblemError):
    """A 4xx answer: the request was refused."""


class BadRequest(ClientError):
    """400: a malformed request."""


class Unauthorized(ClientError):
    """401: no API key, or one that is unknown or revoked."""


class Forbidden(ClientError):
    """403."""


class NotFound(ClientError):
    """404: no such dataset, job, race or recommendation (for this key's tenant)."""


class Conflict(ClientError):
    """409: the request does not fit the resource's state (e.g. a model of a job that has none)."""


class PayloadTooLarge(ClientError):
    """413: the body is over a size limit (``limit``) or the tenant's storage quota."""


class UnsupportedMediaType(ClientError):
    """415."""


class ValidationError(ClientError):
    """422: invalid fields; ``errors`` lists them."""


class RateLimited(ClientError):
    """429: the key's rate limit or the tenant's quota; ``retry_after`` is the seconds to wait (or None)."""

    @property
    def retry_after(self) -> float | None:
        value = self.extensions.get("retry_after_s")
        if value is None and self.response is not None:
            value = self.response.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(ProblemError):
    """A 5xx answer; ``request_id`` (when present) is what to quote when reporting it."""


class ServiceUnavailable(ServerError):
    """503: the service is not ready."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_class(status: int) -> type[ProblemError]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ClientError if status >= 400 else ProblemError


def from_response(response: httpx.Response) -> ProblemError:
    """The typed error for an error response: its problem body, or (another body) the status and its text."""
    body: Any = None
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == PROBLEM_MEDIA_TYPE or media_type.endswith("json"):
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:500] if response.content else ""
        body = {"title": response.reason_phrase or "Error", "detail": text}
    extensions = {k: v for k, v in body.items() if k not in _STANDARD}
    status = body.get("status") if isinstance(body.get("status"), int) else response.status_code
    return error_class(response.status_code)(
        status=status,
        type=str(body.get("type") or "about:blank"),
        title=str(body.get("title") or response.reason_phrase or ""),
        detail=str(body.get("detail") or ""),
        instance=body.get("instance"),
        extensions=extensions,
        response=response,
    )


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the typed error of an error response (status ≥ 400); return otherwise."""
    if response.status_code >= 400:
        raise from_response(response)


class WaitTimeout(AdvisorError, TimeoutError):
    """``wait(timeout=...)``: the job or race had not ended in time (it goes on running on the server)."""
