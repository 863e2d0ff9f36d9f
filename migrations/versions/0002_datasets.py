"""Datasets: uploaded or metadata-only datasets; recommendations may point at one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import StrictJSON

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("task", sa.String(length=16), nullable=False),
        sa.Column("task_reason", sa.Text(), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("storage_path", sa.String(length=300), nullable=True),
        sa.Column("profile", StrictJSON(), nullable=False),
        sa.Column("details", StrictJSON(), nullable=False),
        sa.Column("warnings", StrictJSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_datasets_fingerprint")),
    )
    op.create_index("ix_datasets_created_at_id", "datasets", ["created_at", "id"])
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("dataset_id", sa.String(length=36), nullable=True))
        batch.create_index(batch.f("ix_recommendations_dataset_id"), ["dataset_id"])
        batch.create_foreign_key(
            batch.f("fk_recommendations_dataset_id_datasets"),
            "datasets",
            ["dataset_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_constraint(batch.f("fk_recommendations_dataset_id_datasets"), type_="foreignkey")
        batch.drop_index(batch.f("ix_recommendations_dataset_id"))
        batch.drop_column("dataset_id")
    op.drop_index("ix_datasets_created_at_id", table_name="datasets")
    op.drop_table("datasets")
