"""Shared test configuration. Keep it minimal: each suite has its own conftest in its folder."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``), the integration tests share one worker:
    they use the same PostgreSQL, Redis and RabbitMQ servers and start real worker processes, so they run one
    after another, beside the rest of the suite rather than beside each other."""
    for item in items:
        if item.get_closest_marker("integration") is not None:
            item.add_marker(pytest.mark.xdist_group("services"))
