"""incidents.activated_at and incidents.termination_rationale: responses that live on

Under a plan with an ``after_activation`` section an activated response stays open (phase
``active``) until an operator terminates it or the plan's limit ends it: the row keeps the
activation's time beside ``closed_at``, and the termination's rationale. Incidents activated
before this revision closed at activation, so their ``activated_at`` is their ``closed_at``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 21:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

incidents = sa.table(
    "incidents",
    sa.column("outcome", sa.String),
    sa.column("closed_at", db.base.UTCDateTime(timezone=True)),
    sa.column("activated_at", db.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("activated_at", db.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("incidents", sa.Column("termination_rationale", sa.Text(), nullable=True))
    op.execute(
        incidents.update()
        .where(incidents.c.outcome == "activated")
        .values(activated_at=incidents.c.closed_at)
    )
    op.create_index(op.f("ix_incidents_closed_at"), "incidents", ["closed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incidents_closed_at"), table_name="incidents")
    op.drop_column("incidents", "termination_rationale")
    op.drop_column("incidents", "activated_at")
