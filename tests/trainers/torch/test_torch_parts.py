"""The pieces the trainers are built from: losses, optimizers and L2, schedules, augmentation, embeddings,
early stopping and the kept checkpoint, the import boundary."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torch_fixtures import digits_images, digits_params, tabular_frame, tabular_params

from trainers.base import TrainerParamError
from trainers.preprocess import prepare_frame
from trainers.registry import get_trainer
from trainers.spec import TrainData
from trainers.torch import preferred_queue
from trainers.torch.encoders import augment
from trainers.torch.losses import build_loss, check_output
from trainers.torch.models import CNNNet, embedding_dim
from trainers.torch.optim import ParamGroup, Schedule, build_optimizer


def test_importing_trainers_torch_loads_no_torch() -> None:
    code = (
        "import json, sys; import trainers, trainers.torch, trainers.torch.data; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []


def test_torch_jobs_go_to_gpu_workers() -> None:
    assert preferred_queue("torch_cnn", {"device": "cpu"}) == "gpu"
    assert preferred_queue("xgboost") == "cpu"
    assert get_trainer("torch_mlp").SUPPORTS_GPU and get_trainer("torch_mlp").PREFERS_GPU


def test_focal_loss_matches_its_formula() -> None:
    torch.manual_seed(0)
    logits = torch.randn(64, 3)
    y = torch.randint(0, 3, (64,))
    loss = build_loss(
        {"name": "focal", "gamma": 2.0, "alpha": None, "from": "softmax"}, "softmax", "multiclass", y.numpy(), 3, "cpu"
    )
    p = torch.softmax(logits, 1)[torch.arange(64), y]
    assert float(loss(logits, y)) == pytest.approx(float((-((1 - p) ** 2) * torch.log(p)).mean()), rel=1e-5)
    # γ = 0 and no α: plain cross-entropy.
    ce = build_loss({"name": "focal", "gamma": 0.0, "alpha": None}, "softmax", "multiclass", y.numpy(), 3, "cpu")
    assert float(ce(logits, y)) == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)


def test_binary_focal_alpha_weights_the_minority_class() -> None:
    y_train = np.array([0] * 90 + [1] * 10)
    z = torch.tensor([[0.3], [-0.2]])
    t = torch.tensor([1.0, 0.0])
    weighted = build_loss({"name": "focal", "gamma": 2.0, "alpha": 0.9}, "sigmoid", "binary", y_train, 2, "cpu")
    plain = build_loss({"name": "focal", "gamma": 2.0, "alpha": None}, "sigmoid", "binary", y_train, 2, "cpu")
    p = torch.sigmoid(z[:, 0])
    per_row = -torch.stack([(1 - p[0]) ** 2 * torch.log(p[0]), p[1] ** 2 * torch.log(1 - p[1])])
    assert float(plain(z, t)) == pytest.approx(float(per_row.mean()), rel=1e-5)
    assert float(weighted(z, t)) == pytest.approx(float((per_row * torch.tensor([0.9, 0.1])).mean()), rel=1e-5)


@pytest.mark.parametrize(
    ("task", "units", "act", "loss", "ok"),
    [
        ("binary", 1, "sigmoid", {"name": "binary_crossentropy"}, True),
        ("binary", 2, "softmax", {"name": "sparse_categorical_crossentropy"}, True),
        ("multiclass", 3, "softmax", {"name": "categorical_crossentropy"}, True),
        ("regression", 1, "linear", {"name": "huber", "delta": 1.0}, True),
        ("regression", 1, "linear", {"name": "mae"}, True),
        ("binary", 1, "softmax", {"name": "binary_crossentropy"}, False),
        ("multiclass", 3, "sigmoid", {"name": "focal", "gamma": 2.0}, False),
        ("regression", 1, "sigmoid", {"name": "mse"}, False),
        ("binary", 1, "sigmoid", {"name": "mse"}, False),
    ],
)
def test_output_and_loss_must_agree(task: str, units: int, act: str, loss: dict, ok: bool) -> None:
    if ok:
        check_output(task, None, units, act, loss)  # type: ignore[arg-type]
    else:
        with pytest.raises(TrainerParamError):
            check_output(task, None, units, act, loss)  # type: ignore[arg-type]


def test_l2_is_lambda_sum_of_squares_on_weights_only() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = build_optimizer(
        [ParamGroup("all", list(net.parameters()), 1e-3)], {"name": "adam", "learning_rate": 1e-3}, l2=0.01
    )
    decays = {p.ndim: g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    # d/dw of λΣw² is 2λw: the coupled weight decay is 2λ on the weight matrix, 0 on biases and BN.
    assert decays == {2: pytest.approx(0.02), 1: 0.0}
    adamw = build_optimizer(
        [ParamGroup("all", list(net.parameters()), 1e-3)],
        {"name": "adamw", "learning_rate": 1e-3, "weight_decay": 0.01},
        l2=0.0,
    )
    assert isinstance(adamw, torch.optim.AdamW)
    assert {g["weight_decay"] for g in adamw.param_groups} == {0.01, 0.0}
    sgd = build_optimizer(
        [ParamGroup("all", list(net.parameters()), 1e-2)],
        {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True},
        l2=0.001,
    )
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"] is True
    rms = build_optimizer(
        [ParamGroup("all", list(net.parameters()), 1e-3)], {"name": "rmsprop", "learning_rate": 1e-3}, l2=0.0
    )
    assert isinstance(rms, torch.optim.RMSprop)


def _rates(schedule: dict, epochs: int, steps: int, val: list[float] | None = None) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0, "name": "all"}], lr=1.0)
    sched = Schedule(opt, schedule, steps)
    out = []
    for e in range(epochs):
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.after_step()
        sched.after_epoch(val[e] if val else 1.0)
    return out


def test_schedules() -> None:
    warm = _rates({"name": "warmup_cosine", "warmup_epochs": 1, "t_max_epochs": 3}, 3, 4)
    assert warm[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warmup over the first epoch
    assert warm[4] == pytest.approx(1.0) and warm[-1] < 0.1  # then cosine down towards 0
    step = _rates({"name": "step", "step_epochs": 2, "gamma": 0.1}, 5, 2)
    assert step == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01])
    cos = _rates({"name": "cosine", "t_max_epochs": 2}, 2, 2)
    assert cos == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))])
    plateau = _rates(
        {"name": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.1, "patience": 1},
        5,
        1,
        val=[1.0, 0.9, 0.95, 0.96, 0.97],
    )
    assert plateau == pytest.approx([1, 1, 1, 1, 0.1])
    assert _rates({"name": "linear_warmup", "warmup_epochs": 2}, 3, 1) == pytest.approx([0.5, 1.0, 1.0])


def test_embedding_width_formula_is_parsed_not_evaluated() -> None:
    rule = "min(50, (levels + 1) // 2)"
    assert [embedding_dim(rule, n) for n in (2, 9, 200)] == [1, 5, 50]
    assert embedding_dim(8, 100) == 8
    with pytest.raises(TrainerParamError):
        embedding_dim("__import__('os').system('true')", 3)


def test_augmentation_flips_crops_and_rotates() -> None:
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, :, :2] = 1.0  # a bar on the left
    flipped = augment(x, {"horizontal_flip": True})
    right = flipped[:, 0, :, -2:].sum(dim=(1, 2)) > 0
    assert 10 < int(right.sum()) < 54  # about half mirrored
    moved = augment(x, {"random_crop": {"padding_fraction": 0.125}, "rotation_degrees": 15})
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert torch.equal(augment(x, {}), x)


def test_cnn_layers_follow_the_recipe() -> None:
    net = CNNNet(1, 8, 8, [32, 64], 3, [True, True], [128], "relu", "group_norm", 0.2, 0.5, 10)
    kinds = [type(m).__name__ for m in net.body]
    assert kinds[:5] == ["Conv2d", "GroupNorm", "ReLU", "MaxPool2d", "Dropout"]
    assert net.body[1].num_groups == 32 and net.feature_dim == 128
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_early_stopping_keeps_the_best_epoch_not_the_last() -> None:
    frame = tabular_frame("binary")
    X, y, schema = prepare_frame(frame, "target", None, "binary")
    # 60 training rows, no dropout or L2, a high rate and 40 epochs: validation loss turns up early.
    params = tabular_params(
        "binary",
        X.shape[1],
        epochs=40,
        batch_size=16,
        dropout={"dense": 0.0},
        l2=0.0,
        optimizer={"name": "adam", "learning_rate": 0.01},
        lr_schedule=None,
        early_stopping={"monitor": "val_loss", "patience": 5, "restore_best": True},
    )
    train, valid = TrainData(X.iloc[:60], y[:60], schema), TrainData(X.iloc[300:], y[300:], schema)
    model = get_trainer("torch_mlp")(params, seed=0).fit(train, valid)
    val = model.curves_.val_loss
    assert model.run_info_["early_stopped"] and model.n_rounds_ < 40
    assert model.best_iteration_ == int(np.argmin(val)) < model.n_rounds_ - 1
    proba = model.predict_proba(valid.X)
    p = np.clip(proba[np.arange(len(valid.y)), valid.y], 1e-12, 1)
    assert float(-np.mean(np.log(p))) == pytest.approx(min(val), rel=1e-4)  # the kept weights are the best ones


def test_digits_recipe_values_reach_the_network() -> None:
    x, y = digits_images()
    from trainers.torch.data import make_array_data

    data = make_array_data(x[:300], y[:300], "multiclass", "image")
    params = digits_params(epochs=1)
    model = get_trainer("torch_cnn")(params, seed=0).fit(data.subset(np.arange(200)), data.subset(np.arange(200, 300)))
    kinds = [type(m).__name__ for m in model.model_.body]
    assert kinds.count("Conv2d") == 2 and kinds.count("BatchNorm2d") == 2 and kinds.count("MaxPool2d") == 2
    dropouts = sorted({m.p for m in model.model_.body if isinstance(m, torch.nn.Dropout)})
    assert dropouts == [params["dropout"]["conv"], params["dropout"]["dense"]]
    assert model.model_.out.out_features == 10
    assert model.run_info_["bit_reproducible"] is True
