"""Operator commands behind ``advisor keys …`` and ``advisor tenants …``, and the bind-address guard of
``advisor serve``. They talk to the database directly (no HTTP): whoever can run them can read the DB anyway.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from service.db.session import Database
from service.jobs import states
from service.repositories import tenants as repo
from service.services import tenants
from service.settings import Settings


def _db(settings: Settings) -> Database:
    return Database.from_url(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_open_bind(settings: Settings, host: str, *, insecure: bool) -> str | None:
    """Why serving on ``host`` is refused, or None. Keyless access (the default tenant) is only for a
    service bound to loopback: on any other address an active key must exist (``auth_mode=auto``) or keys
    must be required (``auth_mode=required``), unless the operator says ``--insecure``."""
    if insecure or is_loopback(host) or settings.auth_mode == "required":
        return None
    db = _db(settings)
    try:
        has_key = db.call(repo.any_active_key, write=False)
    except SQLAlchemyError as exc:
        return (
            f"refusing to serve on {host}: cannot tell whether API keys exist ({type(exc).__name__}; is the "
            "database migrated? run `advisor migrate`)."
        )
    finally:
        db.dispose()
    if has_key:
        return None
    return (
        f"refusing to serve on {host} without API keys: anyone who reaches the port could use the service "
        "as the default tenant. Create a key first (`advisor keys create --tenant NAME`), set "
        "ADVISOR_AUTH_MODE=required, bind to 127.0.0.1, or pass --insecure to accept that."
    )


def create_key(
    settings: Settings,
    *,
    tenant: str,
    name: str | None,
    rate_limit: int | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Create a key and print it once (stdout: the key alone; stderr: what it is)."""
    db = _db(settings)
    try:
        new = db.call(tenants.create_key, tenant=tenant, name=name, rate_limit_per_minute=rate_limit)
    finally:
        db.dispose()
    print(new.key, file=out or sys.stdout)
    print(
        f"created key {new.prefix}… (id {new.id}) for tenant {new.tenant!r}. It is shown only now: only its "
        "SHA-256 is stored. Send it as `Authorization: Bearer <key>`.",
        file=err or sys.stderr,
    )
    return 0


def list_keys(settings: Settings, *, tenant: str | None, as_json: bool, out: TextIO | None = None) -> int:
    """Print the keys (never the secrets): id, prefix, tenant, name, created, revoked, rate limit."""
    db = _db(settings)

    def read(*, session: Any) -> list[dict[str, Any]]:
        tenant_id = None
        if tenant is not None:
            row = repo.by_name(session=session, name=tenant)
            if row is None:
                return []
            tenant_id = row.id
        return [
            {
                "id": k.id,
                "prefix": k.prefix,
                "tenant": name,
                "name": k.name,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                "rate_limit_per_minute": k.rate_limit_per_minute,
            }
            for k, name in repo.keys(session=session, tenant_id=tenant_id)
        ]

    try:
        rows = db.call(read, write=False)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(rows, indent=2), file=out or sys.stdout)
        return 0
    out = out or sys.stdout
    print(f"{'id':36}  {'prefix':12}  {'tenant':16}  {'state':8}  name", file=out)
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        print(f"{r['id']:36}  {r['prefix']:12}  {r['tenant'][:16]:16}  {state:8}  {r['name'] or ''}", file=out)
    return 0


def revoke_key(settings: Settings, *, key: str, err: TextIO | None = None) -> int:
    """Revoke a key by id or display prefix: refused from the next request on. 1 if nothing matched."""
    db = _db(settings)
    try:
        revoked = db.call(tenants.revoke_key, id_or_prefix=key)
    except tenants.AmbiguousKey as exc:
        print(str(exc), file=err or sys.stderr)
        return 1
    finally:
        db.dispose()
    if not revoked:
        print(f"no active key with id or prefix {key!r}", file=err or sys.stderr)
        return 1
    print(f"revoked {', '.join(revoked)}", file=err or sys.stderr)
    return 0


def list_tenants(settings: Settings, *, out: TextIO | None = None) -> int:
    """Print the tenants with their quotas and usage (null quota: the settings' default)."""
    db = _db(settings)

    def read(*, session: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": t.id,
                "name": t.name,
                "max_concurrent_jobs": t.max_concurrent_jobs,
                "max_stored_bytes": t.max_stored_bytes,
                "running_jobs": repo.jobs_in(session=session, tenant_id=t.id, status=states.RUNNING),
                "queued_jobs": repo.jobs_in(session=session, tenant_id=t.id, status=states.QUEUED),
                "stored_bytes": repo.stored_bytes(session=session, tenant_id=t.id),
            }
            for t in repo.all_tenants(session=session)
        ]

    try:
        rows = db.call(read, write=False)
    finally:
        db.dispose()
    print(json.dumps(rows, indent=2), file=out or sys.stdout)
    return 0


def set_quota(
    settings: Settings,
    *,
    tenant: str,
    max_concurrent_jobs: int | None,
    max_stored_bytes: int | None,
    err: TextIO | None = None,
) -> int:
    """Set a tenant's own quotas (the tenant is created if missing)."""
    db = _db(settings)
    try:
        row = db.call(
            tenants.set_quota, tenant=tenant, max_concurrent_jobs=max_concurrent_jobs, max_stored_bytes=max_stored_bytes
        )
    finally:
        db.dispose()
    print(
        f"tenant {tenant!r}: max_concurrent_jobs={row.max_concurrent_jobs}, "
        f"max_stored_bytes={row.max_stored_bytes} (None: the settings' default)",
        file=err or sys.stderr,
    )
    return 0


def webhook_secret(settings: Settings, *, tenant: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the secret that signs a tenant's webhooks (give it to that tenant's receivers only)."""
    db = _db(settings)
    try:
        row = db.call(repo.by_name, name=tenant, write=False)
    finally:
        db.dispose()
    if row is None:
        print(f"no tenant {tenant!r}", file=err or sys.stderr)
        return 1
    print(row.webhook_secret, file=out or sys.stdout)
    return 0
