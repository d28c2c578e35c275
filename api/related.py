"""Suggested relations: open incidents of the same plan observed close in time (the plan's
``reports.related_within_hours``), perhaps reports of one offensive. Suggested, never imposed:
only a person merges."""

from __future__ import annotations

from datetime import timedelta

from api.context import ApiContext
from api.schemas.incidents import RelatedIncident, RelatedIncidents
from db.models import Incident
from db.repository import IncidentRepository
from plans.loader import load_plans
from workflows.messages import Phase

RELATED_LIMIT = 50


async def related_of(context: ApiContext, incident: Incident) -> RelatedIncidents:
    """The incident's suggested relations (the route's answer; the board shows the same)."""
    plans = load_plans()
    plan = plans.get(incident.plan_id)
    within = None if plan is None or plan.reports is None else plan.reports.related_within_hours
    rows: list[Incident] = []
    if within is not None:
        async with context.sessions() as session:
            rows = await IncidentRepository(session).near_in_time(
                incident, timedelta(hours=within), limit=RELATED_LIMIT
            )
    return RelatedIncidents(
        incident_id=incident.id,
        plan_id=incident.plan_id,
        within_hours=within,
        related=[
            RelatedIncident(
                incident_id=row.id,
                sector=row.sector,
                kind=row.kind,
                reported_by=row.reported_by,
                t0=row.observed_at,
                t0_apart_hours=round(
                    (row.observed_at - incident.observed_at) / timedelta(hours=1), 2
                ),
                phase=Phase(row.phase),
                plan_version=row.plan_version,
                same_plan_version=row.plan_version == incident.plan_version,
            )
            for row in rows
        ],
    )
