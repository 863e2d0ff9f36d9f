"""The ``advisor`` console script: ``advisor serve [--host --port --no-migrate]``, ``advisor migrate``,
``advisor worker --queues cpu|gpu [--concurrency N]`` (Celery) and ``advisor worker-ping`` (healthcheck)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from service.observability.logging import configure_logging
from service.observability.metrics import ensure_multiproc_dir
from service.settings import Settings, get_settings


def _migrate(settings: Settings) -> None:
    from service.db import migrate

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    logging.getLogger("service.cli").info("database at head %s", migrate.head_revision())


def _serve(settings: Settings, host: str, port: int, migrate: bool = True) -> None:
    import uvicorn

    from service.main import create_app
    from service.observability.logging import uvicorn_log_config

    if migrate:
        _migrate(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level,
                log_config=uvicorn_log_config(settings))


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser (subcommands: serve, migrate, worker, worker-ping)."""
    parser = argparse.ArgumentParser(prog="advisor", description="Model-selection advisor service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the HTTP API")
    serve.add_argument("--host", default=settings.host, help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=settings.port, help="port (default: %(default)s)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not migrate first (several replicas: a one-shot `advisor migrate` does it)")
    sub.add_parser("migrate", help="apply database migrations up to head")
    worker = sub.add_parser("worker", help="train jobs from the Celery broker (ADVISOR_QUEUE=celery)")
    worker.add_argument("--queues", default="cpu", help="comma-separated: cpu, gpu (default: %(default)s)")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="jobs at once (default: cores // threads_per_job for cpu, 1 for gpu)")
    worker.add_argument("--pool", choices=["prefork", "threads", "solo"], default=None,
                        help="Celery pool (default: prefork for cpu, threads for gpu)")
    ping = sub.add_parser("worker-ping", help="exit 0 if a worker on this host answers a ping (healthcheck)")
    ping.add_argument("--any", action="store_true", help="any worker on the broker will do, not only this host's")
    ping.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script."""
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    configure_logging(settings)  # JSON lines (ADVISOR_LOG_FORMAT=text for plain ones) with request/job ids
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin: noise
    if args.command in ("serve", "worker"):
        ensure_multiproc_dir(settings)  # before any metric exists here or in a child process
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "serve":
        _serve(settings, args.host, args.port, migrate=not args.no_migrate)
    elif args.command == "worker":
        from service.jobs.celery_app import run_worker

        return run_worker(settings, queues=args.queues, concurrency=args.concurrency, pool=args.pool)
    elif args.command == "worker-ping":
        from service.jobs.celery_app import ping_workers

        return 0 if ping_workers(settings, any_host=args.any, timeout=args.timeout) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
