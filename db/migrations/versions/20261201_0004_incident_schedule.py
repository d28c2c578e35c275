"""incidents.schedule replaces incidents.next_deadline_at

The row kept one "next deadline", computed by a different rule than the workflow's search
attribute and stale as soon as it passed. It now keeps the upcoming schedule (pending deadlines,
escalation checks whose condition does not hold, the window's close), and readers take the first
entry still ahead. Existing rows keep their next deadline as a one-entry schedule until their
next ledger batch rewrites it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00.000000+00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

incidents = sa.table(
    "incidents",
    sa.column("id", sa.String),
    sa.column("observed_at", db.base.UTCDateTime(timezone=True)),
    sa.column("next_deadline_at", db.base.UTCDateTime(timezone=True)),
    sa.column("schedule", sa.JSON),
)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite has DROP COLUMN since 3.35): a batch copy of
    # the table would have to drop `incidents`, which the ledger's foreign keys refuse.
    op.add_column(
        "incidents",
        sa.Column("schedule", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(incidents.c.id, incidents.c.observed_at, incidents.c.next_deadline_at).where(
            incidents.c.next_deadline_at.is_not(None)
        )
    ).all()
    for row in rows:
        hours = round((row.next_deadline_at - row.observed_at).total_seconds() / 3600, 4)
        entry = {
            "name": "next",
            "title": "Next deadline",
            "due_at": row.next_deadline_at.isoformat(),
            "due_hours": hours,
            "kind": "deadline",
        }
        connection.execute(
            incidents.update().where(incidents.c.id == row.id).values(schedule=[entry])
        )
    op.drop_column("incidents", "next_deadline_at")


def downgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("next_deadline_at", db.base.UTCDateTime(timezone=True), nullable=True),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(incidents.c.id, incidents.c.schedule)).all():
        schedule = (
            row.schedule if isinstance(row.schedule, list) else json.loads(row.schedule or "[]")
        )
        if schedule:
            connection.execute(
                incidents.update()
                .where(incidents.c.id == row.id)
                .values(next_deadline_at=datetime.fromisoformat(schedule[0]["due_at"]))
            )
    op.drop_column("incidents", "schedule")
