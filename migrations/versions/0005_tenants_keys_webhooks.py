"""Tenants and API keys (every dataset, recommendation, job and race belongs to one), and the webhook outbox.

Rows that exist before this revision go to the ``default`` tenant (the one keyless requests use).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULT = "default"
_OWNED = ("recommendations", "datasets", "jobs", "races")
_WEBHOOK_STATUSES = ("pending", "delivered", "failed")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_concurrent_jobs", sa.Integer(), nullable=True),
        sa.Column("max_stored_bytes", sa.BigInteger(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    op.execute(
        sa.text(
            "INSERT INTO tenants (id, created_at, name, webhook_secret) VALUES (:id, CURRENT_TIMESTAMP, :id, :secret)"
        ).bindparams(id=_DEFAULT, secret=secret)
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("prefix", sa.String(length=24), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"])

    # Existing rows belong to the default tenant: add the column with that server default, then drop the
    # default so new rows must name their tenant. SQLite cannot add a foreign key in place: batch mode.
    for table in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tenant_id", sa.String(length=36), nullable=False, server_default=_DEFAULT))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("tenant_id", server_default=None)
            batch.create_foreign_key(
                op.f(f"fk_{table}_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
            )
    op.drop_index("ix_recommendations_created_at_id", table_name="recommendations")
    op.create_index("ix_recommendations_tenant_id_created_at_id", "recommendations", ["tenant_id", "created_at", "id"])
    op.drop_index("ix_datasets_created_at_id", table_name="datasets")
    op.create_index("ix_datasets_tenant_id_created_at_id", "datasets", ["tenant_id", "created_at", "id"])
    op.create_index(op.f("ix_races_tenant_id"), "races", ["tenant_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("uq_jobs_idempotency_key"), type_="unique")
        batch.drop_index("ix_jobs_created_at_id")
        batch.add_column(sa.Column("callback_url", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("artifact_bytes", sa.BigInteger(), nullable=True))
        batch.create_index("ix_jobs_tenant_id_created_at_id", ["tenant_id", "created_at", "id"])
        # An Idempotency-Key is unique within a tenant: another tenant's key neither collides nor replays.
        batch.create_index("uq_jobs_tenant_id_idempotency_key", ["tenant_id", "idempotency_key"], unique=True)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {_WEBHOOK_STATUSES!r}", name=op.f("ck_webhook_deliveries_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_deliveries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(op.f("ix_webhook_deliveries_tenant_id"), "webhook_deliveries", ["tenant_id"])
    op.create_index(op.f("ix_webhook_deliveries_job_id"), "webhook_deliveries", ["job_id"])
    op.create_index("ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("uq_jobs_tenant_id_idempotency_key")
        batch.drop_index("ix_jobs_tenant_id_created_at_id")
        batch.drop_column("artifact_bytes")
        batch.drop_column("request_id")
        batch.drop_column("callback_url")
        batch.create_index("ix_jobs_created_at_id", ["created_at", "id"])
        batch.create_unique_constraint(op.f("uq_jobs_idempotency_key"), ["idempotency_key"])
    op.drop_index(op.f("ix_races_tenant_id"), table_name="races")
    op.drop_index("ix_datasets_tenant_id_created_at_id", table_name="datasets")
    op.create_index("ix_datasets_created_at_id", "datasets", ["created_at", "id"])
    op.drop_index("ix_recommendations_tenant_id_created_at_id", table_name="recommendations")
    op.create_index("ix_recommendations_created_at_id", "recommendations", ["created_at", "id"])
    for table in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_tenant_id_tenants"), type_="foreignkey")
            batch.drop_column("tenant_id")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
