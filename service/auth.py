"""Who is calling: the ``Authorization: Bearer <key>`` dependency, and the per-key rate limit.

Every ``/v1`` route depends on :func:`authenticate` (``create_app`` adds it to each router), so no route can
forget it; routes that read or write a tenant's data also take ``principal: PrincipalDep`` (resolved once
per request) and pass ``principal.tenant_id`` down. Without a key a request runs as the ``default`` tenant
only while no active key exists and ``auth_mode`` is ``auto``. The key is looked up on every request, so a
revoked key is refused from the next request on, in every process.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.db.keylookup import KeyLookup
from service.errors import TooManyRequests, Unauthorized
from service.ratelimit import Limiter
from service.services import tenants
from service.services.tenants import ANONYMOUS, Principal
from service.settings import Settings

MAX_KEY_CHARS = 256

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `advisor keys create --tenant NAME`, sent as `Authorization: Bearer <key>`.",
)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller's principal; 401 for a missing (when needed), malformed, unknown or revoked key; 429 when
    the key is over its rate limit. Also left in ``request.state.principal``."""
    # The app's settings straight from its state (what SettingsDep returns): every /v1 request runs this, and
    # each sub-dependency is one more for FastAPI to solve per request.
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization")
    if header is not None and credentials is None:
        raise Unauthorized("Send the API key as `Authorization: Bearer <key>`.", error="invalid_request")
    key = credentials.credentials.strip() if credentials is not None else None
    if key is not None and not (0 < len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()):
        raise Unauthorized("The API key is unknown or revoked.", error="invalid_token")
    if key is None and settings.auth_mode == "required":
        raise Unauthorized("This service needs an API key: send `Authorization: Bearer <key>`.")
    lookup: KeyLookup = request.app.state.key_lookup
    if key is None:
        if await lookup.any_active():
            raise Unauthorized(
                "This service needs an API key now that keys exist: send `Authorization: Bearer "
                "<key>` (an operator creates one with `advisor keys create --tenant NAME`)."
            )
        principal = ANONYMOUS
    else:
        found = await lookup.key(tenants.hash_key(key))
        if found is None or found.revoked:
            raise Unauthorized("The API key is unknown or revoked.", error="invalid_token")
        principal = Principal(
            tenant_id=found.tenant_id, key_id=found.id, rate_limit_per_minute=found.rate_limit_per_minute
        )
        _rate_limit(request, settings, principal)
    request.state.principal = principal
    return principal


def _rate_limit(request: Request, settings: Settings, principal: Principal) -> None:
    limiter: Limiter = request.app.state.rate_limiter
    per_minute = principal.rate_limit_per_minute or settings.rate_limit_per_minute
    burst = settings.rate_limit_burst or max(1, per_minute // 10)
    wait = limiter.check(str(principal.key_id), per_minute=per_minute, burst=burst)
    if wait:
        raise TooManyRequests(
            f"This key may send {per_minute} requests per minute (bursts of {burst}); retry in {wait} s.",
            retry_after_s=wait,
        )


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def _keyless(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the API key optional on every operation (OpenAPI's empty requirement ``{}``)."""
    out = copy.deepcopy(schema)
    for path_item in out.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and operation.get("security"):
                operation["security"] = [*operation["security"], {}]
    return out


def document_auth(app: FastAPI, settings: Settings) -> None:
    """Serve an OpenAPI document that says what authentication really asks for, at the time it is read.

    The key is required with ``auth_mode=required`` or once any active key exists; until then (the keyless
    single-machine default) requests without one are served as the default tenant, so the document marks the
    key optional. FastAPI's own schema route is replaced by one that asks the key lookup each time.
    """
    path = app.openapi_url
    if path is None:
        return
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != path]
    cached: dict[str, Any] = {}

    async def openapi(request: Request) -> JSONResponse:
        schema = app.openapi()
        if settings.auth_mode == "required" or await request.app.state.key_lookup.any_active():
            return JSONResponse(schema)
        if cached.get("source") is not schema:
            cached.update(source=schema, keyless=_keyless(schema))
        return JSONResponse(cached["keyless"])

    app.add_route(path, openapi, include_in_schema=False)
