"""Walk every row of the cheatsheet's decision tables and check the value and the rule that chose it."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import Constraints, DatasetProfile, Recommendation, recommend


def _dl(rec: Recommendation):
    """The best-ranked deep-learning candidate."""
    return next(c for c in rec.candidates if c.family == "deep_learning")


def profile(**kw: Any) -> DatasetProfile:
    base: dict[str, Any] = {"modality": "tabular", "task": "binary", "n_rows": 200_000, "n_features": 28}
    base.update(kw)
    return DatasetProfile(**base)


AMPLE = Constraints(compute="ample", performance="state_of_the_art", gpu_available=True)


def choice(cand, key: str) -> tuple[Any, str]:
    d = cand.choices[key]
    return d.value, d.rule_id


# §1 architecture by data type ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "arch", "rule"),
    [
        (profile(), "mlp", "architecture.mlp"),
        (profile(modality="image", n_features=None, image_size=(224, 224, 3)), "cnn", "architecture.cnn_pretrained"),
        (profile(modality="image", n_features=None, image_size=(8, 8, 1)), "cnn", "architecture.cnn"),
        (profile(modality="sequence", n_features=3, sequence_length=50), "lstm", "architecture.lstm"),
        (
            profile(modality="text", n_features=None, text_length=80),
            "transformer",
            "architecture.transformer_pretrained",
        ),
        (profile(modality="audio", n_features=1, sequence_length=400), "lstm", "architecture.lstm"),
    ],
)
def test_section1_architecture(p: DatasetProfile, arch: str, rule: str) -> None:
    cand = _dl(recommend(p, AMPLE))
    value, rid = choice(cand, "architecture")
    assert value["type"] == arch and rid == rule
    assert cand.trainer == f"torch_{arch}"


# §1/§2 output layer size and activation --------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "extra", "units", "act"),
    [("binary", {}, 1, "sigmoid"), ("multiclass", {"n_classes": 7}, 7, "softmax"), ("regression", {}, 1, "linear")],
)
def test_section1_2_output_layer(task: str, extra: dict, units: int, act: str) -> None:
    cand = _dl(recommend(profile(task=task, **extra), AMPLE))
    assert choice(cand, "output_units") == (units, "output.units")
    assert choice(cand, "output_activation") == (act, "activation.output")


# §2 hidden activations --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "act", "rule"),
    [
        (profile(), "relu", "activation.hidden_relu"),
        (profile(modality="image", n_features=None, image_size=(28, 28, 1)), "relu", "activation.hidden_relu"),
        (profile(modality="sequence", n_features=2), "tanh", "activation.hidden_tanh"),
        (profile(modality="text", n_features=None), "gelu", "activation.hidden_gelu"),
    ],
)
def test_section2_hidden_activation(p: DatasetProfile, act: str, rule: str) -> None:
    assert choice(_dl(recommend(p, AMPLE)), "hidden_activation") == (act, rule)


# §3 losses -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "loss", "rule"),
    [
        ({"task": "binary"}, "binary_crossentropy", "loss.binary_crossentropy"),
        (
            {"task": "multiclass", "n_classes": 5, "label_format": "one_hot"},
            "categorical_crossentropy",
            "loss.categorical_crossentropy",
        ),
        (
            {"task": "multiclass", "n_classes": 5, "label_format": "integer"},
            "sparse_categorical_crossentropy",
            "loss.sparse_categorical_crossentropy",
        ),
        (
            {"task": "multiclass", "n_classes": 5},
            "sparse_categorical_crossentropy",
            "loss.sparse_categorical_crossentropy",
        ),
        ({"task": "binary", "minority_share": 0.03}, "focal", "loss.focal"),
        ({"task": "multiclass", "n_classes": 10, "minority_share": 0.005}, "focal", "loss.focal"),
        (
            {"task": "multiclass", "n_classes": 10, "minority_share": 0.08},
            "sparse_categorical_crossentropy",
            "loss.sparse_categorical_crossentropy",
        ),
        ({"task": "regression"}, "mse", "loss.mse"),
        ({"task": "regression", "target_outlier_share": 0.004}, "mse", "loss.mse"),
        ({"task": "regression", "target_outlier_share": 0.04}, "huber", "loss.huber"),
        ({"task": "regression", "target_outlier_share": 0.2}, "mae", "loss.mae"),
        # a count with many zeros: the "outliers" are the values off the point mass; MSE fits the mean R² scores
        ({"task": "regression", "target_outlier_share": 0.2, "target_mode_share": 0.67}, "mse", "loss.point_mass"),
        ({"task": "regression", "target_outlier_share": 0.05, "target_mode_share": 0.25}, "mse", "loss.point_mass"),
        ({"task": "regression", "target_outlier_share": 0.05, "target_mode_share": 0.2}, "huber", "loss.huber"),
    ],
)
def test_section3_loss(kw: dict, loss: str, rule: str) -> None:
    value, rid = choice(_dl(recommend(profile(**kw), AMPLE)), "loss")
    assert (value["name"], rid) == (loss, rule)


# §4 optimizers and learning rates --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "c", "opt", "lr", "rule"),
    [
        (profile(), AMPLE, "adam", 0.001, "optimizer.adam_default"),
        (profile(modality="text", n_features=None), AMPLE, "adamw", 0.001, "optimizer.adamw_transformer"),
        (profile(modality="sequence", n_features=4), AMPLE, "rmsprop", 0.001, "optimizer.rmsprop_rnn"),
        (
            profile(modality="image", n_features=None, image_size=(64, 64, 3)),
            AMPLE,
            "sgd",
            0.01,
            "optimizer.sgd_momentum_vision",
        ),
        (
            profile(modality="image", n_features=None, image_size=(64, 64, 3)),
            Constraints(compute="limited", performance="state_of_the_art"),
            "adam",
            0.001,
            "optimizer.adam_default",
        ),
        (
            profile(modality="image", n_features=None, image_size=(64, 64, 3)),
            Constraints(compute="ample", performance="good_enough"),
            "adam",
            0.001,
            "optimizer.adam_default",
        ),
    ],
)
def test_section4_optimizer(p: DatasetProfile, c: Constraints, opt: str, lr: float, rule: str) -> None:
    value, rid = choice(_dl(recommend(p, c)), "optimizer")
    assert (value["name"], value["learning_rate"], rid) == (opt, lr, rule)
    if opt == "sgd":
        assert value["momentum"] == 0.9


@pytest.mark.parametrize(
    ("p", "c", "schedule", "rule"),
    [
        (profile(n_rows=500_000), Constraints(), "reduce_on_plateau", "schedule.reduce_on_plateau"),
        (profile(n_rows=500_000), AMPLE, "warmup_cosine", "schedule.warmup_cosine"),  # large batch → warmup
        (profile(modality="text", n_features=None), Constraints(), "warmup_cosine", "schedule.warmup_cosine"),
        (profile(modality="image", n_features=None, image_size=(64, 64, 3)), AMPLE, "step", "schedule.step_decay"),
        (profile(modality="image", n_features=None, n_rows=5000), Constraints(), "cosine", "schedule.cosine_transfer"),
    ],
)
def test_section4_schedule(p: DatasetProfile, c: Constraints, schedule: str, rule: str) -> None:
    value, rid = choice(_dl(recommend(p, c)), "lr_schedule")
    assert (value["name"], rid) == (schedule, rule)
    if schedule == "warmup_cosine":
        assert value["warmup_epochs"] >= 1


# §5 batch size ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "c", "batch", "rule"),
    [
        (profile(n_rows=500_000), Constraints(), 32, "batch_size.default"),
        (profile(n_rows=500_000), AMPLE, 512, "batch_size.large"),
        (profile(n_rows=500_000), Constraints(compute="limited"), 32, "batch_size.default"),
        (profile(modality="sequence", n_rows=60), Constraints(), 42, "batch_size.full_dataset"),
        (
            profile(modality="image", n_features=None, n_rows=3000, image_size=(256, 256, 3)),
            Constraints(compute="limited"),
            16,
            "batch_size.memory",
        ),
    ],
)
def test_section5_batch_size(p: DatasetProfile, c: Constraints, batch: int, rule: str) -> None:
    assert choice(_dl(recommend(p, c)), "batch_size") == (batch, rule)


# §6 regularization -----------------------------------------------------------------------------------
def test_section6_early_stopping_always() -> None:
    for p in (profile(), profile(modality="text", n_features=None), profile(modality="sequence", n_features=2)):
        for cand in recommend(p, AMPLE).candidates:
            if cand.family == "deep_learning":
                value, rid = choice(cand, "early_stopping")
                assert rid == "regularization.early_stopping"
                assert value["monitor"] == "val_loss" and 10 <= value["patience"] <= 20 and value["restore_best"]
            elif cand.model in ("xgboost", "lightgbm"):
                assert choice(cand, "early_stopping_rounds")[1] == "boosting.early_stopping_rounds"
            else:  # one-shot fits have no rounds to stop early
                assert cand.model in ("random_forest", "extra_trees", "svm", "knn"), cand.model
                assert "early_stopping_rounds" not in cand.choices


@pytest.mark.parametrize(
    ("p", "dropout", "rule"),
    [
        (profile(), {"dense": 0.5}, "regularization.dropout_dense"),
        (
            profile(modality="image", n_features=None, image_size=(8, 8, 1)),
            {"conv": 0.2, "dense": 0.5},
            "regularization.dropout_cnn",
        ),
        (
            profile(modality="image", n_features=None, image_size=(224, 224, 3)),
            {"dense": 0.5},
            "regularization.dropout_cnn",
        ),
    ],
)
def test_section6_dropout(p: DatasetProfile, dropout: dict, rule: str) -> None:
    assert choice(_dl(recommend(p, AMPLE)), "dropout") == (dropout, rule)


@pytest.mark.parametrize(
    ("n_rows", "l2", "rule"),
    [(5_000, 0.01, "regularization.l2_small_data"), (200_000, 0.001, "regularization.l2_default")],
)
def test_section6_l2(n_rows: int, l2: float, rule: str) -> None:
    c = Constraints(compute="ample", performance="state_of_the_art")
    p = profile(modality="image", n_features=None, n_rows=n_rows, image_size=(32, 32, 3))
    assert choice(_dl(recommend(p, c)), "l2") == (l2, rule)


def test_section6_augmentation_images_only() -> None:
    img = _dl(recommend(profile(modality="image", n_features=None), AMPLE))
    value, rid = choice(img, "augmentation")
    assert rid == "regularization.augmentation_images"
    assert value["horizontal_flip"] and value["random_crop"] and value["rotation_degrees"]
    assert choice(_dl(recommend(profile(), AMPLE)), "augmentation") == ({}, "regularization.augmentation_none")


# §7 normalization ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "c", "norm", "rule"),
    [
        (profile(), AMPLE, "batch_norm", "normalization.batch_norm"),
        (
            profile(modality="image", n_features=None, image_size=(32, 32, 3)),
            AMPLE,
            "batch_norm",
            "normalization.batch_norm",
        ),
        (profile(modality="text", n_features=None), AMPLE, "layer_norm", "normalization.layer_norm"),
        (profile(modality="sequence", n_features=2), AMPLE, "layer_norm", "normalization.layer_norm"),
        (
            profile(modality="image", n_features=None, n_rows=12, image_size=(32, 32, 3)),
            AMPLE,
            "group_norm",
            "normalization.group_norm",
        ),
        (profile(modality="audio", n_rows=12), AMPLE, "layer_norm", "normalization.layer_norm"),
    ],
)
def test_section7_normalization(p: DatasetProfile, c: Constraints, norm: str, rule: str) -> None:
    cand = _dl(recommend(p, c))
    assert choice(cand, "normalization") == (norm, rule)
    if norm == "batch_norm":
        assert cand.choices["batch_size"].value >= 16


# §13 estimates ---------------------------------------------------------------------------------------
def test_section13_memory_follows_the_formula() -> None:
    # MLP 28 → 256 → 256 → 1 with Adam, batch 512: every term of §13 checked by hand
    cand = _dl(recommend(profile(n_rows=500_000), AMPLE))
    assert cand.choices["architecture"].value["hidden_units"] == [256, 256]
    params = (28 * 256 + 256) + (256 * 256 + 256) + (256 + 1)
    mem = cand.choices["memory_estimate"].value
    assert mem["parameters"] == params
    assert mem["parameter_bytes"] == 4 * params
    assert mem["gradient_bytes"] == 4 * params
    assert mem["optimizer_state_bytes"] == 2 * 4 * params  # Adam: two moments
    assert mem["activation_bytes"] == 512 * (256 + 256 + 1) * 4
    assert mem["total_bytes"] == sum(
        mem[k] for k in ("parameter_bytes", "gradient_bytes", "optimizer_state_bytes", "activation_bytes")
    )


def test_section13_time_budget_cuts_epochs() -> None:
    p = profile(modality="text", n_features=None, n_rows=50_000, text_length=200)
    rec = recommend(p, Constraints(time_budget_s=60))
    cand = _dl(rec)
    assert cand.choices["epochs"].rule_id == "epochs.budget_cut"
    assert any("time budget" in w for w in rec.warnings)


# Pro tip 6: a baseline always --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "model", "trainer"),
    [
        (profile(), "logistic_regression", "sklearn_logistic"),
        (profile(task="regression"), "ridge_regression", "sklearn_ridge"),
        (profile(modality="image", n_features=None), "logistic_regression", "sklearn_logistic"),
    ],
)
def test_baseline_always_present(p: DatasetProfile, model: str, trainer: str) -> None:
    base = recommend(p).baseline
    assert (base.model, base.trainer, base.family) == (model, trainer, "baseline")
    assert base.choices["split"].rule_id == "data.split"


# Classical candidates mirror §3 for outliers and imbalance ------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "xgb_obj", "lgb_obj"),
    [
        ({"task": "binary"}, "binary:logistic", "binary"),
        ({"task": "multiclass", "n_classes": 3}, "multi:softprob", "multiclass"),
        ({"task": "regression"}, "reg:squarederror", "regression"),
        ({"task": "regression", "target_outlier_share": 0.05}, "reg:pseudohubererror", "huber"),
        ({"task": "regression", "target_outlier_share": 0.3}, "reg:absoluteerror", "regression_l1"),
        (
            {"task": "regression", "target_outlier_share": 0.3, "target_mode_share": 0.7},
            "reg:squarederror",
            "regression",
        ),
        (
            {"task": "regression", "target_outlier_share": 0.05, "target_mode_share": 0.3},
            "reg:squarederror",
            "regression",
        ),
    ],
)
def test_classical_objectives(kw: dict, xgb_obj: str, lgb_obj: str) -> None:
    rec = recommend(profile(n_rows=5000, **kw))
    by_model = {c.model: c for c in rec.candidates}
    assert by_model["xgboost"].choices["objective"].value == xgb_obj
    assert by_model["lightgbm"].choices["objective"].value == lgb_obj
    assert by_model["xgboost"].choices["early_stopping_rounds"].value > 0
    if kw["task"] == "multiclass":
        assert by_model["xgboost"].choices["num_class"].value == 3


def test_point_mass_reasons_name_the_rule() -> None:
    rec = recommend(profile(n_rows=5000, task="regression", target_outlier_share=0.16, target_mode_share=0.67))
    by_model = {c.model: c for c in rec.candidates}
    for model, keys in (("xgboost", ("objective",)), ("lightgbm", ("objective",))):
        for key in keys:
            assert "loss.point_mass" in by_model[model].choices[key].reason
    assert by_model["xgboost"].choices["eval_metric"].value == "rmse"
    assert by_model["lightgbm"].choices["metric"].value == "l2"


def test_target_mode_share_is_for_regression_only() -> None:
    with pytest.raises(ValueError, match="target_mode_share only applies to regression"):
        profile(task="binary", target_mode_share=0.5)


def test_classical_imbalance_weights() -> None:
    rec = recommend(profile(n_rows=5000, minority_share=0.04))
    by_model = {c.model: c for c in rec.candidates}
    # the boosters leave the classes unweighted, and say why (bench/imbalance_study.py)
    assert by_model["xgboost"].choices["scale_pos_weight"].value == 1.0
    assert by_model["lightgbm"].choices["is_unbalance"].value is False
    for model, key in (("xgboost", "scale_pos_weight"), ("lightgbm", "is_unbalance")):
        reason = by_model[model].choices[key].reason
        assert "4.0% of rows" in reason and "bench/imbalance_study.py" in reason
    assert by_model["random_forest"].choices["class_weight"].value == "balanced"
    assert rec.baseline.choices["class_weight"].value == "balanced"
    assert any(item.rule_id == "checklist.imbalance" for item in rec.checklist)


def test_grayscale_images_are_not_flipped() -> None:
    digits = DatasetProfile(modality="image", task="multiclass", n_rows=1797, n_classes=10, image_size=(8, 8, 1))
    aug = _dl(recommend(digits)).choices["augmentation"]
    assert aug.value["horizontal_flip"] is False and aug.value["rotation_degrees"] and "no flip" in aug.reason


def test_tiny_data_gets_enough_weight_updates() -> None:
    p = DatasetProfile(modality="image", task="binary", n_rows=60, image_size=(64, 64, 3))
    cand = _dl(recommend(p, Constraints(domain_similarity="high")))
    batch, epochs = cand.choices["batch_size"].value, cand.choices["epochs"].value
    steps = -(-int(60 * 0.7) // batch)
    assert epochs * steps >= 100 and "weight updates" in cand.choices["epochs"].reason


def test_long_sequences_are_cut_for_attention() -> None:
    p = DatasetProfile(modality="audio", task="binary", n_rows=5000, sequence_length=16_000)
    tf = next(c for c in recommend(p).candidates if c.model == "transformer")
    assert tf.choices["architecture"].value["max_length"] == 512
    assert "last 512" in tf.choices["architecture"].reason
