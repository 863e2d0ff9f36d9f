"""Dashboard fixtures: a live server on a real port, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _ui_fixtures import LiveServer, ui_settings


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(ui_settings(tmp_path_factory.mktemp("ui-live"))) as server:
        yield server
