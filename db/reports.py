"""Report rows: every violation report once, the one that opened its incident or one that
joined the response later. A report id belongs to one incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Report
from db.repository import IncidentRepository
from db.upsert import per_dialect
from workflows.messages import ViolationReport


def report_values(
    report: ViolationReport, *, incident_id: str, joined: bool, digest: str | None, now: datetime
) -> dict[str, Any]:
    """The row of ``report`` (times absent from it are ``now``)."""
    reported_at = report.reported_at or now
    return {
        "report_id": report.report_id,
        "incident_id": incident_id,
        "joined": joined,
        "kind": report.kind,
        "sector": report.sector,
        "reported_by": report.reported_by,
        "summary": report.summary,
        "observed_at": report.observed_at or reported_at,
        "reported_at": reported_at,
        "digest": digest,
        "created_at": reported_at,
    }


def insert_report(connection: Connection, *, values: dict[str, Any]) -> bool:
    """Insert the report unless its id is taken; whether this call inserted it."""
    return (
        connection.execute(_insert_statement(connection.dialect.name), values).scalar_one_or_none()
        is not None
    )


def remove_report(connection: Connection, *, report_id: str) -> None:
    """Take back a joining report its incident refused (nothing of it reached the ledger)."""
    connection.execute(delete(Report).where(Report.report_id == report_id, Report.joined))


async def report_by_id(session: AsyncSession, report_id: str) -> Report | None:
    return await session.scalar(select(Report).where(Report.report_id == report_id))


async def absorbed_by(session: AsyncSession, incident_id: str) -> list[str]:
    """The incidents folded into this one, and into those, level by level."""
    found: list[str] = []
    frontier = [incident_id]
    while frontier and len(found) < MAX_MERGED:
        level = await IncidentRepository(session).absorbed_into(frontier)
        frontier = [i for ids in level.values() for i in ids if i not in found and i != incident_id]
        found += frontier
    return found


async def reports_of(session: AsyncSession, incident_id: str) -> list[Report]:
    """The incident's reports, the one that opened it first, then those that joined it, then
    those of the incidents merged into it."""
    own = list(
        await session.scalars(
            select(Report)
            .where(Report.incident_id == incident_id)
            .order_by(Report.joined, Report.id)
        )
    )
    absorbed = await absorbed_by(session, incident_id)
    if not absorbed:
        return own
    merged = list(
        await session.scalars(
            select(Report).where(Report.incident_id.in_(absorbed)).order_by(Report.id)
        )
    )
    return own + merged


# A response gathers at most this many reports (workflows/limits.py), so at most as many merges.
MAX_MERGED = 200

_insert_statement = per_dialect(
    lambda dialect: (
        dialect.insert(Report.__table__)
        .on_conflict_do_nothing(index_elements=["report_id"])
        .returning(Report.__table__.c.id)
    )
)
