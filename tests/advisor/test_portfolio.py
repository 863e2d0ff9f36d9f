"""advisor.portfolio: evidence-based ranking of model families (deterministic, exclude, extra evidence) and the
packaged portfolio file."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from advisor import DatasetProfile
from advisor.portfolio import EvidenceRow, MetaFeatures, Portfolio, default_portfolio, nearest, rank

FAMILIES = [
    {
        "model": "lightgbm",
        "trainer": "lightgbm",
        "tasks": ["binary", "multiclass", "regression"],
        "configs": [{"name": "default", "params": {"num_leaves": 31}}, {"name": "small", "params": {"num_leaves": 7}}],
    },
    {
        "model": "random_forest",
        "trainer": "sklearn_random_forest",
        "tasks": ["binary", "multiclass", "regression"],
        "configs": [{"name": "default", "params": {"max_features": "sqrt"}}],
    },
    {
        "model": "logistic_regression",
        "trainer": "sklearn_logistic",
        "tasks": ["binary", "multiclass"],
        "configs": [{"name": "C1", "params": {"C": 1.0}}],
    },
]


def _row(
    name: str,
    n_rows: int,
    scores: dict[str, list[float | None]],
    *,
    task: str = "binary",
    n_features: int = 10,
    source: str = "portfolio",
) -> dict[str, Any]:
    features = {
        "task": task,
        "n_rows": n_rows,
        "n_features": n_features,
        "missing_share": 0.0,
        "n_categorical_features": 0,
    }
    if task != "regression":
        features |= {"n_classes": 2, "minority_share": 0.4}
    return {"dataset": name, "metric": "roc_auc", "features": features, "scores": scores, "source": source}


def _portfolio() -> Portfolio:
    """Small datasets: logistic regression wins; large ones: LightGBM (small leaves) wins."""
    rows = [
        _row("small_a", 150, {"lightgbm": [0.80, 0.81], "random_forest": [0.82], "logistic_regression": [0.90]}),
        _row("small_b", 200, {"lightgbm": [0.70, 0.72], "random_forest": [0.74], "logistic_regression": [0.78]}),
        _row("small_c", 300, {"lightgbm": [0.85, 0.86], "random_forest": [0.86], "logistic_regression": [0.88]}),
        _row("large_a", 50_000, {"lightgbm": [0.90, 0.95], "random_forest": [0.91], "logistic_regression": [0.80]}),
        _row("large_b", 80_000, {"lightgbm": [0.88, 0.93], "random_forest": [0.90], "logistic_regression": [0.85]}),
        _row("large_c", 120_000, {"lightgbm": [0.91, 0.94], "random_forest": [0.89], "logistic_regression": [0.70]}),
        _row("reg_a", 1000, {"lightgbm": [0.5, 0.6], "random_forest": [0.7]}, task="regression"),
    ]
    return Portfolio.model_validate(
        {
            "version": 1,
            "created": "2026-01-01",
            "tables_version": "t",
            "command": "x",
            "protocol": {},
            "datasets": [r["dataset"] for r in rows],
            "families": FAMILIES,
            "evidence": rows,
        }
    )


def _features(n_rows: int, task: str = "binary") -> MetaFeatures:
    extra = {"n_classes": 2, "minority_share": 0.4} if task != "regression" else {}
    return MetaFeatures(task=task, n_rows=n_rows, n_features=10, missing_share=0.0, n_categorical_features=0, **extra)


def test_ranking_follows_the_nearest_datasets_and_picks_their_best_configuration() -> None:
    pf = _portfolio()
    small = rank(_features(180), pf, k=3)
    large = rank(_features(90_000), pf, k=3)
    # LightGBM's small-leaves configuration does well on every dataset, so the task-wide prior lifts it above
    # the random forest; on the three neighbours alone (no prior) the forest is ahead.
    assert [e.model for e in small] == ["logistic_regression", "lightgbm", "random_forest"]
    local_only = rank(_features(180), pf, k=3, prior_weight=0)
    assert [e.model for e in local_only] == ["logistic_regression", "random_forest", "lightgbm"]
    rf = next(e for e in small if e.model == "random_forest")
    assert rf.mean_regret == pytest.approx(0.14 / 3, abs=1e-6) and rf.overall_regret == pytest.approx(
        0.26 / 6, abs=1e-6
    )
    assert rf.score == pytest.approx((0.14 + 3 * 0.26 / 6) / 6, abs=1e-6)
    assert [e.model for e in large] == ["lightgbm", "random_forest", "logistic_regression"]
    assert set(small[0].similar) == {"small_a", "small_b", "small_c"}
    top = large[0]
    assert (top.config, top.config_index, top.params) == ("small", 1, {"num_leaves": 7})
    assert top.wins == 3 and top.n_similar == 3 and top.mean_regret == 0.0
    assert "best or within 0.005 of best on 3 of 3 similar binary datasets" in top.reason
    assert "'small'" in top.reason and "large_" in top.reason


def test_ranking_is_deterministic_and_keeps_to_the_task() -> None:
    pf = _portfolio()
    assert rank(_features(5_000), pf) == rank(_features(5_000), pf)
    reg = rank(_features(900, task="regression"), pf)
    assert [e.model for e in reg] == ["random_forest", "lightgbm"]  # logistic regression has no regression task
    assert reg[0].similar == ["reg_a"]


def test_exclude_leaves_datasets_out() -> None:
    pf = _portfolio()
    assert rank(_features(180), pf, k=1)[0].similar == ["small_b"]
    ranked = rank(_features(180), pf, k=1, exclude=["small_a", "small_b", "small_c"])
    assert "small_b" not in ranked[0].similar
    assert ranked[0].model == "lightgbm"  # the nearest left is a large dataset
    assert rank(_features(900, task="regression"), pf, exclude=["reg_a"]) == []


def test_extra_evidence_changes_the_ranking_and_the_reason_says_so() -> None:
    pf = _portfolio()
    before = rank(_features(90_000), pf, k=3)
    assert before[0].model == "lightgbm" and before[0].n_tenant == 0
    assert "your own races" not in before[0].reason
    # A tenant's race on data like this one, where the random forest clearly won (one score per family).
    mine = EvidenceRow.model_validate(
        _row(
            "tenant/churn",
            90_000,
            {"lightgbm": [0.60], "random_forest": [0.99], "logistic_regression": [0.5]},
            source="tenant",
        )
    )
    after = rank(_features(90_000), pf, k=3, extra=[mine])
    assert after[0].model == "random_forest"
    assert after[0].n_tenant == 1 and after[0].similar[0] == "tenant/churn"
    assert "1 of them your own races" in after[0].reason
    # A family-level score counts for the standing but not for the configuration choice.
    lgb = next(e for e in after if e.model == "lightgbm")
    assert lgb.config == "small" and lgb.n_similar == 3


def test_models_filter_and_profile_input() -> None:
    pf = _portfolio()
    profile = DatasetProfile(
        modality="tabular",
        task="binary",
        n_rows=90_000,
        n_features=10,
        n_classes=2,
        minority_share=0.4,
        missing_share=0.0,
        n_categorical_features=0,
    )
    assert [e.model for e in rank(profile, pf, models=["random_forest", "logistic_regression"])] == [
        "random_forest",
        "logistic_regression",
    ]
    image = DatasetProfile(modality="image", task="binary", n_rows=100, n_classes=2, image_size=(32, 32, 3))
    with pytest.raises(ValueError, match="n_features"):
        rank(image, pf)


def test_nearest_orders_by_distance() -> None:
    pf = _portfolio()
    names = [r.dataset for _, r in nearest(_features(60_000), pf.evidence, k=6)]
    assert names[:3] == ["large_a", "large_b", "large_c"]
    assert names[3:] == ["small_c", "small_b", "small_a"]


def test_portfolio_validation_refuses_inconsistent_files() -> None:
    doc = _portfolio().model_dump(mode="json")
    with pytest.raises(ValidationError, match="exactly the listed datasets"):
        Portfolio.model_validate({**doc, "datasets": doc["datasets"][1:]})
    bad = [dict(doc["evidence"][0], scores={"lightgbm": [0.5]}), *doc["evidence"][1:]]
    with pytest.raises(ValidationError, match="one per configuration"):
        Portfolio.model_validate({**doc, "evidence": bad})


def test_without_drops_evidence_and_names() -> None:
    pf = _portfolio().without(["small_a"])
    assert "small_a" not in pf.datasets and all(r.dataset != "small_a" for r in pf.evidence)
    assert len(pf.evidence) == 6


# -- the packaged file ---------------------------------------------------------------------------------------
def test_packaged_portfolio_validates_and_learns_only_from_the_allowed_datasets() -> None:
    realdata = pytest.importorskip("bench.realdata")
    pf = default_portfolio()
    allowed = {d.name for d in realdata.ALL}
    assert len(allowed) == 61
    assert set(pf.datasets) == allowed and len(pf.datasets) == 61
    assert {r.dataset for r in pf.evidence} == allowed
    assert all(name.startswith(("dev/", "corpus/")) for name in pf.datasets)
    # Provenance: when, from what and with which command it was learned, and the advisor tables of that day (the
    # evidence itself does not depend on them: it is scores of fixed configurations on fixed datasets).
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", pf.tables_version) and pf.created and "learn_portfolio" in pf.command
    # Every family's row of scores covers its configurations, for the tasks it claims.
    for row in pf.evidence:
        tried = {f.model for f in pf.families if row.features.task in f.tasks}
        assert set(row.scores) == tried
    # Every dataset of a task can be ranked with itself left out.
    for row in pf.evidence[:5]:
        ranked = rank(row.features, pf, exclude=[row.dataset])
        assert ranked and row.dataset not in ranked[0].similar


def test_packaged_configurations_use_the_trainers_parameter_names() -> None:
    from trainers.classical.lightgbm_trainer import LightGBMTrainer
    from trainers.classical.xgboost_trainer import XGBoostTrainer

    pf = default_portfolio()
    for cfg in pf.family("lightgbm").configs:
        assert set(cfg.params) <= LightGBMTrainer.PARAMS, cfg
    for cfg in pf.family("xgboost").configs:
        assert set(cfg.params) <= XGBoostTrainer.PARAMS, cfg
    assert pf.family("random_forest").trainer == "sklearn_random_forest"


def _prepared_vs_row_by_row(pf: Portfolio, profile: DatasetProfile, extra: tuple[EvidenceRow, ...]) -> None:
    # excluding a name that is not there takes the row-by-row path, which prepares nothing
    reference = rank(profile, pf, extra=extra, exclude=("no such dataset",))
    assert rank(profile, pf, extra=extra) == reference
    assert rank(profile, pf, extra=extra, models=["lightgbm", "xgboost"]) == rank(
        profile, pf, extra=extra, models=["lightgbm", "xgboost"], exclude=("no such dataset",)
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_prepared_portfolio_ranks_exactly_as_a_row_by_row_pass(task: str) -> None:
    pf = default_portfolio()
    same_task = [r for r in pf.evidence if r.features.task == task]
    tenant = tuple(
        r.model_copy(update={"dataset": f"mine-{i}", "source": "tenant"}) for i, r in enumerate(same_task[:3])
    )
    one_score = EvidenceRow(
        dataset="mine-race",
        metric=same_task[0].metric,
        features=same_task[0].features,
        scores={"lightgbm": [0.99], "random_forest": [0.5]},
        source="tenant",
    )
    for n_rows in (50, 900, 12_000, 300_000, 5_000_000):
        for n_features in (3, 40, 900):
            extra_fields: dict[str, Any] = {"n_classes": 7} if task == "multiclass" else {}
            profile = DatasetProfile(
                modality="tabular", task=task, n_rows=n_rows, n_features=n_features, missing_share=0.1, **extra_fields
            )
            for extra in ((), tenant, (one_score,), (*tenant, one_score)):
                _prepared_vs_row_by_row(pf, profile, extra)
    smaller = pf.without(pf.datasets[::2])  # another portfolio object: prepared on its own
    _prepared_vs_row_by_row(
        smaller,
        DatasetProfile(
            modality="tabular",
            task=task,
            n_rows=900,
            n_features=40,
            **({"n_classes": 7} if task == "multiclass" else {}),
        ),
        (),
    )


def test_the_fast_nearest_rows_are_the_reference_ones_with_ties_at_the_kth_place() -> None:
    from advisor import similarity as S
    from advisor.portfolio import MetaFeatures

    pf = default_portfolio()
    rows = [r for r in pf.evidence if r.features.task == "binary"]
    # every row twice (the copy a tenant's, which sorts first on a tie) and a third time under another name: many
    # exact ties, some of them across the k-th place
    pool = [
        *rows,
        *(r.model_copy(update={"dataset": f"{r.dataset}-mine", "source": "tenant"}) for r in rows),
        *(r.model_copy(update={"dataset": f"0-{r.dataset}"}) for r in rows[::3]),
    ]
    vecs = [S.vector(r.features) for r in pool]
    columns, sd, tags = list(zip(*vecs, strict=True)), S.spread(vecs), [S.tag(r) for r in pool]
    for target in (rows[0].features, rows[5].features, MetaFeatures(task="binary", n_rows=700, n_features=12)):
        for k in range(1, len(pool) + 2):
            reference = [r for _, r in _reference_nearest(target, pool, columns, sd, tags, k)]
            assert [r for _, r in S.nearest_rows(target, pool, columns, sd, tags, k)] == reference, k


def _reference_nearest(features: Any, pool: Any, columns: Any, sd: Any, tags: Any, k: int) -> list[Any]:
    """The ranking's nearest rows written plainly: every distance rounded, one sort by the full key."""
    import math

    from advisor.similarity import vector

    x = vector(features)
    terms = [[((a - b) / s) ** 2 for b in col] for a, s, col in zip(x, sd, columns, strict=True)]
    dist = [math.sqrt(sum(t)) for t in zip(*terms, strict=True)]
    order = sorted(zip([round(d, 12) for d in dist], tags, range(len(pool)), strict=True))
    return [(dist[i], pool[i]) for _, _, i in order[:k]]
