"""The ``advisor`` console script: ``advisor serve [--host --port --no-migrate --insecure]``, ``advisor migrate``,
``advisor worker --queues cpu|gpu [--concurrency N]`` (Celery), ``advisor worker-ping`` (healthcheck),
``advisor keys create|list|revoke`` and ``advisor tenants list|quota|webhook-secret``; and the user commands of the
client (``advisor recommend|train|race|predict|jobs|show``, :mod:`advisor_client.cli`), which talk to any server
over HTTP."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from advisor_client import cli as client_cli
from service.observability.logging import configure_logging, uvicorn_log_config
from service.observability.metrics import ensure_multiproc_dir
from service.settings import Settings, get_settings


def _migrate(settings: Settings) -> None:
    from service.db import migrate

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    logging.getLogger("service.cli").info("database at head %s", migrate.head_revision())


def _serve(settings: Settings, host: str, port: int, migrate: bool = True, insecure: bool = False) -> int:
    import uvicorn

    from service.admin import refuse_open_bind
    from service.main import create_app

    if migrate:
        _migrate(settings)
    refusal = refuse_open_bind(settings, host, insecure=insecure)
    if refusal is not None:
        logging.getLogger("service.cli").error(refusal)
        return 2
    app = create_app(settings)
    # The OpenAPI document (~0.15 s) is read by the body limit to know which operations take uploads: built
    # before the server listens, not inside its first upload or oversized request.
    app.openapi()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(settings),
    )
    return 0


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser: the operator's subcommands (serve, migrate, worker, worker-ping, keys, tenants) and
    the client's user commands (recommend, train, race, predict, jobs, show)."""
    parser = argparse.ArgumentParser(
        prog="advisor",
        description="Model-selection advisor service. Operators: serve, migrate, worker, keys, tenants. "
        "Users (any server, over HTTP): recommend, train, race, predict, jobs, show.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the HTTP API")
    serve.add_argument("--host", default=settings.host, help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=settings.port, help="port (default: %(default)s)")
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not migrate first (several replicas: a one-shot `advisor migrate` does it)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="serve on a non-loopback address even though no API key exists (keyless access)",
    )
    sub.add_parser("migrate", help="apply database migrations up to head")
    worker = sub.add_parser("worker", help="train jobs from the Celery broker (ADVISOR_QUEUE=celery)")
    worker.add_argument("--queues", default="cpu", help="comma-separated: cpu, gpu (default: %(default)s)")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs at once (default: cores // threads_per_job for cpu, 1 for gpu)",
    )
    worker.add_argument(
        "--pool",
        choices=["prefork", "threads", "solo"],
        default=None,
        help="Celery pool (default: prefork for cpu, threads for gpu)",
    )
    ping = sub.add_parser("worker-ping", help="exit 0 if a worker on this host answers a ping (healthcheck)")
    ping.add_argument("--any", action="store_true", help="any worker on the broker will do, not only this host's")
    ping.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default: %(default)s)")

    keys = sub.add_parser("keys", help="API keys: create (printed once), list, revoke").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key for a tenant (created if missing); prints the key once")
    create.add_argument("--tenant", required=True, help="tenant name")
    create.add_argument("--name", default=None, help="a label for the key (who or what uses it)")
    create.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default: the setting)")
    listing = keys.add_parser("list", help="list keys (prefixes only, never the keys)")
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="JSON output")
    revoke = keys.add_parser("revoke", help="revoke a key by id or prefix (refused from the next request on)")
    revoke.add_argument("key", help="the key's id or display prefix (adv_xxxxxxxx)")

    tenants = sub.add_parser("tenants", help="tenants: list with usage, set quotas, webhook secret").add_subparsers(
        dest="tenants_command", required=True
    )
    tenants.add_parser("list", help="tenants with their quotas and usage (JSON)")
    quota = tenants.add_parser("quota", help="set a tenant's own quotas")
    quota.add_argument("tenant")
    quota.add_argument("--max-concurrent-jobs", type=int, default=None)
    quota.add_argument("--max-stored-bytes", type=int, default=None)
    secret = tenants.add_parser("webhook-secret", help="print the secret that signs a tenant's webhooks")
    secret.add_argument("tenant")
    client_cli.add_commands(sub)
    return parser


def _admin(settings: Settings, args: argparse.Namespace) -> int:
    from service import admin

    if args.command == "keys":
        if args.keys_command == "create":
            return admin.create_key(settings, tenant=args.tenant, name=args.name, rate_limit=args.rate_limit)
        if args.keys_command == "list":
            return admin.list_keys(settings, tenant=args.tenant, as_json=args.json)
        return admin.revoke_key(settings, key=args.key)
    if args.tenants_command == "list":
        return admin.list_tenants(settings)
    if args.tenants_command == "quota":
        return admin.set_quota(
            settings,
            tenant=args.tenant,
            max_concurrent_jobs=args.max_concurrent_jobs,
            max_stored_bytes=args.max_stored_bytes,
        )
    return admin.webhook_secret(settings, tenant=args.tenant)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script."""
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    if args.command in client_cli.COMMANDS:  # a user command: an HTTP client of a server, no settings or logging
        return client_cli.run(args)
    configure_logging(settings)  # JSON lines (ADVISOR_LOG_FORMAT=text for plain ones) with request/job ids
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin: noise
    if args.command in ("serve", "worker"):
        ensure_multiproc_dir(settings)  # before any metric exists here or in a child process
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "serve":
        return _serve(settings, args.host, args.port, migrate=not args.no_migrate, insecure=args.insecure)
    elif args.command in ("keys", "tenants"):
        if settings.is_sqlite:  # the embedded default: a fresh data dir works without `advisor migrate` first
            _migrate(settings)
        return _admin(settings, args)
    elif args.command == "worker":
        from service.jobs.celery_app import run_worker

        return run_worker(settings, queues=args.queues, concurrency=args.concurrency, pool=args.pool)
    elif args.command == "worker-ping":
        from service.jobs.celery_app import ping_workers

        return 0 if ping_workers(settings, any_host=args.any, timeout=args.timeout) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
