"""A job's result is one document: the model run's TrainResult beside what the runner stored with it.

Before: ``jobs.result`` (the run's fields copied one by one, plus the baseline, lift, run info, notes and
sample predictions), ``jobs.artifact`` (the model's files, digests and download) and ``jobs.device``.
After: ``jobs.result`` holds ``service.jobs.stored.JobResult`` (version 1) and the other two columns are gone.

The mapping is written out here, on plain JSON, so it stays what it was when later code changes. Upgrade
fills the two fields the old columns did not keep from what they did: ``seed`` from the job's row and
``n_threads`` from the device record (1 when it is missing); the artifact's ``schema_file`` takes its default.
Downgrade writes the old three columns back from the document.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from service.db.types import StrictJSON

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_jobs_before = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("seed", sa.Integer),
    sa.column("result", StrictJSON()),
    sa.column("artifact", StrictJSON()),
    sa.column("device", StrictJSON()),
)
_jobs_after = sa.table("jobs", sa.column("id", sa.String), sa.column("result", StrictJSON()))


def document(old: dict[str, Any], artifact: dict[str, Any], device: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """The version-1 document of a job stored by revision 0007."""
    model = {
        "trainer": old["trainer"],
        "task": old["task"],
        "params": old.get("trained_params") or {},
        "derived_params": old.get("derived_params") or {},
        "seed": seed,
        "n_threads": int((device or {}).get("threads") or 1),
        "metrics": old["metrics"],
        "metric_notes": old.get("metric_notes") or {},
        "curves": old["curves"],
        "diagnosis": old.get("diagnosis"),
        "best_iteration": old.get("best_iteration"),
        "n_rounds": old.get("n_rounds") or 0,
        "partial": bool(old.get("partial")),
        "partial_reason": old.get("partial_reason"),
        "artifact": {
            "trainer": artifact["trainer"],
            "format": artifact["format"],
            "directory": artifact["path"],
            "files": artifact["files"],
            "sha256": artifact["sha256"],
            "library_versions": artifact["library_versions"],
        },
        "split": old["split"],
        "n_rows_dropped": old.get("n_rows_dropped") or 0,
        "timings": old.get("timings") or {},
        "library_versions": old.get("library_versions") or {},
        "validation": old.get("validation"),
    }
    return {
        "version": 1,
        "model": model,
        "zip": {
            "path": artifact["zip_path"],
            "sha256": artifact.get("zip_sha256"),
            "size_bytes": artifact.get("size_bytes"),
        },
        "device": device,
        "run_info": old.get("run_info") or {},
        "sample_predictions": old.get("sample_predictions"),
        "notes": old.get("notes") or [],
        "baseline": old.get("baseline"),
        "lift_over_baseline": old.get("lift_over_baseline"),
    }


def columns(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """The revision-0007 ``result``, ``artifact`` and ``device`` of a version-1 document."""
    model = doc["model"]
    art = model["artifact"]
    zip_ = doc["zip"]
    partial = bool(model.get("partial"))
    result = {
        "trainer": model["trainer"],
        "task": model["task"],
        "trained_params": model["params"],
        "derived_params": model.get("derived_params") or {},
        "metrics": model["metrics"],
        "metric_notes": model.get("metric_notes") or {},
        "curves": model["curves"],
        "diagnosis": model.get("diagnosis") or [],
        "best_iteration": model.get("best_iteration"),
        "n_rounds": model.get("n_rounds"),
        "partial": partial,
        "partial_reason": model.get("partial_reason"),
        "split": model.get("split"),
        "validation": model.get("validation"),
        "n_rows_dropped": model.get("n_rows_dropped", 0),
        "timings": model.get("timings") or {},
        "library_versions": model.get("library_versions") or {},
        "sample_predictions": doc.get("sample_predictions"),
        "run_info": doc.get("run_info") or {},
        "notes": doc.get("notes") or [],
        "baseline": doc.get("baseline"),
        "lift_over_baseline": doc.get("lift_over_baseline"),
    }
    artifact = {
        "trainer": art["trainer"],
        "format": art["format"],
        "sha256": art["sha256"],
        "files": art["files"],
        "library_versions": art["library_versions"],
        "path": art["directory"],
        "zip_path": zip_["path"],
        "zip_sha256": zip_.get("sha256"),
        "size_bytes": zip_.get("size_bytes"),
        "partial": partial,
    }
    return result, artifact, doc.get("device")


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _jobs_before.c.id,
            _jobs_before.c.seed,
            _jobs_before.c.result,
            _jobs_before.c.artifact,
            _jobs_before.c.device,
        )
    ).all()
    for id_, seed, result, artifact, device in rows:
        if result is None and artifact is None:
            continue
        # The runner wrote the two together; a row with one only has no model to describe.
        doc = document(result, artifact, device, int(seed or 0)) if result and artifact else None
        conn.execute(sa.update(_jobs_after).where(_jobs_after.c.id == id_).values(result=doc))
    # SQLite ≥ 3.35 drops a column in place: a batch rebuild would drop the table, and with foreign keys on
    # that deletes the rows other tables hold for each job.
    op.drop_column("jobs", "artifact")
    op.drop_column("jobs", "device")


def downgrade() -> None:
    op.add_column("jobs", sa.Column("artifact", StrictJSON(), nullable=True))
    op.add_column("jobs", sa.Column("device", StrictJSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_jobs_before.c.id, _jobs_before.c.result)).all()
    for id_, doc in rows:
        if doc is None:
            continue
        result, artifact, device = columns(doc)
        conn.execute(
            sa.update(_jobs_before)
            .where(_jobs_before.c.id == id_)
            .values(result=result, artifact=artifact, device=device)
        )
