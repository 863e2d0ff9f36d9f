"""Helpers for the integration tests against the real services on 127.0.0.1: PostgreSQL, Redis, RabbitMQ, and real
``advisor worker`` processes. Each test skips, naming the service and how to start it, when the service
is not reachable (``.ci/run`` starts those that are down)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Reuse the job tests' helpers (datasets, tiny job specs, wait_for) rather than copy them.
for _folder in (ROOT / "tests" / "service", ROOT / "tests" / "service" / "jobs"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

PG_SERVER = os.environ.get("ADVISOR_IT_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ADVISOR_IT_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("ADVISOR_IT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
ADVISOR = str(Path(sys.executable).with_name("advisor"))

START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
    "RabbitMQ": "rabbitmq-server -detached",
}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Skip the test with a clear message when ``service`` is not reachable."""
    port = port or {"PostgreSQL": 5432, "Redis": 6379, "RabbitMQ": 5672}[service]
    if not reachable(host, port):
        pytest.skip(f"{service} not reachable on {host}:{port}: start it with `{START[service]}` (or run .ci/run)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- brokers ----------------------------------------------------------------------------------------
@dataclass
class Broker:
    kind: str  # "redis" | "amqp"
    url: str
    prefix: str  # queue-name prefix: tests never consume another run's messages on the shared broker


def cleanup_broker(broker: Broker) -> None:
    """Delete the test's queues (RabbitMQ) or keys (Redis)."""
    from kombu import Connection

    with contextlib.suppress(Exception):
        if broker.kind == "redis":
            import redis

            client = redis.Redis.from_url(broker.url, socket_timeout=3)
            for key in client.scan_iter(f"*{broker.prefix}*"):
                client.delete(key)
        else:
            with Connection(broker.url, connect_timeout=3) as conn:
                channel = conn.channel()
                for kind in ("cpu", "gpu"):
                    with contextlib.suppress(Exception):
                        channel.queue_delete(f"{broker.prefix}{kind}")


# -- settings and worker processes ---------------------------------------------------------------------
def scale_env(data_dir: Path, database_url: str, broker: Broker, **overrides: Any) -> dict[str, str]:
    """ADVISOR_* settings for an API and its workers: short leases, so expiry happens within a test."""
    values: dict[str, Any] = {
        "QUEUE": "celery",
        "BROKER_URL": broker.url,
        "BROKER_QUEUE_PREFIX": broker.prefix,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "THREADS_PER_JOB": 1,
        "LEASE_S": 4,
        "HEARTBEAT_S": 0.5,
        "REAPER_INTERVAL_S": 0.5,
        "JOB_GRACE_S": 5,
        "JOB_MAX_ATTEMPTS": 2,
        "SSE_POLL_S": 0.1,
        "BROKER_REPUBLISH_S": 3,
        "LOG_LEVEL": "warning",
    }
    values.update({k.upper(): v for k, v in overrides.items()})
    return {f"ADVISOR_{k}": str(v) for k, v in values.items()}


@dataclass
class WorkerProcs:
    """``advisor worker`` processes started by a test; each in its own process group (killed at the end)."""

    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [ADVISOR, "worker", *args],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (main process, pool children, training processes)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        """SIGKILL every group: nothing a test leaves behind is worth a warm shutdown's wait."""
        for proc in self.procs:
            self.kill(proc)
