"""incidents.merged_into: an incident folded into another (outcome ``merged``)

An operator may merge one open incident into another of the same plan: the absorbed incident
closes with the outcome ``merged`` and names the incident that carries the response on. Both
ledgers record the merge; the row keeps the link for lists, the board and the reports.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("merged_into", sa.String(length=100), nullable=True))
    op.create_index(op.f("ix_incidents_merged_into"), "incidents", ["merged_into"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incidents_merged_into"), table_name="incidents")
    op.drop_column("incidents", "merged_into")
