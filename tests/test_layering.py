"""Import boundaries: the domain and the trainers load no web, database or queue code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = {
    "advisor": [
        "fastapi",
        "starlette",
        "sqlalchemy",
        "alembic",
        "torch",
        "xgboost",
        "lightgbm",
        "sklearn",
        "pandas",
        "numpy",
        "celery",
    ],
    "trainers": ["torch", "fastapi", "starlette", "sqlalchemy", "alembic", "celery"],
}


def _loaded_top_level_modules(package: str) -> set[str]:
    code = f"import json, sys; import {package}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_layer(package: str) -> None:
    loaded = _loaded_top_level_modules(package)
    assert package in loaded
    assert sorted(loaded & set(FORBIDDEN[package])) == []
