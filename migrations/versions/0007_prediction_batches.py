"""Prediction batches: large prediction requests answered 202 and predicted in the background.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import StrictJSON

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = ("queued", "running", "succeeded", "failed")


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("storage_path", sa.String(length=512), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=True),
        sa.Column("n_done", sa.Integer(), nullable=False),
        sa.Column("summary", StrictJSON(), nullable=True),
        sa.Column("error", StrictJSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {_STATUSES!r}", name=op.f("ck_prediction_batches_status")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_prediction_batches_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_prediction_batches_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_batches")),
    )
    op.create_index(op.f("ix_prediction_batches_job_id"), "prediction_batches", ["job_id"], unique=False)
    op.create_index(op.f("ix_prediction_batches_tenant_id"), "prediction_batches", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_prediction_batches_tenant_id"), table_name="prediction_batches")
    op.drop_index(op.f("ix_prediction_batches_job_id"), table_name="prediction_batches")
    op.drop_table("prediction_batches")
