"""reports: one row per violation report, and incidents.sectors

Reports of one offensive join one response: a report id belongs to one incident, an incident
has many reports (the one that opened it, and those that joined). Every existing incident's
own report becomes its first row; its sectors are its one sector.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

incidents = sa.table(
    "incidents",
    sa.column("id", sa.String),
    sa.column("report_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("sector", sa.String),
    sa.column("reported_by", sa.String),
    sa.column("summary", sa.Text),
    sa.column("observed_at", db.base.UTCDateTime(timezone=True)),
    sa.column("reported_at", db.base.UTCDateTime(timezone=True)),
    sa.column("report_digest", sa.String),
    sa.column("sectors", sa.JSON),
)


def upgrade() -> None:
    reports = op.create_table(
        "reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("report_id", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.String(length=100), nullable=False),
        sa.Column("joined", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("sector", sa.String(length=120), nullable=False),
        sa.Column("reported_by", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("observed_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_reports_incident_id_incidents"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("report_id", name=op.f("uq_reports_report_id")),
    )
    op.create_index(op.f("ix_reports_incident_id"), "reports", ["incident_id"])
    op.add_column(
        "incidents",
        sa.Column("sectors", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(incidents)).all()
    for row in rows:
        connection.execute(
            incidents.update().where(incidents.c.id == row.id).values(sectors=[row.sector])
        )
    if rows:
        op.bulk_insert(
            reports,
            [
                {
                    "report_id": row.report_id,
                    "incident_id": row.id,
                    "joined": False,
                    "kind": row.kind,
                    "sector": row.sector,
                    "reported_by": row.reported_by,
                    "summary": row.summary or "",
                    "observed_at": row.observed_at,
                    "reported_at": row.reported_at,
                    "digest": row.report_digest,
                    "created_at": row.reported_at,
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.drop_column("incidents", "sectors")
    op.drop_index(op.f("ix_reports_incident_id"), table_name="reports")
    op.drop_table("reports")
