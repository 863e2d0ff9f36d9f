"""Races: the top-k candidates of a recommendation plus its baseline, trained as jobs under one parent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import StrictJSON

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "races",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("recommendation_id", sa.String(length=36), nullable=True),
        sa.Column("params", StrictJSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_races_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_races_recommendation_id_recommendations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_races")),
    )
    op.create_index(op.f("ix_races_dataset_id"), "races", ["dataset_id"])
    # SQLite cannot add a foreign key to an existing table: batch mode rebuilds it (a plain ALTER elsewhere).
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("race_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(op.f("fk_jobs_race_id_races"), "races", ["race_id"], ["id"], ondelete="SET NULL")
        batch.create_index(op.f("ix_jobs_race_id"), ["race_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index(op.f("ix_jobs_race_id"))
        batch.drop_constraint(op.f("fk_jobs_race_id_races"), type_="foreignkey")
        batch.drop_column("race_id")
    op.drop_index(op.f("ix_races_dataset_id"), table_name="races")
    op.drop_table("races")
