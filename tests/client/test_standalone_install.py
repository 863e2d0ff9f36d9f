"""The client installs on its own: ``pip install ./client`` into a fresh virtual environment (no system site
packages) brings httpx and pydantic and nothing of the server, and its ``advisor-client`` command works against
a live server. Needs a package index for those two (the test says so and skips when none answers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import REPO, Live

SERVER_SIDE = ["torch", "xgboost", "lightgbm", "sklearn", "numpy", "pandas", "fastapi", "sqlalchemy"]
OURS = ["service", "trainers", "advisor", "migrations"]


def _pip(python: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.network
def test_pip_install_client_into_a_fresh_venv(live: Live, tmp_path: Path) -> None:
    probe = _pip(Path(sys.executable), "download", "--no-deps", "--timeout", "15", "--retries", "0",
                 "-d", str(tmp_path / "probe"), "httpx", timeout=120)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(
            f"no package index reachable for httpx and pydantic (pip install ./client needs one): {probe.stderr[-300:]}"
        )

    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    python = home / "bin" / "python"
    # From a copy: building in the checkout would leave build/ and *.egg-info there.
    source = shutil.copytree(REPO / "client", tmp_path / "client", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    installed = _pip(python, "install", "--timeout", "30", str(source), timeout=600)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]

    dists = {
        d["name"].lower().replace("_", "-")
        for d in json.loads(_pip(python, "list", "--format", "json", timeout=120).stdout)
    }
    assert {"model-advisor-client", "httpx", "pydantic"} <= dists
    assert not dists & {"torch", "xgboost", "xgboost-cpu", "numpy", "pandas", "fastapi", "sqlalchemy", "model-advisor"}

    # Imported away from the checkout: nothing of the server can be found, and nothing of it is loaded.
    code = (
        "import importlib.util, json, sys; import advisor_client, advisor_client.cli; "
        f"names = {SERVER_SIDE + OURS!r}; "
        "print(json.dumps({'findable': [n for n in names if importlib.util.find_spec(n)], "
        "'loaded': sorted({m.split('.')[0] for m in sys.modules} & set(names)), "
        "'file': advisor_client.__file__}))"
    )
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ADVISOR_", "VIRTUAL_ENV"))}
    checked = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=clean_env, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report == {"findable": [], "loaded": [], "file": report["file"]}
    assert report["file"].startswith(str(home))

    # Its command works against a live server.
    command = home / "bin" / "advisor-client"
    listed = subprocess.run(
        [str(command), "jobs", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**clean_env, "ADVISOR_URL": live.url, "ADVISOR_API_KEY": live.key},
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout)["items"], list)
    refused = subprocess.run(
        [str(command), "show", "no-such-job", "--url", live.url, "--api-key", live.key],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 3 and "404" in refused.stderr
