"""The ``advisor`` console script: ``advisor serve [--host --port]`` and ``advisor migrate``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from service.settings import Settings, get_settings


def _migrate(settings: Settings) -> None:
    from service.db import migrate

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    logging.getLogger("service.cli").info("database at head %s", migrate.head_revision())


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from service.main import create_app

    _migrate(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser (subcommands: serve, migrate)."""
    parser = argparse.ArgumentParser(prog="advisor", description="Model-selection advisor service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the HTTP API")
    serve.add_argument("--host", default=settings.host, help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=settings.port, help="port (default: %(default)s)")
    sub.add_parser("migrate", help="apply database migrations up to head")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script."""
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin: noise
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "serve":
        _serve(settings, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
