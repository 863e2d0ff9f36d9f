"""The typed torch recipe, the artifact's encoder table, the runtime helpers and the shared ``fit``.

Every recipe starts from the advisor's own (see ``_torch_fixtures``); each case changes one value and the
trainer must refuse it with :class:`TrainerParamError` naming the top-level key, before any data work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _torch_fixtures import (
    StopAfterCalls,
    digits_images,
    digits_params,
    sequence_params,
    sequences,
    tabular_params,
    text_params,
)

from trainers.base import NotFittedError, TrainerParamError
from trainers.callbacks import TrainingStopped
from trainers.registry import get_trainer
from trainers.torch.artifact import ENCODERS, SPEC_FILE, load_artifact
from trainers.torch.base import RECIPE_KEYS
from trainers.torch.data import make_array_data
from trainers.torch.recipe import (
    CNNArchitecture,
    EarlyStopping,
    GradientClipping,
    RNNArchitecture,
    RNNRecipe,
    TorchRecipe,
)
from trainers.torch.runtime import torch_threads


def _recipe(trainer: str) -> dict[str, Any]:
    if trainer == "torch_mlp":
        return tabular_params("binary", 30)
    if trainer == "torch_cnn":
        return digits_params()
    if trainer == "torch_transformer:pretrained":
        return text_params("torch_transformer", pretrained=True)
    return sequence_params(trainer, "binary", sequences("binary", n=50))


def _with(params: dict[str, Any], arch: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    out = {**params, **top}
    if arch is not None:
        out["architecture"] = {**params["architecture"], **arch}
    return out


REFUSED = [
    # (trainer, architecture changes, top-level changes, key, words in the reason)
    ("torch_mlp", {"hidden_units": [0]}, {}, "architecture", "hidden_units.0"),
    ("torch_mlp", {"hidden_units": [True]}, {}, "architecture", "valid integer"),
    ("torch_mlp", {"input_features": 0}, {}, "architecture", "input_features"),
    ("torch_mlp", {"categorical_embedding_dim": "__import__('os')"}, {}, "architecture", "categorical_embedding_dim"),
    ("torch_mlp", {"skip_connections": True}, {}, "architecture", "unknown mlp setting 'skip_connections'"),
    ("torch_mlp", {"type": "cnn"}, {}, "architecture", "builds mlp networks, not 'cnn'"),
    ("torch_mlp", {"backbone": "resnet50"}, {}, "architecture", "no pretrained mlp backbones"),
    ("torch_mlp", None, {"epochs": 0}, "epochs", "greater than or equal to 1"),
    ("torch_mlp", None, {"batch_size": 2.0}, "batch_size", "valid integer"),
    ("torch_mlp", None, {"hidden_activation": "swish2"}, "hidden_activation", "unknown activation"),
    ("torch_mlp", None, {"normalization": "weight_norm"}, "normalization", "unknown normalization"),
    ("torch_mlp", None, {"early_stopping": {"monitor": "val_auc"}}, "early_stopping", "monitor"),
    ("torch_mlp", None, {"early_stopping": {"patience": -1}}, "early_stopping", "patience"),
    ("torch_mlp", None, {"gradient_clipping": {"max_norm": 0}}, "gradient_clipping", "max_norm"),
    ("torch_mlp", None, {"gradient_clipping": {"max_norm": 1, "norm_type": 2}}, "gradient_clipping", "norm_type"),
    ("torch_mlp", None, {"gradient_clipping": {"clip": 1}}, "gradient_clipping", "needs 'max_norm'"),
    ("torch_mlp", None, {"dropout": {"dense": 1.0}}, "dropout", "[0, 1)"),
    ("torch_mlp", None, {"dropout": [0.5]}, "dropout", "dict of rates"),
    ("torch_cnn", {"conv_channels": []}, {}, "architecture", "conv_channels"),
    ("torch_cnn", {"pool_after": [True]}, {}, "architecture", "one true/false per conv block"),
    ("torch_cnn", {"kernel_size": 0}, {}, "architecture", "kernel_size"),
    ("torch_lstm", {"cell": "rnn"}, {}, "architecture", "cell"),
    ("torch_lstm", {"vocab_size": 100}, {}, "architecture", "embedding_dim with vocab_size"),
    ("torch_lstm", None, {"hidden_activation": "relu"}, "hidden_activation", "tanh"),
    ("torch_lstm", None, {"normalization": "group_norm"}, "normalization", "group_norm"),
    ("torch_transformer", {"pooling": "max"}, {}, "architecture", "pooling"),
    ("torch_transformer", {"d_model": 10, "n_heads": 3}, {}, "architecture", "multiple of n_heads"),
    ("torch_transformer", None, {"normalization": "batch_norm"}, "normalization", "LayerNorm"),
    ("torch_transformer:pretrained", {"head_units": [0]}, {}, "architecture", "head_units"),
    ("torch_transformer:pretrained", {"d_model": 64}, {}, "architecture", "unknown transformer setting 'd_model'"),
    ("torch_transformer:pretrained", None, {"transfer": None}, "architecture", "goes with a transfer strategy"),
]


@pytest.mark.parametrize(("trainer", "arch", "top", "key", "words"), REFUSED)
def test_each_invalid_value_is_refused_by_key(
    trainer: str, arch: dict[str, Any] | None, top: dict[str, Any], key: str, words: str
) -> None:
    params = _with(_recipe(trainer), arch, **top)
    with pytest.raises(TrainerParamError) as err:
        get_trainer(trainer.partition(":")[0]).check_params(params, "binary")
    assert err.value.key == key
    assert words in err.value.reason


@pytest.mark.parametrize("trainer", ["torch_mlp", "torch_cnn", "torch_lstm", "torch_transformer"])
def test_a_missing_required_key_is_named(trainer: str) -> None:
    params = _recipe(trainer)
    del params["optimizer"]
    with pytest.raises(TrainerParamError) as err:
        get_trainer(trainer).check_params(params, "binary")
    assert err.value.key == "optimizer" and trainer in err.value.reason


def test_the_advisors_recipes_parse_to_their_architectures() -> None:
    cnn = get_trainer("torch_cnn").RECIPE.parse(digits_params(), "multiclass", "torch_cnn")
    assert isinstance(cnn.architecture, CNNArchitecture)
    assert cnn.architecture.pools == digits_params()["architecture"]["pool_after"]
    assert cnn.hidden_activation == "relu" and cnn.rate("dense") == 0.5 and cnn.rate("attention") == 0.0
    lstm = get_trainer("torch_lstm").RECIPE.parse(_recipe("torch_lstm"), "binary", "torch_lstm")
    assert isinstance(lstm.architecture, RNNArchitecture)
    assert lstm.hidden_activation == "tanh"  # the LSTM's default, not the MLP's relu
    assert isinstance(lstm.early_stopping, EarlyStopping) and lstm.early_stopping.restore_best
    assert isinstance(lstm.gradient_clipping, GradientClipping) and lstm.gradient_clipping.max_norm > 0


def test_a_gru_cell_is_accepted() -> None:
    params = _with(_recipe("torch_lstm"), {"type": "gru", "cell": "gru"})
    recipe = RNNRecipe.parse(params, "binary", "torch_lstm")
    assert isinstance(recipe.architecture, RNNArchitecture) and recipe.architecture.cell_type == "gru"


def test_an_empty_early_stopping_dict_means_none() -> None:
    recipe = RNNRecipe.parse({**_recipe("torch_lstm"), "early_stopping": {}}, "binary", "torch_lstm")
    assert recipe.early_stopping is None


def test_recipe_keys_are_the_library_settings() -> None:
    assert {
        "transfer",
        "architecture",
        "hidden_activation",
        "output_units",
        "output_activation",
        "loss",
        "optimizer",
        "batch_size",
        "epochs",
        "early_stopping",
        "lr_schedule",
        "dropout",
        "l2",
        "augmentation",
        "normalization",
        "gradient_clipping",
    } == RECIPE_KEYS
    assert set(TorchRecipe.model_fields) - RECIPE_KEYS == {"imputation", "scaling", "device"}


def test_torch_threads_restores_the_previous_count() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_failed_refit_leaves_no_model(tmp_path: Path) -> None:
    x, y = digits_images()
    data = make_array_data(x[:200], y[:200], "multiclass", "image")
    train, valid = data.subset(np.arange(150)), data.subset(np.arange(150, 200))
    model = get_trainer("torch_cnn")(digits_params(epochs=1), seed=0).fit(train, valid)
    assert model.modality_ == "image" and model.model_ is not None
    with pytest.raises(TrainingStopped):
        model.fit(train, valid, StopAfterCalls(1))  # stops before any epoch ends: nothing to keep
    assert model.model_ is None
    with pytest.raises(NotFittedError):
        model.predict_output(valid)


def test_every_encoder_kind_has_a_loader_and_unknown_kinds_are_refused(tmp_path: Path) -> None:
    assert set(ENCODERS) == {"tabular", "image", "sequence", "words", "hf-tokens"}
    x, y = digits_images()
    data = make_array_data(x[:120], y[:120], "multiclass", "image")
    model = get_trainer("torch_cnn")(digits_params(epochs=1), seed=0)
    model.fit(data.subset(np.arange(90)), data.subset(np.arange(90, 120))).save(tmp_path)
    loaded = load_artifact(tmp_path)
    assert loaded.encoder_kind == "image" and loaded.modality == "image" and not loaded.model.training
    spec = (tmp_path / SPEC_FILE).read_text(encoding="utf-8")
    (tmp_path / SPEC_FILE).write_text(spec.replace('"kind": "image"', '"kind": "pixels"'), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown encoder kind 'pixels'"):
        load_artifact(tmp_path)
