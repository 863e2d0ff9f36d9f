"""§13 estimates for a transfer candidate count the backbone that really trains here, and say so."""

from __future__ import annotations

import pytest

from advisor import Constraints, DatasetProfile, recommend
from advisor import tables as t

IMAGES = DatasetProfile(modality="image", task="multiclass", n_rows=5000, n_classes=10, image_size=(224, 224, 3))
TEXTS = DatasetProfile(modality="text", task="binary", n_rows=5000, text_length=64)


@pytest.mark.parametrize(
    ("profile", "constraints", "recommended", "served", "params"),
    [
        (IMAGES, Constraints(gpu_available=True, compute="ample"), "ResNet50", "EfficientNet-Lite0", 3_371_008),
        (IMAGES, Constraints(deployment="mobile"), "MobileNet", "EfficientNet-Lite0", 3_371_008),
        (TEXTS, Constraints(gpu_available=True, compute="ample"), "BERT", "MiniLM-L6", 22_713_216),
        (TEXTS, Constraints(compute="limited"), "DistilBERT", "MiniLM-L6", 22_713_216),
    ],
)
def test_the_estimate_counts_the_backbone_that_runs(
    profile: DatasetProfile, constraints: Constraints, recommended: str, served: str, params: int
) -> None:
    cand = recommend(profile, constraints).candidates[0]
    transfer = cand.choices["transfer"]
    assert transfer.value["pretrained_model"] == recommended
    assert transfer.value["runs_here"]["backbone"] == served
    assert transfer.value["runs_here"]["parameters"] == params
    assert f"{recommended} recommended; {served} ({params / 1e6:.1f}M parameters) will run here because" in (
        transfer.reason
    )
    mem = cand.choices["memory_estimate"]
    head = (
        t.SERVED_BACKBONES[transfer.value["runs_here"]["runtime_name"]].feature_dim * cand.choices["output_units"].value
        + cand.choices["output_units"].value
    )
    assert mem.value["parameters"] == params + head  # not the §8 model's published count
    assert mem.value["parameters"] < t.PRETRAINED_MODELS[recommended].params
    assert mem.value["backbone"] == served and mem.reason.startswith(f"For {served}, the backbone that runs here")


def test_every_recommendable_model_has_a_served_backbone_of_its_domain() -> None:
    assert set(t.BACKBONE_SUBSTITUTES) == set(t.PRETRAINED_MODELS)
    for name, sub in t.BACKBONE_SUBSTITUTES.items():
        assert t.SERVED_BACKBONES[sub.served].domain == t.PRETRAINED_MODELS[name].domain
