"""The advisor's table of served backbones (``advisor.tables.SERVED_BACKBONES``) matches what the trainers
really resolve and load on this install: the same substitute, parameter count, feature width and blocks."""

from __future__ import annotations

import pytest

from advisor import tables as t
from trainers.torch.transfer import builtin_available, load_pretrained, resolve_backbone


@pytest.mark.parametrize("recommended", sorted(t.BACKBONE_SUBSTITUTES))
def test_the_advisors_substitute_is_the_one_the_trainer_resolves(recommended: str) -> None:
    served, _ = t.served_backbone(recommended)
    if not builtin_available(served.runtime_name):
        pytest.skip(f"{served.source} not installed")
    choice = resolve_backbone(recommended, served.domain, directory=None)
    assert choice.used == served.runtime_name and choice.reason is not None


@pytest.mark.parametrize("runtime_name", sorted(t.SERVED_BACKBONES))
def test_the_served_backbones_counts_are_the_loaded_models(runtime_name: str) -> None:
    served = t.SERVED_BACKBONES[runtime_name]
    if not builtin_available(runtime_name):
        pytest.skip(f"{served.source} not installed")
    backbone, _ = load_pretrained(resolve_backbone(runtime_name, served.domain, directory=None))
    assert sum(p.numel() for p in backbone.parameters()) == served.params
    assert backbone.feature_dim == served.feature_dim
    assert len(backbone.blocks()) == served.layers
