"""Dashboard test helpers: a migrated SQLite service, small tables as CSV bytes, keys, and a live server."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from service.db import migrate
from service.db.session import Database
from service.services import tenants
from service.settings import Settings


def ui_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A service on its own SQLite file: one training worker with one thread, quick SSE and progress."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'advisor.db'}",
        "workers": 1,
        "threads_per_job": 1,
        "sse_poll_s": 0.1,
        "job_progress_interval_s": 0.2,
    }
    values.update(overrides)
    settings = Settings(**values)
    migrate.upgrade(settings.database_url)
    return settings


def make_key(settings: Settings, tenant: str) -> str:
    """A new API key of ``tenant`` (as ``advisor keys create`` makes one)."""
    db = Database.from_url(settings.database_url)
    try:
        return str(db.call(tenants.create_key, tenant=tenant).key)
    finally:
        db.dispose()


def table(n: int = 80, *, task: str = "binary", seed: int = 0) -> pd.DataFrame:
    """A small seeded table: three numeric features and a category; target ``y`` (two classes or amounts)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n)
    signal = x[:, 0] + 0.5 * x[:, 1] + (frame["colour"] == "red") + rng.normal(scale=0.3, size=n)
    frame["y"] = (signal > 0.5).astype(int) if task == "binary" else 10 * signal + 50
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def wait_for(check: Any, *, timeout: float, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(interval)


class LiveServer:
    """The real app on a real port (uvicorn on a thread), for a real browser."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from service.main import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=60, interval=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
