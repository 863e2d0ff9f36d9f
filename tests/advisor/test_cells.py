"""Exhaustive cells: §8 size × similarity, and the §9 framework over every combination of its inputs."""

from __future__ import annotations

import itertools

import pytest

from advisor import Constraints, DatasetProfile, recommend
from advisor.tables import TRANSFER_TABLE

SIZES = {"small": 500, "medium": 5_000, "large": 50_000}
LISTED = {
    ("small", "high"): ("feature_extraction", 0.0),
    ("medium", "medium"): ("fine_tuning", 0.5),
    ("large", "low"): ("full_fine_tuning", 1.0),
}


@pytest.mark.parametrize(("size", "similarity"), list(itertools.product(SIZES, ("high", "medium", "low"))))
@pytest.mark.parametrize("modality", ["image", "text"])
def test_section8_every_cell(size: str, similarity: str, modality: str) -> None:
    p = DatasetProfile(modality=modality, task="binary", n_rows=SIZES[size])
    cand = recommend(p, Constraints(domain_similarity=similarity)).candidates[0]
    d = cand.choices["transfer"]
    assert d.rule_id == "transfer.strategy" and d.section == "§8" and d.reason
    assert d.value["size_bucket"] == size
    assert 0.0 <= d.value["unfreeze_fraction"] <= 1.0
    lrs = d.value["layer_learning_rates"]
    assert lrs["head"] == 1e-3 and set(lrs.values()) <= {0.0, 1e-5, 1e-4, 1e-3}
    if (size, similarity) in LISTED:
        assert (d.value["strategy"], d.value["unfreeze_fraction"]) == LISTED[(size, similarity)]
        assert d.extrapolated is False
    else:
        assert d.extrapolated is True and "extrapolated" in d.reason
    if d.value["strategy"] == "fine_tuning":
        assert 0.25 <= d.value["unfreeze_fraction"] <= 0.5


def test_transfer_table_is_complete() -> None:
    cells = {(c.size, c.similarity) for c in TRANSFER_TABLE}
    assert cells == set(itertools.product(SIZES, ("high", "medium", "low")))


@pytest.mark.parametrize(
    ("deployment", "compute", "performance", "modality", "model"),
    [
        ("mobile", "ample", "good_enough", "image", "MobileNet"),
        ("edge", "ample", "state_of_the_art", "image", "MobileNet"),
        ("server", "limited", "good_enough", "image", "EfficientNet"),
        ("server", "ample", "state_of_the_art", "image", "EfficientNet"),
        ("server", "ample", "good_enough", "image", "ResNet50"),
        ("server", "ample", "good_enough", "text", "BERT"),
        ("mobile", "ample", "good_enough", "text", "DistilBERT"),
        ("server", "limited", "good_enough", "text", "DistilBERT"),
    ],
)
def test_section8_pretrained_model_by_domain_and_deployment(
    deployment: str, compute: str, performance: str, modality: str, model: str
) -> None:
    p = DatasetProfile(modality=modality, task="binary", n_rows=5000)
    c = Constraints(deployment=deployment, compute=compute, performance=performance)
    assert recommend(p, c).candidates[0].choices["transfer"].value["pretrained_model"] == model


MODALITIES = ["tabular", "image", "text", "sequence", "audio"]
ROWS = [5_000, 99_999, 100_000, 2_000_000]
BOOLS = [False, True]
COMPUTE = ["limited", "ample"]
PERF = ["good_enough", "state_of_the_art"]


@pytest.mark.parametrize("modality", MODALITIES)
def test_section9_every_combination(modality: str) -> None:
    for n_rows, interp, compute, perf in itertools.product(ROWS, BOOLS, COMPUTE, PERF):
        p = DatasetProfile(modality=modality, task="binary", n_rows=n_rows)
        c = Constraints(interpretability_required=interp, compute=compute, performance=perf)
        rec = recommend(p, c)
        q = {d.key: d for d in rec.decisions}
        for key in (
            "q1_data_type",
            "q2_dataset_size",
            "q3_interpretability",
            "q4_compute",
            "q5_performance",
            "family",
            "ranking",
        ):
            assert q[key].reason and q[key].section == "§9", key
        assert q["q2_dataset_size"].value == ("classical" if n_rows < 100_000 else "either")
        assert q["q3_interpretability"].value == ("classical" if interp else "either")
        assert q["q4_compute"].value == ("classical" if compute == "limited" else "either")
        assert q["q5_performance"].value == ("classical" if perf == "good_enough" else "deep_learning")
        families = [cand.family for cand in rec.candidates]
        if modality in ("image", "text", "audio"):
            assert rec.family == "deep_learning" and set(families) == {"deep_learning"}
        elif modality == "tabular":
            if n_rows < 100_000 or interp:
                assert rec.family == "classical" and set(families) == {"classical"}
            else:
                assert rec.family == "both" and set(families) == {"classical", "deep_learning"}
                dl_first = compute == "ample" and perf == "state_of_the_art"
                assert (families[0] == "deep_learning") == dl_first
        else:
            assert rec.family == "both"
        assert rec.baseline.family == "baseline"
        assert [c.rank for c in rec.candidates] == list(range(1, len(rec.candidates) + 1))
