"""ADVISOR_PORTFOLIO_PATH: recommendations are made with the named portfolio, re-read when the file changes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from _testdb import database_url

from advisor.portfolio import Portfolio, default_portfolio
from service.portfolio import current_portfolio
from service.settings import Settings


def _doc(names: list[str]) -> dict[str, Any]:
    fam = {
        "model": "lightgbm",
        "trainer": "lightgbm",
        "tasks": ["binary"],
        "configs": [{"name": "default", "params": {"num_leaves": 31}}],
    }
    rows = [
        {
            "dataset": n,
            "metric": "roc_auc",
            "scores": {"lightgbm": [0.9]},
            "features": {
                "task": "binary",
                "n_rows": 100 * (i + 1),
                "n_features": 5,
                "n_classes": 2,
                "minority_share": 0.5,
            },
        }
        for i, n in enumerate(names)
    ]
    return {
        "version": 1,
        "created": "2026-01-01",
        "tables_version": "t",
        "command": "x",
        "protocol": {},
        "datasets": names,
        "families": [fam],
        "evidence": rows,
    }


def _write(path: Path, names: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_doc(names)))
    os.replace(tmp, path)  # a new file, as bench/race_quality.py --lodo writes it


def test_packaged_portfolio_by_default(tmp_path: Path) -> None:
    assert current_portfolio(Settings(data_dir=tmp_path)) is default_portfolio()


def test_named_file_is_read_and_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "pf.json"
    _write(path, ["a", "b"])
    settings = Settings(data_dir=tmp_path, portfolio_path=path)
    first = current_portfolio(settings)
    assert first.datasets == ["a", "b"]
    assert current_portfolio(settings) is first  # unchanged file: cached
    _write(path, ["a"])
    assert current_portfolio(settings).datasets == ["a"]


def test_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_PORTFOLIO_PATH", str(tmp_path / "pf.json"))
    assert Settings(data_dir=tmp_path).portfolio_path == tmp_path / "pf.json"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "pf.json"
    _write(path, ["only/this"])
    return Settings(data_dir=tmp_path, database_url=database_url(tmp_path), portfolio_path=path)


@pytest.mark.anyio
async def test_recommendations_are_made_with_the_configured_portfolio(
    client: httpx.AsyncClient, profile: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.services import recommendations

    seen: list[Portfolio | None] = []
    real = recommendations.advise

    def spy(profile: Any, constraints: Any, portfolio: Portfolio | None, history: Any = ()) -> Any:
        seen.append(portfolio)
        return real(profile, constraints, portfolio, history)

    monkeypatch.setattr(recommendations, "advise", spy)
    created = await client.post("/v1/recommendations", json={"profile": profile})
    assert created.status_code == 201, created.text
    assert len(seen) == 1 and seen[0] is not None
    assert seen[0].datasets == ["only/this"]
