"""The dashboard's reshaping helpers: the stored feature importance as ranked series, and number formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.schemas.explanations import ImportanceRead
from service.ui import views


def _importance(permutation: dict[str, float] | None, native: dict[str, float] | None) -> ImportanceRead:
    def scores(values: dict[str, float]) -> list[dict[str, Any]]:
        return [{"column": k, "value": v} for k, v in values.items()]

    return ImportanceRead.model_validate(
        {
            "job_id": "j", "model": "m", "trainer": "xgboost", "task": "binary", "columns": ["a", "b", "c"],
            "permutation": None if permutation is None else {
                "metric": "log_loss", "baseline": 0.3, "n_rows": 100, "n_repeats": 3, "seed": 0, "model": "train fit",
                "columns": scores(permutation),
            },
            "permutation_note": None if permutation is not None else "the budget ran out",
            "native": None if native is None else {
                "kind": "gain", "description": "total gain", "columns": scores(native),
            },
        }
    )  # fmt: skip


def test_feature_importance_is_ranked_by_size_per_method() -> None:
    groups = views.feature_importance(_importance({"a": 0.1, "b": -0.5, "c": 0.3}, {"a": 2.0, "b": 3.0}))
    assert groups is not None
    assert [g["method"] for g in groups] == ["permutation (log_loss increase)", "native (gain)"]
    assert groups[0]["features"] == ["b", "c", "a"] and groups[0]["values"] == [-0.5, 0.3, 0.1]
    assert groups[1]["features"] == ["b", "a"]


def test_feature_importance_absent() -> None:
    assert views.feature_importance(None) is None
    assert views.feature_importance(_importance(None, None)) is None
    only_native = views.feature_importance(_importance(None, {"c": 1.0}))
    assert only_native is not None and [g["method"] for g in only_native] == ["native (gain)"]


def test_number_formats() -> None:
    assert views.fmt(None) == "—" and views.fmt(1234) == "1,234" and views.fmt(0.123456) == "0.1235"
    assert views.fmt(True) == "yes" and views.plain([1, 0.5]) == "1, 0.5" and views.plain({"a": None}) == "a: —"
    assert json.loads(json.dumps(views.SECURITY_HEADERS))["X-Content-Type-Options"] == "nosniff"
    assert Path(views.STATIC_DIR / "ui.js").is_file()
