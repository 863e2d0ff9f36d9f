"""A live ``advisor serve`` for the client's tests: a subprocess on a free port with its own SQLite database and
artifact folder, two API keys (one rate-limited to 1 request a minute), and a table to upload."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    """The environment of a server (and of the ``advisor`` command): this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "client")]),
        ADVISOR_DATA_DIR=str(data_dir),
        ADVISOR_WORKERS="1",
        ADVISOR_THREADS_PER_JOB="1",
        ADVISOR_SSE_POLL_S="0.1",
        ADVISOR_LOG_LEVEL="warning",
    )
    return env


def advisor_command(
    *args: str, env: dict[str, str], timeout: float = 300, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the ``advisor`` console script (service.cli) of this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Live:
    url: str
    key: str
    slow_key: str  # 1 request a minute
    csv: Path  # breast cancer, 569 rows, target "diagnosis" (benign / malignant)
    new_csv: Path  # 5 rows without the target
    env: dict[str, str]  # the server's environment (for the ``advisor`` command)


def _table(folder: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    csv, new = folder / "cancer.csv", folder / "new.csv"
    frame.to_csv(csv, index=False)
    frame.drop(columns="diagnosis").head(5).to_csv(new, index=False)
    return csv, new


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    env = server_env(root / "data")
    # Two keys of one tenant, made by `advisor keys create` (in one process: each start imports the service).
    code = (
        "from service.cli import main; "
        "main(['keys', 'create', '--tenant', 'alice']); "
        "main(['keys', 'create', '--tenant', 'alice', '--rate-limit', '1'])"
    )
    created = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert created.returncode == 0, created.stderr
    keys = created.stdout.split()
    assert len(keys) == 2 and all(k.startswith("adv_") for k in keys), created.stdout
    port = _free_port()
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not come up"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        csv, new = _table(root)
        yield Live(url=url, key=keys[0], slow_key=keys[1], csv=csv, new_csv=new, env=env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    output = (root / "server.log").read_text(errors="replace")
    assert "Traceback" not in output, output
