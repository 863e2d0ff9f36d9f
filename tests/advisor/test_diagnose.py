"""§10 Common Training Issues applied to curves."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from advisor import Curves, diagnose


def issues(**kw) -> dict[str, object]:
    return {d.issue: d for d in diagnose(Curves(**kw))}


def test_overfitting_names_the_turning_epoch() -> None:
    train = [1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1]
    val = [1.0, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9]
    found = issues(train_loss=train, val_loss=val)
    d = found["overfitting"]
    assert d.epoch == 4 and d.rule_id == "diagnose.overfitting"
    assert d.fixes == ["Dropout", "Early stopping", "More data"]
    assert "epoch 4" in d.evidence


def test_healthy_curves_have_no_findings() -> None:
    train = [1.0 * 0.7**i for i in range(10)]
    val = [1.05 * 0.72**i for i in range(10)]
    assert diagnose(Curves(train_loss=train, val_loss=val)) == []


def test_exploding_on_nan_and_spike() -> None:
    d = issues(train_loss=[1.0, 0.8, None, None])["exploding_gradients"]
    assert d.epoch == 3 and d.fixes == ["Gradient clipping", "Lower LR"]
    d = issues(train_loss=[1.0, 0.5, 0.4, 9.0, 0.3])["exploding_gradients"]
    assert d.epoch == 4


def test_plateau_early_is_vanishing_gradients() -> None:
    train = [2.0, 1.9, 1.899, 1.898, 1.898, 1.897, 1.897, 1.897, 1.897, 1.897]
    d = issues(train_loss=train)["vanishing_gradients"]
    assert d.fixes == ["ReLU", "Skip connections", "BatchNorm"]
    assert d.epoch is not None and d.epoch <= 5


def test_slow_convergence() -> None:
    train = [1.0 - 0.02 * i for i in range(10)]
    d = issues(train_loss=train)["slow_convergence"]
    assert d.fixes == ["Higher LR", "Adam optimizer", "BatchNorm"]


def test_underfitting_against_baseline_and_metric() -> None:
    found = issues(train_loss=[0.70, 0.69, 0.685, 0.684, 0.6839], baseline_loss=0.693)
    assert "underfitting" in found
    assert found["underfitting"].fixes == ["More capacity", "Less regularization"]
    found = issues(
        train_loss=[1.0, 0.5, 0.3, 0.2], train_metric=[0.5, 0.55, 0.6, 0.62], val_metric=[0.5, 0.52, 0.58, 0.6]
    )
    assert "underfitting" in found


def test_dead_relus() -> None:
    assert "dead_relus" in issues(train_loss=[1.0, 0.9], dead_relu_fraction=0.7)


def test_overfitting_from_metrics_when_losses_do_not_show_it() -> None:
    found = issues(
        train_loss=[1.0, 0.8, 0.6, 0.5, 0.4, 0.3],
        val_loss=[1.0, 0.8, 0.7, 0.66, 0.65, 0.649],
        train_metric=[0.6, 0.7, 0.8, 0.85, 0.9, 0.95],
        val_metric=[0.6, 0.7, 0.75, 0.72, 0.7, 0.68],
    )
    assert found["overfitting"].epoch == 3


def test_curves_validation() -> None:
    with pytest.raises(ValidationError):
        Curves(train_loss=[1.0, 2.0], val_loss=[1.0])
    with pytest.raises(ValidationError):
        Curves(train_loss=[math.inf])
    with pytest.raises(ValidationError):
        Curves(train_loss=[])
