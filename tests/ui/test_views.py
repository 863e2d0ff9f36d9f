"""The dashboard's reshaping helpers: feature importance in the shapes a job may carry it, and number formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.schemas.jobs import JobRead
from service.ui import views


class _WithImportance(JobRead):
    feature_importance: Any = None


def _job(importance: Any) -> JobRead:
    now = "2026-01-01T00:00:00Z"
    return _WithImportance.model_validate(
        {
            "id": "j", "status": "succeeded", "attempt": 1, "max_attempts": 1, "created_at": now, "updated_at": now,
            "dataset_id": "d", "recommendation_id": None, "candidate": None, "model": "m", "trainer": "t",
            "params": {}, "seed": 0, "time_budget_s": 1.0, "queue": "cpu", "cancel_requested": False,
            "progress": None, "feature_importance": importance,
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    "importance",
    [
        {"a": 0.1, "b": -0.5, "c": 0.3},
        [{"feature": "a", "importance": 0.1}, {"feature": "b", "importance": -0.5}, {"name": "c", "mean": 0.3}],
        {"permutation": {"a": 0.1, "b": -0.5, "c": 0.3}},
        {"permutation": {"features": [{"feature": "a", "value": 0.1}, {"feature": "b", "value": -0.5},
                                      {"feature": "c", "value": 0.3}]}},
    ],
)  # fmt: skip
def test_feature_importance_in_each_shape_is_ranked_by_size(importance: Any) -> None:
    groups = views.feature_importance(_job(importance))
    assert groups is not None and len(groups) == 1
    assert groups[0]["features"] == ["b", "c", "a"] and groups[0]["values"] == [-0.5, 0.3, 0.1]


def test_feature_importance_per_method_and_absent() -> None:
    groups = views.feature_importance(_job({"permutation": {"a": 1.0}, "gain": {"a": 2.0, "b": 3.0}, "note": "x"}))
    assert groups is not None and [g["method"] for g in groups] == ["permutation", "gain"]
    assert views.feature_importance(_job(None)) is None and views.feature_importance(_job({"note": "x"})) is None
    assert views.feature_importance(_job([1, 2])) is None


def test_number_formats() -> None:
    assert views.fmt(None) == "—" and views.fmt(1234) == "1,234" and views.fmt(0.123456) == "0.1235"
    assert views.fmt(True) == "yes" and views.plain([1, 0.5]) == "1, 0.5" and views.plain({"a": None}) == "a: —"
    assert json.loads(json.dumps(views.SECURITY_HEADERS))["X-Content-Type-Options"] == "nosniff"
    assert Path(views.STATIC_DIR / "ui.js").is_file()
