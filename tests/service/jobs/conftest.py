"""Job-engine fixtures (module-scoped: one database, dataset and warm training process per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _job_fixtures import breast_cancer, job_settings, store_dataset

from service.db import migrate
from service.db.session import Database
from service.jobs.process import TrainingProcess
from service.settings import Settings


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def engine_settings(module_dir: Path) -> Settings:
    settings = job_settings(module_dir)
    migrate.upgrade(settings.database_url)
    return settings


@pytest.fixture(scope="module")
def db(engine_settings: Settings) -> Iterator[Database]:
    database = Database.from_url(engine_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def bc_dataset(db: Database, engine_settings: Settings) -> str:
    return store_dataset(db, engine_settings, breast_cancer(), "target", "breast_cancer")


@pytest.fixture(scope="module")
def warm_process() -> Iterator[list[TrainingProcess | None]]:
    """One training process shared by a module's runner tests (a list: a test may replace it)."""
    holder: list[TrainingProcess | None] = [TrainingProcess()]
    yield holder
    if holder[0] is not None:
        holder[0].kill()
