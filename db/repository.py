"""The incident's row and its ledger rows: the read side, and the one mapping between the state
machine's snapshot and the row.

The intake writes the row from the snapshot of a report before its workflow exists; every ledger
batch rewrites it from the workflow's snapshot; the API, the board, the CLI and the audit read it
back through :class:`IncidentRepository`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Incident, LedgerDecision
from foundation.ids import EXERCISE_ID_PREFIX, is_exercise_id, workflow_id_for
from workflows.messages import (
    Decision,
    IncidentSnapshot,
    Outcome,
    Phase,
    ScheduleEntry,
    ScheduleKind,
)

# What a ledger batch may change in the row; the rest is fixed at intake.
MUTABLE = (
    "run_id",
    "kind",
    "phase",
    "outcome",
    "escalation_level",
    "schedule",
    "sectors",
    # A report observed earlier than T0 joining the response moves T0, and the window with it.
    "observed_at",
    "window_closes_at",
    "activated_at",
    "closed_at",
    "termination_rationale",
    "merged_into",
    "updated_at",
)


def schedule_json(schedule: Sequence[ScheduleEntry]) -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            "title": e.title,
            "due_at": e.due_at.isoformat(),
            "due_hours": e.due_hours,
            "kind": str(e.kind),
        }
        for e in schedule
    ]


def schedule_of(rows: Sequence[dict[str, Any]] | None) -> tuple[ScheduleEntry, ...]:
    return tuple(
        ScheduleEntry(
            name=r["name"],
            title=r["title"],
            due_at=datetime.fromisoformat(r["due_at"]),
            due_hours=float(r["due_hours"]),
            kind=ScheduleKind(r.get("kind", ScheduleKind.DEADLINE)),
        )
        for r in rows or ()
    )


def row_values(snapshot: IncidentSnapshot, **extra: Any) -> dict[str, Any]:
    """The incident's row as the snapshot gives it (plus ``extra`` columns, e.g. the digest)."""
    now = utcnow()
    return {
        "id": snapshot.incident_id,
        # Derived, never trusted from the row: an incident's workflow is named by its id.
        "workflow_id": workflow_id_for(snapshot.incident_id),
        "run_id": snapshot.run_id,
        "report_id": snapshot.report_id,
        "plan_id": snapshot.plan_id,
        "plan_version": snapshot.plan_version,
        "kind": snapshot.kind,
        "sector": snapshot.sector,
        "reported_by": snapshot.reported_by,
        "summary": snapshot.summary,
        "exercise": snapshot.exercise,
        "observed_at": snapshot.t0,
        "reported_at": snapshot.reported_at,
        "window_closes_at": snapshot.window_closes_at,
        "phase": str(snapshot.phase),
        "outcome": None if snapshot.outcome is None else str(snapshot.outcome),
        "escalation_level": snapshot.escalation_level,
        "schedule": schedule_json(snapshot.schedule),
        "sectors": list(snapshot.sectors) or [snapshot.sector],
        "activated_at": snapshot.activated_at,
        "closed_at": snapshot.closed_at,
        "termination_rationale": snapshot.termination_rationale,
        "merged_into": snapshot.merged_into,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def snapshot_of(row: Incident, merged_from: Sequence[str] = ()) -> IncidentSnapshot:
    """The incident as the read side last heard of it (up to its latest ledger batch);
    ``merged_from``: the incidents merged into it (rows of their own: :meth:`absorbed_into`)."""
    return IncidentSnapshot(
        incident_id=row.id,
        report_id=row.report_id,
        plan_id=row.plan_id,
        plan_version=row.plan_version,
        kind=row.kind,
        sector=row.sector,
        reported_by=row.reported_by,
        summary=row.summary,
        exercise=row.exercise,
        t0=row.observed_at,
        reported_at=row.reported_at,
        window_closes_at=row.window_closes_at,
        phase=Phase(row.phase),
        outcome=None if row.outcome is None else Outcome(row.outcome),
        escalation_level=row.escalation_level,
        closed_at=row.closed_at,
        schedule=schedule_of(row.schedule),
        activated_at=row.activated_at,
        termination_rationale=row.termination_rationale,
        sectors=tuple(row.sectors or (row.sector,)),
        run_id=row.run_id,
        merged_into=row.merged_into,
        merged_from=tuple(merged_from),
    )


@dataclass(frozen=True)
class IncidentFilter:
    exercise: bool = False
    kind: str | None = None
    phase: str | None = None
    outcome: str | None = None
    open: bool | None = None  # True open only, False closed only, None both


class IncidentRepository:
    """Reads of the incident rows and their ledger, on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, incident_id: str) -> Incident | None:
        return await self.session.get(Incident, incident_id)

    async def by_report(self, report_id: str) -> Incident | None:
        return await self.session.scalar(select(Incident).where(Incident.report_id == report_id))

    async def page(self, where: IncidentFilter, *, limit: int, offset: int) -> list[Incident]:
        """Most recently observed first; ``limit`` rows at most."""
        query = self._filtered(where).order_by(Incident.observed_at.desc(), Incident.id)
        return list(await self.session.scalars(query.limit(limit).offset(offset)))

    async def absorbed_into(self, incident_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``incident_ids``, the incidents merged into it, in the order they closed."""
        found: dict[str, list[str]] = {i: [] for i in incident_ids}
        if not incident_ids:
            return found
        rows = await self.session.execute(
            select(Incident.merged_into, Incident.id)
            .where(Incident.merged_into.in_(list(incident_ids)))
            .order_by(Incident.closed_at, Incident.id)
        )
        for into, absorbed in rows:
            found[into].append(absorbed)
        return found

    async def open_incidents(self, *, exercise: bool, limit: int) -> list[Incident]:
        """The board's order: highest escalation first, then the window closing soonest."""
        query = self._filtered(IncidentFilter(exercise=exercise, open=True)).order_by(
            Incident.escalation_level.desc(), Incident.window_closes_at, Incident.id
        )
        return list(await self.session.scalars(query.limit(limit)))

    async def near_in_time(
        self, incident: Incident, within: timedelta, *, limit: int
    ) -> list[Incident]:
        """Open incidents of the same plan and world whose T0 lies within ``within`` of this
        one's (itself left out), nearest T0 first: what the engine suggests as related."""
        where = IncidentFilter(exercise=is_exercise_id(incident.id), open=True)
        query = self._filtered(where).where(
            Incident.plan_id == incident.plan_id,
            Incident.id != incident.id,
            Incident.observed_at >= incident.observed_at - within,
            Incident.observed_at <= incident.observed_at + within,
        )
        rows = list(await self.session.scalars(query.order_by(Incident.id).limit(limit)))
        return sorted(rows, key=lambda r: (abs(r.observed_at - incident.observed_at), r.id))

    async def every_incident(self) -> list[Incident]:
        return list(
            await self.session.scalars(select(Incident).order_by(Incident.observed_at, Incident.id))
        )

    async def ledger(self, incident_id: str) -> list[LedgerDecision]:
        return list(
            await self.session.scalars(
                select(LedgerDecision)
                .where(LedgerDecision.incident_id == incident_id)
                .order_by(LedgerDecision.seq)
            )
        )

    async def decisions(self, incident_id: str) -> list[Decision]:
        """The ledger as the workflow decided it: the whole timeline, which the workflow itself
        no longer holds once an incident grows."""
        return [
            Decision(
                seq=row.seq,
                kind=row.kind,
                at=row.occurred_at,
                t_plus_hours=row.t_plus_hours,
                actor=row.actor,
                rationale=row.rationale,
                payload=dict(row.payload),
            )
            for row in await self.ledger(incident_id)
        ]

    @staticmethod
    def _filtered(where: IncidentFilter) -> Select[tuple[Incident]]:
        # The world from the id, never from the ``exercise`` column an edit could flip.
        exercise_id = Incident.id.startswith(EXERCISE_ID_PREFIX, autoescape=True)
        query = select(Incident).where(exercise_id if where.exercise else ~exercise_id)
        if where.kind is not None:
            query = query.where(Incident.kind == where.kind)
        if where.phase is not None:
            query = query.where(Incident.phase == where.phase)
        if where.outcome is not None:
            query = query.where(Incident.outcome == where.outcome)
        # Open is not "no outcome": an active response has its outcome and is still open.
        if where.open is True:
            query = query.where(Incident.closed_at.is_(None))
        elif where.open is False:
            query = query.where(Incident.closed_at.is_not(None))
        return query
