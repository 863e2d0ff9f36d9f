"""Integration tests against the real services on 127.0.0.1: PostgreSQL, Redis, RabbitMQ, and real
``advisor worker`` processes. Each test skips, naming the service and how to start it, when the service
is not reachable (``.ci/run`` starts those that are down)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import AMQP_URL, PG_SERVER, REDIS_URL, Broker, WorkerProcs, cleanup_broker, require
from sqlalchemy import create_engine, text


# -- PostgreSQL --------------------------------------------------------------------------------------
def _admin(sql: str) -> None:
    engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require("PostgreSQL")
    name = f"advisor_it_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- brokers -----------------------------------------------------------------------------------------
@pytest.fixture(params=["redis", "amqp"], ids=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """The local Redis and RabbitMQ, each with a queue prefix unique to the test."""
    if request.param == "redis":
        require("Redis")
        b = Broker("redis", REDIS_URL, f"it-{uuid.uuid4().hex[:8]}-")
    else:
        require("RabbitMQ")
        b = Broker("amqp", AMQP_URL, f"it-{uuid.uuid4().hex[:8]}-")
    yield b
    cleanup_broker(b)


@pytest.fixture
def redis_broker() -> Iterator[Broker]:
    require("Redis")
    b = Broker("redis", REDIS_URL, f"it-{uuid.uuid4().hex[:8]}-")
    yield b
    cleanup_broker(b)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerProcs]:
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    w = WorkerProcs(log_dir)
    yield w
    w.stop_all()
