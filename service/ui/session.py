"""Who is looking at the dashboard, and CSRF protection for its forms.

The dashboard authenticates exactly as the API does: the same keys, resolved by :func:`service.auth.authenticate`
(so revocation, rate limits and tenant isolation are the API's own). A person enters the key once on the login
page; it is kept in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/ui``, so page scripts never see it.
The cookie holds the key itself rather than a signed reference to it: the key is looked up on every request
anyway, so a forged cookie is worth exactly as much as a guessed key, and the service needs no signing secret
that every replica would have to share. When the service runs keyless (no key exists, ``auth_mode=auto``) the
API serves the ``default`` tenant without a key, and so does the dashboard, without a login.

CSRF: every state-changing request (form posts and the upload) must carry a token equal to the one in the
``advisor_csrf`` cookie (double-submit), as a ``csrf_token`` form field or an ``X-CSRF-Token`` header. A
cross-site page can make a browser send the cookies but can neither read nor set them, so it cannot echo
the token; ``SameSite=Strict`` keeps the cookies off cross-site requests in the first place.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from service.auth import authenticate
from service.errors import ServiceError, Unauthorized
from service.services.tenants import Principal

SESSION_COOKIE = "advisor_session"
CSRF_COOKIE = "advisor_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"
SESSION_MAX_AGE_S = 12 * 3600


class LoginRequired(Exception):
    """The dashboard needs a (valid) key: pages redirect to the login page, data endpoints answer 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(ServiceError):
    """403: a form or upload without the CSRF token of this browser's session."""

    status = 403
    type = "urn:model-advisor:problem:csrf"
    title = "Missing or wrong CSRF token"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def session_key(request: Request) -> str | None:
    """The API key this browser logged in with, if any."""
    key = request.cookies.get(SESSION_COOKIE)
    return key or None


async def principal_for(request: Request, key: str | None) -> Principal:
    """The API's principal for ``key`` (None: keyless), by the API's own :func:`authenticate` (which reads the
    app's settings from its state)."""
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=key) if key else None
    return await authenticate(request, credentials)


async def ui_principal(request: Request) -> Principal:
    """The dashboard's caller: the session cookie's key, or keyless while the service allows it."""
    key = session_key(request)
    try:
        return await principal_for(request, key)
    except Unauthorized as exc:
        raise LoginRequired(exc.detail) from exc


UiPrincipal = Annotated[Principal, Depends(ui_principal)]


def set_session(response: Response, request: Request, key: str) -> None:
    """Remember ``key`` in this browser (HttpOnly: page scripts cannot read it)."""
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=SESSION_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(response: Response, request: Request) -> None:
    """Forget the key (and the CSRF token with it)."""
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request))


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: the cookie's, or a new one that :func:`ensure_csrf_cookie` will set."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 128:
        token = getattr(request.state, "new_csrf_token", None) or secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return token


def ensure_csrf_cookie(response: Response, request: Request) -> None:
    """Set the CSRF cookie if this request made a new token."""
    token = getattr(request.state, "new_csrf_token", None)
    if token:
        response.set_cookie(
            CSRF_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
        )


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse (403) unless ``submitted`` (form field or header) equals this browser's CSRF cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    submitted = submitted or request.headers.get(CSRF_HEADER)
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfRejected("This form has expired or did not come from this dashboard: reload the page and retry.")
