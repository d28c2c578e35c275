"""Starting incidents and talking to them: the one client-side path used by the API, the CLI,
the exercises and the tests, so every incident starts the same way."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from foundation.ids import workflow_id_for
from workflows import search_attributes as sa
from workflows.clock import PlanClock
from workflows.incident import IncidentWorkflow
from workflows.incident_input import build_input, incident_id_for, slug
from workflows.messages import IncidentInput, IncidentView

WORKFLOW_TASK_TIMEOUT = timedelta(seconds=30)

__all__ = ["build_input", "incident_id_for", "slug", "start_incident"]


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
