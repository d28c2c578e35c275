"""texts and idempotent_requests: bounded incidents

Free text too long to travel in a workflow is stored once, by digest, in ``texts``; the ledger
row carries its first characters and the digest. ``idempotent_requests`` binds an
Idempotency-Key to its caller, its body and its receipt, because Temporal de-duplicates update
ids within one run only and an incident now continues as new.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:51:52.001300+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("principal", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotent_requests")),
        sa.UniqueConstraint("principal", "key", name=op.f("uq_idempotent_requests_principal_key")),
    )
    op.create_table(
        "texts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("chars >= 0", name=op.f("ck_texts_chars_non_negative")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_texts")),
    )


def downgrade() -> None:
    op.drop_table("texts")
    op.drop_table("idempotent_requests")
