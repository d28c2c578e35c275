"""sealed ledger: decisions.chain_version, and the plan_versions registry

The workflow now seals each decision as it records it, in a hash format that also covers the run
that decided it (``workflows.chain``, version 2). Rows keep the format they were written in, so
every row written before stays version 1 and verifies as it always did.

``plan_versions`` keeps the digest of each plan version as first used, so a plan file edited
without a new version number is refused at intake.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 18:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a default: no UPDATE of existing rows, so the append-only triggers
    # (0003) neither fire nor need to be dropped, and no batch copy of the table is needed.
    op.add_column(
        "decisions",
        sa.Column("chain_version", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.create_table(
        "plan_versions",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("registered_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "version", name=op.f("pk_plan_versions")),
    )


def downgrade() -> None:
    op.drop_table("plan_versions")
    op.drop_column("decisions", "chain_version")
