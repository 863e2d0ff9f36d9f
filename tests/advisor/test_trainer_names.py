"""The advisor names trainers without importing them (it is pure); the registry is the one list it must match."""

from __future__ import annotations

from typing import get_args

from advisor.engine import TRAINERS
from advisor.rules.base import Arch
from trainers.classical import CLASSICAL_TRAINERS
from trainers.registry import available_trainers
from trainers.torch import TORCH_TRAINERS


def test_every_trainer_the_advisor_names_is_registered() -> None:
    registered = available_trainers()
    unknown = {model: name for model, name in TRAINERS.items() if name not in registered}
    assert unknown == {}


def test_networks_train_with_torch_trainers_and_the_rest_with_classical_ones() -> None:
    networks = set(get_args(Arch))
    assert {TRAINERS[arch] for arch in networks} <= set(TORCH_TRAINERS)
    assert {name for model, name in TRAINERS.items() if model not in networks} <= set(CLASSICAL_TRAINERS)
