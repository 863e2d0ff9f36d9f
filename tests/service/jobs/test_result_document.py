"""A job's result is one validated document (``JobResult``), migrated from and back to the three columns of
revision 0007 (``result``, ``artifact``, ``device``) on SQLite and PostgreSQL alike."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _job_fixtures import stored_result
from _testdb import database_url
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.exc import StatementError

import migrations
from service.db import migrate
from service.db.models import Job
from service.db.session import Database
from service.jobs.messages import DeviceRecord
from service.jobs.stored import BaselineOutcome, JobResult
from service.views.jobs import to_read

# The keys revision 0007's runner wrote into each column.
OLD_RESULT_KEYS = {
    *("trainer", "task", "trained_params", "derived_params", "metrics", "metric_notes", "curves", "diagnosis"),
    *("best_iteration", "n_rounds", "partial", "partial_reason", "split", "validation", "n_rows_dropped"),
    *("timings", "library_versions", "sample_predictions", "run_info", "notes", "baseline", "lift_over_baseline"),
}
OLD_ARTIFACT_KEYS = {"trainer", "format", "sha256", "files", "library_versions", "path", "zip_path", "zip_sha256"}
OLD_ARTIFACT_KEYS |= {"size_bytes", "partial"}


def _migration() -> ModuleType:
    path = Path(next(iter(migrations.__path__))) / "versions" / "0008_job_result_document.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _document(seed: int = 3) -> JobResult:
    base = stored_result(
        {"validation": {"rmse": 2.0, "r2": None}, "test": {"rmse": 1.5, "r2": 0.4}},
        {"method": "kfold", "k": 5, "n_rows": 80, "mean": {"rmse": 2.0}, "sd": {"rmse": 0.1}, "served_model": "m"},
        files={"model.skops": "a" * 64, "schema.json": "b" * 64},
    )
    model = base.model.model_copy(update={"seed": seed, "n_threads": 2, "diagnosis": [], "partial": True})
    return base.model_copy(
        update={
            "model": model,
            "device": DeviceRecord(device="cpu", cpu="x86", threads=2),
            "run_info": {"peak_rss_bytes": 10},
            "sample_predictions": {"row_index": [0], "output": [1.0]},
            "notes": ["a note"],
            "baseline": BaselineOutcome(model="ridge", trainer="sklearn_ridge", metrics={"test": {"rmse": 2.5}}),
            "lift_over_baseline": {"test": {"rmse": 1.0}},
        }
    )


def test_the_mapping_to_and_from_revision_0007_loses_nothing() -> None:
    m = _migration()
    doc = _document().model_dump(mode="json")
    result, artifact, device = m.columns(doc)
    assert set(result) == OLD_RESULT_KEYS and set(artifact) == OLD_ARTIFACT_KEYS
    assert artifact["path"] == "j/1/model" and artifact["zip_path"] == "j/1/model.zip" and artifact["partial"] is True
    back = JobResult.model_validate(m.document(result, artifact, device, 3))
    assert back == _document()


def test_a_document_that_does_not_validate_is_refused_on_write(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    migrate.upgrade(url)
    db = Database.from_url(url)
    try:
        with pytest.raises(StatementError):
            db.call(lambda session: session.execute(Job.__table__.update().values(result={"version": 1})))
    finally:
        db.dispose()


def _fill(table: Table, **given: Any) -> dict[str, Any]:
    """Every NOT NULL column of ``table`` with a plain value, and ``given``."""
    plain = {String: "x", Integer: 0, Float: 1.0, Boolean: False, JSON: {}}
    values = dict(given)
    for column in table.columns:
        if column.name in values or column.nullable:
            continue
        if isinstance(column.type, DateTime):
            values[column.name] = datetime.now(UTC)
            continue
        values[column.name] = next(v for t, v in plain.items() if isinstance(column.type, t))
    return values


def test_rows_of_revision_0007_migrate_up_and_back_down(tmp_path: Path) -> None:
    m = _migration()
    url = database_url(tmp_path)
    migrate.upgrade(url, "0007")
    old_result, old_artifact, old_device = m.columns(_document().model_dump(mode="json"))
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["tenants", "datasets", "jobs"])
    jobs = meta.tables["jobs"]
    with engine.begin() as conn:
        if (
            conn.execute(select(meta.tables["tenants"].c.id).where(meta.tables["tenants"].c.id == "default")).first()
            is None
        ):
            conn.execute(insert(meta.tables["tenants"]).values(_fill(meta.tables["tenants"], id="default")))
        conn.execute(
            insert(meta.tables["datasets"]).values(
                _fill(
                    meta.tables["datasets"],
                    id="d",
                    tenant_id="default",
                    source="upload",
                    modality="tabular",
                    task="regression",
                )
            )
        )
        common = {"tenant_id": "default", "dataset_id": "d", "seed": 3, "params": {}, "history": []}
        conn.execute(
            insert(jobs).values(
                _fill(
                    jobs,
                    id="done",
                    status="succeeded",
                    result=old_result,
                    artifact=old_artifact,
                    device=old_device,
                    **common,
                )
            )
        )
        conn.execute(
            insert(jobs).values(_fill(jobs, id="failed", status="failed", error={"message": "boom"}, **common))
        )
    engine.dispose()

    migrate.upgrade(url)
    db = Database.from_url(url)
    try:
        done = db.call(lambda session: session.get(Job, "done"), write=False)
        failed = db.call(lambda session: session.get(Job, "failed"), write=False)
    finally:
        db.dispose()
    assert done.result == _document() and failed.result is None
    read = to_read(done)
    assert read.artifact is not None and read.artifact.files == old_artifact["files"] and read.device == old_device
    assert read.metrics == old_result["metrics"] and read.lift_over_baseline == old_result["lift_over_baseline"]

    migrate.downgrade(url, "0007")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(jobs.c.id, jobs.c.result, jobs.c.artifact, jobs.c.device))}
    finally:
        engine.dispose()
    assert (rows["done"].result, rows["done"].artifact, rows["done"].device) == (old_result, old_artifact, old_device)
    assert (rows["failed"].result, rows["failed"].artifact, rows["failed"].device) == (None, None, None)
