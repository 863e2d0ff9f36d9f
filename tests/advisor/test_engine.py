"""Engine-wide properties: determinism, every value explained, the catalog complete, assumptions stated."""

from __future__ import annotations

import itertools
import json

import pytest
from pydantic import ValidationError

from advisor import TABLES_VERSION, Constraints, DatasetProfile, Recommendation, recommend, rules_catalog

PROFILES = [
    DatasetProfile(modality="image", task="multiclass", n_rows=800, n_classes=10, image_size=(224, 224, 3)),
    DatasetProfile(
        modality="tabular", task="binary", n_rows=7043, n_features=19, minority_share=0.265, missing_share=0.12
    ),
    DatasetProfile(modality="tabular", task="regression", n_rows=1_000_000, n_features=28, target_outlier_share=0.03),
    DatasetProfile(modality="text", task="multiclass", n_rows=20_000, n_classes=4, text_length=300),
    DatasetProfile(modality="sequence", task="binary", n_rows=3000, sequence_length=150, n_features=6),
    DatasetProfile(modality="audio", task="multiclass", n_rows=40, n_classes=3),
]
CONSTRAINTS = [
    Constraints(),
    Constraints(compute="ample", performance="state_of_the_art", gpu_available=True, deployment="edge"),
    Constraints(interpretability_required=True, domain_similarity="low", time_budget_s=30),
]


def _all_decisions(rec: Recommendation):
    yield from rec.assumptions
    yield from rec.decisions
    for cand in [*rec.candidates, rec.baseline]:
        yield from cand.choices.values()


@pytest.mark.parametrize(("p", "c"), list(itertools.product(PROFILES, CONSTRAINTS)))
def test_every_value_is_explained_and_catalogued(p: DatasetProfile, c: Constraints) -> None:
    rec = recommend(p, c)
    catalog = {r.id: r for r in rules_catalog()}
    for d in _all_decisions(rec):
        assert d.rule_id in catalog, d.rule_id
        assert d.section == catalog[d.rule_id].section
        assert d.reason and d.reason[-1] in ".)", d.reason
    for item in rec.checklist:
        assert item.rule_id in catalog and item.detail
    # the output is valid against its own schema (the engine builds it without validation)
    again = Recommendation.model_validate_json(rec.model_dump_json())
    assert again.model_dump() == rec.model_dump()


@pytest.mark.parametrize(("p", "c"), list(itertools.product(PROFILES, CONSTRAINTS)))
def test_deterministic_byte_for_byte(p: DatasetProfile, c: Constraints) -> None:
    first = recommend(p, c).model_dump_json()
    rebuilt = recommend(
        DatasetProfile.model_validate_json(p.model_dump_json()), Constraints.model_validate_json(c.model_dump_json())
    ).model_dump_json()
    assert first == rebuilt
    assert json.loads(first)["tables_version"] == TABLES_VERSION


def test_missing_fields_are_assumed_and_said() -> None:
    rec = recommend(DatasetProfile(modality="image", task="binary", n_rows=500))
    assumed = {d.key: d for d in rec.assumptions}
    assert assumed["profile.image_size"].value == [224, 224, 3]
    assert assumed["constraints.compute"].value == "limited"
    assert assumed["constraints.domain_similarity"].value == "medium"
    assert all(d.assumed for d in rec.assumptions)
    assert rec.profile.image_size == (224, 224, 3)
    # a given value is never "assumed"
    rec2 = recommend(
        DatasetProfile(modality="image", task="binary", n_rows=500, image_size=(64, 64, 3)),
        Constraints(gpu_available=True, compute="ample"),
    )
    keys = {d.key for d in rec2.assumptions}
    assert "profile.image_size" not in keys and "constraints.compute" not in keys


def test_checklist_is_tailored() -> None:
    rec = recommend(PROFILES[1])
    missing = next(i for i in rec.checklist if i.rule_id == "checklist.missing")
    assert "12.0% of cells missing" in missing.detail
    img = recommend(PROFILES[0])
    assert any(i.rule_id == "checklist.augmentation" for i in img.checklist)
    assert not any(i.rule_id == "checklist.augmentation" for i in rec.checklist)


def test_catalog_lists_conditions_for_every_rule() -> None:
    catalog = rules_catalog()
    ids = [r.id for r in catalog]
    assert len(ids) == len(set(ids))
    for r in catalog:
        assert r.section and r.decides and r.description, r.id
        json.dumps(r.conditions)  # data, not code
    sections = {r.section for r in catalog}
    for s in ("§1", "§2", "§3", "§4", "§5", "§6", "§7", "§8", "§9", "§10", "§13", "Pro tip 6"):
        assert s in sections, s


@pytest.mark.parametrize(
    "bad",
    [
        {"modality": "tabular", "task": "binary", "n_rows": -5},
        {"modality": "video", "task": "binary", "n_rows": 5},
        {"modality": "tabular", "task": "binary", "n_rows": 5, "colour": "red"},
        {"modality": "tabular", "task": "multiclass", "n_rows": 5},
        {"modality": "tabular", "task": "binary", "n_rows": 5, "n_classes": 3},
        {"modality": "tabular", "task": "regression", "n_rows": 5, "minority_share": 0.2},
        {"modality": "tabular", "task": "binary", "n_rows": 5, "missing_share": float("nan")},
        {"modality": "image", "task": "binary", "n_rows": 5, "image_size": [0, 3, 3]},
    ],
)
def test_invalid_profiles_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        DatasetProfile.model_validate(bad)


def test_estimates_round_to_three_significant_digits_as_the_logarithm_rule_does() -> None:
    import math

    from advisor.rules.budget import _sig

    def by_log(x: float) -> float:  # the rule as first written: round at 2 - floor(log10 |x|) decimals
        return round(x, -math.floor(math.log10(abs(x))) + 2)

    for e in range(-9, 16):
        for m in (1, 5, 999, 1000, 1234, 1235, 1245, 9995, 9999):
            base = m * 10.0**e / 1000
            for x in (base, math.nextafter(base, 0), math.nextafter(base, math.inf), base * (1 + 1e-12)):
                assert _sig(x) == by_log(x), x
    assert _sig(0.0) == 0.0 and _sig(math.inf) == 0.0
