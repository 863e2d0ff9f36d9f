"""The classical pool: which models a recommendation offers at each size and task, in which order, and that
every value of the new candidates comes from a rule that says why."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import Constraints, DatasetProfile, recommend, rules_catalog
from advisor import tables as t
from advisor.engine import TRAINERS
from advisor.pool import ClassicalPool, classical_pool
from trainers.registry import available_trainers

FORESTS_FIRST = ["random_forest", "extra_trees", "lightgbm", "xgboost"]
BOOSTING_FIRST = ["lightgbm", "xgboost", "random_forest", "extra_trees"]

# rows → the classical candidates, in order (tabular, default constraints). Boundaries on both sides.
ORDER_BY_ROWS = [
    (50, [*FORESTS_FIRST, "svm", "knn"]),
    (999, [*FORESTS_FIRST, "svm", "knn"]),
    (1_000, [*BOOSTING_FIRST, "svm", "knn"]),
    (4_999, [*BOOSTING_FIRST, "svm", "knn"]),
    (5_000, [*BOOSTING_FIRST, "knn"]),
    (19_999, [*BOOSTING_FIRST, "knn"]),
    (20_000, BOOSTING_FIRST),
    (99_999, BOOSTING_FIRST),
    (100_000, BOOSTING_FIRST),
    (5_000_000, BOOSTING_FIRST),
]
TASKS: list[dict[str, Any]] = [
    {"task": "binary"},
    {"task": "multiclass", "n_classes": 4},
    {"task": "regression"},
]


def _profile(n_rows: int, **kw: Any) -> DatasetProfile:
    return DatasetProfile(modality="tabular", n_rows=n_rows, n_features=12, **{"task": "binary", **kw})


@pytest.mark.parametrize("task", TASKS, ids=[k["task"] for k in TASKS])
@pytest.mark.parametrize(("n_rows", "expected"), ORDER_BY_ROWS, ids=[str(n) for n, _ in ORDER_BY_ROWS])
def test_models_and_order_by_rows_and_task(n_rows: int, expected: list[str], task: dict[str, Any]) -> None:
    rec = recommend(_profile(n_rows, **task))
    classical = [c.model for c in rec.candidates if c.family == "classical"]
    assert classical == expected
    dl = [c.model for c in rec.candidates if c.family == "deep_learning"]
    # §9: tabular data under 100K rows is classical only; from 100K the MLP follows the classical pool.
    assert dl == ([] if n_rows < t.TABULAR_CLASSICAL_MAX_ROWS else ["mlp"])
    assert [c.rank for c in rec.candidates] == list(range(1, len(rec.candidates) + 1))
    ranking = next(d for d in rec.decisions if d.rule_id == "family.ranking")
    assert ranking.value == [c.model for c in rec.candidates]
    assert classical_pool(rec.profile).models == expected


@pytest.mark.parametrize(("n_rows", "expected"), ORDER_BY_ROWS, ids=[str(n) for n, _ in ORDER_BY_ROWS])
def test_every_candidate_trains_with_a_registered_trainer(n_rows: int, expected: list[str]) -> None:
    registered = set(available_trainers())
    assert set(TRAINERS.values()) <= registered
    for task in TASKS:
        rec = recommend(_profile(n_rows, **task))
        for cand in [*rec.candidates, rec.baseline]:
            assert cand.trainer == TRAINERS[cand.model] and cand.trainer in registered, cand.model
    assert {
        "random_forest": "sklearn_random_forest",
        "extra_trees": "sklearn_extra_trees",
        "knn": "sklearn_knn",
        "svm": "sklearn_svm",
    }.items() <= TRAINERS.items()


@pytest.mark.parametrize(
    ("n_rows", "lead", "tail", "left_out"),
    [
        (600, "random forest and extra trees first", "then the SVM", ""),
        (3_000, "LightGBM and XGBoost first", "then the SVM", ""),
        (12_000, "LightGBM and XGBoost first", "then k-NN", "left out: svm (too many rows)"),
        (60_000, "LightGBM and XGBoost first", "", "left out: svm, knn (too many rows)"),
    ],
)
def test_ranking_reason_explains_the_order(n_rows: int, lead: str, tail: str, left_out: str) -> None:
    rec = recommend(_profile(n_rows))
    reason = next(d for d in rec.decisions if d.rule_id == "family.ranking").reason
    assert f"{n_rows:,} rows" in reason and lead in reason
    assert (tail in reason) if tail else ("then the SVM" not in reason and "then k-NN" not in reason)
    assert (left_out in reason) if left_out else "left out" not in reason
    assert "logistic regression baseline is always trained" in reason and "no second linear model" in reason
    assert reason.endswith(".")


def test_large_data_keeps_lightgbm_first_and_ranks_families_by_the_verdict() -> None:
    p = _profile(500_000)
    rec = recommend(p, Constraints(compute="ample", performance="state_of_the_art", gpu_available=True))
    assert [c.model for c in rec.candidates] == ["mlp", *BOOSTING_FIRST]
    reason = next(d for d in rec.decisions if d.rule_id == "family.ranking").reason
    assert reason.startswith("Deep learning first, then classical ML")
    assert [c.model for c in recommend(p).candidates] == [*BOOSTING_FIRST, "mlp"]


@pytest.mark.parametrize("n_rows", [500, 3_000, 60_000])
def test_a_point_mass_regression_target_leaves_the_svm_out_and_says_why(n_rows: int) -> None:
    pool = classical_pool(_profile(n_rows, task="regression", target_outlier_share=0.16, target_mode_share=0.67))
    assert "svm" not in pool.models
    assert dict(pool.left_out)["svm"].startswith("67% of the targets share one value")
    assert "left out: the SVM (one value holds many targets)" in pool.order_reason
    assert ("knn (too many rows)" in pool.order_reason) == (n_rows >= t.KNN_MAX_ROWS)
    # below the point-mass share the SVM stays where the row gate puts it
    spread = classical_pool(_profile(3_000, task="regression", target_outlier_share=0.16, target_mode_share=0.2))
    assert "svm" in spread.models


def test_images_get_no_classical_pool() -> None:
    rec = recommend(DatasetProfile(modality="image", task="binary", n_rows=800, image_size=(64, 64, 3)))
    assert all(c.family == "deep_learning" for c in rec.candidates)
    reason = next(d for d in rec.decisions if d.rule_id == "family.ranking").reason
    assert reason.startswith("Only deep learning for image data") and "Classical models" not in reason


# Every hyperparameter of the new candidates, by task and size --------------------------------------------
FOREST_KEYS = {"n_estimators", "max_features", "min_samples_leaf", "max_depth", "split", "imputation", "scaling"}


def _by_model(p: DatasetProfile) -> dict[str, Any]:
    return {c.model: c for c in recommend(p).candidates}


@pytest.mark.parametrize("model", ["random_forest", "extra_trees"])
@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"task": "binary"}, {"max_features": "sqrt", "class_weight": None}),
        ({"task": "multiclass", "n_classes": 3}, {"max_features": "sqrt", "class_weight": None}),
        ({"task": "binary", "minority_share": 0.04}, {"max_features": "sqrt", "class_weight": "balanced"}),
        (
            {"task": "multiclass", "n_classes": 5, "minority_share": 0.01},
            {"max_features": "sqrt", "class_weight": "balanced"},
        ),
        ({"task": "regression"}, {"max_features": 1.0}),
    ],
)
def test_forest_choices(model: str, kw: dict[str, Any], expected: dict[str, Any]) -> None:
    small = _by_model(_profile(800, **kw))[model]
    keys = FOREST_KEYS | ({"class_weight"} if kw["task"] != "regression" else set())
    assert set(small.choices) == keys
    assert small.params() | expected == small.params()
    assert small.choices["n_estimators"].value == 300
    assert small.choices["min_samples_leaf"].value == ([1, 3, 5, 10] if kw["task"] == "regression" else 1)
    assert small.choices["max_depth"].value is None and small.choices["scaling"].value == "none"
    assert small.choices["imputation"].rule_id == "data.imputation_median"
    rules = {k: d.rule_id for k, d in small.choices.items()}
    assert rules["n_estimators"] == "forest.n_estimators" and rules["max_features"] == "forest.max_features"
    assert rules["scaling"] == "data.scaling_none"
    if "class_weight" in expected:
        cw = small.choices["class_weight"]
        assert cw.rule_id == "forest.class_weight" and cw.section == "§3"
        assert ("Imbalanced" in cw.reason) == (expected["class_weight"] == "balanced")
    large = _by_model(_profile(250_000, **kw))[model]
    assert large.choices["n_estimators"].value == 100 and large.choices["min_samples_leaf"].value == 5
    assert "§13" in large.choices["n_estimators"].reason and "250,000 rows" in large.choices["min_samples_leaf"].reason


@pytest.mark.parametrize(("n_rows", "k"), [(20, 5), (100, 8), (800, 24), (3_000, 46), (10_000, 50), (19_999, 50)])
def test_knn_neighbours_follow_the_square_root_of_training_rows(n_rows: int, k: int) -> None:
    knn = _by_model(_profile(n_rows))["knn"]
    assert knn.choices["n_neighbors"].value == k and knn.choices["n_neighbors"].rule_id == "knn.n_neighbors"
    assert f"k = {k}" in knn.choices["n_neighbors"].reason
    assert set(knn.choices) == {"n_neighbors", "weights", "split", "imputation", "scaling"}
    assert knn.choices["weights"].value == "uniform" and "library default" in knn.choices["weights"].reason
    scaling = knn.choices["scaling"]
    assert (scaling.value, scaling.rule_id, scaling.section) == ("standard", "data.scaling_distance", "§10")


@pytest.mark.parametrize(
    ("kw", "keys", "class_weight"),
    [
        ({"task": "binary"}, {"C", "gamma", "class_weight"}, None),
        ({"task": "binary", "minority_share": 0.05}, {"C", "gamma", "class_weight"}, "balanced"),
        ({"task": "multiclass", "n_classes": 3}, {"C", "gamma", "class_weight"}, None),
        ({"task": "regression"}, {"C", "gamma", "epsilon"}, None),
    ],
)
def test_svm_choices(kw: dict[str, Any], keys: set[str], class_weight: str | None) -> None:
    svm = _by_model(_profile(2_000, **kw))["svm"]
    assert set(svm.choices) == keys | {"split", "imputation", "scaling"}
    assert svm.choices["C"].value == 1.0 and svm.choices["C"].section == "§6"
    assert svm.choices["gamma"].value == "scale" and svm.choices["gamma"].extrapolated
    assert svm.choices["scaling"].value == "standard"
    if "class_weight" in keys:
        assert svm.choices["class_weight"].value == class_weight
    else:
        assert svm.choices["epsilon"].value == 0.1 and "standard deviations" in svm.choices["epsilon"].reason


def test_new_rules_are_in_the_catalog_with_their_conditions() -> None:
    catalog = {r.id: r for r in rules_catalog()}
    expected = {
        "forest.n_estimators": ("random_forest", "§13", {"n_rows_lt": 100_000, "below": 300, "at_or_above": 100}),
        "forest.min_samples_leaf": (
            "random_forest",
            "§6",
            {"n_rows_lt": 100_000, "at_or_above": 5, "below": {"classification": 1, "regression": [1, 3, 5, 10]}},
        ),
        "forest.max_features": ("random_forest", "§6", {"classification": "sqrt", "regression": 1.0}),
        "forest.max_depth": ("random_forest", "§6", {"value": None}),
        "knn.n_neighbors": (
            "knn",
            "§6",
            {"value": "round(sqrt(n_rows * train_fraction))", "min": 5, "max": 50, "train_fraction": 0.7},
        ),
        "knn.weights": ("knn", "§6", {"value": "uniform"}),
        "svm.C": ("svm", "§6", {"C": 1.0}),
        "svm.gamma": ("svm", "§10", {"value": "scale"}),
        "data.scaling_distance": ("knn", "§10", {"model": ["knn", "svm"], "value": "standard"}),
        "data.scaling_none": ("xgboost", "§10", {"model": ["xgboost", "lightgbm", "random_forest", "extra_trees"]}),
    }
    for rule_id, (stage, section, conditions) in expected.items():
        info = catalog[rule_id]
        assert (info.stage, info.section, info.conditions) == (stage, section, conditions), rule_id
    assert catalog["forest.class_weight"].conditions["task"] == ["binary", "multiclass"]
    assert catalog["svm.epsilon"].conditions["task"] == "regression"
    assert catalog["svm.class_weight"].stage == "svm"
    ranking = catalog["family.ranking"].conditions
    assert (
        ranking["classical, n_rows < 1000"] == FORESTS_FIRST and ranking["classical, n_rows >= 1000"] == BOOSTING_FIRST
    )
    assert ranking["svm"] == {"n_rows_lt": 5_000} and ranking["knn"] == {"n_rows_lt": 20_000}


def test_a_reordering_is_a_permutation_of_the_same_pool() -> None:
    pool = classical_pool(_profile(12_000))
    assert pool.left_out and pool.left_out[0][0] == "svm"
    again = pool.reordered(["knn", "extra_trees", "random_forest", "xgboost", "lightgbm"], "Learned order.")
    assert isinstance(again, ClassicalPool) and again.order_reason == "Learned order."
    assert again.models == ["knn", "extra_trees", "random_forest", "xgboost", "lightgbm"]
    assert again.entries[0] is pool.entries[-1] and again.left_out == pool.left_out
    for bad in (["svm", *pool.models[1:]], pool.models[:-1], [*pool.models, "knn"]):
        with pytest.raises(ValueError, match="exactly"):
            pool.reordered(bad, "no")


def test_a_portfolio_orders_the_pool_by_evidence_and_sets_winning_shapes() -> None:
    from advisor.portfolio import default_portfolio, rank
    from trainers.registry import get_trainer

    profile = _profile(3_000)
    rec = recommend(profile, portfolio=default_portfolio())
    expected = [e.model for e in rank(profile, default_portfolio(), models=[c.model for c in rec.candidates])]
    assert [c.model for c in rec.candidates][: len(expected)] == expected
    ranking = next(d for d in rec.decisions if d.rule_id == "family.ranking")
    assert "ordered by evidence (portfolio v1" in ranking.reason and "similar" in ranking.reason
    assert all(c.evidence and c.model in c.evidence for c in rec.candidates)
    shaped = [(c, d) for c in rec.candidates for d in c.choices.values() if d.rule_id == "portfolio.config"]
    assert shaped, "no winning variant configuration on 3,000-row binary data"
    for cand, decision in shaped:
        assert decision.key not in {"n_estimators", "kernel", "tree_method"} and "configuration" in decision.reason
        get_trainer(cand.trainer).check_params(cand.params(), "binary")  # the trainer accepts what evidence set
    # Without a portfolio, the pool's own order and values stand.
    plain = recommend(profile)
    assert all(d.rule_id != "portfolio.config" for c in plain.candidates for d in c.choices.values())
    assert all(c.evidence is None for c in plain.candidates)


def test_a_tenants_own_races_can_change_the_order_and_the_reason_says_so() -> None:
    from advisor.portfolio import EvidenceRow, MetaFeatures, default_portfolio

    profile = _profile(3_000)
    before = [c.model for c in recommend(profile, portfolio=default_portfolio()).candidates]
    assert before[0] != "knn"
    features = MetaFeatures.of(profile)
    races = tuple(
        EvidenceRow(
            dataset=f"your race {i}",
            metric="roc_auc",
            features=features,
            source="tenant",
            scores={m: [0.99 if m == "knn" else 0.80] for m in before},
        )
        for i in range(7)
    )
    rec = recommend(profile, portfolio=default_portfolio(), history=races)
    assert rec.candidates[0].model == "knn"
    ranking = next(d for d in rec.decisions if d.rule_id == "family.ranking")
    assert "Your own finished races changed this order: without them it would be " + ", ".join(before) in (
        ranking.reason
    )
    assert "your own races" in (rec.candidates[0].evidence or "")
    # History that agrees with the portfolio leaves the order, and says so.
    same = tuple(r.model_copy(update={"scores": {m: [0.9 - 0.01 * i] for i, m in enumerate(before)}}) for r in races)
    again = recommend(profile, portfolio=default_portfolio(), history=same)
    assert [c.model for c in again.candidates] == before
    assert "left the order as it is" in next(d for d in again.decisions if d.rule_id == "family.ranking").reason
