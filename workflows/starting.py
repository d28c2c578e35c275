"""Starting incidents and talking to them: the one client-side path used by the API, the CLI,
the exercises and the tests, so every incident starts the same way."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from foundation.ids import EXERCISE_ID_PREFIX, is_exercise_id, workflow_id_for
from plans.model import Plan
from workflows import search_attributes as sa
from workflows.clock import PlanClock
from workflows.incident import IncidentWorkflow
from workflows.messages import IncidentInput, IncidentView, ViolationReport

WORKFLOW_TASK_TIMEOUT = timedelta(seconds=30)


def slug(text: str, limit: int = 24) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "x"


# Before a real incident's sector when the sector itself reads "exercise...": a real report
# must never get an id of the exercise world.
REAL_SECTOR_PREFIX = "real-"


def incident_id_for(report_id: str, sector: str, exercise: bool = False) -> str:
    """Readable and deterministic: the same report always maps to the same incident."""
    digest = hashlib.sha256(report_id.encode()).hexdigest()[:8]
    name = f"{slug(sector)}-{digest}"
    if exercise:
        return f"{EXERCISE_ID_PREFIX}{name}"
    return f"{REAL_SECTOR_PREFIX}{name}" if is_exercise_id(name) else name


def build_input(
    report: ViolationReport, plan: Plan, *, exercise: bool = False, time_scale: float = 1.0
) -> IncidentInput:
    return IncidentInput(
        incident_id=incident_id_for(report.report_id, report.sector, exercise),
        report=report,
        plan=plan,
        exercise=exercise,
        time_scale=time_scale,
    )


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def start_incident(
    client: Client, incident: IncidentInput, task_queue: str, *, now: datetime
) -> WorkflowHandle[IncidentWorkflow, IncidentView]:
    """Start the incident's workflow, or return the running one: a duplicate report never
    starts a second response."""
    report = incident.report
    t0 = report.observed_at or report.reported_at or now
    clock = PlanClock(t0=t0, time_scale=incident.time_scale)
    window = clock.at(incident.plan.activation_window_hours)
    label = "EXERCISE · " if incident.exercise else ""
    return await client.start_workflow(
        IncidentWorkflow.run,
        incident,
        id=workflow_id_for(incident.incident_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        # A worker that takes a run over after a crash replays its history first: room for that
        # on a loaded machine (Temporal's default is 10 s; each continued run inherits this).
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.INCIDENT_KIND, report.kind),
                SearchAttributePair(sa.INCIDENT_SECTOR, report.sector),
                SearchAttributePair(sa.INCIDENT_PHASE, "verification"),
                SearchAttributePair(sa.AWAITING, "evidence"),
                SearchAttributePair(sa.PLAN_ID, incident.plan.id),
                SearchAttributePair(sa.ESCALATION_LEVEL, 1),
                SearchAttributePair(sa.EXERCISE, incident.exercise),
            ]
        ),
        static_summary=f"{label}{report.kind} in {report.sector}, reported by {report.reported_by}",
        static_details="\n".join(
            [
                f"**{label}{report.kind}** in **{report.sector}**",
                "",
                "| | |",
                "| --- | --- |",
                f"| Report | {report.report_id} |",
                f"| Reported by | {report.reported_by} |",
                f"| T0 (observed) | {_utc(t0)} |",
                f"| Activation deadline | {_utc(window)} (T0+{incident.plan.activation_window_hours:g}h) |",
                f"| Plan | {incident.plan.id} v{incident.plan.version} |",
                "",
                report.summary,
            ]
        ),
    )
