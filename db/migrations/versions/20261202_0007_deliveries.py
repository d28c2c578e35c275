"""deliveries: the notices' outbox

One row per (notice, audience, channel), keyed by the idempotency key every message carries in
its X-Contingency-Key header, so a retried notice delivers nothing a second time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=400), nullable=False),
        sa.Column("incident_id", sa.String(length=100), nullable=False),
        sa.Column("notice_id", sa.String(length=200), nullable=False),
        sa.Column("notice_kind", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=140), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=240), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'undelivered')",
            name=op.f("ck_deliveries_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_deliveries_attempts_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key")),
    )
    op.create_index(op.f("ix_deliveries_incident_id"), "deliveries", ["incident_id"])
    op.create_index(op.f("ix_deliveries_notice_id"), "deliveries", ["notice_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_notice_id"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_incident_id"), table_name="deliveries")
    op.drop_table("deliveries")
